package report

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/zerodown/zerodown/intervals"
)

// SourceConnectionDrop is the source of a dropped held connection's
// interval (probes.ConnectionDropSource).
const SourceConnectionDrop = "ConnectionDrop"

// SuiteConnections is the JUnit suite of held connections.
const SuiteConnections = "zerodown.connections"

// Drop is one dropped held connection.
type Drop struct {
	Backend, Protocol, Poller, Slot string
	// From is the drop (for a timeout, the connection's last sign of
	// life); To when it was seen.
	From, To time.Time
	Reason   string
	Lifetime time.Duration
	Message  string
}

// Held is a backend's held connections, as their drops tell (in
// summary.json as held_connections).
type Held struct {
	Backend string `json:"backend"`
	// Drops is the most any one poller saw (what the budget judges);
	// ByReason splits every poller's drops by reason.
	Drops    int            `json:"drops"`
	ByReason map[string]int `json:"by_reason"`
	// Budget is the drops allowed, nil without one.
	Budget   *int `json:"budget,omitempty"`
	Exceeded bool `json:"exceeded,omitempty"`
}

// JudgeHeld judges the drops of held connections: one Held per backend
// with drops or a budget, sorted by backend. drops is the most one poller
// saw, byReason every poller's by reason, budgets the drops allowed.
func JudgeHeld(drops map[string]int, byReason map[string]map[string]int, budgets map[string]int) []Held {
	backends := map[string]bool{}
	for _, m := range []map[string]int{drops, budgets} {
		for b := range m {
			backends[b] = true
		}
	}
	var out []Held
	for _, b := range slices.Sorted(maps.Keys(backends)) {
		h := Held{Backend: b, Drops: drops[b], ByReason: map[string]int{}}
		maps.Copy(h.ByReason, byReason[b])
		if n, ok := budgets[b]; ok {
			h.Budget = &n
			h.Exceeded = h.Drops > n
		}
		out = append(out, h)
	}
	return out
}

// HeldVerdict folds the held connections' budgets into the verdict v:
// exceeded when one was, pass when one was judged and v judged nothing.
func HeldVerdict(v string, held []Held) string {
	for _, h := range held {
		switch {
		case h.Exceeded:
			return "exceeded"
		case h.Budget != nil && v == "unbudgeted":
			v = "pass"
		}
	}
	return v
}

func dropOf(iv intervals.Interval, poller string) Drop {
	k := iv.Locator.Keys
	d := Drop{Backend: k["backend"], Protocol: k["protocol"], Poller: poller, Slot: k["slot"],
		From: iv.From.Time, To: iv.To.Time, Reason: iv.Message.Cause, Message: iv.Message.HumanMessage}
	var secs float64
	if _, err := fmt.Sscan(iv.Message.Annotations["lifetime_seconds"], &secs); err == nil {
		d.Lifetime = time.Duration(secs * float64(time.Second))
	}
	return d
}

// measureHeld totals the drops per backend and judges them.
func (r *Report) measureHeld(budgets map[string]int) {
	slices.SortStableFunc(r.Drops, func(a, b Drop) int { return a.From.Compare(b.From) })
	perPoller := map[[2]string]int{} // backend, poller → drops
	drops := map[string]int{}
	byReason := map[string]map[string]int{}
	for _, d := range r.Drops {
		k := [2]string{d.Backend, d.Poller}
		perPoller[k]++
		drops[d.Backend] = max(drops[d.Backend], perPoller[k])
		if byReason[d.Backend] == nil {
			byReason[d.Backend] = map[string]int{}
		}
		byReason[d.Backend][d.Reason]++
	}
	r.Held = JudgeHeld(drops, byReason, budgets)
	if HeldVerdict("", r.Held) == "exceeded" {
		r.Pass = false
	}
}

func (d Drop) line() string {
	return fmt.Sprintf("%s %s connection #%s (%s) dropped: %s after %s, seen %s: %s",
		d.Backend, d.Protocol, d.Slot, d.Poller, d.Reason, fsec(d.Lifetime), stamp(d.To), d.Message)
}

// heldJUnit is the suite of one case per backend with held connections
// ("should keep its long-lived connections"), failing over its budget.
func (r *Report) heldJUnit(span time.Duration) junitSuite {
	s := junitSuite{Name: SuiteConnections}
	for _, h := range r.Held {
		c := junitCase{Name: fmt.Sprintf("%s should keep its long-lived connections during the upgrade", h.Backend),
			Classname: SuiteConnections, Time: seconds(span)}
		var out strings.Builder
		fmt.Fprintf(&out, "%d drops (the most one poller saw)", h.Drops)
		if len(h.ByReason) > 0 {
			var parts []string
			for _, reason := range slices.Sorted(maps.Keys(h.ByReason)) {
				parts = append(parts, fmt.Sprintf("%s %d", reason, h.ByReason[reason]))
			}
			fmt.Fprintf(&out, "; by reason over all pollers: %s", strings.Join(parts, ", "))
		}
		out.WriteString("\n")
		if h.Budget != nil {
			fmt.Fprintf(&out, "budget: %d drops\n", *h.Budget)
		} else {
			out.WriteString("no budget applies\n")
		}
		for _, d := range r.Drops {
			if d.Backend == h.Backend {
				fmt.Fprintln(&out, d.line())
			}
		}
		if h.Exceeded {
			c.Failure = &junitFailure{Type: "ConnectionDropBudgetExceeded",
				Message: fmt.Sprintf("%s had %d long-lived connections dropped, over its budget of %d", h.Backend, h.Drops, *h.Budget),
				Text:    out.String()}
		} else {
			c.SystemOut = out.String()
		}
		s.add(c)
	}
	return s
}

// heldLanes are the timeline's lanes of dropped connections: one per
// backend, protocol and poller.
func (r *Report) heldLanes(b *timelineBuilder) {
	lanes := map[[3]string]*lane{}
	var order [][3]string
	for _, d := range r.Drops {
		k := [3]string{d.Backend, d.Protocol, d.Poller}
		l := lanes[k]
		if l == nil {
			l = &lane{Group: "Long-lived connections", Label: d.Backend + " · " + d.Protocol}
			if d.Poller != "local" {
				l.Label += " · " + d.Poller
			}
			lanes[k] = l
			order = append(order, k)
		}
		b.item(l, d.From, d.To, b.classOf("dropped: "+d.Reason, false), d.line())
	}
	slices.SortFunc(order, func(x, y [3]string) int {
		return cmp.Or(cmp.Compare(x[0], y[0]), cmp.Compare(x[1], y[1]), cmp.Compare(x[2], y[2]))
	})
	for _, k := range order {
		b.t.Lanes = append(b.t.Lanes, *lanes[k])
	}
}
