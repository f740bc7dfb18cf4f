//go:build !noeval

package contract

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zerodown/zerodown/rules/eval/evalmetrics"
)

// describeEvaluator describes the metrics of watch's embedded rule
// evaluator: the rules manager's prometheus_rule_* and
// zerodown_rule_alerts.
func describeEvaluator(ch chan<- *prometheus.Desc) { evalmetrics.Describe(ch) }
