// Package report turns interval files into a verdict and a picture: which
// backends went down during an upgrade, when, for how long and why, next
// to what the cluster was doing, judged against budgets. It writes
// junit.xml, report.html (one self-contained file), disruption.csv and
// summary.json.
//
// It reads what the probe engine (Disruption, ObserverDisruption and
// Probing intervals), the controller (one interval per condition state
// of ClusterOperators, the ClusterVersion, Nodes, MachineConfigPools and
// workloads, and Rollback points) and zerodown watch (Alert intervals)
// write, from one file or the files of many pollers.
package report

import (
	"cmp"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/zerodown/zerodown/budget"
	"github.com/zerodown/zerodown/intervals"
)

// Sources of the intervals a report knows.
const (
	SourceDisruption = "Disruption"
	SourceObserver   = "ObserverDisruption"
	SourceProbing    = "Probing"
	SourceAlert      = "Alert"
	SourceRollback   = "Rollback"
)

// Input is the intervals of one file (one poller's, the controller's, or
// a watch run's).
type Input struct {
	Path      string
	Intervals []intervals.Interval
}

// Options tune a report.
type Options struct {
	// Title heads the HTML report ("zerodown report" when empty).
	Title string
	// Budgets judge each backend and connection mode; nil judges none.
	Budgets *budget.File
	// DrainWithin is how long a node may drain before its JUnit case
	// fails (DefaultDrainWithin when zero).
	DrainWithin time.Duration
	// DropBudgets are the drops of held connections each backend may
	// have (a target's hold.budget); others are counted, not judged.
	DropBudgets map[string]int
}

// DefaultDrainWithin is the default of Options.DrainWithin.
const DefaultDrainWithin = 10 * time.Minute

// Report is what a set of interval files says.
type Report struct {
	Title          string
	Started, Ended time.Time
	// Pass: every budget held.
	Pass bool
	// BudgetsFrom names the budget file ("" without one).
	BudgetsFrom string
	DrainWithin time.Duration
	Backends    []*Backend
	// Outages are the Disruption and ObserverDisruption intervals, in
	// time order.
	Outages []Outage
	// Objects are the cluster objects the controller reported, by kind
	// then namespace and name.
	Objects []*Object
	// Alerts and Rollbacks as written by watch and the controller.
	Alerts, Rollbacks []intervals.Interval
	// Drops are the dropped held connections, in time order; Held their
	// totals per backend.
	Drops []Drop
	Held  []Held
	// Warnings: odd overlaps, torn files, unreadable lines.
	Warnings []string

	byBackend map[[2]string][]Outage
}

// Backend is one backend over one connection mode, as every poller saw it.
type Backend struct {
	Backend, Connection, Protocol string
	Pollers                       []*PollerSeries
	// Disruption is the most any one poller measured (what the budget
	// judges); SeenByAll the time every poller probing it then saw it
	// down.
	Disruption, SeenByAll time.Duration
	Outages               int
	Result                budget.Result
	// Cause is the change most of its disruption is attributed to, with
	// its share: "Service/shop/sample (35 of 41 outages, 3.100s)"; "" with
	// no outage.
	Cause string
}

// PollerSeries is one poller's view of a backend over a connection mode.
type PollerSeries struct {
	Poller string
	// Disruption is the union of its outages (overlaps counted once);
	// Observed the union of its Probing intervals (zero for files
	// written before those existed).
	Disruption, Observed time.Duration
	Outages              int
	down, probing        []span
}

// Outage is one Disruption or ObserverDisruption interval.
type Outage struct {
	Backend, Connection, Poller string
	Observer                    bool // the observer's own trouble, not the backend's
	From, To                    time.Time
	Reason                      string
	Ended                       string // "removed", "stopped", "unclosed" or ""
	Message                     string
	// Cause is the change it is attributed to (see cause.go); nil:
	// unknown, or the observer's own.
	Cause *Cause
}

// CauseText is the cause in one line ("" for the observer's own).
func (o Outage) CauseText() string {
	if o.Observer {
		return ""
	}
	return o.Cause.String(o.From, o.To)
}

// Duration is To - From.
func (o Outage) Duration() time.Duration { return o.To.Sub(o.From) }

// Object is a cluster object and the states of its conditions.
type Object struct {
	Kind, Namespace, Name string
	// Conditions maps a condition type to its states in time order.
	Conditions map[string][]State
}

// State is one condition state of an object.
type State struct {
	From, To time.Time
	Status   string // True, False, Unknown
	Reason   string
	Message  string
}

// ID is "Kind/name" or "Kind/namespace/name".
func (o *Object) ID() string {
	if o.Namespace == "" {
		return o.Kind + "/" + o.Name
	}
	return o.Kind + "/" + o.Namespace + "/" + o.Name
}

type span struct{ from, to time.Time }

// Build makes a report of the inputs.
func Build(inputs []Input, o Options) *Report {
	r := &Report{Title: cmp.Or(o.Title, "zerodown report"), DrainWithin: cmp.Or(o.DrainWithin, DefaultDrainWithin)}
	if o.Budgets != nil {
		r.BudgetsFrom = o.Budgets.Name()
	}
	backends := map[[2]string]*Backend{}
	pollers := map[[3]string]*PollerSeries{}
	objects := map[[3]string]*Object{}
	series := func(iv intervals.Interval, poller string) *PollerSeries {
		k := iv.Locator.Keys
		bk := [2]string{k["backend"], k["connection"]}
		b := backends[bk]
		if b == nil {
			b = &Backend{Backend: bk[0], Connection: bk[1]}
			backends[bk] = b
		}
		b.Protocol = cmp.Or(b.Protocol, k["protocol"])
		pk := [3]string{bk[0], bk[1], poller}
		p := pollers[pk]
		if p == nil {
			p = &PollerSeries{Poller: poller}
			pollers[pk] = p
			b.Pollers = append(b.Pollers, p)
		}
		return p
	}
	for _, in := range inputs {
		for _, iv := range in.Intervals {
			r.widen(iv)
			poller := pollerOf(iv, in.Path, len(inputs))
			switch iv.Source {
			case SourceDisruption, SourceObserver:
				o := Outage{Backend: iv.Locator.Keys["backend"], Connection: iv.Locator.Keys["connection"], Poller: poller,
					Observer: iv.Source == SourceObserver, From: iv.From.Time, To: iv.To.Time, Reason: iv.Message.Cause,
					Ended: iv.Message.Annotations["ended"], Message: iv.Message.HumanMessage}
				if iv.Message.Annotations[intervals.AnnotationUnclosed] == "true" {
					o.Ended = "unclosed"
				}
				r.Outages = append(r.Outages, o)
				if !o.Observer {
					p := series(iv, poller)
					p.down = append(p.down, span{o.From, o.To})
					p.Outages++
				}
			case SourceProbing:
				p := series(iv, poller)
				p.probing = append(p.probing, span{iv.From.Time, iv.To.Time})
			case SourceAlert:
				r.Alerts = append(r.Alerts, iv)
			case SourceRollback:
				r.Rollbacks = append(r.Rollbacks, iv)
			case SourceConnectionDrop:
				r.Drops = append(r.Drops, dropOf(iv, poller))
			default:
				if cond := iv.Locator.Keys["condition"]; cond != "" {
					k := iv.Locator.Keys
					ok := [3]string{cmp.Or(k["kind"], iv.Source), k["namespace"], k["name"]}
					obj := objects[ok]
					if obj == nil {
						obj = &Object{Kind: ok[0], Namespace: ok[1], Name: ok[2], Conditions: map[string][]State{}}
						objects[ok] = obj
					}
					obj.Conditions[cond] = append(obj.Conditions[cond], State{From: iv.From.Time, To: iv.To.Time,
						Status: canonicalStatus(iv.Message.Annotations["status"]), Reason: iv.Message.Cause, Message: iv.Message.HumanMessage})
				}
			}
		}
	}
	for _, b := range backends {
		r.Backends = append(r.Backends, b)
		r.measure(b)
	}
	slices.SortFunc(r.Backends, func(a, b *Backend) int {
		return cmp.Or(cmp.Compare(a.Backend, b.Backend), cmp.Compare(a.Connection, b.Connection))
	})
	r.judge(o.Budgets)
	r.measureHeld(o.DropBudgets)
	slices.SortStableFunc(r.Outages, func(a, b Outage) int { return a.From.Compare(b.From) })
	for _, obj := range objects {
		for _, states := range obj.Conditions {
			slices.SortFunc(states, func(a, b State) int { return a.From.Compare(b.From) })
		}
		r.Objects = append(r.Objects, obj)
	}
	slices.SortFunc(r.Objects, func(a, b *Object) int {
		return cmp.Or(cmp.Compare(kindOrder(a.Kind), kindOrder(b.Kind)), cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	r.attribute()
	r.byBackend = map[[2]string][]Outage{}
	for _, o := range r.Outages {
		if !o.Observer {
			k := [2]string{o.Backend, o.Connection}
			r.byBackend[k] = append(r.byBackend[k], o)
		}
	}
	for _, b := range r.Backends {
		b.Cause = mainCause(r.byBackend[[2]string{b.Backend, b.Connection}])
	}
	return r
}

// mainCause names the change the most outage time is attributed to, with
// how many of the outages and how long ("unknown" when that is most).
func mainCause(outages []Outage) string {
	if len(outages) == 0 {
		return ""
	}
	type share struct {
		n int
		d time.Duration
	}
	by := map[string]*share{}
	for _, o := range outages {
		k := "unknown"
		if o.Cause != nil {
			k = o.Cause.Object
		}
		if by[k] == nil {
			by[k] = &share{}
		}
		by[k].n++
		by[k].d += o.Duration()
	}
	best := ""
	for _, k := range slices.Sorted(maps.Keys(by)) {
		if best == "" || by[k].d > by[best].d {
			best = k
		}
	}
	n, d := by[best].n, fsec(by[best].d)
	switch {
	case len(outages) == 1:
		return fmt.Sprintf("%s (its one outage, %s)", best, d)
	case n == len(outages):
		return fmt.Sprintf("%s (all %d outages, %s)", best, n, d)
	}
	return fmt.Sprintf("%s (%d of %d outages, %s)", best, n, len(outages), d)
}

// canonicalStatus is a condition status as Kubernetes spells it: the
// controller writes "true", "false", "unknown".
func canonicalStatus(s string) string {
	for _, c := range []string{"True", "False", "Unknown"} {
		if strings.EqualFold(s, c) {
			return c
		}
	}
	return s
}

// kindOrder puts the kinds an upgrade is about first.
func kindOrder(kind string) int {
	switch kind {
	case "Upgrade", "ClusterVersion":
		return 0
	case "ClusterOperator":
		return 1
	case "MachineConfigPool":
		return 2
	case "Node":
		return 3
	}
	return 4
}

func (r *Report) widen(iv intervals.Interval) {
	if r.Started.IsZero() || iv.From.Before(r.Started) {
		r.Started = iv.From.Time
	}
	if iv.To.After(r.Ended) {
		r.Ended = iv.To.Time
	}
}

// pollerOf names the poller that wrote an interval: its node, or the file
// when many files carry no node, or "local" (one watch run).
func pollerOf(iv intervals.Interval, path string, files int) string {
	if n := iv.Locator.Keys["node"]; n != "" {
		return n
	}
	if n := iv.Locator.Keys["poller"]; n != "" {
		return n
	}
	if files > 1 {
		return strings.TrimSuffix(filepath.Base(path), ".jsonl")
	}
	return "local"
}

// measure computes each poller's disruption (overlaps counted once, and
// reported), the most any poller measured, and the time all saw.
func (r *Report) measure(b *Backend) {
	slices.SortFunc(b.Pollers, func(x, y *PollerSeries) int { return cmp.Compare(x.Poller, y.Poller) })
	for _, p := range b.Pollers {
		var overlaps int
		p.down, overlaps = union(p.down)
		if overlaps > 0 {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s over %s connections, poller %s: %d outages overlap others of the same poller (two writers of one stream, or one file given twice?); overlapping time is counted once",
				b.Backend, b.Connection, p.Poller, overlaps))
		}
		p.probing, overlaps = union(p.probing)
		if overlaps > 0 {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s over %s connections, poller %s: probed by %d overlapping runs (a restarted poller whose old run was not closed, or one file given twice?); counted once",
				b.Backend, b.Connection, p.Poller, overlaps))
		}
		p.Disruption, p.Observed = total(p.down), total(p.probing)
		b.Disruption = max(b.Disruption, p.Disruption)
		b.Outages += p.Outages
	}
	b.SeenByAll = seenByAll(b.Pollers)
}

// union merges overlapping spans and says how many overlapped.
func union(ss []span) ([]span, int) {
	slices.SortFunc(ss, func(a, b span) int { return a.from.Compare(b.from) })
	var out []span
	n := 0
	for _, s := range ss {
		if k := len(out) - 1; k >= 0 && s.from.Before(out[k].to) {
			n++
			if s.to.After(out[k].to) {
				out[k].to = s.to
			}
			continue
		}
		out = append(out, s)
	}
	return out, n
}

func total(ss []span) time.Duration {
	var d time.Duration
	for _, s := range ss {
		d += s.to.Sub(s.from)
	}
	return d
}

// seenByAll is the time during which every poller that was probing the
// backend saw it down (a poller without Probing intervals counts as
// probing throughout).
func seenByAll(ps []*PollerSeries) time.Duration {
	if len(ps) == 1 {
		return ps[0].Disruption
	}
	var edges []time.Time
	for _, p := range ps {
		for _, s := range p.down {
			edges = append(edges, s.from, s.to)
		}
		// Where a poller starts or stops probing, which pollers count
		// changes within a span of outages.
		for _, s := range p.probing {
			edges = append(edges, s.from, s.to)
		}
	}
	slices.SortFunc(edges, func(a, b time.Time) int { return a.Compare(b) })
	var d time.Duration
	for i := 0; i+1 < len(edges); i++ {
		a, z := edges[i], edges[i+1]
		if !a.Before(z) {
			continue
		}
		mid := a.Add(z.Sub(a) / 2)
		all, any := true, false
		for _, p := range ps {
			if len(p.probing) > 0 && !within(p.probing, mid) {
				continue
			}
			if !within(p.down, mid) {
				all = false
				break
			}
			any = true
		}
		if all && any {
			d += z.Sub(a)
		}
	}
	return d
}

// within says whether t lies in one of the sorted, disjoint spans.
func within(ss []span, t time.Time) bool {
	// i is the first span that starts at or after t.
	i, _ := slices.BinarySearchFunc(ss, t, func(s span, t time.Time) int { return s.from.Compare(t) })
	if i < len(ss) && ss[i].from.Equal(t) {
		return true
	}
	return i > 0 && t.Before(ss[i-1].to)
}

func (r *Report) judge(f *budget.File) {
	ms := make([]budget.Measured, len(r.Backends))
	for i, b := range r.Backends {
		ms[i] = budget.Measured{Backend: b.Backend, Connection: b.Connection, Disruption: b.Disruption}
	}
	res, pass := budget.Judge(f, ms)
	r.Pass = pass
	byKey := map[[2]string]budget.Result{}
	for _, x := range res {
		byKey[[2]string{x.Backend, x.Connection}] = x
	}
	for _, b := range r.Backends {
		b.Result = byKey[[2]string{b.Backend, b.Connection}]
	}
}

// Verdict is "pass", "exceeded", or "unbudgeted" when nothing was judged.
func (r *Report) Verdict() string {
	res := make([]budget.Result, len(r.Backends))
	for i, b := range r.Backends {
		res[i] = b.Result
	}
	return HeldVerdict(VerdictOf(res), r.Held)
}

// Exceeded lists the backends over budget.
func (r *Report) Exceeded() []*Backend {
	var out []*Backend
	for _, b := range r.Backends {
		if b.Result.Verdict == budget.Exceeded {
			out = append(out, b)
		}
	}
	return out
}

// Regressions lists the backends worse than their history says is usual
// (budget.Rank.Regression), the worst rank first.
func (r *Report) Regressions() []*Backend {
	var out []*Backend
	for _, b := range r.Backends {
		if b.Result.Rank != nil && b.Result.Rank.Regression {
			out = append(out, b)
		}
	}
	slices.SortStableFunc(out, func(a, b *Backend) int { return cmp.Compare(b.Result.Rank.Percentile, a.Result.Rank.Percentile) })
	return out
}

// OutagesOf returns the backend's outages (observer ones left out).
func (r *Report) OutagesOf(b *Backend) []Outage {
	return r.byBackend[[2]string{b.Backend, b.Connection}]
}

// VerdictOf is the verdict of a set of results: exceeded when one was,
// pass when at least one was judged, unbudgeted otherwise.
func VerdictOf(res []budget.Result) string {
	v := budget.Unbudgeted
	for _, r := range res {
		switch r.Verdict {
		case budget.Exceeded:
			return budget.Exceeded
		case budget.Pass:
			v = budget.Pass
		}
	}
	return v
}

// DropsExceeded lists the backends whose held connections were dropped
// more often than their budget allows.
func (s *Summary) DropsExceeded() []Held {
	var out []Held
	for _, h := range s.Held {
		if h.Exceeded {
			out = append(out, h)
		}
	}
	return out
}

// Regressions lists the backends worse than their history says is usual,
// the worst rank first.
func (s *Summary) Regressions() []BackendSummary {
	var out []BackendSummary
	for _, b := range s.Backends {
		if b.Rank != nil && b.Rank.Regression {
			out = append(out, b)
		}
	}
	slices.SortStableFunc(out, func(a, b BackendSummary) int { return cmp.Compare(b.Rank.Percentile, a.Rank.Percentile) })
	return out
}

// Exceeded lists the backends over budget.
func (s *Summary) Exceeded() []BackendSummary {
	var out []BackendSummary
	for _, b := range s.Backends {
		if b.Verdict == budget.Exceeded {
			out = append(out, b)
		}
	}
	return out
}
