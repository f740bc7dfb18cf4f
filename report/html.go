package report

import (
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/zerodown/zerodown/budget"
)

var (
	//go:embed assets/report.html.tmpl
	htmlTemplate string
	//go:embed assets/report.js
	reportJS string
	//go:embed assets/report.css
	reportCSS string

	page = template.Must(template.New("report").Funcs(template.FuncMap{
		"fsec":  fsec,
		"stamp": stamp,
		"pct": func(d, of time.Duration) string {
			if of <= 0 {
				return ""
			}
			return fmt.Sprintf("%.4f%%", 100*(1-d.Seconds()/of.Seconds()))
		},
		"vclass": verdictClass,
		"secs": func(f *float64) string {
			if f == nil {
				return "–"
			}
			return fsec(sec(*f))
		},
	}).Parse(htmlTemplate))
)

// class is a kind of item on the timeline, with its colour and legend.
type class struct {
	Name  string `json:"n"`
	Color string `json:"c"`
	// Back: drawn as a faint band behind the lane (e.g. while probed).
	Back bool `json:"b,omitempty"`
}

// Colours of the reasons a probe reports, of condition states and alerts.
// Reasons unknown here take colours from the spare palette, in order.
var knownColors = map[string]string{
	"connect_refused": "#d62728", "connect_timeout": "#9467bd", "reset": "#ff7f0e", "timeout": "#8c564b",
	"http_status": "#e377c2", "tls": "#17becf", "dns": "#1f77b4", "dns_rcode": "#393b79", "dns_answer": "#5254a3",
	"dns_stale": "#6b6ecf", "body_mismatch": "#bcbd22", "protocol": "#7f7f7f", "other": "#444444",
	"observer (not counted)": "#bbbbbb", "probed": "#e8f1fb",
	"Unavailable": "#b2182b", "Degraded": "#ef8a62", "Failing": "#b2182b", "Progressing": "#67a9cf",
	"Updating": "#67a9cf", "NotReady": "#b2182b", "Cordoned": "#f4d03f", "Draining": "#e67e22", "Terminating": "#f1948a",
	"dropped: eof": "#ff9896", "dropped: reset": "#ffbb78", "dropped: timeout": "#c49c94", "dropped: goaway": "#2ca02c",
	"dropped: close": "#98df8a", "dropped: stream_end": "#c49c94", "dropped: error": "#444444",
	"alert: critical": "#b2182b", "alert: warning": "#f39c12", "alert: info": "#3498db", "rollback": "#000000",
}

var spareColors = []string{"#2ca02c", "#98df8a", "#aec7e8", "#ffbb78", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5"}

// timeline is the data the page's script draws: lanes of items, times in
// milliseconds since Start.
type timeline struct {
	Start   int64    `json:"start"` // Unix milliseconds
	Span    int64    `json:"span"`
	Classes []class  `json:"classes"`
	Lanes   []lane   `json:"lanes"`
	Details []string `json:"details"`
	// Cause maps an outage's detail to the lane of the object its cause
	// is (an index of Lanes): hovering the outage highlights that lane.
	Cause map[int64]int `json:"cause,omitempty"`
}

type lane struct {
	Group string `json:"g"`
	Label string `json:"l"`
	// Items are [from, to, class, detail].
	Items [][4]int64 `json:"i"`
}

type timelineBuilder struct {
	t     timeline
	class map[string]int
	spare int
}

func (b *timelineBuilder) classOf(name string, back bool) int64 {
	if i, ok := b.class[name]; ok {
		return int64(i)
	}
	color, ok := knownColors[name]
	if !ok {
		color = spareColors[b.spare%len(spareColors)]
		b.spare++
	}
	b.class[name] = len(b.t.Classes)
	b.t.Classes = append(b.t.Classes, class{Name: name, Color: color, Back: back})
	return int64(len(b.t.Classes) - 1)
}

func (b *timelineBuilder) ms(t time.Time) int64 { return t.UnixMilli() - b.t.Start }

func (b *timelineBuilder) item(l *lane, from, to time.Time, cls int64, detail string) {
	b.t.Details = append(b.t.Details, detail)
	l.Items = append(l.Items, [4]int64{b.ms(from), b.ms(to), cls, int64(len(b.t.Details) - 1)})
}

// timeline lays the report out in lanes: backends (per connection and
// poller), the ClusterVersion, operators, pools, nodes and workloads (the
// states worth seeing only), alerts and rollbacks.
func (r *Report) timeline() timeline {
	b := &timelineBuilder{class: map[string]int{}}
	b.t.Start = r.Started.UnixMilli()
	b.t.Span = max(r.Ended.UnixMilli()-b.t.Start, 1)
	probed := b.classOf("probed", true)
	causedBy := map[int64]string{} // an outage's detail → its cause's object
	// Each lane's outages, the observer's own among them, grouped once.
	byLane := map[[3]string][]Outage{}
	for _, o := range r.Outages {
		k := [3]string{o.Backend, o.Connection, o.Poller}
		byLane[k] = append(byLane[k], o)
	}
	for _, bk := range r.Backends {
		for _, p := range bk.Pollers {
			l := lane{Group: "Backends", Label: bk.Backend + " · " + bk.Connection}
			if p.Poller != "local" {
				l.Label += " · " + p.Poller
			}
			for _, s := range p.probing {
				b.item(&l, s.from, s.to, probed, fmt.Sprintf("%s over %s connections probed by %s\n%s to %s (%s)",
					bk.Backend, bk.Connection, p.Poller, stamp(s.from), stamp(s.to), fsec(s.to.Sub(s.from))))
			}
			for _, o := range byLane[[3]string{bk.Backend, bk.Connection, p.Poller}] {
				name := o.Reason
				if o.Observer {
					name = "observer (not counted)"
				}
				b.item(&l, o.From, o.To, b.classOf(name, false), o.detail())
				if o.Cause != nil && !o.Observer {
					causedBy[int64(len(b.t.Details)-1)] = o.Cause.Object
				}
			}
			b.t.Lanes = append(b.t.Lanes, l)
		}
	}
	r.heldLanes(b)
	laneOf := map[string]int{} // an object's ID → its lane
	for _, obj := range r.Objects {
		l := lane{Group: groupOf(obj.Kind), Label: objName(obj)}
		if l.Group == "Workloads" {
			l.Label = obj.Kind + " " + l.Label
		}
		for _, cond := range slices.Sorted(maps.Keys(obj.Conditions)) {
			for _, st := range obj.Conditions[cond] {
				if name := stateClass(cond, st.Status); name != "" {
					b.item(&l, st.From, st.To, b.classOf(name, false), obj.ID()+"\n"+st.line(cond))
				}
			}
		}
		if len(l.Items) > 0 {
			laneOf[obj.ID()] = len(b.t.Lanes)
			b.t.Lanes = append(b.t.Lanes, l)
		}
	}
	for d, id := range causedBy {
		if i, ok := laneOf[id]; ok {
			if b.t.Cause == nil {
				b.t.Cause = map[int64]int{}
			}
			b.t.Cause[d] = i
		}
	}
	alerts := map[string]*lane{}
	var order []string
	for _, a := range r.Alerts {
		k := a.Locator.Keys
		label := k["alertname"]
		if k["backend"] != "" {
			label += " · " + k["backend"]
		}
		l := alerts[label]
		if l == nil {
			l = &lane{Group: "Alerts", Label: label}
			alerts[label] = l
			order = append(order, label)
		}
		var d strings.Builder
		fmt.Fprintf(&d, "%s firing\n%s to %s (%s)\n%s", k["alertname"], stamp(a.From.Time), stamp(a.To.Time), fsec(a.Duration()), a.Message.HumanMessage)
		for _, n := range slices.Sorted(maps.Keys(k)) {
			fmt.Fprintf(&d, "\n%s=%s", n, k[n])
		}
		b.item(l, a.From.Time, a.To.Time, b.classOf("alert: "+severity(k["severity"]), false), d.String())
	}
	for _, label := range order {
		b.t.Lanes = append(b.t.Lanes, *alerts[label])
	}
	if len(r.Rollbacks) > 0 {
		l := lane{Group: "Rollbacks", Label: "rollback actions"}
		for _, rb := range r.Rollbacks {
			k := rb.Locator.Keys
			b.item(&l, rb.From.Time, rb.To.Time, b.classOf("rollback", false), fmt.Sprintf("%s %s: %s (rule %s, alert %s, dry run %s)\n%s\n%s",
				k["action"], k["target"], rb.Message.Reason, k["rule"], rb.Message.Annotations["alert"], rb.Message.Annotations["dry_run"], stamp(rb.From.Time), rb.Message.HumanMessage))
		}
		b.t.Lanes = append(b.t.Lanes, l)
	}
	return b.t
}

func severity(s string) string {
	switch s {
	case "critical", "warning":
		return s
	}
	return "info"
}

func groupOf(kind string) string {
	switch kind {
	case "ClusterVersion":
		return "ClusterVersion"
	case "Upgrade": // the Kubernetes versions' and the users' marked upgrades
		return "Upgrades"
	case "ClusterOperator":
		return "Operators"
	case "MachineConfigPool":
		return "MachineConfigPools"
	case "Node":
		return "Nodes"
	case "Service": // the probed Services' endpoints
		return "Service endpoints"
	}
	return "Workloads"
}

// stateClass names the states worth drawing ("" for the healthy ones).
func stateClass(cond, status string) string {
	switch cond {
	case "Available":
		if status != "True" {
			return "Unavailable"
		}
	case "Ready":
		if status != "True" {
			return "NotReady"
		}
	case "Degraded", "Failing", "Progressing", "Updating", "Draining":
		if status == "True" {
			return cond
		}
	case "ReplicaFailure":
		if status == "True" {
			return "Degraded"
		}
	case "Unschedulable":
		if status == "True" {
			return "Cordoned"
		}
	case "EndpointsTerminating":
		if status == "True" {
			return "Terminating"
		}
	case "EndpointsNotReady":
		if status == "True" {
			return "NotReady"
		}
	case "EndpointsAvailable":
		if status != "True" {
			return "Unavailable"
		}
	}
	return ""
}

func (o Outage) detail() string {
	var d strings.Builder
	fmt.Fprintf(&d, "%s over %s connections, poller %s\n%s to %s\n%s, %s", o.Backend, o.Connection, o.Poller,
		stamp(o.From), stamp(o.To), fsec(o.Duration()), o.Reason)
	if o.Observer {
		d.WriteString(" (the observer's own trouble: not counted)")
	}
	if o.Ended != "" {
		d.WriteString("\nended: " + o.Ended)
	}
	if o.Message != "" {
		d.WriteString("\n" + o.Message)
	}
	if c := o.CauseText(); c != "" {
		d.WriteString("\ncause: " + c)
	}
	return d.String()
}

// htmlView is what the page template sees.
type htmlView struct {
	*Report
	Verdict       string
	Timeline      timeline
	JS            template.JS
	CSS           template.CSS
	Longest       []Outage
	MoreOutages   int
	QuietOperator int
	Generated     string
}

// maxListed outages are listed in the page's table, the longest first;
// disruption.csv has them all.
const maxListed = 200

// WriteHTML writes report.html: one file with its CSS, script and data
// inline, which fetches nothing and opens offline.
func (r *Report) WriteHTML(w io.Writer) error {
	v := htmlView{Report: r, Verdict: r.Verdict(), Timeline: r.timeline(), JS: template.JS(reportJS), CSS: template.CSS(reportCSS),
		Generated: stamp(time.Now())}
	for _, o := range r.Outages {
		if !o.Observer {
			v.Longest = append(v.Longest, o)
		}
	}
	slices.SortStableFunc(v.Longest, func(a, b Outage) int { return cmp.Compare(b.Duration(), a.Duration()) })
	if len(v.Longest) > maxListed {
		v.MoreOutages = len(v.Longest) - maxListed
		v.Longest = v.Longest[:maxListed]
	}
	for _, obj := range r.Objects {
		if obj.Kind != "ClusterOperator" {
			continue
		}
		quiet := true
		for cond, sts := range obj.Conditions {
			for _, st := range sts {
				if stateClass(cond, st.Status) != "" {
					quiet = false
				}
			}
		}
		if quiet {
			v.QuietOperator++
		}
	}
	return page.Execute(w, v)
}

// verdictClass is the CSS class of a verdict.
func verdictClass(v string) string {
	switch v {
	case budget.Pass:
		return "pass"
	case budget.Exceeded:
		return "fail"
	}
	return "none"
}
