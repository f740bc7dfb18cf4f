package eval

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/zerodown/zerodown/rules/alert"

	promrules "github.com/prometheus/prometheus/rules"
)

// Alert states and the alert, in a package of their own (rules/alert) so
// that code showing alerts need not link the PromQL engine.
const (
	StatePending  = alert.StatePending
	StateFiring   = alert.StateFiring
	StateResolved = alert.StateResolved
)

// Alert is one alert episode (see alert.Alert).
type Alert = alert.Alert

// tracker follows the alerts across steps.
type tracker struct {
	active   map[uint64]*Alert // pending or firing now
	fired    []Alert           // episodes that ended
	onChange func(Alert)
}

func newTracker() *tracker { return &tracker{active: map[uint64]*Alert{}} }

// observe takes the alerts after the step at now and reports transitions
// to firing and to resolved.
func (t *tracker) observe(now time.Time, groups []*promrules.Group) {
	seen := map[uint64]bool{}
	for _, g := range groups {
		for _, ar := range g.AlertingRules() {
			for _, a := range ar.ActiveAlerts() {
				h := a.Labels.Hash()
				seen[h] = true
				cur, ok := t.active[h]
				if !ok {
					cur = &Alert{Name: ar.Name(), Labels: a.Labels.Map(), State: StatePending, ActiveAt: a.ActiveAt, Expr: ar.Query().String()}
					t.active[h] = cur
				}
				cur.Annotations = a.Annotations.Map()
				cur.Value = a.Value
				if a.State == promrules.StateFiring {
					cur.LastFiringAt = now
					if cur.State != StateFiring {
						cur.State, cur.FiredAt = StateFiring, a.FiredAt
						if cur.FiredAt.IsZero() {
							cur.FiredAt = now
						}
						t.changed(*cur)
					}
				}
			}
		}
	}
	for h, cur := range t.active {
		if seen[h] {
			continue
		}
		delete(t.active, h)
		if cur.State == StateFiring {
			cur.State, cur.ResolvedAt = StateResolved, now
			t.fired = append(t.fired, *cur)
			t.changed(*cur)
		}
	}
}

func (t *tracker) changed(a Alert) {
	if t.onChange != nil {
		a.Labels, a.Annotations = maps.Clone(a.Labels), maps.Clone(a.Annotations)
		t.onChange(a)
	}
}

// sorted returns alerts by time, then name and labels.
func sorted(as []Alert) []Alert {
	slices.SortStableFunc(as, func(a, b Alert) int {
		if c := a.ActiveAt.Compare(b.ActiveAt); c != 0 {
			return c
		}
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Key(), b.Key())
	})
	return as
}

// Active returns the alerts pending or firing after the latest step.
func (e *Evaluator) Active() []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Alert, 0, len(e.tracker.active))
	for _, a := range e.tracker.active {
		out = append(out, *a)
	}
	return sorted(out)
}

// Fired returns every alert episode that fired during the run: ended ones
// and those still firing.
func (e *Evaluator) Fired() []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := slices.Clone(e.tracker.fired)
	for _, a := range e.tracker.active {
		if a.State == StateFiring {
			out = append(out, *a)
		}
	}
	return sorted(out)
}
