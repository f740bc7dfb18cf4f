package main

// The reference pages docs/metrics.md and docs/flags.md are generated here,
// from the code itself, and TestDocsUpToDate fails when the committed pages
// differ from what the code makes ("make docs" rewrites them: go test
// ./cmd/zerodown -run TestDocsUpToDate -args -update). They are made from
// zerodown, the binary with every part.
//
// Flags: every command's real flag.FlagSet, caught as the command is run
// with -h (cli.FlagSet; -h parses nothing and starts nothing). Defaults are
// read with the environment that feeds some of them unset and the host
// name replaced, so the page does not depend on the machine that made it.
//
// Metrics: the descriptions (prometheus.Desc) of each part's collectors,
// the same Describe functions internal/contract lists for "rules check":
// name, help and labels are read from each Desc (its String form, the only
// accessor client_golang gives; every field is quoted there). A test checks
// that the pages list exactly the contract's families. A Desc carries no
// type, and a collector idle outside its role cannot collect (the cluster
// collectors need informers, the poller's state a node), so types come from
// two rules the code keeps: metrics built from *Opts (HistogramOpts,
// GaugeOpts, ...) have the type of their Opts, found in the module's
// source; every other metric is a constant counter or gauge, a counter if
// and only if its name ends in _total (the style's rule, which promlint
// holds the collectors' tests to). The source scan fails on what it cannot
// type (a constant histogram or summary, an Opts whose name is not a
// literal), and the types are checked against what the collectors that can
// collect when idle really expose. Metrics of other modules' collectors
// (the embedded evaluator's Prometheus rules manager's prometheus_rule_*)
// have the types an idle evaluator exposes them with.

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/client-go/rest"

	"github.com/zerodown/zerodown/collectors"
	"github.com/zerodown/zerodown/controller"
	"github.com/zerodown/zerodown/internal/cli"
	"github.com/zerodown/zerodown/internal/contract"
	"github.com/zerodown/zerodown/internal/contract/incluster"
	"github.com/zerodown/zerodown/internal/kube"
	"github.com/zerodown/zerodown/internal/role"
	"github.com/zerodown/zerodown/internal/serve"
	"github.com/zerodown/zerodown/netmatrix"
	"github.com/zerodown/zerodown/poller"
	"github.com/zerodown/zerodown/probes"
	"github.com/zerodown/zerodown/rollback"
	"github.com/zerodown/zerodown/rules/eval"
	"github.com/zerodown/zerodown/rules/eval/evalmetrics"
	"github.com/zerodown/zerodown/rules/notify"
)

var updateDocs = flag.Bool("update", false, "rewrite docs/metrics.md and docs/flags.md from the code")

const (
	metricsDoc = "docs/metrics.md"
	flagsDoc   = "docs/flags.md"
	moduleRoot = "../.."
)

func TestDocsUpToDate(t *testing.T) {
	mdoc, err := metricsMarkdown()
	if err != nil {
		t.Fatal(err)
	}
	fdoc, err := flagsMarkdown(t)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]byte{metricsDoc: mdoc, flagsDoc: fdoc} {
		full := filepath.Join(moduleRoot, path)
		if *updateDocs {
			if err := os.WriteFile(full, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(full)
		if err != nil {
			t.Errorf("%v: run make docs", err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not what the code makes: run make docs", path)
		}
	}
}

// ---- metrics

// A metricGroup is the metrics one part of zerodown exports.
type metricGroup struct {
	title, roles string
	describe     func(chan<- *prometheus.Desc) error
}

// family is one metric family as the page lists it.
type family struct {
	name, typ, help string
	labels          []string
}

func describeAll(cs ...prometheus.Collector) func(chan<- *prometheus.Desc) error {
	return func(ch chan<- *prometheus.Desc) error {
		for _, c := range cs {
			c.Describe(ch)
		}
		return nil
	}
}

func describeFunc(f func(chan<- *prometheus.Desc)) func(chan<- *prometheus.Desc) error {
	return func(ch chan<- *prometheus.Desc) error { f(ch); return nil }
}

// metricGroups are the parts of zerodown and their collectors, in the
// order of the page. A metric is listed in the first group that describes
// it: the controller's group is what controller.Describe adds to the
// cluster collectors and the rollback metrics listed before it.
func metricGroups() []metricGroup {
	return []metricGroup{
		{"Every role", "watch, demo, poller, controller", describeAll(role.Collectors()...)},
		{"Configuration reload", "watch, demo, poller (SIGHUP reloads --config)", describeAll(serve.NewReloadGauges())},
		{"Probes", "watch, demo, poller: the probe engine", describeAll(probes.NewEngine(probes.EngineOptions{}))},
		{"Poller", "poller", describeFunc(poller.Describe)},
		{"Network matrix", "poller with --network.peers-service", describeAll(&netmatrix.Collector{})},
		{"Cluster state", "controller, and watch --kubeconfig", describeClusterState},
		{"Rollback", "controller with --rollback.policy (the webhook), watch with --rollback.policy", describeFunc(rollback.Describe)},
		{"Controller", "controller", controller.Describe},
		{"Rule evaluation", "watch: the embedded rule evaluator (--rules.interval above 0); the prometheus_rule_* metrics are its Prometheus rules manager's own, as a Prometheus exports them", describeFunc(evalmetrics.Describe)},
		{"Alert notifications", "watch: the embedded rule evaluator, with --alertmanager.url or --alert.webhook", describeFunc(notify.Describe)},
	}
}

// describeClusterState describes the cluster collectors as the controller
// and watch --kubeconfig build them (never started).
func describeClusterState(ch chan<- *prometheus.Desc) error {
	kc, err := kube.NewClient(&rest.Config{Host: "https://127.0.0.1:1"}) // never contacted
	if err != nil {
		return err
	}
	set, err := collectors.New(collectors.Options{Client: kc})
	if err != nil {
		return err
	}
	set.Describe(ch)
	return nil
}

// collectDescs returns what describe sends.
func collectDescs(describe func(chan<- *prometheus.Desc) error) ([]*prometheus.Desc, error) {
	ch := make(chan *prometheus.Desc)
	var descs []*prometheus.Desc
	done := make(chan struct{})
	go func() {
		defer close(done)
		for d := range ch {
			descs = append(descs, d)
		}
	}()
	err := describe(ch)
	close(ch)
	<-done
	return descs, err
}

// parseDesc reads name, help and label names from a Desc's String form:
// Desc{fqName: "…", help: "…", constLabels: {a="…",…}, variableLabels: {b,c(d),…}}.
func parseDesc(d *prometheus.Desc) (family, error) {
	s := d.String()
	bad := func(what string) (family, error) { return family{}, fmt.Errorf("cannot read the %s of %s", what, s) }
	var f family
	quoted := func(prefix string) (string, bool) {
		if !strings.HasPrefix(s, prefix) {
			return "", false
		}
		s = s[len(prefix):]
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return "", false
		}
		s = s[len(q):]
		v, err := strconv.Unquote(q)
		return v, err == nil
	}
	var ok bool
	if f.name, ok = quoted("Desc{fqName: "); !ok {
		return bad("name")
	}
	if f.help, ok = quoted(", help: "); !ok {
		return bad("help")
	}
	if !strings.HasPrefix(s, ", constLabels: {") {
		return bad("constant labels")
	}
	s = s[len(", constLabels: {"):]
	var constLabels []string
	for !strings.HasPrefix(s, "}") {
		s = strings.TrimPrefix(s, ",")
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return bad("constant labels")
		}
		name := s[:eq]
		s = s[eq+1:]
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return bad("constant labels")
		}
		s = s[len(q):]
		constLabels = append(constLabels, name)
	}
	rest, found := strings.CutPrefix(s, "}, variableLabels: {")
	if !found || !strings.HasSuffix(rest, "}}") {
		return bad("variable labels")
	}
	if vl := strings.TrimSuffix(rest, "}}"); vl != "" {
		for _, l := range strings.Split(vl, ",") {
			if c, ok := strings.CutPrefix(l, "c("); ok {
				l = strings.TrimSuffix(c, ")")
			}
			f.labels = append(f.labels, l)
		}
	}
	slices.Sort(constLabels)
	f.labels = append(f.labels, constLabels...) // their values (a version) depend on the build
	return f, nil
}

// optsKinds maps the names of the metrics built from prometheus *Opts in
// the module's source (tests, e2e and nested modules left out) to their
// type. It fails on a metric it could not type: a constant histogram or
// summary, an Opts whose name is not one string literal.
func optsKinds(root string) (map[string]string, error) {
	kinds := map[string]string{}
	optsKind := map[string]string{"CounterOpts": "counter", "GaugeOpts": "gauge", "HistogramOpts": "histogram",
		"SummaryOpts": "summary", "UntypedOpts": "untyped"}
	var problems []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir // another module
				}
			}
			if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor" || name == "e2e") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		file, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CompositeLit:
				sel, ok := n.Type.(*ast.SelectorExpr)
				if !ok || !isPkg(sel.X, "prometheus") || optsKind[sel.Sel.Name] == "" {
					return true
				}
				name := ""
				for _, e := range n.Elts {
					kv, ok := e.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					key, _ := kv.Key.(*ast.Ident)
					if key == nil {
						continue
					}
					switch key.Name {
					case "Namespace", "Subsystem":
						problems = append(problems, fmt.Sprintf("%s: %s with %s: give the whole name", fset.Position(n.Pos()), sel.Sel.Name, key.Name))
					case "Name":
						if lit, ok := kv.Value.(*ast.BasicLit); ok && lit.Kind == token.STRING {
							name, _ = strconv.Unquote(lit.Value)
						}
					}
				}
				if name == "" {
					problems = append(problems, fmt.Sprintf("%s: %s without a string literal Name", fset.Position(n.Pos()), sel.Sel.Name))
					return true
				}
				kinds[name] = optsKind[sel.Sel.Name]
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if ok && isPkg(sel.X, "prometheus") && (strings.Contains(sel.Sel.Name, "ConstHistogram") ||
					strings.Contains(sel.Sel.Name, "ConstSummary") || strings.Contains(sel.Sel.Name, "ConstNativeHistogram")) {
					problems = append(problems, fmt.Sprintf("%s: prometheus.%s: teach the docs generator (cmd/zerodown/docs_test.go) to type constant histograms and summaries", fset.Position(n.Pos()), sel.Sel.Name))
				}
			}
			return true
		})
		return nil
	})
	if err == nil && len(problems) > 0 {
		err = fmt.Errorf("metrics the docs cannot type:\n%s", strings.Join(problems, "\n"))
	}
	return kinds, err
}

func isPkg(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

// metricType is the type of the metric name (see the file's comment).
func metricType(name string, opts map[string]string) string {
	if k, ok := opts[name]; ok {
		return k
	}
	if strings.HasSuffix(name, "_total") {
		return "counter"
	}
	return "gauge"
}

// evaluatorKinds are the types of the metrics an idle embedded evaluator
// (the shipped rules loaded, none evaluated) exposes.
func evaluatorKinds() (map[string]string, error) {
	reg := prometheus.NewPedanticRegistry()
	ev, err := eval.New(eval.Options{Gatherer: reg, Registerer: reg})
	if err != nil {
		return nil, err
	}
	defer ev.Close()
	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	types := map[dto.MetricType]string{dto.MetricType_COUNTER: "counter", dto.MetricType_GAUGE: "gauge",
		dto.MetricType_HISTOGRAM: "histogram", dto.MetricType_SUMMARY: "summary", dto.MetricType_UNTYPED: "untyped"}
	kinds := map[string]string{}
	for _, mf := range mfs {
		kinds[mf.GetName()] = types[mf.GetType()]
	}
	return kinds, nil
}

// metricKinds are the types known beyond the naming rule: of the metrics
// built from *Opts in the module's source, and of the evaluator's metrics
// of other modules.
func metricKinds() (map[string]string, error) {
	kinds, err := optsKinds(moduleRoot)
	if err != nil {
		return nil, err
	}
	ev, err := evaluatorKinds()
	if err != nil {
		return nil, fmt.Errorf("the embedded evaluator's metrics: %w", err)
	}
	for name, k := range ev {
		if _, ok := kinds[name]; !ok {
			kinds[name] = k
		}
	}
	return kinds, nil
}

// groupFamilies returns each group's families, zerodown's own and the
// evaluator's prometheus_rule_* (not the Go and process collectors' go_*
// and process_*, which are client_golang's), each listed once and sorted
// by name.
func groupFamilies() ([]metricGroup, [][]family, error) {
	opts, err := metricKinds()
	if err != nil {
		return nil, nil, err
	}
	groups := metricGroups()
	out := make([][]family, len(groups))
	seen := map[string]bool{}
	for i, g := range groups {
		descs, err := collectDescs(g.describe)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", g.title, err)
		}
		for _, d := range descs {
			f, err := parseDesc(d)
			if err != nil {
				return nil, nil, err
			}
			if strings.HasPrefix(f.name, "go_") || strings.HasPrefix(f.name, "process_") || seen[f.name] {
				continue
			}
			seen[f.name] = true
			f.typ = metricType(f.name, opts)
			out[i] = append(out[i], f)
		}
		slices.SortFunc(out[i], func(a, b family) int { return strings.Compare(a.name, b.name) })
	}
	return groups, out, nil
}

func metricsMarkdown() ([]byte, error) {
	groups, fams, err := groupFamilies()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(`# Metrics

<!-- Generated from the collectors' descriptions by "make docs" (cmd/zerodown/docs_test.go); do not edit. -->

Every metric family zerodown exports, by the part of zerodown that exports
it. Histograms are exposed with native buckets and with classic ones
(` + "`_bucket`, `_sum`, `_count`" + `); with ` + "`--probe.native-histograms-only`" + `
the probe duration keeps its native buckets only. Every role also exports
client_golang's Go runtime (` + "`go_*`" + `) and process (` + "`process_*`" + `) metrics.
The [metrics guide](metrics-guide.md) tells what the probe
metrics mean together; the flags are in [flags.md](flags.md).
`)
	for i, g := range groups {
		if len(fams[i]) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n## %s\n\nExported by %s.\n\n| Metric | Type | Labels | Help |\n|---|---|---|---|\n", g.title, g.roles)
		for _, f := range fams[i] {
			labels := make([]string, len(f.labels))
			for j, l := range f.labels {
				labels[j] = "`" + l + "`"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", f.name, f.typ, strings.Join(labels, ", "), cell(f.help))
		}
	}
	return b.Bytes(), nil
}

// cell makes text safe in a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "*", `\*`)
	s = strings.ReplaceAll(s, "<", `&lt;`)
	return s
}

// The page lists exactly the metric contract's zerodown_* families.
func TestDocsMetricsAreTheContract(t *testing.T) {
	_, fams, err := groupFamilies()
	if err != nil {
		t.Fatal(err)
	}
	names, complete, err := contract.Metrics(contract.Parts{Roles: incluster.Describe, Evaluator: evalmetrics.Describe})
	if err != nil || !complete {
		t.Fatalf("contract: complete %v, %v", complete, err)
	}
	documented := map[string]bool{}
	for _, g := range fams {
		for _, f := range g {
			documented[f.name] = true
			if !contract.Exported(names, f.name) {
				t.Errorf("%s is documented but not in the contract (internal/contract)", f.name)
			}
		}
	}
	for n := range names {
		base := n
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(n, s); ok && names[b] {
				base = b
			}
		}
		if strings.HasPrefix(base, "zerodown_") && !documented[base] {
			t.Errorf("%s is in the contract but in no group of the docs (metricGroups)", base)
		}
	}
	if len(documented) < 60 {
		t.Errorf("only %d families documented", len(documented))
	}
}

// The types the page gives are those of what the collectors that can
// collect while idle really expose.
func TestDocsMetricTypes(t *testing.T) {
	opts, err := metricKinds()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"zerodown_probe_duration_seconds": "histogram",
		"zerodown_connection_lifetime_seconds": "histogram", "zerodown_config_last_reload_successful": "gauge",
		"prometheus_rule_evaluation_duration_seconds": "summary", "prometheus_rule_group_duration_histogram_seconds": "histogram",
		"prometheus_rule_group_last_restore_duration_seconds": "gauge", "zerodown_rule_alerts": "gauge"} {
		if got := metricType(name, opts); got != want {
			t.Errorf("%s: type %s, want %s", name, got, want)
		}
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(serve.NewReloadGauges(), probes.NewEngine(probes.EngineOptions{MaxProbesPerSecond: 10}), &rollback.Executor{})
	reg.MustRegister(role.Collectors()[0])
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	types := map[dto.MetricType]string{dto.MetricType_COUNTER: "counter", dto.MetricType_GAUGE: "gauge",
		dto.MetricType_HISTOGRAM: "histogram", dto.MetricType_SUMMARY: "summary", dto.MetricType_UNTYPED: "untyped"}
	n := 0
	for _, mf := range mfs {
		if got, want := metricType(mf.GetName(), opts), types[mf.GetType()]; got != want {
			t.Errorf("%s: the docs say %s, the collector exposes %s", mf.GetName(), got, want)
		}
		n++
	}
	if n < 6 {
		t.Errorf("only %d families gathered", n)
	}
}

// ---- flags

// flagCommands are the commands with flags, as cli.Run takes them.
var flagCommands = [][]string{{"watch"}, {"demo"}, {"poller"}, {"controller"}, {"report"}, {"budget", "derive"}, {"mark"}}

// noFlagCommands are the commands without flags, with their arguments.
var noFlagCommands = []string{"rules test FILE...", "rules check FILE...", "budget check FILE", "rollback check FILE", "version"}

// envDefaults are the environment variables some flags take their default
// from; the page shows the defaults with them unset (the flags' usage
// names them).
var envDefaults = []string{"NODE_NAME", "POD_NAMESPACE", "POD_NAME"}

// flagSets runs every command of flagCommands with -h and returns the flag
// set each parsed.
func flagSets(t *testing.T) ([]*flag.FlagSet, error) {
	for _, e := range envDefaults {
		t.Setenv(e, "")
	}
	var sets []*flag.FlagSet
	for _, cmd := range flagCommands {
		fs, err := cli.FlagSet(parts, cmd...)
		if err != nil {
			return nil, err
		}
		sets = append(sets, fs)
	}
	return sets, nil
}

func flagsMarkdown(t *testing.T) ([]byte, error) {
	sets, err := flagSets(t)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(`# Command-line flags

<!-- Generated from the commands' flag sets by "make docs" (cmd/zerodown/docs_test.go); do not edit. -->

The flags of every zerodown command, as ` + "`zerodown COMMAND -h`" + ` prints them.
Flags may come before or after arguments; ` + "`--flag`" + ` and ` + "`-flag`" + ` are the
same; a boolean flag is turned on with ` + "`--flag`" + ` and off with ` + "`--flag=false`" + `.
Defaults taken from the environment are shown with it unset. The commands and what
they do are in [Command line](watch.md#command-line); the
metrics in [metrics.md](metrics.md).
`)
	b.WriteString("\nCommands without flags: ")
	for i, c := range noFlagCommands {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "`zerodown %s`", c)
	}
	b.WriteString(".\n")
	for _, fs := range sets {
		fmt.Fprintf(&b, "\n## zerodown %s\n\n| Flag | Type | Default | Usage |\n|---|---|---|---|\n", fs.Name())
		fs.VisitAll(func(f *flag.Flag) {
			typ, usage := flag.UnquoteUsage(f)
			if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
				typ = "bool"
			}
			def := ""
			if f.DefValue != "" {
				def = "`" + f.DefValue + "`"
			}
			fmt.Fprintf(&b, "| `--%s` | %s | %s | %s |\n", f.Name, typ, def, cell(usage))
		})
	}
	return b.Bytes(), nil
}

// Every command of the usage is in the page, with flags or without.
func TestDocsFlagsCoverEveryCommand(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range flagCommands {
		covered[c[0]] = true
	}
	for _, c := range noFlagCommands {
		covered[strings.Fields(c)[0]] = true
	}
	code, usage, _ := runArgs(t, "help")
	if code != cli.ExitOK {
		t.Fatalf("zerodown help: exit %d", code)
	}
	n := 0
	for _, line := range strings.Split(usage, "\n") {
		if rest, ok := strings.CutPrefix(line, "  zerodown "); ok {
			n++
			if cmd := strings.Fields(rest)[0]; !covered[cmd] {
				t.Errorf("zerodown %s: in neither flagCommands nor noFlagCommands of the docs", cmd)
			}
		}
	}
	if n < 8 {
		t.Errorf("only %d commands read from the usage", n)
	}
}
