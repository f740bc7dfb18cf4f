package dashboards

// reasonColors colour outages by reason, as report.html does.
var reasonColors = []NameColor{
	{"/connect_refused/", "#d62728"}, {"/connect_timeout/", "#9467bd"}, {"/reset/", "#ff7f0e"},
	{"/timeout/", "#8c564b"}, {"/http_status/", "#e377c2"}, {"/tls/", "#17becf"}, {"/dns/", "#1f77b4"},
	{"/body_mismatch/", "#bcbd22"}, {"/protocol/", "#7f7f7f"}, {"/other/", "#444444"},
}

// The stats of what is down now show one value per cluster. `or vector(0)`,
// their fallback when nothing is down, cannot carry a cluster label: over
// many clusters it adds an unlabelled 0 beside every cluster's count, and
// `or on () vector(0)` would hide it only by matching across clusters.
// Each cluster's 0 comes from its own series instead: a backend counts
// 1 when some poller sees it down and 0 otherwise (== bool), so a cluster
// whose backends are all up sums to 0; network paths exist only where the
// matrix runs, so every cluster where zerodown runs counts 0 unless paths
// are down. A cluster that reports nothing has no value: nothing measured
// is not nothing down.
const (
	downNow      = `sum by (cluster) (max by (cluster, backend, connection) (1 - zerodown_backend_up{{{sel}}}) == bool 1)`
	pathsDownNow = `count by (cluster) (max by (cluster, path, source_node, target_node) (zerodown_network_up{{{cluster}}}) == 0)
  or on (cluster) (0 * group by (cluster) (zerodown_build_info{{{cluster}}}))`
)

// UpgradeDisruption is what an SRE watches during an upgrade: which
// backends are down and why, what every poller and some pollers saw, the
// disruption of the running upgrade against its budget, and what the
// cluster is doing.
func UpgradeDisruption() *Dashboard {
	return &Dashboard{
		File: "zerodown-upgrade-disruption", UID: "zerodown-upgrade-disruption", Title: "zerodown / Upgrade disruption",
		Description: "Which routes, services and DNS names went down during an upgrade, for how long and why, next to what the cluster was doing.",
		Tags:        []string{"zerodown", "upgrade", "disruption"}, Time: "now-3h",
		Vars: backendVars,
		Annotations: []Annotation{{
			Name:  "Upgrade",
			Expr:  sel(`max by (cluster, version) (zerodown_upgrade_start_timestamp_seconds{{{cluster}}}) and on (cluster) (max by (cluster) (zerodown_upgrade_in_progress{{{cluster}}}) == 1)`),
			Title: "upgrade to {{version}} {{cluster}}", Color: "#8ab8ff",
		}},
		Rows: []Row{{
			Title: "Backends",
			Panels: []Panel{
				{Title: "Backends down now", Kind: Stat, Unit: "none", Width: 4, Height: 6, Console: true,
					Description: "How many backend and connection series some poller sees down right now, per cluster. 0 is what users want.",
					Queries:     []Query{{Expr: sel(downNow), Legend: "{{cluster}}", Instant: true}},
					Thresholds:  []Step{{0, "green"}, {1, "red"}}},
				{Title: "Availability (5m)", Kind: TimeSeries, Unit: "percentunit", Max: f(1), Width: 10, Height: 6, Console: true,
					Description: "The share of the last 5 minutes each backend answered, as every poller saw it (solid: a dip here hurt users everywhere). Recorded every 30 s.",
					Queries:     []Query{{Expr: sel(`1 - backend_connection:zerodown_unavailability:min_ratio_5m{{{sel}}}`), Legend: "{{backend}} {{connection}} {{cluster}}"}},
					Thresholds:  []Step{{0, "red"}, {0.999, "green"}}},
				{Title: "Disruption in the range", Kind: BarGauge, Unit: "s", Width: 10, Height: 6, Console: true,
					Description: "Seconds each backend was down over the dashboard's time range, as the poller that saw most of it measured it (zero when none did).",
					Queries:     []Query{{Expr: sel(`max by (cluster, backend, connection) (sum without (reason) (increase(zerodown_disruption_seconds_total{{{sel}}}[$__range])))`), Legend: "{{backend}} {{connection}} {{cluster}}", Instant: true}},
					Thresholds:  []Step{{0, "green"}, {1, "orange"}, {5, "red"}}},
				{Title: "Outages by reason", Kind: StateTimeline, Unit: "percentunit", Width: 24, Height: 8,
					Description: "When each backend was down and why: a bar per backend, connection and reason, coloured by reason (connect_refused: nothing listens; reset: a connection killed; timeout: no answer; http_status: an error status). Its value is the share of the step the pollers saw it down.",
					Queries:     []Query{{Expr: sel(`max by (cluster, backend, connection, reason) (rate(zerodown_disruption_seconds_total{{{sel}}}[$__rate_interval]) > 0)`), Legend: "{{backend}} {{connection}} {{reason}} {{cluster}}"}},
					ColorByName: reasonColors},
				{Title: "Seen by every poller vs some", Kind: TimeSeries, Unit: "percentunit", Min: f(0), Width: 12, Height: 8, Console: true,
					Description: "Unavailability over 5 minutes: solid, what every poller saw (the backend itself was down); dashed, what the worst poller saw. Far apart: one node's network, not the backend.",
					Queries: []Query{
						{Expr: sel(`backend_connection:zerodown_unavailability:min_ratio_5m{{{sel}}}`), Legend: "every poller: {{backend}} {{connection}} {{cluster}}"},
						{Expr: sel(`backend_connection:zerodown_unavailability:max_ratio_5m{{{sel}}}`), Legend: "some poller: {{backend}} {{connection}} {{cluster}}"},
					}},
				{Title: "Probe latency", Kind: Heatmap, Unit: "s", Width: 12, Height: 8,
					Description: "How long the probes of the selected backends took: from the native histogram where Prometheus ingests it (--enable-feature=native-histograms), else from the classic buckets. A band moving up is a backend slowing down before it fails. One heatmap per cluster selected.",
					Queries: []Query{{Expr: sel(`sum by (cluster) (rate(zerodown_probe_duration_seconds{{{sel}}}[$__rate_interval]))
  or (sum by (cluster, le) (rate(zerodown_probe_duration_seconds_bucket{{{sel}}}[$__rate_interval]))
      unless on (cluster) sum by (cluster) (rate(zerodown_probe_duration_seconds{{{sel}}}[$__rate_interval])))`), Legend: "{{le}}", Heatmap: true}},
					// Grafana's heatmap format sorts every series of the query
					// by le and subtracts each from the next: two clusters'
					// buckets would be subtracted from each other.
					Repeat: "cluster"},
				{Title: "Latency p95", Kind: TimeSeries, Unit: "s", Min: f(0), Width: 12, Height: 8, Console: true,
					Description: "95th percentile of the probe duration per backend and connection, from the native histogram where Prometheus ingests it, else from the classic buckets.",
					Queries: []Query{{Expr: sel(`histogram_quantile(0.95, sum by (cluster, backend, connection) (rate(zerodown_probe_duration_seconds{{{sel}}}[$__rate_interval])))
  or histogram_quantile(0.95, sum by (cluster, le, backend, connection) (rate(zerodown_probe_duration_seconds_bucket{{{sel}}}[$__rate_interval])))`), Legend: "{{backend}} {{connection}} {{cluster}}"}},
					Thresholds: []Step{{0, "green"}, {0.5, "red"}}},
				{Title: "Served by", Kind: TimeSeries, Unit: "percentunit", Min: f(0), Max: f(1), Width: 12, Height: 8,
					Description: "Which backend answered, for targets with served_by (blue/green switches, canary weights): the share of each value in the successful answers of its backend.",
					// The share is computed per cluster and backend: stacking the
					// series to 100 % in Grafana would add up every backend and
					// cluster in the panel.
					Queries: []Query{{Expr: sel(`sum by (cluster, backend, served_by) (rate(zerodown_probe_served_by_total{{{sel}}}[$__rate_interval]))
  / on (cluster, backend) group_left () sum by (cluster, backend) (rate(zerodown_probe_served_by_total{{{sel}}}[$__rate_interval]))`), Legend: "{{backend}}: {{served_by}} {{cluster}}"}}},
			},
		}, {
			Title: "The upgrade",
			Panels: []Panel{
				{Title: "Upgrading", Kind: Stat, Unit: "none", Width: 4, Height: 6, Console: true,
					Description: "Whether the ClusterVersion's newest update is still running.",
					Queries:     []Query{{Expr: sel(`max by (cluster) (zerodown_upgrade_in_progress{{{cluster}}})`), Legend: "{{cluster}}", Instant: true}},
					States:      []State{{"0", "no", "green"}, {"1", "upgrading", "blue"}}},
				{Title: "Versions", Kind: Table, Unit: "none", Width: 8, Height: 6, Console: true,
					Description: "The cluster's current version (the newest completed update) and the desired one.",
					Queries:     []Query{{Expr: sel(`max by (cluster, type, version) (zerodown_cluster_version_info{{{cluster}}})`), Legend: "{{type}} {{version}} {{cluster}}", Instant: true}}},
				{Title: "Disruption of the running upgrade", Kind: TimeSeries, Unit: "s", Min: f(0), Width: 12, Height: 6, Console: true,
					Description: "Seconds each backend was down since the running upgrade began: solid, what every poller saw (what the budget alert judges); the budget as a dashed line where one is set.",
					Queries: []Query{
						{Expr: sel(`backend_connection:zerodown_upgrade_disruption_seconds:min_current{{{sel}}}`), Legend: "{{backend}} {{connection}} ({{version}}) {{cluster}}"},
						{Expr: sel(`max by (cluster, backend, connection) (zerodown_budget_seconds{{{sel}}})`), Legend: "budget {{backend}} {{connection}} {{cluster}}"},
					},
					ColorByName: []NameColor{{"/^budget /", "#e02f44"}}},
				{Title: "Operators", Kind: StateTimeline, Unit: "none", Width: 12, Height: 10,
					Description: "Each ClusterOperator's worst condition: Available, Progressing (an upgrade rolls it), Degraded, or Unavailable.",
					Queries: []Query{{Expr: sel(`max by (cluster, name) (
  (zerodown_cluster_operator_condition{{{cluster}}, condition="Available", status="false"} * 3)
  or (zerodown_cluster_operator_condition{{{cluster}}, condition="Degraded", status="true"} * 2)
  or (zerodown_cluster_operator_condition{{{cluster}}, condition="Progressing", status="true"})
)`), Legend: "{{name}} {{cluster}}"}},
					States: []State{{"0", "Available", "green"}, {"1", "Progressing", "blue"}, {"2", "Degraded", "orange"}, {"3", "Unavailable", "red"}}},
				{Title: "Nodes", Kind: StateTimeline, Unit: "none", Width: 12, Height: 10,
					Description: "Each node's state: Ready, cordoned, draining (the machine-config-daemon evicts its pods), or NotReady (rebooting).",
					Queries: []Query{{Expr: sel(`max by (cluster, node) (
  ((1 - zerodown_node_condition{{{cluster}}, condition="Ready", status="true"}) * 3)
  or (zerodown_node_draining{{{cluster}}} * 2)
  or zerodown_node_unschedulable{{{cluster}}}
)`), Legend: "{{node}} {{cluster}}"}},
					States: []State{{"0", "Ready", "green"}, {"1", "cordoned", "yellow"}, {"2", "draining", "orange"}, {"3", "NotReady", "red"}}},
				{Title: "MachineConfigPools updated", Kind: BarGauge, Unit: "percentunit", Min: f(0), Max: f(1), Width: 12, Height: 6, Console: true,
					Description: "The share of each pool's machines that run the pool's current configuration; below 100 % while the pool rolls.",
					Queries:     []Query{{Expr: sel(`max by (cluster, pool) (zerodown_machine_config_pool_machines{{{cluster}}, state="updated"}) / max by (cluster, pool) (zerodown_machine_config_pool_machines{{{cluster}}, state="total"} > 0)`), Legend: "{{pool}} {{cluster}}", Instant: true}},
					Thresholds:  []Step{{0, "blue"}, {1, "green"}}},
				{Title: "Workloads unavailable", Kind: TimeSeries, Unit: "none", Min: f(0), Width: 12, Height: 6,
					Description: "Replicas of the watched Deployments, DaemonSets and StatefulSets that are not available: a rollout or a drain in progress.",
					Queries: []Query{{Expr: sel(`max by (cluster, kind, namespace, name) (zerodown_workload_replicas{{{cluster}}, state="desired"})
  - max by (cluster, kind, namespace, name) (zerodown_workload_replicas{{{cluster}}, state="available"}) > 0`), Legend: "{{kind}} {{namespace}}/{{name}} {{cluster}}"}}},
			},
		}, {
			Title: "Long-lived connections",
			Panels: []Panel{
				{Title: "Long-lived connections held", Kind: TimeSeries, Unit: "none", Min: f(0), Width: 8, Height: 8, Console: true,
					Description: "Connections held open to each backend (hold in the configuration), summed over pollers, against how many are wanted (dashed). A dip: connections were dropped and not yet replaced.",
					Queries: []Query{
						{Expr: sel(`sum by (cluster, backend, protocol) (zerodown_connections_open{{{held}}})`), Legend: "{{backend}} {{protocol}} {{cluster}}"},
						{Expr: sel(`sum by (cluster, backend) (zerodown_connections_wanted{{{held}}})`), Legend: "wanted {{backend}} {{cluster}}"},
					},
					ColorByName: []NameColor{{"/^wanted /", "#8e8e8e"}}},
				{Title: "Connection drops by reason", Kind: TimeSeries, Unit: "none", Min: f(0), Width: 8, Height: 8, Console: true,
					Description: "Long-lived connections dropped per step, over all pollers, by how: goaway and close are graceful reloads, eof and reset restarts, timeout a path gone silent, stream_end a held stream that ended. New requests may work throughout: these are the clients that hold connections.",
					Queries:     []Query{{Expr: sel(`sum by (cluster, backend, reason) (increase(zerodown_connection_drops_total{{{held}}}[$__rate_interval])) > 0`), Legend: "{{backend}} {{reason}} {{cluster}}"}},
					ColorByName: []NameColor{{"/goaway/", "#2ca02c"}, {"/close/", "#98df8a"}, {"/eof/", "#ff9896"}, {"/reset/", "#ff7f0e"},
						{"/timeout/", "#8c564b"}, {"/stream_end/", "#c49c94"}, {"/error/", "#444444"}}},
				{Title: "Connection drops of the running upgrade", Kind: TimeSeries, Unit: "none", Min: f(0), Width: 8, Height: 8, Console: true,
					Description: "Long-lived connections dropped since the running upgrade began, as every poller saw it (what the drop budget alert judges); the budget (hold.budget) as a dashed line where one is set.",
					Queries: []Query{
						{Expr: sel(`backend:zerodown_upgrade_connection_drops:min_current{{{held}}}`), Legend: "{{backend}} ({{version}}) {{cluster}}"},
						{Expr: sel(`max by (cluster, backend) (zerodown_connection_drop_budget{{{held}}})`), Legend: "budget {{backend}} {{cluster}}"},
					},
					ColorByName: []NameColor{{"/^budget /", "#e02f44"}}},
				{Title: "Lifetime of dropped connections", Kind: TimeSeries, Unit: "s", Min: f(0), Width: 24, Height: 6,
					Description: "Median and longest (p99) lifetime of the long-lived connections dropped in each step: short lives mean connections are cut again and again.",
					Queries: []Query{
						{Expr: sel(`histogram_quantile(0.5, sum by (cluster, le, backend) (rate(zerodown_connection_lifetime_seconds_bucket{{{held}}}[$__rate_interval])))`), Legend: "p50 {{backend}} {{cluster}}"},
						{Expr: sel(`histogram_quantile(0.99, sum by (cluster, le, backend) (rate(zerodown_connection_lifetime_seconds_bucket{{{held}}}[$__rate_interval])))`), Legend: "p99 {{backend}} {{cluster}}"},
					}},
			},
		}, {
			Title: "Network between nodes",
			Panels: []Panel{
				{Title: "Network paths down now", Kind: Stat, Unit: "none", Width: 4, Height: 8, Console: true,
					Description: "Paths between nodes (pod to pod, pod to the pollers' Service, host to pod) that the pollers' network matrix sees down right now. Peers on cordoned, draining or NotReady nodes are not probed: a rebooting node is not counted. One value per cluster.",
					Queries:     []Query{{Expr: sel(pathsDownNow), Legend: "{{cluster}}", Instant: true}},
					Thresholds:  []Step{{0, "green"}, {1, "red"}}},
				{Title: "Network matrix: disruption", Kind: StateTimeline, Unit: "percentunit", Width: 20, Height: 8,
					Description: "When each path between nodes was down: a bar per path, source and target node; its value is the share of the step it was down. One node in every row or column: that node's network; one pair: a tunnel between two nodes.",
					Queries:     []Query{{Expr: sel(`max by (cluster, path, source_node, target_node) (rate(zerodown_network_disruption_seconds_total{{{cluster}}}[$__rate_interval]) > 0)`), Legend: "{{path}} {{source_node}} → {{target_node}} {{cluster}}"}}},
			},
		}, {
			Title: "Alerts and rollbacks",
			Panels: []Panel{
				{Title: "zerodown alerts firing", Kind: StateTimeline, Unit: "none", Width: 16, Height: 8,
					Description: "zerodown's alerts while they fired (Prometheus's ALERTS series): a backend disrupted, a budget exceeded, an upgrade stuck.",
					Queries:     []Query{{Expr: sel(`max by (cluster, alertname, backend, connection) (ALERTS{{{cluster}}, alertname=~"Zerodown.*", alertstate="firing"})`), Legend: "{{alertname}} {{backend}} {{connection}} {{cluster}}"}},
					States:      []State{{"1", "firing", "red"}}},
				{Title: "Rollback actions", Kind: TimeSeries, Unit: "none", Min: f(0), Width: 8, Height: 8, Console: true,
					Description: "Actions the rollback webhook took (or would have, in dry run), by action and result.",
					Queries:     []Query{{Expr: sel(`sum by (cluster, action, result) (increase(zerodown_rollback_actions_total{{{cluster}}}[$__rate_interval])) > 0`), Legend: "{{action}} {{result}} {{cluster}}"}}},
			},
		}},
	}
}

// SLO is the long view: error budget left, burn rates over the alerts'
// windows, and the disruption of each upgrade over months.
func SLO() *Dashboard {
	budgetLeft := `1 - backend_connection:zerodown_unavailability:min_ratio_30d{{{sel}}} / on (cluster, backend, connection) group_left () (1 - backend_connection:zerodown_slo_objective:ratio{{{sel}}})`
	burn := func(w string) Query {
		return Query{Expr: sel(`backend_connection:zerodown_unavailability:min_ratio_` + w + `{{{sel}}} / on (cluster, backend, connection) group_left () (1 - backend_connection:zerodown_slo_objective:ratio{{{sel}}})`),
			Legend: w + " {{backend}} {{connection}} {{cluster}}"}
	}
	return &Dashboard{
		File: "zerodown-slo", UID: "zerodown-slo", Title: "zerodown / Disruption SLO",
		Description: "Error budget per backend against its availability objective, the burn rates the alerts watch, and the disruption of every upgrade.",
		Tags:        []string{"zerodown", "slo"}, Time: "now-30d",
		Vars: backendVars,
		Rows: []Row{{
			Title: "Error budget",
			Panels: []Panel{
				{Title: "Error budget remaining (30d)", Kind: BarGauge, Unit: "percentunit", Max: f(1), Width: 12, Height: 8, Console: true,
					Description: "The share of the 30-day error budget (1 - objective) not yet spent, from what every poller saw. Below 0: the objective is missed.",
					Queries:     []Query{{Expr: sel(budgetLeft), Legend: "{{backend}} {{connection}} {{cluster}}", Instant: true}},
					Thresholds:  []Step{{0, "red"}, {0, "orange"}, {0.25, "green"}}},
				{Title: "Availability (30d)", Kind: Table, Unit: "percentunit", Width: 12, Height: 8, Console: true,
					Description: "Availability over 30 days per backend and connection, as every poller saw it, and the objective.",
					Queries: []Query{
						{Expr: sel(`1 - backend_connection:zerodown_unavailability:min_ratio_30d{{{sel}}}`), Legend: "{{backend}} {{connection}} {{cluster}}", Instant: true},
						{Expr: sel(`backend_connection:zerodown_slo_objective:ratio{{{sel}}}`), Legend: "objective {{backend}} {{connection}} {{cluster}}", Instant: true},
					}},
			},
		}, {
			Title: "Burn rates",
			Panels: []Panel{
				{Title: "Burn rate, fast windows", Kind: TimeSeries, Unit: "none", Min: f(0), Width: 12, Height: 8, Console: true,
					Description: "How fast the error budget burns (1: spent in exactly 30 days). ZerodownErrorBudgetBurnFast fires when both 1h and 5m exceed 14.4, or both 6h and 30m exceed 6.",
					Queries:     []Query{burn("1h"), burn("5m"), burn("6h"), burn("30m")},
					Thresholds:  []Step{{0, "green"}, {6, "orange"}, {14.4, "red"}}},
				{Title: "Burn rate, slow windows", Kind: TimeSeries, Unit: "none", Min: f(0), Width: 12, Height: 8, Console: true,
					Description: "ZerodownErrorBudgetBurnSlow fires when both 1d and 2h exceed 3, or both 3d and 6h exceed 1.",
					Queries:     []Query{burn("1d"), burn("2h"), burn("3d")},
					Thresholds:  []Step{{0, "green"}, {1, "orange"}, {3, "red"}}},
			},
		}, {
			Title: "Long-lived connections",
			Panels: []Panel{
				{Title: "Connection checks that found a drop (1h)", Kind: BarGauge, Unit: "percentunit", Min: f(0), Width: 12, Height: 8, Console: true,
					Description: "The share of the checks of held connections that found them dropped over the last hour, as every poller saw it: the error ratio of the connection SLO (objective: hold.objective, else 99.9 %).",
					Queries:     []Query{{Expr: sel(`backend:zerodown_connection_drop:min_ratio_1h{{{held}}}`), Legend: "{{backend}} {{cluster}}", Instant: true}},
					Thresholds:  []Step{{0, "green"}, {0.001, "orange"}, {0.01, "red"}}},
				{Title: "Connection drop burn rate", Kind: TimeSeries, Unit: "none", Min: f(0), Width: 12, Height: 8, Console: true,
					Description: "How fast drops of held connections spend their error budget (1: spent in exactly the SLO period). ZerodownConnectionDropBudgetBurn fires when both 1h and 5m exceed 14.4, or both 6h and 5m exceed 6.",
					Queries: []Query{
						{Expr: sel(`backend:zerodown_connection_drop:min_ratio_1h{{{held}}} / on (cluster, backend) group_left () (1 - backend:zerodown_connection_slo_objective:ratio{{{held}}})`), Legend: "1h {{backend}} {{cluster}}"},
						{Expr: sel(`backend:zerodown_connection_drop:min_ratio_5m{{{held}}} / on (cluster, backend) group_left () (1 - backend:zerodown_connection_slo_objective:ratio{{{held}}})`), Legend: "5m {{backend}} {{cluster}}"},
						{Expr: sel(`backend:zerodown_connection_drop:min_ratio_6h{{{held}}} / on (cluster, backend) group_left () (1 - backend:zerodown_connection_slo_objective:ratio{{{held}}})`), Legend: "6h {{backend}} {{cluster}}"},
					},
					Thresholds: []Step{{0, "green"}, {6, "orange"}, {14.4, "red"}}},
			},
		}, {
			Title: "Upgrades",
			Panels: []Panel{
				{Title: "Disruption per upgrade", Kind: Table, Unit: "s", Width: 12, Height: 10, Console: true,
					Description: "Seconds every poller saw each backend down during each upgrade in the range (the per-upgrade recording rule): the history `zerodown budget derive` turns into budgets.",
					Queries:     []Query{{Expr: sel(`max by (cluster, backend, connection, version) (max_over_time(backend_connection:zerodown_upgrade_disruption_seconds:last{{{sel}}}[$__range]))`), Legend: "{{backend}} {{connection}} {{version}} {{cluster}}", Instant: true}}},
				{Title: "Disruption per upgrade over time", Kind: TimeSeries, Unit: "s", Min: f(0), Width: 12, Height: 10,
					Description: "The same, as it grew during each upgrade and stayed until the next: a step per upgrade, labelled with its version.",
					Queries:     []Query{{Expr: sel(`backend_connection:zerodown_upgrade_disruption_seconds:last{{{sel}}}`), Legend: "{{backend}} {{connection}} {{version}} {{cluster}}"}}},
			},
		}},
	}
}

// Self is zerodown's own health: is it measuring well?
func Self() *Dashboard {
	ns := `cluster=~"$cluster", namespace=~"$namespace"`
	return &Dashboard{
		File: "zerodown-self", UID: "zerodown-self", Title: "zerodown / zerodown itself",
		Description: "Whether zerodown measures well: probes on time, none skipped, collectors synced, configuration loaded.",
		Tags:        []string{"zerodown"}, Time: "now-6h",
		Vars: backendVars[:2],
		Rows: []Row{{
			Title: "Probing",
			Panels: []Panel{
				{Title: "Scheduling lag p99", Kind: TimeSeries, Unit: "s", Min: f(0), Width: 12, Height: 8, Console: true,
					Description: "How late probes started against their schedule, per process. Above 10 ms the edges of outages lose precision: the poller lacks CPU.",
					Queries:     []Query{{Expr: `histogram_quantile(0.99, sum by (cluster, le, instance) (rate(zerodown_scheduler_lag_seconds_bucket{` + ns + `}[$__rate_interval])))`, Legend: "{{instance}} {{cluster}}"}},
					Thresholds:  []Step{{0, "green"}, {0.01, "red"}}},
				{Title: "Probes skipped", Kind: TimeSeries, Unit: "ops", Min: f(0), Width: 12, Height: 8, Console: true,
					Description: "Probes not sent, per second: skipped (too many in flight), over the --probe.max-rate ceiling, dropped by overload, or starved of CPU. Anything but 0 means gaps in the measurement.",
					Queries: []Query{
						{Expr: `sum by (cluster, instance) (rate(zerodown_probes_skipped_total{` + ns + `}[$__rate_interval]))`, Legend: "in flight {{instance}} {{cluster}}"},
						{Expr: `sum by (cluster, instance) (rate(zerodown_probes_rate_limited_total{` + ns + `}[$__rate_interval]))`, Legend: "max rate {{instance}} {{cluster}}"},
						{Expr: `sum by (cluster, instance) (rate(zerodown_probes_overload_skipped_total{` + ns + `}[$__rate_interval]))`, Legend: "overload {{instance}} {{cluster}}"},
						{Expr: `sum by (cluster, instance) (rate(zerodown_probes_starved_total{` + ns + `}[$__rate_interval]))`, Legend: "starved {{instance}} {{cluster}}"},
					}},
				{Title: "Probes in flight", Kind: TimeSeries, Unit: "none", Min: f(0), Width: 12, Height: 8,
					Description: "Requests running at once, per process: it climbs when backends hang.",
					Queries:     []Query{{Expr: `sum by (cluster, instance) (zerodown_probes_in_flight{` + ns + `})`, Legend: "{{instance}} {{cluster}}"}}},
				{Title: "Pollers per node", Kind: BarGauge, Unit: "none", Width: 12, Height: 8,
					Description: "zerodown processes scraped per node (the ServiceMonitor adds node): one poller per node is expected.",
					Queries:     []Query{{Expr: `count by (cluster, node) (zerodown_build_info{` + ns + `, node!=""})`, Legend: "{{node}} {{cluster}}", Instant: true}},
					Thresholds:  []Step{{0, "red"}, {1, "green"}, {2, "orange"}}},
			},
		}, {
			Title: "State",
			Panels: []Panel{
				{Title: "Collectors synced", Kind: StateTimeline, Unit: "none", Width: 12, Height: 8,
					Description: "Whether each collector of the controller has its informer cache synced (1); 0 while it waits for the API server.",
					Queries:     []Query{{Expr: `max by (cluster, collector) (zerodown_collector_synced{` + ns + `})`, Legend: "{{collector}} {{cluster}}"}},
					States:      []State{{"0", "waiting", "orange"}, {"1", "synced", "green"}}},
				{Title: "Configuration reloads", Kind: TimeSeries, Unit: "none", Width: 12, Height: 8, Console: true,
					Description: "1 when the last configuration reload succeeded; 0 keeps the previous targets running (look at the logs).",
					Queries:     []Query{{Expr: `min by (cluster, instance) (zerodown_config_last_reload_successful{` + ns + `})`, Legend: "{{instance}} {{cluster}}"}},
					Thresholds:  []Step{{0, "red"}, {1, "green"}}},
				{Title: "Memory", Kind: TimeSeries, Unit: "bytes", Min: f(0), Width: 12, Height: 8, Console: true,
					Description: "Resident memory per process.",
					Queries:     []Query{{Expr: `max by (cluster, instance) (process_resident_memory_bytes{` + ns + `} and on (cluster, instance) zerodown_build_info{` + ns + `})`, Legend: "{{instance}} {{cluster}}"}}},
				{Title: "CPU", Kind: TimeSeries, Unit: "percentunit", Min: f(0), Width: 12, Height: 8, Console: true,
					Description: "CPU per process, in cores.",
					Queries:     []Query{{Expr: `max by (cluster, instance) (rate(process_cpu_seconds_total{` + ns + `}[$__rate_interval]) and on (cluster, instance) zerodown_build_info{` + ns + `})`, Legend: "{{instance}} {{cluster}}"}}},
				{Title: "Targets", Kind: TimeSeries, Unit: "none", Min: f(0), Width: 12, Height: 8,
					Description: "Targets per poller, static and discovered.",
					Queries:     []Query{{Expr: `sum by (cluster, source) (zerodown_poller_targets{` + ns + `})`, Legend: "{{source}} {{cluster}}"}}},
				{Title: "Alert notifications", Kind: TimeSeries, Unit: "ops", Min: f(0), Width: 12, Height: 8,
					Description: "Alerts the embedded evaluator of zerodown watch sent, per receiver and result: failures mean Alertmanager or the webhook did not hear.",
					Queries:     []Query{{Expr: `sum by (cluster, receiver, result) (rate(zerodown_alert_notifications_total{` + ns + `}[$__rate_interval]))`, Legend: "{{receiver}} {{result}} {{cluster}}"}}},
			},
		}},
	}
}
