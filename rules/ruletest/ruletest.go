// Package ruletest runs rule unit tests written in promtool's test format
// (promtool test rules) in-process, on Prometheus's own PromQL engine and
// rules manager: "zerodown rules test" needs no promtool.
//
// The semantics are promtool's: input series are loaded lazily up to each
// evaluation time, groups are evaluated every evaluation_interval in the
// order group_eval_order gives, alerts are compared at the evaluation at
// or just before their eval_time, expressions at their eval_time, values
// exactly unless fuzzy_compare is set. Errors name the file, the line of
// the test and the rule.
package ruletest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"

	"github.com/zerodown/zerodown/internal/yamlerr"
)

// File is one test file.
type File struct {
	RuleFiles          []string       `yaml:"rule_files"`
	EvaluationInterval model.Duration `yaml:"evaluation_interval"`
	GroupEvalOrder     []string       `yaml:"group_eval_order"`
	Tests              []Group        `yaml:"tests"`
	FuzzyCompare       bool           `yaml:"fuzzy_compare"`
}

// Group is one test: input series and what the rules must make of them.
type Group struct {
	Name            string            `yaml:"name"`
	Interval        model.Duration    `yaml:"interval"`
	InputSeries     []Series          `yaml:"input_series"`
	AlertRuleTests  []AlertTest       `yaml:"alert_rule_test"`
	PromQLExprTests []ExprTest        `yaml:"promql_expr_test"`
	ExternalLabels  map[string]string `yaml:"external_labels"`
	ExternalURL     string            `yaml:"external_url"`
	StartTimestamp  Timestamp         `yaml:"start_timestamp"`

	line int
}

// Series is an input series in the load syntax of promqltest.
type Series struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

// AlertTest expects the firing alerts of one alert name at one time.
type AlertTest struct {
	EvalTime  model.Duration `yaml:"eval_time"`
	Alertname string         `yaml:"alertname"`
	ExpAlerts []struct {
		ExpLabels      map[string]string `yaml:"exp_labels"`
		ExpAnnotations map[string]string `yaml:"exp_annotations"`
	} `yaml:"exp_alerts"`

	line int
}

// ExprTest expects the result of a PromQL expression at one time.
type ExprTest struct {
	Expr       string         `yaml:"expr"`
	EvalTime   model.Duration `yaml:"eval_time"`
	ExpSamples []struct {
		Labels    string  `yaml:"labels"`
		Value     float64 `yaml:"value"`
		Histogram string  `yaml:"histogram"`
	} `yaml:"exp_samples"`

	line int
}

// Timestamp is an RFC 3339 time or Unix seconds.
type Timestamp struct{ time.Time }

// UnmarshalYAML reads RFC 3339 or Unix seconds (fractions allowed).
func (t *Timestamp) UnmarshalYAML(n *yaml.Node) error {
	if tm, err := time.Parse(time.RFC3339Nano, n.Value); err == nil {
		t.Time = tm.UTC()
		return nil
	}
	var secs float64
	if _, err := fmt.Sscan(n.Value, &secs); err != nil || math.IsNaN(secs) || math.IsInf(secs, 0) {
		return yamlerr.NodeError(n, "expected an RFC 3339 time or Unix seconds, got %s", yamlerr.Describe(n))
	}
	t.Time = time.Unix(0, int64(secs*1e9)).UTC()
	return nil
}

// setLines records the line of each test, alert test and expression test
// (for messages).
func (f *File) setLines(doc *yamlerr.Doc) {
	for i := range f.Tests {
		t := &f.Tests[i]
		at := fmt.Sprintf("tests[%d]", i)
		t.line = doc.Line(at)
		for j := range t.AlertRuleTests {
			t.AlertRuleTests[j].line = doc.Line(fmt.Sprintf("%s.alert_rule_test[%d]", at, j))
		}
		for j := range t.PromQLExprTests {
			t.PromQLExprTests[j].line = doc.Line(fmt.Sprintf("%s.promql_expr_test[%d]", at, j))
		}
	}
}

// Load reads and checks a test file; rule file paths are made relative to
// its folder and globs expanded. Every problem is reported at once, each
// as "file:line: field: message".
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f File
	doc, err := yamlerr.Decode(data, path, &f)
	if errors.Is(err, yamlerr.ErrEmpty) {
		return nil, fmt.Errorf("%s: empty test file", path)
	}
	if err != nil {
		return nil, err
	}
	f.setLines(doc)
	var files []string
	for i, rf := range f.RuleFiles {
		if !filepath.IsAbs(rf) {
			rf = filepath.Join(filepath.Dir(path), rf)
		}
		m, err := filepath.Glob(rf)
		switch {
		case err != nil:
			doc.Add(fmt.Sprintf("rule_files[%d]", i), "%v", err)
		case len(m) == 0:
			doc.Add(fmt.Sprintf("rule_files[%d]", i), "no file matches %s", rf)
		}
		files = append(files, m...)
	}
	f.RuleFiles = files
	if f.EvaluationInterval <= 0 {
		f.EvaluationInterval = model.Duration(time.Minute)
	}
	seen := map[string]bool{}
	for k, g := range f.GroupEvalOrder {
		if seen[g] {
			doc.Add(fmt.Sprintf("group_eval_order[%d]", k), "group %q twice", g)
		}
		seen[g] = true
	}
	for i := range f.Tests {
		t := &f.Tests[i]
		if t.Interval <= 0 {
			t.Interval = f.EvaluationInterval
		}
		for j, a := range t.AlertRuleTests {
			if a.Alertname == "" {
				doc.Add(fmt.Sprintf("tests[%d].alert_rule_test[%d].alertname", i, j), "required")
			}
		}
		for j, e := range t.PromQLExprTests {
			if _, err := parser.ParseExpr(e.Expr); err != nil {
				doc.Add(fmt.Sprintf("tests[%d].promql_expr_test[%d].expr", i, j), "%q: %v", e.Expr, err)
			}
		}
	}
	if err := doc.Err(); err != nil {
		return nil, err
	}
	return &f, nil
}

// Result is the outcome of one test file.
type Result struct {
	File     string
	Failures []error // empty: every test passed
}

// Run runs every test of every file and writes promtool's report to w:
// "Unit Testing:  FILE", then "  SUCCESS" or "  FAILED:" and the
// failures. ok is false when any test failed or a file could not be run.
func Run(w io.Writer, files ...string) (ok bool) {
	ok = true
	for _, path := range files {
		fmt.Fprintln(w, "Unit Testing: ", path)
		res := RunFile(path)
		if len(res.Failures) == 0 {
			fmt.Fprint(w, "  SUCCESS\n\n")
			continue
		}
		ok = false
		fmt.Fprintln(w, "  FAILED:")
		for _, e := range res.Failures {
			fmt.Fprintln(w, indent(e.Error(), "    "))
		}
		fmt.Fprintln(w)
	}
	return ok
}

// RunFile runs the tests of one file.
func RunFile(path string) Result {
	f, err := Load(path)
	if err != nil {
		return Result{File: path, Failures: []error{err}}
	}
	var errs []error
	for i := range f.Tests {
		name := f.Tests[i].Name
		if name == "" {
			name = fmt.Sprintf("unnamed#%d", i)
		}
		for _, e := range f.Tests[i].run(f) {
			errs = append(errs, fmt.Errorf("%s:%d: test %s: %w", path, f.Tests[i].line, name, e))
		}
	}
	return Result{File: path, Failures: errs}
}

// loadString is the input series in promqltest's load syntax.
func (g *Group) loadString() string {
	var b strings.Builder
	fmt.Fprintf(&b, "load %s\n", time.Duration(g.Interval))
	for _, s := range g.InputSeries {
		fmt.Fprintf(&b, "  %s %s\n", s.Series, s.Values)
	}
	return b.String()
}

func (g *Group) run(f *File) (errs []error) {
	suite, err := promqltest.NewLazyLoader(g.loadString(), promqltest.LazyLoaderOpts{
		EnableAtModifier: true, EnableNegativeOffset: true, StartTime: g.StartTimestamp.Time,
	})
	if err != nil {
		return []error{fmt.Errorf("input_series: %w", err)}
	}
	defer func() {
		if err := suite.Close(); err != nil {
			errs = append(errs, err)
		}
	}()
	evalInterval := time.Duration(f.EvaluationInterval)
	suite.SubqueryInterval = evalInterval

	m := rules.NewManager(&rules.ManagerOptions{
		QueryFunc:  rules.EngineQueryFunc(suite.QueryEngine(), suite.Storage()),
		Appendable: suite.Storage(),
		Context:    context.Background(),
		NotifyFunc: func(context.Context, string, ...*rules.Alert) {},
		Logger:     slog.New(slog.DiscardHandler),
	})
	byKey, loadErrs := m.LoadGroups(time.Duration(g.Interval), labels.FromMap(g.ExternalLabels), g.ExternalURL, nil, false, f.RuleFiles...)
	if loadErrs != nil {
		return loadErrs
	}
	groups := ordered(byKey, f.GroupEvalOrder)
	for _, grp := range groups {
		for _, r := range grp.Rules() {
			if ar, ok := r.(*rules.AlertingRule); ok {
				ar.SetRestored(true) // so ALERTS series are written from the first evaluation
			}
		}
	}

	mint := time.Unix(0, 0).UTC()
	if !g.StartTimestamp.IsZero() {
		mint = g.StartTimestamp.Time
	}
	var maxEval model.Duration
	byTime := map[model.Duration][]AlertTest{}
	var alertTimes []model.Duration
	for _, a := range g.AlertRuleTests {
		if _, ok := byTime[a.EvalTime]; !ok {
			alertTimes = append(alertTimes, a.EvalTime)
		}
		byTime[a.EvalTime] = append(byTime[a.EvalTime], a)
		maxEval = max(maxEval, a.EvalTime)
	}
	for _, e := range g.PromQLExprTests {
		maxEval = max(maxEval, e.EvalTime)
	}
	slices.Sort(alertTimes)
	maxt := mint.Add(time.Duration(maxEval))

	equal := func(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }
	if f.FuzzyCompare {
		equal = func(a, b float64) bool {
			return a == b || math.Nextafter(a, math.Inf(-1)) == b || math.Nextafter(a, math.Inf(1)) == b ||
				(math.IsNaN(a) && math.IsNaN(b))
		}
	}

	next := 0
	for ts := mint; !ts.After(maxt); ts = ts.Add(evalInterval) {
		var evalErrs []error
		suite.WithSamplesTill(ts, func(err error) {
			if err != nil {
				evalErrs = append(evalErrs, err)
				return
			}
			for _, grp := range groups {
				grp.Eval(suite.Context(), ts)
				for _, r := range grp.Rules() {
					if r.LastError() != nil {
						evalErrs = append(evalErrs, fmt.Errorf("rule %s, group %s, time %s: %w",
							r.Name(), grp.Name(), ts.Sub(mint), r.LastError()))
					}
				}
			}
		})
		if len(evalErrs) > 0 {
			return append(errs, evalErrs...)
		}
		// Alerts asked for at ts <= eval_time < ts+interval are compared
		// with this evaluation.
		for next < len(alertTimes) && time.Duration(alertTimes[next]) < ts.Add(evalInterval).Sub(mint) {
			at := alertTimes[next]
			for _, test := range byTime[at] {
				got := firing(groups, test.Alertname)
				var want []alertState
				for _, a := range test.ExpAlerts {
					l := labels.FromMap(a.ExpLabels)
					b := labels.NewBuilder(l)
					b.Set(labels.AlertName, test.Alertname)
					want = append(want, alertState{b.Labels(), labels.FromMap(a.ExpAnnotations)})
				}
				sortAlerts(want)
				if !alertsEqual(want, got) {
					errs = append(errs, fmt.Errorf("line %d: alertname %s, eval_time %s:\n  want: %s\n  got:  %s",
						test.line, test.Alertname, at, alertsString(want), alertsString(got)))
				}
			}
			next++
		}
	}

	for _, test := range g.PromQLExprTests {
		at := mint.Add(time.Duration(test.EvalTime))
		got, err := query(suite, test.Expr, at)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: expr %q, eval_time %s: %w", test.line, test.Expr, test.EvalTime, err))
			continue
		}
		var want []sample
		bad := false
		for _, s := range test.ExpSamples {
			l, err := parser.ParseMetric(s.Labels)
			var h *histogram.FloatHistogram
			if err == nil && s.Histogram != "" {
				var vals []parser.SequenceValue
				if _, vals, err = parser.ParseSeriesDesc("{} " + s.Histogram); err == nil && (len(vals) != 1 || vals[0].Histogram == nil) {
					err = fmt.Errorf("want one histogram, got %q", s.Histogram)
				}
				if err == nil {
					h = vals[0].Histogram
				}
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("line %d: expr %q: exp_samples labels %q: %w", test.line, test.Expr, s.Labels, err))
				bad = true
				break
			}
			want = append(want, sample{l, s.Value, promqltest.HistogramTestExpression(h)})
		}
		if bad {
			continue
		}
		sortSamples(want)
		if !samplesEqual(want, got, equal) {
			errs = append(errs, fmt.Errorf("line %d: expr %q, eval_time %s:\n  want: %s\n  got:  %s",
				test.line, test.Expr, test.EvalTime, samplesString(want), samplesString(got)))
		}
	}
	return errs
}

// ordered returns the groups, those named in order first (in that order),
// the rest after them in file and name order.
func ordered(byKey map[string]*rules.Group, order []string) []*rules.Group {
	rank := map[string]int{}
	for i, n := range order {
		rank[n] = i
	}
	var gs []*rules.Group
	for _, g := range byKey {
		gs = append(gs, g)
	}
	slices.SortStableFunc(gs, func(a, b *rules.Group) int {
		ra, oka := rank[a.Name()]
		rb, okb := rank[b.Name()]
		switch {
		case oka && okb:
			return ra - rb
		case oka:
			return -1
		case okb:
			return 1
		}
		return strings.Compare(rules.GroupKey(a.File(), a.Name()), rules.GroupKey(b.File(), b.Name()))
	})
	return gs
}

type alertState struct {
	labels, annotations labels.Labels
}

// firing returns the firing alerts of the rules named name.
func firing(groups []*rules.Group, name string) []alertState {
	var out []alertState
	for _, g := range groups {
		for _, ar := range g.AlertingRules() {
			if ar.Name() != name {
				continue
			}
			for _, a := range ar.ActiveAlerts() {
				if a.State == rules.StateFiring {
					out = append(out, alertState{a.Labels.Copy(), a.Annotations.Copy()})
				}
			}
		}
	}
	sortAlerts(out)
	return out
}

func sortAlerts(as []alertState) {
	slices.SortFunc(as, func(a, b alertState) int {
		if c := labels.Compare(a.labels, b.labels); c != 0 {
			return c
		}
		return labels.Compare(a.annotations, b.annotations)
	})
}

func alertsEqual(a, b []alertState) bool {
	return slices.EqualFunc(a, b, func(x, y alertState) bool {
		return labels.Equal(x.labels, y.labels) && labels.Equal(x.annotations, y.annotations)
	})
}

func alertsString(as []alertState) string {
	if len(as) == 0 {
		return "none"
	}
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = fmt.Sprintf("%s annotations %s", a.labels, a.annotations)
	}
	return strings.Join(parts, "\n        ")
}

type sample struct {
	labels    labels.Labels
	value     float64
	histogram string
}

func query(suite *promqltest.LazyLoader, expr string, at time.Time) ([]sample, error) {
	q, err := suite.QueryEngine().NewInstantQuery(suite.Context(), suite.Queryable(), nil, expr, at)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	res := q.Exec(suite.Context())
	if res.Err != nil {
		return nil, res.Err
	}
	var out []sample
	switch v := res.Value.(type) {
	case promql.Vector:
		for _, s := range v {
			out = append(out, sample{s.Metric.Copy(), s.F, promqltest.HistogramTestExpression(s.H)})
		}
	case promql.Scalar:
		out = append(out, sample{labels.EmptyLabels(), v.V, ""})
	default:
		return nil, fmt.Errorf("result is a %s, want a vector or a scalar", res.Value.Type())
	}
	sortSamples(out)
	return out, nil
}

func sortSamples(ss []sample) {
	slices.SortFunc(ss, func(a, b sample) int { return labels.Compare(a.labels, b.labels) })
}

func samplesEqual(a, b []sample, equal func(x, y float64) bool) bool {
	return slices.EqualFunc(a, b, func(x, y sample) bool {
		if !labels.Equal(x.labels, y.labels) || x.histogram != y.histogram {
			return false
		}
		return x.histogram != "" || equal(x.value, y.value)
	})
}

func samplesString(ss []sample) string {
	if len(ss) == 0 {
		return "none"
	}
	parts := make([]string, len(ss))
	for i, s := range ss {
		if s.histogram != "" {
			parts[i] = s.labels.String() + " " + s.histogram
		} else {
			parts[i] = fmt.Sprintf("%s %v", s.labels, s.value)
		}
	}
	return strings.Join(parts, ", ")
}

func indent(s, by string) string {
	return by + strings.ReplaceAll(s, "\n", "\n"+by)
}
