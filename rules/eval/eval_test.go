package eval

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// metrics is a registry with what the shipped rules read, as one watch
// exports it for one backend.
type metrics struct {
	reg        *prometheus.Registry
	up         *prometheus.GaugeVec
	disruption *prometheus.CounterVec
	observed   *prometheus.CounterVec
	other      prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		up:  prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "zerodown_backend_up"}, []string{"backend", "connection"}),
		disruption: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zerodown_disruption_seconds_total"},
			[]string{"backend", "connection", "reason"}),
		observed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zerodown_observed_seconds_total"}, []string{"backend", "connection"}),
		other:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "zerodown_unrelated"}),
	}
	m.reg.MustRegister(m.up, m.disruption, m.observed, m.other)
	return m
}

// step advances one second: the backend up or down for that second.
func (m *metrics) step(t *testing.T, e *Evaluator, at time.Time, up bool) {
	t.Helper()
	m.observed.WithLabelValues("api", "new").Add(1)
	if up {
		m.up.WithLabelValues("api", "new").Set(1)
		m.disruption.WithLabelValues("api", "new", "connect_refused").Add(0)
	} else {
		m.up.WithLabelValues("api", "new").Set(0)
		m.disruption.WithLabelValues("api", "new", "connect_refused").Add(1)
	}
	if err := e.Step(context.Background(), at); err != nil {
		t.Fatal(err)
	}
}

// The shipped rules, evaluated on the process's own samples: the backend
// alert fires 30 s after the backend went down and resolves when it is
// back; recording rules see the disruption; only selected families are
// stored; a series that goes away goes stale.
func TestShippedRulesFireAndResolve(t *testing.T) {
	m := newMetrics()
	var changes []Alert
	e, err := New(Options{Gatherer: m.reg, OnAlert: func(a Alert) { changes = append(changes, a) }})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if g, r := e.Groups(); g < 4 || r < 30 {
		t.Fatalf("shipped rules: %d groups, %d rules", g, r)
	}
	t0 := time.Now().Truncate(time.Second)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	s := 0
	for ; s < 20; s++ { // up
		m.step(t, e, at(s), true)
	}
	for ; s < 80; s++ { // down from 20 s
		m.step(t, e, at(s), false)
		firing := len(changes) > 0
		if s < 50 && firing {
			t.Fatalf("fired at %ds, %ds into the outage: before its for: 30s", s, s-20)
		}
	}
	if len(changes) != 1 || changes[0].Name != "ZerodownBackendDisrupted" || changes[0].State != StateFiring {
		t.Fatalf("after 60 s down: changes %+v, want ZerodownBackendDisrupted firing", changes)
	}
	if got := changes[0].FiredAt.Sub(at(20)); got < 30*time.Second || got > 36*time.Second {
		t.Errorf("fired %s after the outage began, want 30-36 s (for: 30s, the group's interval 5 s, steps of 1 s)", got)
	}
	if changes[0].Labels["severity"] != "critical" || changes[0].Labels["backend"] != "api" || changes[0].Annotations["summary"] == "" {
		t.Errorf("alert labels %v annotations %v", changes[0].Labels, changes[0].Annotations)
	}
	// Firing: the backend alert; pending: the fast burn (its for is 2m;
	// the slow one's long windows are first recorded at 2 minutes).
	states := map[string]string{}
	for _, a := range e.Active() {
		states[a.Name] = a.State
	}
	if states["ZerodownBackendDisrupted"] != StateFiring || states["ZerodownErrorBudgetBurnFast"] != StatePending || len(states) != 2 {
		t.Errorf("active alerts: %v", states)
	}

	// The availability group (interval 30 s) last ran at 60 s: 40 of 60 s
	// disrupted.
	v, err := e.Query(context.Background(), `backend_connection_instance:zerodown_unavailability:ratio_5m{backend="api"}`, at(79))
	if err != nil || len(v) != 1 {
		t.Fatalf("recorded ratio: %v %v", v, err)
	}
	if got := v[0].F; got < 0.62 || got > 0.72 {
		t.Errorf("5m unavailability ratio %.3f, want about 40/60 = 0.67 (recorded at 60 s)", got)
	}
	for ; s < 90; s++ { // back
		m.step(t, e, at(s), true)
	}
	if len(changes) != 2 || changes[1].State != StateResolved || !changes[1].ResolvedAt.Equal(at(80)) {
		t.Fatalf("after recovery: changes %+v, want a resolved at %s", changes, at(80))
	}
	fired := e.Fired()
	if len(fired) != 1 || fired[0].LastFiringAt.After(at(79)) || fired[0].LastFiringAt.Before(at(79)) {
		t.Errorf("fired: %+v, want one episode last firing at %s", fired, at(79))
	}

	// Stored as often as the rules need: the disruption counters every
	// 15 s (a twentieth of 5m; the upgrade group's 30 s is less often),
	// the gauge the backend alert reads every 5 s (its group's interval).
	for expr, want := range map[string]float64{
		`count_over_time(zerodown_disruption_seconds_total{backend="api"}[60s])`: 4,
		`count_over_time(zerodown_backend_up{backend="api"}[60s])`:               12,
	} {
		v, err := e.Query(context.Background(), expr, at(89))
		if err != nil || len(v) != 1 || v[0].F < want-1 || v[0].F > want {
			t.Errorf("%s = %v (%v), want %v", expr, v, err, want)
		}
	}
	// Families no rule selects are not stored.
	if v, err := e.Query(context.Background(), `zerodown_unrelated`, at(89)); err != nil || len(v) != 0 {
		t.Errorf("an unselected family was stored: %v %v", v, err)
	}
	// A series that goes away is stale when its name is next stored, as
	// after a scrape.
	m.up.Reset()
	m.step(t, e, at(90), true) // sets it again: reset after
	m.up.Reset()
	for s := 91; s <= 96; s++ {
		if err := e.Step(context.Background(), at(s)); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := e.Query(context.Background(), `zerodown_backend_up`, at(96)); err != nil || len(v) != 0 {
		t.Errorf("a removed series still answers: %v %v", v, err)
	}
	if err := e.Step(context.Background(), at(96)); err == nil {
		t.Error("a step at the same time as the previous one was accepted")
	}
}

func TestBadRules(t *testing.T) {
	for file, want := range map[string]string{
		"testdata/bad.rules.yaml":     `testdata/bad.rules.yaml: 5:11: group "g", rule 1, "A": could not parse expression`,
		"testdata/missing.rules.yaml": "testdata/missing.rules.yaml: open testdata/missing.rules.yaml: no such file or directory",
		"embedded:nope.rules.yaml":    "embedded:nope.rules.yaml: no such shipped rule file",
	} {
		_, err := New(Options{Files: []string{file}, Gatherer: prometheus.NewRegistry()})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", file, err, want)
		}
	}
}

// BenchmarkEvalAfterHour: what one evaluation of each shipped group costs
// after an hour of samples stored as watch stores them (at 1 s steps) from
// 100 backends over two connection modes, 7 reasons each. Divide by the
// group's interval for its share of a core.
func BenchmarkEvalAfterHour(b *testing.B) {
	m := newMetrics()
	e, err := New(Options{Gatherer: m.reg})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	reasons := []string{"connect_refused", "connect_timeout", "timeout", "reset", "http_status", "protocol", "other"}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	ctx := context.Background()
	for s := 0; s < 3600; s++ {
		for i := range 100 {
			be := "b" + strconv.Itoa(i)
			for _, c := range []string{"new", "reused"} {
				m.observed.WithLabelValues(be, c).Add(1)
				m.up.WithLabelValues(be, c).Set(1)
				for _, r := range reasons {
					m.disruption.WithLabelValues(be, c, r).Add(0)
				}
			}
		}
		e.mu.Lock()
		if err := e.append(ctx, t0.Add(time.Duration(s)*time.Second)); err != nil {
			b.Fatal(err)
		}
		e.mu.Unlock()
	}
	at := t0.Add(time.Hour)
	for _, g := range e.groups {
		b.Run(g.Name(), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				g.Eval(ctx, at.Add(time.Duration(i)*time.Millisecond))
			}
		})
	}
}

// A native histogram (watch --probe.native-histograms-only exports no
// classic buckets) is stored as one, as Prometheus's scrape stores it: the
// latency alert's quantile comes from it.
func TestNativeHistogram(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "zerodown_probe_duration_seconds",
		NativeHistogramBucketFactor: 1.1}, []string{"backend", "connection"})
	reg.MustRegister(h)
	e, err := New(Options{Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	t0 := time.Now().Truncate(time.Second)
	for s := 0; s <= 120; s++ {
		for range 10 {
			h.WithLabelValues("api", "new").Observe(0.9)
		}
		if err := e.Step(context.Background(), t0.Add(time.Duration(s)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	v, err := e.Query(context.Background(), `histogram_quantile(0.95, rate(zerodown_probe_duration_seconds{backend="api"}[1m]))`, t0.Add(120*time.Second))
	if err != nil || len(v) != 1 || v[0].F < 0.85 || v[0].F > 0.95 {
		t.Fatalf("p95 from the native histogram: %v %v, want about 0.9", v, err)
	}
}

// With a Registerer the evaluator exports its own metrics: the rules
// manager's, as a Prometheus names them (evaluations, failures, group
// durations), and zerodown_rule_alerts, zero for every alerting rule and
// state until an alert is pending, then firing. Close takes them away.
func TestEvaluatorMetrics(t *testing.T) {
	file := filepath.Join(t.TempDir(), "m.rules.yaml")
	if err := os.WriteFile(file, []byte(`groups:
- name: g
  rules:
  - alert: Down
    expr: zerodown_backend_up == 0
    for: 2s
  - record: backend:zerodown_backend_up:fails
    expr: zerodown_backend_up + on() zerodown_backend_up # many-to-many: fails with two backends
`), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	up := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "zerodown_backend_up", Help: "up"}, []string{"backend"})
	reg.MustRegister(up)
	up.WithLabelValues("api").Set(0)
	up.WithLabelValues("web").Set(1)
	e, err := New(Options{Files: []string{file}, Gatherer: reg, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := New(Options{Files: []string{file}, Gatherer: reg, Registerer: reg}); err == nil || !strings.Contains(err.Error(), "registering the evaluator's metrics") {
		t.Errorf("a second evaluator on the same registry: %v, want an error", err)
	}
	group := file + ";g"
	want := func(evaluations, pending, firing int) string {
		return fmt.Sprintf(`# HELP prometheus_rule_evaluation_failures_total The total number of rule evaluation failures.
# TYPE prometheus_rule_evaluation_failures_total counter
prometheus_rule_evaluation_failures_total{rule_group=%[1]q} %[2]d
# HELP prometheus_rule_evaluations_total The total number of rule evaluations.
# TYPE prometheus_rule_evaluations_total counter
prometheus_rule_evaluations_total{rule_group=%[1]q} %[3]d
# HELP prometheus_rule_group_iterations_total The total number of scheduled rule group evaluations, whether executed or missed.
# TYPE prometheus_rule_group_iterations_total counter
prometheus_rule_group_iterations_total{rule_group=%[1]q} %[2]d
# HELP zerodown_rule_alerts Alerts of the embedded rule evaluator's alerting rules after its latest evaluation, by state (pending, firing): the ALERTS series counted. Zero for every alerting rule and state until one is active.
# TYPE zerodown_rule_alerts gauge
zerodown_rule_alerts{alertname="Down",alertstate="firing",rule_group=%[1]q} %[5]d
zerodown_rule_alerts{alertname="Down",alertstate="pending",rule_group=%[1]q} %[4]d
`, group, evaluations, 2*evaluations, pending, firing)
	}
	names := []string{"prometheus_rule_evaluation_failures_total", "prometheus_rule_evaluations_total",
		"prometheus_rule_group_iterations_total", "zerodown_rule_alerts"}
	t0 := time.Now().Truncate(time.Second)
	for s, w := range []string{want(0, 0, 0), want(1, 1, 0), want(2, 1, 0), want(3, 0, 1)} {
		if s > 0 {
			if err := e.Step(context.Background(), t0.Add(time.Duration(s-1)*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		if err := testutil.GatherAndCompare(reg, strings.NewReader(w), names...); err != nil {
			t.Errorf("after %d steps: %v", s, err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[mf.GetName()] = m.GetGauge().GetValue()
		}
	}
	// The last evaluation is when it ran (the wall clock), as in Prometheus.
	if d, at := got["prometheus_rule_group_last_duration_seconds"], got["prometheus_rule_group_last_evaluation_timestamp_seconds"]; d <= 0 || at < float64(t0.Unix()-1) {
		t.Errorf("last duration %v, last evaluation %v: want the last step's", d, at)
	}
	if problems, err := testutil.GatherAndLint(reg, "zerodown_rule_alerts"); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg, names...); err != nil || n != 0 {
		t.Errorf("after Close: %d series of the evaluator's metrics (%v)", n, err)
	}
}
