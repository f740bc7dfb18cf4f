package contract

import (
	"testing"

	"github.com/zerodown/zerodown/internal/contract/incluster"
	"github.com/zerodown/zerodown/rules/eval/evalmetrics"
)

// full is the contract of zerodown, which has every part.
var full = Parts{Roles: incluster.Describe, Evaluator: evalmetrics.Describe}

func TestMetrics(t *testing.T) {
	names, complete, err := Metrics(full)
	if err != nil {
		t.Fatal(err)
	}
	if !complete {
		t.Error("the full binary's contract says it is incomplete")
	}
	// One of each role's and kind's, and the histogram series.
	for _, n := range []string{
		"zerodown_build_info", "go_goroutines", "process_resident_memory_bytes",
		"zerodown_config_last_reload_successful",
		"zerodown_disruption_seconds_total", "zerodown_observed_seconds_total", "zerodown_backend_up",
		"zerodown_probe_duration_seconds_bucket", "zerodown_scheduler_lag_seconds_count",
		"zerodown_poller_node_impaired", "zerodown_alert_notifications_total", "zerodown_slo_objective",
		"zerodown_cluster_operator_condition", "zerodown_machine_config_pool_condition", "zerodown_node_condition",
		"zerodown_upgrade_in_progress", "zerodown_collector_synced", "zerodown_controller_leader", "zerodown_rollback_actions_total", "zerodown_discovery_target_info",
		// watch's embedded rule evaluator: Prometheus's rules manager's own, and the alerts.
		"zerodown_rule_alerts", "prometheus_rule_evaluation_failures_total", "prometheus_rule_group_last_duration_seconds",
		"prometheus_rule_evaluation_duration_seconds_count",
	} {
		if !Exported(names, n) {
			t.Errorf("%s missing from the contract", n)
		}
	}
	for _, n := range []string{"zerodown_no_such_metric", "up", "kube_pod_info"} {
		if Exported(names, n) {
			t.Errorf("%s in the contract", n)
		}
	}
}

// A binary without a part knows none of its metrics: zerodown-lite
// (no in-cluster roles) has an incomplete contract, zerodown-cluster (no
// evaluator) a complete one without the evaluator's metrics.
func TestMetricsOfPartialBinaries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		parts    Parts
		complete bool
		has, not []string
	}{
		{name: "zerodown-lite", parts: Parts{Evaluator: evalmetrics.Describe}, complete: false,
			has: []string{"zerodown_backend_up", "zerodown_rule_alerts", "zerodown_alert_notifications_total", "zerodown_build_info"},
			not: []string{"zerodown_poller_node_impaired", "zerodown_cluster_operator_condition", "zerodown_controller_leader"}},
		{name: "zerodown-cluster", parts: Parts{Roles: incluster.Describe}, complete: true,
			has: []string{"zerodown_backend_up", "zerodown_poller_node_impaired", "zerodown_controller_leader"},
			not: []string{"zerodown_rule_alerts", "prometheus_rule_evaluation_failures_total"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			names, complete, err := Metrics(tc.parts)
			if err != nil {
				t.Fatal(err)
			}
			if complete != tc.complete {
				t.Errorf("complete %v, want %v", complete, tc.complete)
			}
			for _, n := range tc.has {
				if !Exported(names, n) {
					t.Errorf("%s missing from the contract", n)
				}
			}
			for _, n := range tc.not {
				if Exported(names, n) {
					t.Errorf("%s in the contract", n)
				}
			}
		})
	}
}
