// Package alert is an alert of zerodown's embedded evaluator as the rest
// of zerodown sees it (the live view, the summary, the interval stream),
// without the PromQL engine that makes it.
package alert

import (
	"time"

	"github.com/prometheus/common/model"
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
	ls := make(model.LabelSet, len(a.Labels))
	for k, v := range a.Labels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls.String()
}
