//go:build noeval

package watch

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zerodown/zerodown/intervals"
	"github.com/zerodown/zerodown/rules/alert"
)

// AlertSource is the interval source of the evaluator's alerts.
const AlertSource = "Alert"

// Built with -tags noeval (the in-cluster image): no PromQL engine, so no
// embedded evaluator; Prometheus evaluates the rules in a cluster.
type alerting struct{}

func startAlerting(o Options, _ *prometheus.Registry, _ *intervals.Writer, log *slog.Logger) (*alerting, error) {
	if len(o.RuleFiles) > 0 || o.AlertmanagerURL != "" || o.AlertWebhook != "" || o.AlertHook != nil {
		return nil, errors.New("this zerodown was built without the rule evaluator (-tags noeval): --rules, --alertmanager.url and --alert.webhook need the full build")
	}
	log.Info("no rule evaluation: built without the rule evaluator (-tags noeval)")
	return nil, nil
}

func (*alerting) active() []alert.Alert                 { return nil }
func (*alerting) run(context.Context)                   {}
func (*alerting) stop(time.Time) ([]alert.Alert, error) { return nil, nil }
