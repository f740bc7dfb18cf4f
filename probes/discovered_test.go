package probes

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/internal/testwait"
	"github.com/zerodown/zerodown/testtarget"
)

// A DNS target whose expected answer changes (a Service's endpoints moved)
// keeps its series and counters; an answer that still holds the old value
// is stale, one with a value never expected is wrong.
func TestDNSAnswersEqualFollowsUpdates(t *testing.T) {
	tt, _ := startTarget(t, testtarget.Options{Records: map[string][]string{"svc.test.": {"10.96.0.1"}}})
	target := func(want ...string) config.Target {
		tg := config.Target{Name: "svc", Schedule: config.Schedule{Interval: config.Duration(20 * time.Millisecond)},
			DNS: &config.DNSProbe{Server: tt.DNSAddr(), Name: "svc.test", AnswersEqual: want}}
		return tg.Resolved(config.Schedule{})
	}
	e := NewEngine(EngineOptions{})
	if _, _, err := e.Apply([]config.Target{target("10.96.0.1")}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.Start(ctx)
	defer e.Stop()
	labels := func(result string) map[string]string {
		return map[string]string{"backend": "svc", "connection": "new", "result": result}
	}
	count := func(result string) float64 {
		v, _ := metricValue(t, e, "zerodown_probe_requests_total", labels(result))
		return v
	}
	testwait.Until(t, "successes", func() bool { return count("success") >= 3 })
	if n := count("dns_stale"); n != 0 {
		t.Fatalf("dns_stale = %v before any change", n)
	}

	// The Service moved to 10.96.0.2; the DNS server still answers the old address.
	added, removed, err := e.Apply([]config.Target{target("10.96.0.2")})
	if err != nil || added != 0 || removed != 0 {
		t.Fatalf("Apply with new answers_equal: added %d removed %d err %v; want the series kept", added, removed, err)
	}
	testwait.Until(t, "stale answers", func() bool { return count("dns_stale") >= 2 })
	if err := tt.SetRecords("svc.test", "10.96.0.2"); err != nil {
		t.Fatal(err)
	}
	ok := count("success")
	testwait.Until(t, "recovery", func() bool { return count("success") > ok+2 })

	// An address never expected is a wrong answer, not a stale one.
	if err := tt.SetRecords("svc.test", "10.96.0.2", "10.96.0.77"); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, "wrong answers", func() bool { return count("dns_answer") >= 2 })
	if err := tt.SetRecords("svc.test", "10.96.0.2"); err != nil {
		t.Fatal(err)
	}
	ok = count("success")
	testwait.Until(t, "second recovery", func() bool { return count("success") > ok+2 })

	// At least one stale and one wrong outage (a probe begun just before a
	// switch and answered after it can split an edge in two on a loaded
	// machine, so not exactly two).
	if v, _ := metricValue(t, e, "zerodown_disruptions_total", map[string]string{"backend": "svc", "connection": "new"}); v < 2 {
		t.Errorf("disruptions_total = %v, want at least 2 (one stale, one wrong)", v)
	}
	for _, r := range []string{"dns_stale", "dns_answer"} {
		if v, _ := metricValue(t, e, "zerodown_disruption_seconds_total", map[string]string{"backend": "svc", "reason": r}); v <= 0 {
			t.Errorf("disruption_seconds_total{reason=%q} = %v, want > 0", r, v)
		}
	}
}

// observingEngine runs an engine that watches its observer, probing one
// HTTP target "web" over new connections every 20ms, until the test ends.
func observingEngine(t *testing.T) (*testtarget.Server, *Engine, *recSink) {
	t.Helper()
	tt, _ := startTarget(t, testtarget.Options{})
	sink := &recSink{}
	e := NewEngine(EngineOptions{Observing: true, Sink: sink})
	tg := httpTarget("web", tt.HTTPAddr(), 20*time.Millisecond)
	tg.Connections = []config.Connection{config.ConnNew}
	if _, _, err := e.Apply([]config.Target{tg}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.Start(ctx)
	t.Cleanup(func() {
		cancel()
		e.Stop()
	})
	return tt, e, sink
}

// Failures while the observer's own node is impaired are counted apart:
// not in the backend's disruption, not as its outages.
func TestObserverImpairedCountedApart(t *testing.T) {
	tt, e, sink := observingEngine(t)
	web := map[string]string{"backend": "web", "connection": "new"}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for a, b := range web {
			m[a] = b
		}
		return m
	}
	// Exported as zero from the start, so rate() sees it.
	if v, ok := metricValue(t, e, "zerodown_observer_disruption_seconds_total", web); !ok || v != 0 {
		t.Fatalf("observer disruption before anything = %v (exported %v), want 0", v, ok)
	}
	requests := func(result string) float64 {
		v, _ := metricValue(t, e, "zerodown_probe_requests_total", with("result", result))
		return v
	}
	testwait.Until(t, "successes", func() bool { return requests("success") >= 3 })

	// The poller's node drains and the target fails meanwhile.
	e.SetImpaired("draining")
	tt.Set(testtarget.Refuse)
	testwait.Until(t, "observer failures", func() bool { return requests("observer") >= 5 })
	tt.Set(testtarget.Healthy)
	e.SetImpaired("")
	ok := requests("success")
	testwait.Until(t, "recovery", func() bool { return requests("success") > ok+2 })

	if v, _ := metricValue(t, e, "zerodown_observer_disruption_seconds_total", web); v <= 0 {
		t.Errorf("observer disruption = %v, want > 0", v)
	}
	if v, _ := metricValue(t, e, "zerodown_disruption_seconds_total", with("reason", "connect_refused")); v != 0 {
		t.Errorf("connect_refused disruption = %v, want 0: the failures were the observer's", v)
	}
	if v, _ := metricValue(t, e, "zerodown_disruptions_total", web); v != 0 {
		t.Errorf("disruptions_total = %v, want 0", v)
	}
	if requests("connect_refused") != 0 {
		t.Errorf("connect_refused requests = %v, want 0", requests("connect_refused"))
	}
	events, _ := sink.snapshot()
	if len(events) < 1 || events[0] != "began web/new observer" {
		t.Errorf("sink events %v, want an outage begun with reason observer", events)
	}

	// The same failure with a healthy observer is the backend's.
	tt.Set(testtarget.Refuse)
	testwait.Until(t, "backend failures", func() bool { return requests("connect_refused") >= 3 })
	tt.Set(testtarget.Healthy)
	if v, _ := metricValue(t, e, "zerodown_disruptions_total", web); v < 1 {
		t.Errorf("disruptions_total = %v, want at least 1", v)
	}
}

// expectations is discovery's view, set by the test.
type expectations struct {
	mu   sync.Mutex
	want map[string][]string
}

func (x *expectations) set(backend string, v ...string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.want[backend] = v
}

func (x *expectations) Expected(backend string) ([]string, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	v, ok := x.want[backend]
	return v, ok
}

// The DNS server may follow a Service's new endpoints before the target
// is updated: an answer that matches discovery's current view is no
// disruption. One that holds only an old value still is (stale).
func TestDNSAnswerCheckedAgainstCurrentView(t *testing.T) {
	tt, _ := startTarget(t, testtarget.Options{Records: map[string][]string{"svc.test.": {"10.96.0.1"}}})
	x := &expectations{want: map[string][]string{"svc": {"10.96.0.1"}}}
	tg := config.Target{Name: "svc", Schedule: config.Schedule{Interval: config.Duration(20 * time.Millisecond)},
		DNS: &config.DNSProbe{Server: tt.DNSAddr(), Name: "svc.test", AnswersEqual: []string{"10.96.0.1"}}}
	e := NewEngine(EngineOptions{Expect: x})
	if _, _, err := e.Apply([]config.Target{tg.Resolved(config.Schedule{})}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.Start(ctx)
	defer e.Stop()
	count := func(result string) float64 {
		v, _ := metricValue(t, e, "zerodown_probe_requests_total", map[string]string{"backend": "svc", "result": result})
		return v
	}
	testwait.Until(t, "successes", func() bool { return count("success") >= 3 })

	// Endpoints moved; the DNS server and discovery know, the target not yet.
	x.set("svc", "10.96.0.2")
	if err := tt.SetRecords("svc.test", "10.96.0.2"); err != nil {
		t.Fatal(err)
	}
	ok := count("success")
	testwait.Until(t, "successes with the new address", func() bool { return count("success") > ok+3 })
	if n := count("dns_answer") + count("dns_stale"); n != 0 {
		t.Errorf("%v failed answers while the DNS server was ahead of the target", n)
	}

	// Discovery moves on and the target is updated; the DNS server lags:
	// the address taken from discovery's view above is now stale.
	x.set("svc", "10.96.0.3")
	tg.DNS = &config.DNSProbe{Server: tt.DNSAddr(), Name: "svc.test", AnswersEqual: []string{"10.96.0.3"}}
	if _, _, err := e.Apply([]config.Target{tg.Resolved(config.Schedule{})}); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, "stale answers", func() bool { return count("dns_stale") >= 2 })
}

// An outage that begins while the observer is impaired and goes on after
// it recovered is split: the observer's part, then the target's, which
// alone counts as an outage.
func TestObserverOutageBecomesTargets(t *testing.T) {
	tt, e, sink := observingEngine(t)
	requests := func(result string) float64 {
		v, _ := metricValue(t, e, "zerodown_probe_requests_total", map[string]string{"backend": "web", "result": result})
		return v
	}
	testwait.Until(t, "successes", func() bool { return requests("success") >= 3 })
	e.SetImpaired("not_ready")
	tt.Set(testtarget.Refuse)
	testwait.Until(t, "observer failures", func() bool { return requests("observer") >= 3 })
	e.SetImpaired("")
	testwait.Until(t, "the target's own failures", func() bool { return requests("connect_refused") >= 3 })
	tt.Set(testtarget.Healthy)
	ok := requests("success")
	testwait.Until(t, "recovery", func() bool { return requests("success") > ok+2 })

	if v, _ := metricValue(t, e, "zerodown_disruptions_total", map[string]string{"backend": "web"}); v < 1 {
		t.Errorf("disruptions_total = %v, want at least 1", v)
	}
	// Split at the first own failure: the observer's part, then the
	// target's (the recovery edge may add a short outage on a loaded
	// machine, so only the beginning is exact).
	events, _ := sink.snapshot()
	want := []string{"began web/new observer", "ended web/new", "began web/new connect_refused", "ended web/new"}
	if len(events) < len(want) || strings.Join(events[:len(want)], "; ") != strings.Join(want, "; ") {
		t.Errorf("sink events %v, want them to begin with %v", events, want)
	}
}
