package eval

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	promrules "github.com/prometheus/prometheus/rules"
)

// Alert states, as Prometheus names them.
const (
	StatePending  = "pending"
	StateFiring   = "firing"
	StateResolved = "resolved"
)

// Alert is one alert (a rule and a label set) in one episode: from the
// step it fired to the step it stopped firing.
type Alert struct {
	Name        string            `json:"alertname"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	State       string            `json:"state"`
	// ActiveAt is when its condition began to hold (pending from then).
	ActiveAt time.Time `json:"active_at"`
	// FiredAt is when it began firing ("for" after ActiveAt).
	FiredAt time.Time `json:"fired_at,omitzero"`
	// LastFiringAt is the latest step at which it was firing.
	LastFiringAt time.Time `json:"last_firing_at,omitzero"`
	// ResolvedAt is the first step at which it no longer fired.
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	// Value of the alert's expression at its latest step.
	Value float64 `json:"value"`
	// Expr is the rule's expression.
	Expr string `json:"-"`
}

// Key identifies an alert's label set (alertname included).
func (a Alert) Key() string {
	return labels.FromMap(a.Labels).String()
}

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
