package probes

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	requestsDesc = prometheus.NewDesc("zerodown_probe_requests_total",
		"Probe requests by result: success or the failure reason.",
		[]string{"backend", "protocol", "connection", "result"}, nil)
	disruptionDesc = prometheus.NewDesc("zerodown_disruption_seconds_total",
		"Time the backend was disrupted, by the reason of the failures; an ongoing outage is counted up to its latest failed probe.",
		[]string{"backend", "connection", "reason"}, nil)
	disruptionsDesc = prometheus.NewDesc("zerodown_disruptions_total",
		"Outages begun.",
		[]string{"backend", "connection"}, nil)
	observedDesc = prometheus.NewDesc("zerodown_observed_seconds_total",
		"Time the backend has been under observation: the denominator of availability.",
		[]string{"backend", "connection"}, nil)
	upDesc = prometheus.NewDesc("zerodown_backend_up",
		"1 if the backend answers now, 0 if its latest answer failed or a request is overdue.",
		[]string{"backend", "connection"}, nil)
	servedByDesc = prometheus.NewDesc("zerodown_probe_served_by_total",
		"Successful and failed answers by the backend that served them (values bounded by the target's served_by.values; the rest is \"other\").",
		[]string{"backend", "connection", "served_by"}, nil)
	certExpiryDesc = prometheus.NewDesc("zerodown_probe_tls_certificate_expiry_timestamp_seconds",
		"NotAfter of the latest leaf certificate the backend presented, as a Unix time.",
		[]string{"backend", "connection"}, nil)
	certChangesDesc = prometheus.NewDesc("zerodown_probe_tls_certificate_changes_total",
		"Times the backend presented a different leaf certificate than before.",
		[]string{"backend", "connection"}, nil)
	skippedDesc = prometheus.NewDesc("zerodown_probes_skipped_total",
		"Probes not started because max_in_flight requests were still running.",
		[]string{"backend", "connection"}, nil)
	observerDisruptionDesc = prometheus.NewDesc("zerodown_observer_disruption_seconds_total",
		"Time probes failed while the poller's own node was cordoned, draining or not Ready: counted apart from the backend's disruption.",
		[]string{"backend", "connection"}, nil)
	rateLimitedDesc = prometheus.NewDesc("zerodown_probes_rate_limited_total",
		"Probes not started because the engine's ceiling on probes per second was reached (re-probes of failing targets are skipped first).",
		nil, nil)
	overloadDesc = prometheus.NewDesc("zerodown_probes_overload_skipped_total",
		"Probes not started because the engine had its maximum of requests in flight across all targets (re-probes of failing targets are skipped first): the engine cannot keep up.",
		nil, nil)
	starvedDesc = prometheus.NewDesc("zerodown_process_starved_seconds_total",
		"Time this process could not run when it wanted to (how late a 5ms ticker woke, beyond 1ms): a poller short of CPU.",
		nil, nil)
	starvedProbesDesc = prometheus.NewDesc("zerodown_probes_starved_total",
		"Slow probes put down to this process being starved of CPU: counted as the observer's (reason observer), not the target's.",
		nil, nil)
	inFlightDesc = prometheus.NewDesc("zerodown_probes_in_flight",
		"Probe requests running now.",
		[]string{"backend", "connection"}, nil)
	budgetDesc = prometheus.NewDesc("zerodown_budget_seconds",
		"The disruption the backend may have during an upgrade (budget in the configuration), for the upgrade budget alert.",
		[]string{"backend", "connection"}, nil)
	objectiveDesc = prometheus.NewDesc("zerodown_slo_objective",
		"The availability objective configured for the backend (objective in the configuration), for the SLO burn-rate alerts; absent: they assume 0.999.",
		[]string{"backend", "connection"}, nil)

	connsOpenDesc = prometheus.NewDesc("zerodown_connections_open",
		"Long-lived connections held open to the backend now (hold in the configuration).",
		[]string{"backend", "protocol"}, nil)
	connsWantedDesc = prometheus.NewDesc("zerodown_connections_wanted",
		"Long-lived connections the configuration asks to hold open to the backend.",
		[]string{"backend"}, nil)
	connsOpenedDesc = prometheus.NewDesc("zerodown_connections_opened_total",
		"Long-lived connections opened to the backend (the first ones and every replacement of a dropped one).",
		[]string{"backend", "protocol"}, nil)
	connChecksDesc = prometheus.NewDesc("zerodown_connection_checks_total",
		"Checks of long-lived connections that found them alive (an answered HTTP/1.1 request, HTTP/2 PING or TCP exchange, or stream data): the denominator of the connection SLO.",
		[]string{"backend", "protocol"}, nil)
	connDropsDesc = prometheus.NewDesc("zerodown_connection_drops_total",
		"Long-lived connections to the backend that ended without zerodown closing them, by how: eof (FIN), reset (RST), timeout (a check went unanswered), goaway (HTTP/2 GOAWAY), close (HTTP/1.1 Connection: close), stream_end (the held stream ended), error.",
		[]string{"backend", "protocol", "reason"}, nil)
	connObjectiveDesc = prometheus.NewDesc("zerodown_connection_slo_objective",
		"The share of checks of long-lived connections that must find them alive (hold.objective); absent: the shipped rules assume 0.999.",
		[]string{"backend"}, nil)
	connBudgetDesc = prometheus.NewDesc("zerodown_connection_drop_budget",
		"How many drops of long-lived connections the backend may have during an upgrade (hold.budget), for the upgrade alert.",
		[]string{"backend"}, nil)
)

// Describe implements prometheus.Collector.
func (e *Engine) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{requestsDesc, disruptionDesc, disruptionsDesc, observedDesc,
		upDesc, servedByDesc, certExpiryDesc, certChangesDesc, skippedDesc, inFlightDesc, observerDisruptionDesc, rateLimitedDesc, starvedDesc, starvedProbesDesc, overloadDesc, objectiveDesc, budgetDesc,
		connsOpenDesc, connsWantedDesc, connsOpenedDesc, connChecksDesc, connDropsDesc, connObjectiveDesc, connBudgetDesc} {
		ch <- d
	}
	e.lifetime.Describe(ch)
	e.dur.Describe(ch)
	e.lag.Describe(ch)
}

// Collect implements prometheus.Collector. It reads each series' state
// under its lock and builds constant metrics; it never probes.
func (e *Engine) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	all := append([]*series(nil), e.order...)
	holders := e.holdOrder
	e.mu.Unlock()
	now := time.Now()
	for _, s := range all {
		s.collect(ch, now)
	}
	for _, h := range holders {
		for _, m := range h.metrics() {
			ch <- m
		}
	}
	e.lifetime.Collect(ch)
	ch <- prometheus.MustNewConstMetric(starvedDesc, prometheus.CounterValue, time.Duration(e.starved.total.Load()).Seconds())
	ch <- prometheus.MustNewConstMetric(starvedProbesDesc, prometheus.CounterValue, float64(e.starved.discounted.Load()))
	ch <- prometheus.MustNewConstMetric(overloadDesc, prometheus.CounterValue, float64(e.load.skipped.Load()))
	if e.limiter != nil {
		ch <- prometheus.MustNewConstMetric(rateLimitedDesc, prometheus.CounterValue, float64(e.limiter.denied.Load()))
	}
	e.dur.Collect(ch)
	e.lag.Collect(ch)
}

// collect sends the series' metrics to ch. They are built under the
// series lock and sent after it is released: a slow scrape never holds up
// the probes' results.
func (s *series) collect(ch chan<- prometheus.Metric, now time.Time) {
	for _, m := range s.metrics(now) {
		ch <- m
	}
}

// metrics snapshots the series as constant metrics.
func (s *series) metrics(now time.Time) []prometheus.Metric {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.retiredAt.IsZero() {
		now = s.retiredAt
	}
	out := make([]prometheus.Metric, 0, 40)
	b, c, p := s.info.Backend, string(s.info.Connection), s.info.Protocol
	counter := func(d *prometheus.Desc, v float64, lv ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, lv...))
	}
	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...))
	}
	// Known label values are always exported, so rate() sees zeros.
	counter(requestsDesc, float64(s.requests[ReasonNone]), b, p, c, "success")
	for r := ReasonDNS; r < numReasons; r++ {
		if !s.listed[r] && s.requests[r] == 0 {
			continue
		}
		counter(requestsDesc, float64(s.requests[r]), b, p, c, r.String())
		if r == ReasonObserver {
			counter(observerDisruptionDesc, s.tracker.Disruption(r).Seconds(), b, c)
			continue
		}
		counter(disruptionDesc, s.tracker.Disruption(r).Seconds(), b, c, r.String())
	}
	counter(disruptionsDesc, float64(s.tracker.Outages()), b, c)
	if !s.startedAt.IsZero() {
		counter(observedDesc, now.Sub(s.startedAt).Seconds(), b, c)
	}
	if s.haveResult || s.failingLocked(now) {
		up := 1.0
		if s.failingLocked(now) {
			up = 0
		}
		gauge(upDesc, up, b, c)
	}
	for _, v := range s.servedVals {
		counter(servedByDesc, float64(s.served[v]), b, c, v)
	}
	if s.cert != nil {
		gauge(certExpiryDesc, float64(s.cert.NotAfter.Unix()), b, c)
	}
	if s.info.Protocol == "https" || s.info.Protocol == "h2" {
		counter(certChangesDesc, float64(s.certChanges), b, c)
	}
	counter(skippedDesc, float64(s.skipped), b, c)
	gauge(inFlightDesc, float64(s.inFlight), b, c)
	if s.objective > 0 {
		gauge(objectiveDesc, s.objective, b, c)
	}
	if s.budget > 0 {
		gauge(budgetDesc, s.budget.Seconds(), b, c)
	}
	return out
}
