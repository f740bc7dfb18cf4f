// Package evalmetrics describes the metrics of the embedded rule evaluator
// of zerodown watch (rules/eval): the rule manager's own, as a Prometheus
// exports them (prometheus_rule_evaluation_failures_total,
// prometheus_rule_group_last_duration_seconds, ...), and
// zerodown_rule_alerts, the alerts of each rule by state. It is a package
// of its own so that the metric contract (internal/contract) can describe
// them without importing the evaluator, which imports rules/rulecheck,
// whose tests import the contract.
package evalmetrics

import (
	"github.com/prometheus/client_golang/prometheus"
	promrules "github.com/prometheus/prometheus/rules"
)

// AlertsDesc describes zerodown_rule_alerts: ALERTS counted, per rule
// group (labelled as the prometheus_rule_group_* metrics are), alert
// name and state.
var AlertsDesc = prometheus.NewDesc("zerodown_rule_alerts",
	"Alerts of the embedded rule evaluator's alerting rules after its latest evaluation, by state (pending, firing): the ALERTS series counted. Zero for every alerting rule and state until one is active.",
	[]string{"rule_group", "alertname", "alertstate"}, nil)

// Alert states, the values of the alertstate label (as in ALERTS).
const (
	StatePending = "pending"
	StateFiring  = "firing"
)

// RuleManager returns new metrics for a Prometheus rules manager
// (ManagerOptions.Metrics), none registered, and their collectors, which
// the caller registers.
func RuleManager() (*promrules.Metrics, []prometheus.Collector) {
	m := promrules.NewGroupMetrics(nil)
	return m, []prometheus.Collector{
		m.EvalDuration, m.EvalDurationHistogram, m.IterationDuration, m.IterationDurationHistogram,
		m.IterationsMissed, m.IterationsScheduled, m.EvalTotal, m.EvalFailures,
		m.GroupInterval, m.GroupLastEvalTime, m.GroupLastDuration, m.GroupLastRuleDurationSum,
		m.GroupLastRestoreDuration, m.GroupRules, m.GroupSamples,
	}
}

// Describe describes every metric of the evaluator.
func Describe(ch chan<- *prometheus.Desc) {
	_, cs := RuleManager()
	for _, c := range cs {
		c.Describe(ch)
	}
	ch <- AlertsDesc
}
