// Package dashboards defines zerodown's Grafana dashboards in Go: what an
// SRE opens during an upgrade (Upgrade disruption), the long view
// (Disruption SLO) and zerodown's own health. Grafana renders the JSON
// that Grafana builds from them (with grafana-foundation-sdk); the
// OpenShift console renders a variant limited to the panel types it
// knows. `make dashboards` writes both, and the manifests that ship
// them; a test fails when what is committed differs.
package dashboards

import "strings"

// Kind is how a panel draws its queries.
type Kind string

// Kinds of panels.
const (
	TimeSeries    Kind = "timeseries"
	StateTimeline Kind = "state-timeline"
	Heatmap       Kind = "heatmap"
	Stat          Kind = "stat"
	Table         Kind = "table"
	BarGauge      Kind = "bargauge"
)

// Dashboard is one dashboard.
type Dashboard struct {
	// File is the base name of the files written (File.json).
	File        string
	UID         string
	Title       string
	Description string
	Tags        []string
	// Time is the default range, e.g. "now-6h".
	Time string
	// Vars are the template variables after the datasource, in order.
	Vars        []Var
	Annotations []Annotation
	Rows        []Row
}

// Var is a template variable of Prometheus label values ("query") or a
// fixed list ("custom"); every one is multi-value with All = ".*".
type Var struct {
	Name, Label, Description string
	// Query is label_values(...) for a query variable.
	Query string
	// Values are the options of a custom variable.
	Values []string
}

// Annotation marks times on every panel, from a Prometheus query.
type Annotation struct {
	Name, Expr, Title, Color string
}

// Row is a titled group of panels.
type Row struct {
	Title  string
	Panels []Panel
}

// Panel is one panel.
type Panel struct {
	Title string
	// Description says how to read it (shown on hover of the panel's
	// info icon).
	Description string
	Kind        Kind
	Unit        string
	Min, Max    *float64
	Queries     []Query
	// Thresholds colour values: the first step's Value is ignored (it is
	// the base colour).
	Thresholds []Step
	// States map values to text and colour (state timelines, stats).
	States []State
	// ColorByName colours series whose name matches a regexp.
	ColorByName []NameColor
	// Stack stacks series (percent: to 100 %).
	Stack string
	// Repeat draws the panel once per selected value of this variable
	// (Grafana only), stacked vertically: for what one panel cannot show
	// for several values at once.
	Repeat string
	// Width in grid columns (of 24) and height in grid rows.
	Width, Height int
	// Console: included in the OpenShift console variant.
	Console bool
}

// Query is one PromQL query of a panel.
type Query struct {
	Expr, Legend string
	// Instant: one value per series at the end of the range (tables,
	// stats); Heatmap: buckets for a heatmap.
	Instant, Heatmap bool
}

// Step is a threshold.
type Step struct {
	Value float64
	Color string
}

// State is a value shown as text in a colour.
type State struct {
	Value       string
	Text, Color string
}

// NameColor colours the series whose display name matches Regexp.
type NameColor struct {
	Regexp, Color string
}

// Panels lists every panel of every row.
func (d *Dashboard) Panels() []Panel {
	var out []Panel
	for _, r := range d.Rows {
		out = append(out, r.Panels...)
	}
	return out
}

// selector is the label matchers of every backend query: the dashboard's
// cluster, namespace, backend and connection variables.
const selector = `cluster=~"$cluster", namespace=~"$namespace", backend=~"$backend", connection=~"$connection"`

// heldSel is the label matchers of queries about held connections, which
// have no connection label.
const heldSel = `cluster=~"$cluster", namespace=~"$namespace", backend=~"$backend"`

// clusterSel is the matchers of queries about the cluster, not backends.
const clusterSel = `cluster=~"$cluster"`

// sel fills {{sel}}, {{held}} and {{cluster}} in a query template.
func sel(expr string) string {
	return strings.NewReplacer("{{sel}}", selector, "{{held}}", heldSel, "{{cluster}}", clusterSel).Replace(expr)
}

// f is a float's address, for Min and Max.
func f(v float64) *float64 { return &v }

// Variables every dashboard about backends has.
var backendVars = []Var{
	{Name: "cluster", Label: "cluster", Description: "The cluster label that a federating Prometheus or Thanos adds; All where there is none.",
		Query: "label_values(zerodown_build_info, cluster)"},
	{Name: "namespace", Label: "namespace", Description: "The namespace zerodown runs in.",
		Query: `label_values(zerodown_build_info{cluster=~"$cluster"}, namespace)`},
	{Name: "backend", Label: "backend", Description: "The backends (routes, services, DNS names, static targets) probed.",
		Query: `label_values(zerodown_backend_up{cluster=~"$cluster", namespace=~"$namespace"}, backend)`},
	{Name: "connection", Label: "connection", Description: "new: a new connection per request (what a client that reconnects sees); reused: kept-alive connections (what a long-lived client sees).",
		Values: []string{"new", "reused"}},
}

// All returns every dashboard.
func All() []*Dashboard {
	return []*Dashboard{UpgradeDisruption(), SLO(), Self()}
}
