// Package rulecheck validates Prometheus rule files as "zerodown rules
// check" does: Prometheus's own parsing and validation (syntax, names,
// labels, templates), an alert's "for" against its group's interval, and
// every metric an expression selects against the metrics zerodown exports
// or the checked files record.
package rulecheck

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/zerodown/zerodown/internal/yamlerr"
)

// Options says which metric names a rule may select.
type Options struct {
	// Exported reports whether zerodown exports a metric name.
	Exported func(name string) bool
	// Complete is false when Exported does not know every zerodown_*
	// metric (a build without some roles): unknown zerodown_* names are
	// then warnings, not errors.
	Complete bool
	// External matches metric names from other exporters that rules may
	// select (nil: DefaultExternal).
	External *regexp.Regexp
}

// DefaultExternal is what rules may select besides zerodown's own metrics
// and recorded series: Prometheus's own series (up, ALERTS) and
// kube-state-metrics (kube_*), whose rules must not fail without them.
var DefaultExternal = regexp.MustCompile(`^(up|ALERTS|ALERTS_FOR_STATE|scrape_.+|kube_.+)$`)

// Result is what checking some files found.
type Result struct {
	Rules    map[string]int // rules per file
	Errors   []error
	Warnings []string
}

// rule is one parsed rule with where it is.
type rule struct {
	file, group string
	line        int
	name        string // record or alert
	alert       bool
	expr        parser.Expr
	forDur      time.Duration
	interval    time.Duration // the group's; 0: the global default
}

// Check checks files as one set: a series recorded in one may be used in
// another.
func Check(o Options, files ...string) Result {
	if o.External == nil {
		o.External = DefaultExternal
	}
	res := Result{Rules: map[string]int{}}
	var all []rule
	recorded := map[string]bool{}
	for _, f := range files {
		rs, errs := parse(f)
		res.Errors = append(res.Errors, errs...)
		res.Rules[f] = len(rs)
		for _, r := range rs {
			if !r.alert {
				recorded[r.name] = true
			}
		}
		all = append(all, rs...)
	}
	for _, r := range all {
		at := fmt.Sprintf("%s:%d: group %q, rule %q", r.file, r.line, r.group, r.name)
		if r.alert && r.forDur > 0 && r.interval > 0 && r.forDur < r.interval {
			res.Errors = append(res.Errors, fmt.Errorf("%s: for %s is shorter than the group's interval %s: the alert fires at its first evaluation",
				at, model.Duration(r.forDur), model.Duration(r.interval)))
		}
		if !r.alert && strings.Count(r.name, ":") < 1 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: a recorded series is named level:metric:operations", at))
		}
		ranges, _ := Selections(r.expr)
		for _, name := range slices.Sorted(maps.Keys(ranges)) {
			switch {
			case recorded[name], o.Exported != nil && o.Exported(name), o.External.MatchString(name):
			case strings.Contains(name, ":"):
				res.Errors = append(res.Errors, fmt.Errorf("%s: %s is not recorded by any rule of the checked files", at, name))
			case strings.HasPrefix(name, "zerodown_") && !o.Complete:
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %s is not a metric this build knows (a build without the poller and controller)", at, name))
			case strings.HasPrefix(name, "zerodown_"):
				res.Errors = append(res.Errors, fmt.Errorf("%s: zerodown exports no metric %s", at, name))
			default:
				res.Errors = append(res.Errors, fmt.Errorf("%s: %s is neither a zerodown metric, nor recorded, nor an allowed external metric (%s)", at, name, o.External))
			}
		}
	}
	return res
}

// Print writes promtool's report ("Checking FILE", "  SUCCESS: N rules
// found" or "  FAILED:") and reports whether everything passed.
func (res Result) Print(w io.Writer, files ...string) bool {
	for _, f := range files {
		fmt.Fprintln(w, "Checking", f)
		var mine []error
		for _, e := range res.Errors {
			if strings.HasPrefix(e.Error(), f+":") {
				mine = append(mine, e)
			}
		}
		for _, warn := range res.Warnings {
			if strings.HasPrefix(warn, f+":") {
				fmt.Fprintln(w, "  WARNING:", warn)
			}
		}
		if len(mine) == 0 {
			fmt.Fprintf(w, "  SUCCESS: %d rules found\n\n", res.Rules[f])
			continue
		}
		fmt.Fprintln(w, "  FAILED:")
		for _, e := range mine {
			fmt.Fprintln(w, "    "+e.Error())
		}
		fmt.Fprintln(w)
	}
	return len(res.Errors) == 0
}

var rulefmtPos = regexp.MustCompile(`^\d+:\d+: `)

// parse reads one file with Prometheus's parser and validation; errors
// are "file:line: ..." (Prometheus's own with a column). Unknown fields
// and values of the wrong type are found first, as in every YAML file
// zerodown reads (every one at once, "did you mean"), Prometheus's parser
// naming only Go types.
func parse(file string) ([]rule, []error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, []error{fmt.Errorf("%s: %w", file, err)}
	}
	var decoded rulefmt.RuleGroups
	doc, err := yamlerr.Decode(data, file, &decoded)
	if err == nil {
		err = doc.Err()
	}
	if err != nil && !errors.Is(err, yamlerr.ErrEmpty) { // empty: no rules, as for Prometheus
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			return nil, j.Unwrap()
		}
		return nil, []error{err}
	}
	rgs, errs := rulefmt.Parse(data, false, model.LegacyValidation)
	lines, groups := ruleLines(data)
	if len(errs) > 0 {
		out := make([]error, len(errs))
		for i, e := range errs {
			msg := e.Error()
			var re *rulefmt.Error
			switch {
			case rulefmtPos.MatchString(msg):
				out[i] = fmt.Errorf("%s:%s", file, msg)
			case errors.As(e, &re) && slices.Contains(groups, re.Group) && re.Rule > 0 &&
				re.Rule <= len(lines[slices.Index(groups, re.Group)]):
				// No position (a template error): the rule's line.
				out[i] = fmt.Errorf("%s:%d: %s", file, lines[slices.Index(groups, re.Group)][re.Rule-1], msg)
			default:
				out[i] = fmt.Errorf("%s: %s", file, msg)
			}
		}
		return nil, out
	}
	var rs []rule
	for gi, g := range rgs.Groups {
		for ri, r := range g.Rules {
			expr, err := parser.ParseExpr(r.Expr)
			if err != nil { // validated above; kept for safety
				errs = append(errs, fmt.Errorf("%s: group %q, rule %d: %w", file, g.Name, ri+1, err))
				continue
			}
			x := rule{file: file, group: g.Name, expr: expr, forDur: time.Duration(r.For), interval: time.Duration(g.Interval)}
			if gi < len(lines) && ri < len(lines[gi]) {
				x.line = lines[gi][ri]
			}
			x.name, x.alert = r.Record, r.Alert != ""
			if x.alert {
				x.name = r.Alert
			}
			rs = append(rs, x)
		}
	}
	return rs, errs
}

// ruleLines returns the line of every rule, by group and rule index, and
// the groups' names.
func ruleLines(data []byte) (lines [][]int, groups []string) {
	var doc struct {
		Groups []struct {
			Name  string      `yaml:"name"`
			Rules []yaml.Node `yaml:"rules"`
		} `yaml:"groups"`
	}
	if yaml.Unmarshal(data, &doc) != nil {
		return nil, nil
	}
	lines = make([][]int, len(doc.Groups))
	for i, g := range doc.Groups {
		groups = append(groups, g.Name)
		for _, r := range g.Rules {
			lines[i] = append(lines[i], r.Line)
		}
	}
	return lines, groups
}

// Selections returns the metric names an expression selects by name,
// each with the shortest range it is read over (0: somewhere as an
// instant vector, or inside a subquery); byPattern is true when some
// selector matches __name__ otherwise (a regular expression: not
// checked).
func Selections(expr parser.Expr) (ranges map[string]time.Duration, byPattern bool) {
	ranges = map[string]time.Duration{}
	parser.Inspect(expr, func(n parser.Node, path []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		var rng time.Duration
		if len(path) > 0 {
			if ms, ok := path[len(path)-1].(*parser.MatrixSelector); ok {
				rng = ms.Range
			}
		}
		add := func(name string) {
			if old, ok := ranges[name]; !ok || rng < old {
				ranges[name] = rng
			}
		}
		named := vs.Name != ""
		if named {
			add(vs.Name)
		}
		for _, m := range vs.LabelMatchers {
			if m.Name != labels.MetricName {
				continue
			}
			if m.Type == labels.MatchEqual {
				named = true
				add(m.Value)
			} else if vs.Name == "" {
				byPattern = true
			}
		}
		byPattern = byPattern || !named
		return nil
	})
	return ranges, byPattern
}
