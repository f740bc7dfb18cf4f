package contract

import "testing"

func TestMetrics(t *testing.T) {
	names, complete, err := Metrics()
	if err != nil {
		t.Fatal(err)
	}
	if !complete {
		t.Error("a full build says its contract is incomplete")
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
