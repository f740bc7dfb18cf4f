package report

import (
	"strings"
	"testing"

	"github.com/zerodown/zerodown/intervals"
)

func drop(backend, node, reason string, slot string, from, to float64) intervals.Interval {
	return intervals.Interval{From: at(from), To: at(to), State: intervals.StateClosed, Level: intervals.LevelError, Source: SourceConnectionDrop,
		Locator: intervals.Locator{Type: SourceConnectionDrop, Keys: map[string]string{"backend": backend, "protocol": "h2", "slot": slot, "node": node}},
		Message: intervals.Message{Reason: "ConnectionDropped", Cause: reason, HumanMessage: backend + " dropped",
			Annotations: map[string]string{"lifetime_seconds": "12.500000"}}}
}

// Drops of held connections: counted per backend as the most one poller
// saw, split by reason, judged against their budget, in JUnit, the
// summary and the timeline, and kept apart from request disruption.
func TestHeldConnections(t *testing.T) {
	n1 := []intervals.Interval{probing("router", "new", "n1", 0, 60),
		drop("router", "n1", "goaway", "0", 10, 10), drop("router", "n1", "goaway", "1", 10, 10.001), drop("router", "n1", "timeout", "0", 30, 31)}
	n2 := []intervals.Interval{drop("router", "n2", "reset", "0", 12, 12), drop("db", "n2", "eof", "0", 5, 5)}
	r := Build([]Input{{"n1.jsonl", n1}, {"n2.jsonl", n2}}, Options{DropBudgets: map[string]int{"router": 2, "quiet": 0}})
	if len(r.Drops) != 5 {
		t.Fatalf("%d drops, want 5", len(r.Drops))
	}
	if d := r.Drops[0]; d.Backend != "db" || d.Lifetime.Seconds() != 12.5 || d.Poller != "n2" {
		t.Errorf("first drop %+v, want db's on n2 with a lifetime of 12.5 s", d)
	}
	held := map[string]*Held{}
	for i := range r.Held {
		held[r.Held[i].Backend] = &r.Held[i]
	}
	if h := held["router"]; h == nil || h.Drops != 3 || h.ByReason["goaway"] != 2 || h.ByReason["reset"] != 1 || !h.Exceeded {
		t.Fatalf("router: %+v, want 3 drops (n1's), goaway 2, reset 1, over its budget of 2", h)
	}
	if h := held["db"]; h == nil || h.Drops != 1 || h.Budget != nil || h.Exceeded {
		t.Fatalf("db: %+v, want 1 drop, no budget", h)
	}
	if h := held["quiet"]; h == nil || h.Drops != 0 || h.Exceeded {
		t.Fatalf("quiet: %+v, want a budgeted backend with no drop, passing", h)
	}
	if r.Pass || r.Verdict() != "exceeded" {
		t.Errorf("pass %v, verdict %s: want exceeded", r.Pass, r.Verdict())
	}
	if b := r.Backends[0]; b.Backend != "router" || b.Disruption != 0 {
		t.Errorf("request disruption of router = %s, want 0: drops are apart", b.Disruption)
	}
	if got := r.Summary().DropsExceeded(); len(got) != 1 || got[0].Backend != "router" {
		t.Errorf("DropsExceeded = %+v, want router", got)
	}

	got, _ := junitOf(t, r)
	var suite *junitSuite
	for i := range got.Suites {
		if got.Suites[i].Name == SuiteConnections {
			suite = &got.Suites[i]
		}
	}
	if suite == nil || suite.Tests != 3 || suite.Failures != 1 {
		t.Fatalf("suite %s: %+v, want 3 cases, 1 failure", SuiteConnections, suite)
	}
	for _, c := range suite.Cases {
		failed := c.Failure != nil
		if failed != strings.HasPrefix(c.Name, "router ") {
			t.Errorf("case %q failed=%v", c.Name, failed)
		}
	}

	tl := r.timeline()
	lanes := 0
	for _, l := range tl.Lanes {
		if l.Group == "Long-lived connections" {
			lanes++
		}
	}
	if lanes != 3 {
		t.Errorf("%d lanes of long-lived connections, want 3 (router on n1 and n2, db on n2)", lanes)
	}

	// Without any budget nothing is judged.
	if v := Build([]Input{{"n1.jsonl", n1}}, Options{}).Verdict(); v != "unbudgeted" {
		t.Errorf("verdict without budgets %s, want unbudgeted", v)
	}
}
