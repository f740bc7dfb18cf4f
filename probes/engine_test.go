package probes

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/internal/testwait"
	"github.com/zerodown/zerodown/testtarget"
)

// recSink records what a Sink is told, in order.
type recSink struct {
	mu     sync.Mutex
	events []string
	began  map[string]time.Time
	ended  []time.Duration
	certs  int
}

func (r *recSink) OutageBegan(s SeriesInfo, ev Event) {
	start, reason := ev.Start, ev.Reason
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.began == nil {
		r.began = map[string]time.Time{}
	}
	k := s.Backend + "/" + string(s.Connection)
	r.began[k] = start
	r.events = append(r.events, "began "+k+" "+reason.String())
}

func (r *recSink) OutageEnded(s SeriesInfo, ev Event) {
	start, end := ev.Start, ev.End
	r.mu.Lock()
	defer r.mu.Unlock()
	k := s.Backend + "/" + string(s.Connection)
	if !r.began[k].Equal(start) {
		r.events = append(r.events, "MISMATCHED end "+k)
	}
	r.ended = append(r.ended, end.Sub(start))
	r.events = append(r.events, "ended "+k)
}

func (r *recSink) CertChanged(SeriesInfo, time.Time, *Cert, *Cert) {
	r.mu.Lock()
	r.certs++
	r.mu.Unlock()
}

func (r *recSink) snapshot() ([]string, []time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...), append([]time.Duration(nil), r.ended...)
}

func httpTarget(name, addr string, interval time.Duration) config.Target {
	t := config.Target{Name: name, Schedule: config.Schedule{Interval: config.Duration(interval)},
		HTTP: &config.HTTPProbe{URL: "http://" + addr + "/"}}
	return t.Resolved(config.Schedule{})
}

func metricValue(t *testing.T, c prometheus.Collector, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			return value(m), true
		}
	}
	return 0, false
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

// An outage injected into a real server is measured on both connection
// modes, exported, linted clean, and reported to the sink in order.
func TestEngineMeasuresOutage(t *testing.T) {
	tt, _ := startTarget(t, testtarget.Options{})
	sink := &recSink{}
	e := NewEngine(EngineOptions{Sink: sink})
	if _, _, err := e.Apply([]config.Target{httpTarget("web", tt.HTTPAddr(), 50*time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.Start(ctx)
	// Both modes answered twice (the reused connection is established).
	testwait.Until(t, "both modes answered twice", func() bool {
		for _, st := range e.Statuses() {
			if st.Requests-st.Failures < 2 {
				return false
			}
		}
		return true
	})
	rec := tt.Window(testtarget.Refuse, 400*time.Millisecond)
	// Both outages ended (the sink heard), and a success came after.
	testwait.Until(t, "both outages ended", func() bool {
		_, ended := sink.snapshot()
		return len(ended) >= 2 && e.Statuses()[0].Up && e.Statuses()[1].Up
	})
	e.Stop()

	if problems, err := testutil.CollectAndLint(e); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	events, ended := sink.snapshot()
	want := map[string]bool{"began web/new": false, "ended web/new": false, "ended web/reused": false}
	for _, ev := range events {
		if strings.HasPrefix(ev, "MISMATCHED") {
			t.Fatalf("events: %v", events)
		}
		// A request in flight when the listener closes sees its connection
		// reset; the ones after it are refused.
		key := strings.TrimSuffix(strings.TrimSuffix(ev, " connect_refused"), " reset")
		if strings.HasPrefix(ev, "began ") && key == ev {
			t.Errorf("outage began with an unexpected reason: %q", ev)
		}
		if _, ok := want[key]; ok {
			want[key] = true
		}
	}
	for ev, seen := range want {
		if !seen {
			t.Errorf("no %q in %v", ev, events)
		}
	}
	if len(ended) != 2 {
		t.Fatalf("ended outages %v, want one per connection mode", ended)
	}
	truth := rec.To.Sub(rec.From)
	for _, d := range ended {
		// How close is bench/'s number (fidelity), not a limit here.
		if d <= 0 {
			t.Errorf("measured %v for a %v outage", d, truth)
		}
		t.Logf("measured %v, true %v", d, truth)
	}
	for _, c := range []string{"new", "reused"} {
		n, ok := metricValue(t, e, "zerodown_disruptions_total", map[string]string{"backend": "web", "connection": c})
		if !ok || n != 1 {
			t.Errorf("%s: disruptions_total = %v (%v), want 1", c, n, ok)
		}
		up, ok := metricValue(t, e, "zerodown_backend_up", map[string]string{"backend": "web", "connection": c})
		if !ok || up != 1 {
			t.Errorf("%s: backend_up = %v (%v), want 1 after the outage", c, up, ok)
		}
		var total float64
		for _, r := range []string{"connect_refused", "reset"} {
			v, _ := metricValue(t, e, "zerodown_disruption_seconds_total", map[string]string{"backend": "web", "connection": c, "reason": r})
			total += v
		}
		if diff := total - truth.Seconds(); diff > 0.1 || diff < -0.1 {
			t.Errorf("%s: disruption_seconds_total = %v, true %v", c, total, truth.Seconds())
		}
		// Reasons that did not happen are exported as zeros.
		if v, ok := metricValue(t, e, "zerodown_disruption_seconds_total", map[string]string{"backend": "web", "connection": c, "reason": "http_status"}); !ok || v != 0 {
			t.Errorf("%s: http_status disruption = %v (%v), want an exported 0", c, v, ok)
		}
	}
}

// A hanging backend is shown down as soon as a request is overdue, long
// before any request has failed by timing out.
func TestEngineShowsHangBeforeTimeout(t *testing.T) {
	tt, _ := startTarget(t, testtarget.Options{})
	tg := httpTarget("slow", tt.HTTPAddr(), 100*time.Millisecond)
	tg.Connections = []config.Connection{config.ConnNew}
	tg.Timeout = config.Duration(5 * time.Second)
	tg.Interval = config.Duration(5 * time.Second)
	tg.FastInterval = config.Duration(20 * time.Millisecond)
	e := NewEngine(EngineOptions{})
	if _, _, err := e.Apply([]config.Target{tg}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.Start(ctx)
	defer e.Stop()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && !e.Statuses()[0].HaveResult {
		time.Sleep(5 * time.Millisecond)
	}
	tt.Set(testtarget.Hang)
	defer tt.Set(testtarget.Healthy)
	// The next probe is due within 5 s; wait for it to go overdue.
	deadline = time.Now().Add(7 * time.Second)
	var st Status
	for time.Now().Before(deadline) {
		st = e.Statuses()[0]
		if !st.Up {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st.Up {
		t.Fatal("never shown down while hanging")
	}
	if st.Failures != 0 {
		t.Fatalf("shown down only after %d failures; want it before any request timed out", st.Failures)
	}
	if st.InFlight == 0 {
		t.Fatal("down without a request in flight")
	}
}

// Slow is not down below the timeout: answers taking twice the interval
// (a busy node, a fine interval) are no outage. They were, when a request
// failed at min(interval, timeout): measured on the e2e nodes, 1.1-1.5 s
// of false disruption per backend over a rollout that the ground truth saw
// none of.
func TestEngineSlowerThanIntervalIsNotDown(t *testing.T) {
	tt, _ := startTarget(t, testtarget.Options{})
	tg := config.Target{Name: "slow", Schedule: config.Schedule{Interval: config.Duration(20 * time.Millisecond)},
		Connections: []config.Connection{config.ConnNew},
		HTTP:        &config.HTTPProbe{URL: "http://" + tt.HTTPAddr() + "/slow?d=40ms"}}
	tg = tg.Resolved(config.Schedule{}) // timeout 1s
	e := NewEngine(EngineOptions{})
	if _, _, err := e.Apply([]config.Target{tg}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.Start(ctx)
	defer e.Stop()
	testwait.Until(t, "20 answers", func() bool { return e.Statuses()[0].Requests >= 20 })
	st := e.Statuses()[0]
	if st.Failures != 0 || st.Outages != 0 || st.Disruption != 0 {
		t.Fatalf("answers in 40 ms at a 20 ms interval (timeout 1s): %d failures, %d outages, %s down; want none", st.Failures, st.Outages, st.Disruption)
	}
}

// Applying a changed set keeps the series (and counters) of unchanged
// targets, stops removed ones and starts new ones.
func TestEngineApplyKeepsUnchanged(t *testing.T) {
	tt, _ := startTarget(t, testtarget.Options{})
	a := httpTarget("a", tt.HTTPAddr(), 20*time.Millisecond)
	b := httpTarget("b", tt.HTTPAddr(), 20*time.Millisecond)
	c := httpTarget("c", tt.HTTPAddr(), 20*time.Millisecond)
	e := NewEngine(EngineOptions{})
	if _, _, err := e.Apply([]config.Target{a, b}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.Start(ctx)
	defer e.Stop()
	aOK := map[string]string{"backend": "a", "connection": "new", "result": "success"}
	testwait.Until(t, "a probed", func() bool { v, _ := metricValue(t, e, "zerodown_probe_requests_total", aOK); return v > 0 })
	before, _ := metricValue(t, e, "zerodown_probe_requests_total", aOK)
	if before == 0 {
		t.Fatal("a was not probed")
	}
	a2 := httpTarget("a", tt.HTTPAddr(), 20*time.Millisecond) // equal to a
	added, removed, err := e.Apply([]config.Target{a2, c})
	if err != nil {
		t.Fatal(err)
	}
	if added != 2 || removed != 2 {
		t.Fatalf("added %d removed %d, want 2 and 2 (c in, b out, each over two modes)", added, removed)
	}
	after, _ := metricValue(t, e, "zerodown_probe_requests_total", map[string]string{"backend": "a", "connection": "new", "result": "success"})
	if after < before {
		t.Fatalf("a's counter went from %v to %v: reset by a reload", before, after)
	}
	if _, ok := metricValue(t, e, "zerodown_probe_requests_total", map[string]string{"backend": "b"}); ok {
		t.Fatal("b still exported after removal")
	}
	testwait.Until(t, "c probed after being added", func() bool {
		v, _ := metricValue(t, e, "zerodown_probe_requests_total", map[string]string{"backend": "c", "connection": "reused", "result": "success"})
		return v > 0
	})
	// A changed target (other interval) is a new series.
	a3 := httpTarget("a", tt.HTTPAddr(), 30*time.Millisecond)
	if added, removed, err := e.Apply([]config.Target{a3, c}); err != nil || added != 2 || removed != 2 {
		t.Fatalf("changing a: added %d removed %d err %v", added, removed, err)
	}
	// Its latency histogram goes on under the same labels (the old
	// series' child is deleted, the new series' is a fresh one).
	testwait.Until(t, "a's duration histogram observed under the same labels after the change", func() bool {
		v, ok := metricValue(t, e, "zerodown_probe_duration_seconds", map[string]string{"backend": "a", "connection": "new"})
		return ok && v > 0
	})
}

// Collect exports exactly the state of a series: fed synthetic results,
// the exposition text is known to the byte.
func TestSeriesCollectExact(t *testing.T) {
	tg := httpTarget("api", "127.0.0.1:9", 100*time.Millisecond)
	e := NewEngine(EngineOptions{})
	s, err := e.newSeries(&tg, config.ConnNew)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_800_000_000, 0)
	feed := []struct {
		ms     int
		reason Reason
	}{{0, ReasonNone}, {100, ReasonNone}, {200, ReasonConnectRefused}, {210, ReasonConnectRefused}, {220, ReasonHTTPStatus}, {230, ReasonNone}}
	for _, f := range feed {
		seq := s.base + uint64(len(s.pending))
		start := t0.Add(time.Duration(f.ms) * time.Millisecond)
		s.pending = append(s.pending, entry{start: start})
		s.inFlight++
		s.complete(seq, &Result{Start: start, Duration: time.Millisecond, Reason: f.reason}, false, false)
	}
	e.series["k"], e.order = s, []*series{s}
	// Outage: from 150 ms (midpoint of 100 and 200) to 225 ms: 50 + 10 + 5
	// ms refused, 5 + 5 ms status (the gap between two failures is split at
	// its midpoint).
	want := `
# HELP zerodown_disruption_seconds_total Time the backend was disrupted, by the reason of the failures; an ongoing outage is counted up to its latest failed probe.
# TYPE zerodown_disruption_seconds_total counter
zerodown_disruption_seconds_total{backend="api",connection="new",reason="connect_refused"} 0.065
zerodown_disruption_seconds_total{backend="api",connection="new",reason="connect_timeout"} 0
zerodown_disruption_seconds_total{backend="api",connection="new",reason="http_status"} 0.01
zerodown_disruption_seconds_total{backend="api",connection="new",reason="other"} 0
zerodown_disruption_seconds_total{backend="api",connection="new",reason="protocol"} 0
zerodown_disruption_seconds_total{backend="api",connection="new",reason="reset"} 0
zerodown_disruption_seconds_total{backend="api",connection="new",reason="timeout"} 0
# HELP zerodown_disruptions_total Outages begun.
# TYPE zerodown_disruptions_total counter
zerodown_disruptions_total{backend="api",connection="new"} 1
# HELP zerodown_probe_requests_total Probe requests by result: success or the failure reason.
# TYPE zerodown_probe_requests_total counter
zerodown_probe_requests_total{backend="api",connection="new",protocol="http",result="connect_refused"} 2
zerodown_probe_requests_total{backend="api",connection="new",protocol="http",result="connect_timeout"} 0
zerodown_probe_requests_total{backend="api",connection="new",protocol="http",result="http_status"} 1
zerodown_probe_requests_total{backend="api",connection="new",protocol="http",result="other"} 0
zerodown_probe_requests_total{backend="api",connection="new",protocol="http",result="protocol"} 0
zerodown_probe_requests_total{backend="api",connection="new",protocol="http",result="reset"} 0
zerodown_probe_requests_total{backend="api",connection="new",protocol="http",result="success"} 3
zerodown_probe_requests_total{backend="api",connection="new",protocol="http",result="timeout"} 0
# HELP zerodown_backend_up 1 if the backend answers now, 0 if its latest answer failed or a request is overdue.
# TYPE zerodown_backend_up gauge
zerodown_backend_up{backend="api",connection="new"} 1
`
	if err := testutil.CollectAndCompare(e, strings.NewReader(want),
		"zerodown_disruption_seconds_total", "zerodown_disruptions_total", "zerodown_probe_requests_total", "zerodown_backend_up"); err != nil {
		t.Fatal(err)
	}
}

// A target's objective is exported for the SLO alerts, its budget for the
// upgrade budget alert; a target without them exports neither.
func TestObjectiveExported(t *testing.T) {
	a := httpTarget("a", "127.0.0.1:9", time.Second)
	a.Objective = 0.995
	b := httpTarget("b", "127.0.0.1:9", time.Second)
	b.Budget = config.Duration(2500 * time.Millisecond)
	e := NewEngine(EngineOptions{})
	if _, _, err := e.Apply([]config.Target{a, b}); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP zerodown_slo_objective The availability objective configured for the backend (objective in the configuration), for the SLO burn-rate alerts; absent: they assume 0.999.
# TYPE zerodown_slo_objective gauge
zerodown_slo_objective{backend="a",connection="new"} 0.995
zerodown_slo_objective{backend="a",connection="reused"} 0.995
`
	want += `# HELP zerodown_budget_seconds The disruption the backend may have during an upgrade (budget in the configuration), for the upgrade budget alert.
# TYPE zerodown_budget_seconds gauge
zerodown_budget_seconds{backend="b",connection="new"} 2.5
zerodown_budget_seconds{backend="b",connection="reused"} 2.5
`
	if err := testutil.CollectAndCompare(e, strings.NewReader(want), "zerodown_slo_objective", "zerodown_budget_seconds"); err != nil {
		t.Fatal(err)
	}
}

// ApplyEach leaves out a target that cannot be built (a CA file without a
// certificate passes validation, not the prober) and applies the others;
// Apply with the same set changes nothing and names the target.
func TestApplyEachLeavesOutWhatCannotBeBuilt(t *testing.T) {
	tt, _ := startTarget(t, testtarget.Options{})
	badCA := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(badCA, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := httpTarget("good", tt.HTTPAddr(), 20*time.Millisecond)
	bad := config.Target{Name: "bad", HTTP: &config.HTTPProbe{URL: "https://" + tt.HTTPSAddr() + "/", TLS: config.TLS{CAFile: badCA}}}
	bad = bad.Resolved(config.Schedule{})
	if err := bad.Validate(); err != nil {
		t.Fatalf("the bad target must pass validation for this test: %v", err)
	}
	e := NewEngine(EngineOptions{})
	if _, _, err := e.Apply([]config.Target{good, bad}); err == nil || !strings.Contains(err.Error(), `target "bad"`) {
		t.Fatalf("Apply: err = %v, want one naming target \"bad\"", err)
	}
	if n := len(e.Statuses()); n != 0 {
		t.Fatalf("a failed Apply left %d series running", n)
	}
	added, removed, failed := e.ApplyEach([]config.Target{good, bad})
	if added != 2 || removed != 0 || len(failed) != 2 {
		t.Fatalf("ApplyEach: added %d removed %d failed %v; want 2, 0 and both connections of bad", added, removed, failed)
	}
	for _, f := range failed {
		if f.Target != "bad" || !strings.Contains(f.Error(), "no PEM certificate") {
			t.Errorf("failure %v", f)
		}
	}
}
