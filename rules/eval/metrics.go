package eval

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	promrules "github.com/prometheus/prometheus/rules"

	"github.com/zerodown/zerodown/rules/eval/evalmetrics"
)

// alertCounts exports zerodown_rule_alerts: how many alerts each alerting
// rule has in each state after the latest step. The counts are a snapshot
// taken at the end of a step under a lock of their own: a gather (the
// evaluator's own, during a step, or a scrape) never waits for a step.
type alertCounts struct {
	mu     sync.Mutex
	counts map[alertKey]int
}

type alertKey struct{ group, alertname, state string }

// newAlertCounts starts with a zero for every alerting rule and state.
func newAlertCounts(groups []*promrules.Group) *alertCounts {
	c := &alertCounts{}
	c.count(groups)
	return c
}

// count takes the snapshot of the groups' alerts.
func (c *alertCounts) count(groups []*promrules.Group) {
	counts := map[alertKey]int{}
	for _, g := range groups {
		group := promrules.GroupKey(g.File(), g.Name())
		for _, ar := range g.AlertingRules() {
			pending := alertKey{group, ar.Name(), evalmetrics.StatePending}
			firing := alertKey{group, ar.Name(), evalmetrics.StateFiring}
			counts[pending] += 0
			counts[firing] += 0
			for _, a := range ar.ActiveAlerts() {
				switch a.State {
				case promrules.StatePending:
					counts[pending]++
				case promrules.StateFiring:
					counts[firing]++
				}
			}
		}
	}
	c.mu.Lock()
	c.counts = counts
	c.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (c *alertCounts) Describe(ch chan<- *prometheus.Desc) { ch <- evalmetrics.AlertsDesc }

// Collect implements prometheus.Collector: built under the lock, sent
// after.
func (c *alertCounts) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	ms := make([]prometheus.Metric, 0, len(c.counts))
	for k, n := range c.counts {
		ms = append(ms, prometheus.MustNewConstMetric(evalmetrics.AlertsDesc, prometheus.GaugeValue, float64(n), k.group, k.alertname, k.state))
	}
	c.mu.Unlock()
	for _, m := range ms {
		ch <- m
	}
}
