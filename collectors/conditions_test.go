package collectors

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/zerodown/zerodown/intervals"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestConditionsCountersAndIntervals(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	clk := &fakeClock{t: t0}
	var buf bytes.Buffer
	w := intervals.NewWriter(&buf)
	c := NewConditions(w, nil)
	c.now = clk.now
	co := ObjectRef{Kind: "ClusterOperator", Name: "dns"}

	// First sight at t0: Degraded=False since an hour ago. Counters start
	// now; the interval starts at lastTransitionTime.
	c.Observe(co, []Cond{{Type: "Degraded", Status: StatusFalse, Since: t0.Add(-time.Hour)}})
	clk.advance(10 * time.Second)
	// Seen at t0+10s, it turned True at t0+7.5s.
	c.Observe(co, []Cond{{Type: "Degraded", Status: StatusTrue, Since: t0.Add(7500 * time.Millisecond), Reason: "Broken", Level: intervals.LevelError}})
	clk.advance(2 * time.Second)
	got := c.Counters(co)["Degraded"]
	want := CondCounters{Seconds: [3]float64{4.5, 7.5, 0}, Transitions: [3]uint64{1, 0, 0}}
	if got != want {
		t.Fatalf("counters at t0+12s = %+v, want %+v", got, want)
	}
	// The same state again changes nothing.
	c.Observe(co, []Cond{{Type: "Degraded", Status: StatusTrue, Since: t0.Add(7500 * time.Millisecond)}})
	// An odd status: unknown, at a transition time before the last one
	// (clock skew): counted from now instead, counters never go back.
	c.Observe(co, []Cond{{Type: "Degraded", Status: ParseStatus("Maybe"), Since: t0}})
	clk.advance(time.Second)
	got = c.Counters(co)["Degraded"]
	want = CondCounters{Seconds: [3]float64{4.5, 7.5, 1}, Transitions: [3]uint64{1, 0, 1}}
	if got != want {
		t.Fatalf("counters at t0+13s = %+v, want %+v", got, want)
	}
	c.Delete(co)
	if got := c.Counters(co); got != nil {
		t.Fatalf("counters after delete = %v, want none", got)
	}

	ivs, err := intervals.Read(&buf, "test")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, iv := range ivs {
		lines = append(lines, strings.Join([]string{
			iv.From.UTC().Format(time.RFC3339Nano), iv.To.UTC().Format(time.RFC3339Nano),
			string(iv.State), string(iv.Level), iv.Source, iv.Locator.String(), iv.Message.Reason, iv.Message.Cause,
		}, " "))
	}
	wantLines := []string{
		"2026-11-27T09:00:00Z 2026-11-27T10:00:07.5Z closed Info ClusterOperator ClusterOperator condition=Degraded kind=ClusterOperator name=dns DegradedFalse ",
		"2026-11-27T10:00:07.5Z 2026-11-27T10:00:12Z closed Error ClusterOperator ClusterOperator condition=Degraded kind=ClusterOperator name=dns DegradedTrue Broken",
		"2026-11-27T10:00:12Z 2026-11-27T10:00:13Z closed Info ClusterOperator ClusterOperator condition=Degraded kind=ClusterOperator name=dns DegradedUnknown ",
	}
	if strings.Join(lines, "\n") != strings.Join(wantLines, "\n") {
		t.Fatalf("intervals:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(wantLines, "\n"))
	}
}

func TestParseStatus(t *testing.T) {
	for in, want := range map[string]Status{"True": StatusTrue, "true": StatusTrue, "False": StatusFalse,
		"Unknown": StatusUnknown, "": StatusUnknown, "Yes": StatusUnknown} {
		if got := ParseStatus(in); got != want {
			t.Errorf("ParseStatus(%q) = %s, want %s", in, got, want)
		}
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Exact times are kept, even before the last observation, but an interval
// never ends before it began.
func TestConditionsExactTimes(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	clk := &fakeClock{t: t0.Add(time.Hour)}
	rec := &recorder{}
	c := NewConditions(rec, nil)
	c.now = clk.now
	up := ObjectRef{Kind: "Upgrade", Name: "ingress"}
	c.Observe(up, []Cond{{Type: "Progressing", Status: StatusTrue, Since: t0, Exact: true}})
	c.Observe(up, []Cond{{Type: "Progressing", Status: StatusFalse, Since: t0.Add(10 * time.Minute), Exact: true}})
	// Started again, stamped before the end it follows.
	c.Observe(up, []Cond{{Type: "Progressing", Status: StatusTrue, Since: t0.Add(5 * time.Minute), Exact: true}})
	if len(rec.begun) != 3 {
		t.Fatalf("%d intervals, want 3", len(rec.begun))
	}
	for i, want := range []time.Duration{0, 10 * time.Minute, 10 * time.Minute} {
		if got := rec.begun[i].From.Sub(t0); got != want {
			t.Errorf("interval %d from +%s, want +%s (exact, never before the one it ends)", i, got, want)
		}
	}
	if end := rec.ended["a"]; !end.Equal(t0.Add(10 * time.Minute)) {
		t.Errorf("the first interval ends at %s, want the exact end", end)
	}
	if end := rec.ended["b"]; end.Before(rec.begun[1].From.Time) {
		t.Errorf("the second interval ends at %s, before it began at %s", end, rec.begun[1].From)
	}
}

// Restate: a new message in the same status begins a new interval, which
// names the parts of its own time; the counters see no transition. Without
// Restate the message of the interval's beginning stays.
func TestConditionsRestate(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for _, restate := range []bool{true, false} {
		clk := &fakeClock{t: t0}
		var buf bytes.Buffer
		c := NewConditions(intervals.NewWriter(&buf), nil)
		c.now = clk.now
		svc := ObjectRef{Kind: "Service", Namespace: "kube-system", Name: "kube-dns"}
		say := func(msg string) {
			c.Observe(svc, []Cond{{Type: "EndpointsNotReady", Status: StatusTrue, Message: msg, Restate: restate}})
		}
		say("1 of 4 endpoints not ready: coredns-a")
		clk.advance(15 * time.Second)
		say("1 of 2 endpoints not ready: coredns-b")
		clk.advance(time.Second)
		say("1 of 2 endpoints not ready: coredns-b") // the same: nothing
		clk.advance(time.Second)
		c.Delete(svc)
		ivs, err := intervals.Read(&buf, "test")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, iv := range ivs {
			got = append(got, iv.From.Sub(t0).String()+"-"+iv.To.Sub(t0).String()+" "+iv.Message.HumanMessage)
		}
		want := []string{"0s-15s Service/kube-system/kube-dns EndpointsNotReady=true: 1 of 4 endpoints not ready: coredns-a",
			"15s-17s Service/kube-system/kube-dns EndpointsNotReady=true: 1 of 2 endpoints not ready: coredns-b"}
		if !restate {
			want = []string{"0s-17s Service/kube-system/kube-dns EndpointsNotReady=true: 1 of 4 endpoints not ready: coredns-a"}
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("restate %v: intervals\n%s\nwant\n%s", restate, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}
