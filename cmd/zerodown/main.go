// Command zerodown measures service disruption during cluster upgrades.
// This file holds flags and wiring only.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"
	"golang.org/x/term"

	"github.com/zerodown/zerodown/budget"
	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/demo"
	"github.com/zerodown/zerodown/internal/memlimit"
	"github.com/zerodown/zerodown/internal/role"
	"github.com/zerodown/zerodown/internal/serve"
	"github.com/zerodown/zerodown/report"
	"github.com/zerodown/zerodown/rules/notify"
	"github.com/zerodown/zerodown/watch"
)

func main() {
	setVersionFromBuildInfo()
	memlimit.Set() // in a container: a soft limit under its memory limit
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// setVersionFromBuildInfo fills the version and revision that "make
// build" sets with -ldflags from the binary's build info when a plain "go
// build" or "go install" left them empty, as zerodown_build_info has them
// (role.CurrentBuild), so that "zerodown version" says the same.
func setVersionFromBuildInfo() {
	b := role.CurrentBuild()
	version.Version, version.Revision = b.Version, b.Revision
}

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // a runtime error
	exitUsage   = 2 // bad flags or configuration
	exitBudget  = 3 // disruption exceeded --budget
)

const usage = `zerodown measures, to the millisecond, which routes, services and DNS names
went down during a cluster upgrade, for how long and why.

Usage:
  zerodown watch [flags] [TARGET...]   probe targets, serve metrics, show a live view, write intervals
  zerodown demo [flags]                run watch against a loopback test target with scheduled outages
  zerodown poller [flags]              in a cluster, one per node: probe static and discovered targets
  zerodown controller [flags]          in a cluster: operator, version, node and workload state as metrics and intervals
  zerodown report [flags] FILE|DIR... judge interval files against budgets: junit.xml, report.html, CSV, JSON
  zerodown budget derive|check        budgets from past upgrades in Prometheus; validate a budget file
  zerodown rules test|check FILE...    run rule unit tests (promtool's format) or check rule files, in-process
  zerodown rollback check FILE         validate a rollback policy (the controller's --rollback.policy)
  zerodown mark start|end NAME         mark an upgrade the cluster's versions do not show (an ingress controller, a mesh)
  zerodown version                     print the version

TARGET (for quick use; a --config file can hold many, with every option):
  http://HOST[:PORT]/PATH   https://…   h2c://HOST:PORT/PATH (HTTP/2 without TLS)
  tcp://HOST:PORT           dns://RESOLVER/NAME?type=A&transport=udp   (dns:///NAME: system resolver)

Run "zerodown help COMMAND" (or "zerodown COMMAND -h") for the flags of a command.
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "watch":
		return runWatch(args[1:], stdout, stderr)
	case "demo":
		return runDemo(args[1:], stdout, stderr)
	case "poller":
		return runPoller(args[1:], stdout, stderr)
	case "controller":
		return runController(args[1:], stdout, stderr)
	case "rules":
		return runRules(args[1:], stdout, stderr)
	case "report":
		return runReport(args[1:], stdout, stderr)
	case "budget":
		return runBudget(args[1:], stdout, stderr)
	case "rollback":
		return runRollback(args[1:], stdout, stderr)
	case "mark":
		return runMark(args[1:], stdout, stderr)
	case "version", "--version":
		if wantsHelp(args[1:]) {
			fmt.Fprintln(stdout, "Usage: zerodown version\n\nPrints zerodown's version, the Go version it was built with, and its revision.")
			return exitOK
		}
		fmt.Fprintln(stdout, version.Print("zerodown"))
		return exitOK
	case "help", "-h", "--help":
		if len(args) > 1 && args[0] == "help" {
			switch args[1] {
			case "watch", "demo", "poller", "controller", "rules", "rollback", "report", "budget", "mark":
				return run([]string{args[1], "-h"}, stdout, stderr)
			case "version":
				return run([]string{"version", "-h"}, stdout, stderr)
			}
			fmt.Fprintf(stderr, "zerodown help: unknown command %q\n\n%s", args[1], usage)
			return exitUsage
		}
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "zerodown: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// plural is "1 target", "2 targets".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// parseInterspersed parses flags and positional arguments in any order
// ("watch URL --duration 5m") and returns the arguments; -h prints the
// usage to stdout (code 0), a bad flag the error and the usage to stderr
// (code 2).
func parseInterspersed(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (pos []string, code int, ok bool) {
	if seeFlags != nil {
		seeFlags(fs)
	}
	fs.SetOutput(io.Discard)
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(stdout)
				fs.Usage()
				return nil, exitOK, false
			}
			fs.SetOutput(stderr)
			fmt.Fprintf(stderr, "zerodown %s: %v\n", fs.Name(), err)
			fs.Usage()
			return nil, exitUsage, false
		}
		if fs.NArg() == 0 {
			return pos, exitOK, true
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
}

// seeFlags, when set, is shown every command's flag set as it is about to
// parse: the reference of the flags (docs/flags.md) is generated from them.
// Nil in zerodown itself.
var seeFlags func(*flag.FlagSet)

// wantsHelp reports whether args ask for a command's help (-h, --help).
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// common holds the flags every command shares: logging and the live view;
// after parse, args holds the arguments that are not flags.
type common struct {
	level, format, view string
	pprof               bool
	webConfig           string // --web.config.file, of the commands that serve
	args                []string
	logs                *watch.LogWriter // what the logger writes to
}

// registerWeb adds --web.config.file, for the commands that serve
// endpoints.
func (c *common) registerWeb(fs *flag.FlagSet) {
	fs.StringVar(&c.webConfig, "web.config.file", "", "exporter-toolkit web configuration for every endpoint of --web.listen-address: TLS, client certificates (mTLS), basic auth (https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md); read again for every new connection")
}

// registerKubeAuth adds --web.kubernetes-auth, for the in-cluster roles.
func registerKubeAuth(fs *flag.FlagSet) *bool {
	return fs.Bool("web.kubernetes-auth", false, "guard /metrics and /debug/pprof/ as kube-rbac-proxy does: a bearer token reviewed by the API server (TokenReview; none or unknown: 401) whose user may get the path as a non-resource URL (SubjectAccessReview; else 403). Answers are cached for 1m, and an allow is kept for up to 1h while the API server cannot answer (its upgrade loses no scrape). Needs create on tokenreviews and subjectaccessreviews (system:auth-delegator)")
}

// register adds the logging flags, which every command has.
func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.level, "log.level", "info", "log level: debug, info, warn, error (probe failures are logged at debug)")
	fs.StringVar(&c.format, "log.format", "logfmt", "log format: logfmt or json")
}

// registerView adds --view, for the commands with a live view.
func (c *common) registerView(fs *flag.FlagSet) {
	fs.StringVar(&c.view, "view", "auto", "live view: auto (table on a terminal, lines otherwise), table, lines or none")
}

// registerPprof adds --debug.pprof, for the commands that serve.
func (c *common) registerPprof(fs *flag.FlagSet) {
	fs.BoolVar(&c.pprof, "debug.pprof", false, "serve Go's profiles on /debug/pprof/ of --web.listen-address")
}

// parse parses args and builds the logger and the view. When ok is false
// the command ends with code (0 after -h).
//
// Flags may come before or after arguments ("watch URL --duration 5m");
// "-h" prints the usage to stdout, a bad flag the error and the usage to
// stderr.
func (c *common) parse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (log *slog.Logger, view io.Writer, tty bool, code int, ok bool) {
	if c.args, code, ok = parseInterspersed(fs, args, stdout, stderr); !ok {
		return nil, nil, false, code, false
	}
	fs.SetOutput(stderr)
	c.logs = watch.NewLogWriter(stderr)
	log, err := c.logger(c.logs)
	if err == nil {
		view, tty, err = viewOf(cmp.Or(c.view, "none"), stdout) // "": a command without a live view
	}
	if err == nil && c.webConfig != "" {
		err = serve.ValidateWebConfig(c.webConfig) // a bad file is bad usage, found before anything starts
	}
	if err != nil {
		fmt.Fprintln(stderr, "zerodown:", err)
		return nil, nil, false, exitUsage, false
	}
	return log, view, tty, exitOK, true
}

func (c *common) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.level)); err != nil {
		return nil, fmt.Errorf("--log.level: want debug, info, warn or error, got %q", c.level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch c.format {
	case "logfmt":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		// Durations as logfmt writes them ("1.5s"), not as a count of
		// nanoseconds.
		opts.ReplaceAttr = func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindDuration {
				a.Value = slog.StringValue(a.Value.Duration().String())
			}
			return a
		}
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log.format: want logfmt or json, got %q", c.format)
}

func runWatch(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfgFile    = fs.String("config", "", "YAML file of targets (see config/testdata/example.yaml)")
		check      = fs.Bool("config.check", false, "check the configuration, print the problems and exit (0 valid, 2 invalid)")
		interval   = fs.Duration("interval", 0, "steady probe interval for targets that set none (default 1s; at least 10ms)")
		fast       = fs.Duration("fast-interval", 0, "probe interval while a target fails, to pin down the end of an outage (default 10ms)")
		timeout    = fs.Duration("timeout", 0, "timeout of one probe (default 1s); a slower probe fails with reason timeout")
		duration   = fs.Duration("duration", 0, "how long to watch; 0 watches until SIGINT or SIGTERM")
		listen     = registerListen(fs, "127.0.0.1:9947", "address for /metrics (Prometheus and OpenMetrics); empty disables it")
		out        = fs.String("out", "zerodown-out", "folder for intervals.jsonl (streamed while running) and, at the end, the report: summary.json, junit.xml, report.html, disruption.csv")
		flatBdgt   = fs.Duration("budget", 0, "exit 3 if any backend's disruption exceeds this, no grace (0 = no budget; targets' own budget fields count too)")
		budgets    = fs.String("budgets", "", "budget file (per backend and connection, with globs, history and grace; see budget/testdata/example.yaml): exit 3 if one is exceeded")
		title      = fs.String("report.title", "zerodown watch", "title of report.html")
		maxRate    = fs.Float64("probe.max-rate", 0, "ceiling on probes started per second across all targets (0 = none); probes over it are skipped, re-probes of failing targets first")
		native     = fs.Bool("probe.native-histograms-only", false, "export zerodown_probe_duration_seconds as a native histogram only, without its 15 classic bucket series per target and connection")
		hold       = fs.Int("hold", 0, "hold this many long-lived connections open to every HTTP and TCP target without a hold of its own, and count how they are dropped (0 = none; at most 64; see hold in config/testdata/example.yaml)")
		empty      = fs.Bool("config.allow-empty", false, "accept a configuration, or a SIGHUP reload, with no targets (otherwise an error: a truncated file must not silently stop all probing)")
		ruleStep   = fs.Duration("rules.interval", time.Second, "step of the embedded rule evaluator: the process's metrics are stored and every rule group evaluated this often (0 evaluates no rules)")
		amURL      = fs.String("alertmanager.url", "", "send the evaluator's alerts to this Alertmanager (its v2 API), e.g. http://127.0.0.1:9093, with resends and a final resolve at exit")
		webhook    = fs.String("alert.webhook", "", "post Alertmanager's webhook payload (version 4) to this URL for every alert that fires or resolves, for setups without an Alertmanager")
		extURL     = fs.String("web.external-url", "", "base URL of the alerts' generator links (e.g. the Prometheus that scrapes this watch); empty: no links")
		rbPolicy   = fs.String("rollback.policy", "", "act on the evaluator's alerts with this rollback policy (as the controller's webhook does), on the cluster of --kubeconfig")
		kubecfg    = fs.String("kubeconfig", "", "watch this cluster too, in this one process: its operators, version, nodes, pools and workloads (metrics, intervals, the live view) and its built-in backends (the Kubernetes API; on OpenShift its APIs, OAuth server, console, canary, registry; Routes at their hosts); --rollback.policy acts on it (for that alone the default is $KUBECONFIG, ~/.kube/config)")
		builtinOff = fs.String("builtin.disable", "", "with --kubeconfig: comma-separated built-in backends not to probe (also builtin.disable in --config): "+strings.Join(config.BuiltinBackends, ", "))
		rbRecord   = fs.String("rollback.record", "default/zerodown-rollback", "NAMESPACE/NAME of the ConfigMap that records which alerts acted (at most once each) and the cooldowns")
		rbOff      = fs.Bool("rollback.disabled", false, "kill switch: decide and log, never act")
		observer   = fs.String("node-name", hostname(), "who observes: written into every interval (locator key poller), so that the runs of several CI runners merge in one report as several pollers")
		ruleFiles  []string
		flags      common
	)
	fs.Func("rules", "rule file to evaluate in-process (repeatable; default: the shipped rules, embedded)", func(s string) error {
		ruleFiles = append(ruleFiles, s)
		return nil
	})
	flags.register(fs)
	flags.registerView(fs)
	flags.registerPprof(fs)
	flags.registerWeb(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: zerodown watch [flags] [TARGET...]

Probes targets from --config and the command line over new and reused
connections until --duration passes or it is interrupted. SIGHUP reloads --config.
At the end --out gets the report: summary.json (the verdict), junit.xml,
report.html (a self-contained timeline) and disruption.csv.
Exit codes: 0 done, 1 runtime error, 2 bad flags, configuration or budget
file, 3 budget exceeded (--budget, --budgets or the targets' own budget).
A backend no budget applies to is not judged: its junit.xml case is
skipped, with the disruption measured, and it never fails the run.

Examples:
  zerodown watch --interval 100ms https://api.example.com:6443/readyz tcp://db:5432
  zerodown watch --config zerodown.yaml --duration 45m --budget 5s --out artifacts
  zerodown watch --config zerodown.yaml --duration 45m --budgets budgets.yaml --out artifacts
  zerodown watch --config zerodown.yaml --config.check
  zerodown watch --config zerodown.yaml --alertmanager.url http://127.0.0.1:9093

The shipped alerting and recording rules (or --rules files) are evaluated
in-process every --rules.interval on the process's own metrics: firing
alerts show in the live view, go to intervals.jsonl (source Alert) and
summary.json, and to --alertmanager.url and --alert.webhook.

Flags:
`)
		fs.PrintDefaults()
	}
	log, view, tty, code, ok := flags.parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	if !checkListen(stderr, fs, *listen) {
		return exitUsage
	}
	if !nonNegative(stderr, fs, map[string]float64{"interval": interval.Seconds(), "fast-interval": fast.Seconds(),
		"timeout": timeout.Seconds(), "duration": duration.Seconds(), "budget": flatBdgt.Seconds(), "probe.max-rate": *maxRate,
		"rules.interval": ruleStep.Seconds()}) || !atLeastMinInterval(stderr, fs, *interval) {
		return exitUsage
	}
	overrides := config.Schedule{Interval: config.Duration(*interval), FastInterval: config.Duration(*fast), Timeout: config.Duration(*timeout),
		Budget: config.Duration(*flatBdgt)}
	// One rule for the check, the start and every reload.
	if *hold < 0 || *hold > 64 {
		fmt.Fprintf(stderr, "zerodown watch: --hold: want 0 to 64 connections, got %d\n", *hold)
		return exitUsage
	}
	load := func() (*config.Config, error) {
		cfg, err := loadConfig(*cfgFile, flags.args, overrides)
		// With --kubeconfig the cluster gives targets of its own (its
		// built-in backends, its Routes and Services).
		if err == nil && len(cfg.Targets) == 0 && !*empty && *kubecfg == "" {
			return nil, errNoTargets
		}
		if err == nil {
			holdAll(cfg, *hold)
		}
		return cfg, err
	}
	cfg, err := load()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	judge, err := budgetsOf(*budgets, *flatBdgt, *cfgFile, cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	if *check {
		fmt.Fprintf(stdout, "configuration valid: %s\n", plural(len(cfg.Targets), "target"))
		return exitOK
	}

	var hook func(notify.Message)
	var extra []prometheus.Collector
	if *rbPolicy != "" && *ruleStep == 0 {
		fmt.Fprintln(stderr, "zerodown watch: --rollback.policy acts on the evaluator's alerts: it needs --rules.interval above 0")
		return exitUsage
	}
	if *rbPolicy != "" {
		h, metrics, closeHook, err := watchRollback(*rbPolicy, *kubecfg, *rbRecord, *rbOff, log)
		if err != nil {
			fmt.Fprintln(stderr, "zerodown watch:", err)
			return exitUsage
		}
		defer closeHook()
		hook, extra = h, append(extra, metrics)
	}

	var cluster watch.Cluster
	if *kubecfg != "" {
		off, ok := builtinDisabled(stderr, "watch", *builtinOff)
		if !ok {
			return exitUsage
		}
		off = append(off, cfg.Builtin.Disable...) // as the poller does
		c, cleanup, err := newWatchCluster(*kubecfg, *out, off, log)
		if err != nil {
			fmt.Fprintln(stderr, "zerodown watch: --kubeconfig:", err)
			return exitUsage
		}
		defer cleanup()
		cluster = c
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reloads, stopHUP := reloadOnHUP(ctx)
	defer stopHUP()

	if fi, err := os.Stat(filepath.Join(*out, watch.IntervalsFile)); err == nil && fi.Size() > 0 {
		log.Warn("--out holds the intervals of an earlier run: this run appends to them, and the report at the end covers both runs; give a fresh --out to keep runs apart",
			"file", filepath.Join(*out, watch.IntervalsFile))
	}
	sum, err := watch.Run(ctx, watch.Options{
		Config: cfg, Reload: load, ReloadRequests: reloads, Duration: *duration,
		Listen: *listen, OutDir: *out, View: view, TTY: tty, Logger: log, MaxProbesPerSecond: *maxRate, NativeHistogramsOnly: *native,
		Width: terminalWidth(stdout), Logs: flags.sharedLogs(stderr, tty), Pprof: flags.pprof, WebConfigFile: flags.webConfig,
		Alerting:   alertingOf(*ruleStep, ruleFiles, *amURL, *webhook, *extURL, hook),
		Collectors: extra, Budgets: judge, ReportTitle: *title, Cluster: cluster, Extra: observerKey(*observer),
	})
	if errors.Is(err, watch.ErrSetup) {
		fmt.Fprintln(stderr, "zerodown watch:", err)
		return exitUsage
	}
	if err != nil {
		log.Error("watch failed", "err", err)
		return exitFailure
	}
	return verdictExit(sum.Summary, stderr)
}

// holdAll gives every HTTP and TCP target without a hold of its own n
// held connections (none when n is 0).
func holdAll(cfg *config.Config, n int) {
	if n == 0 {
		return
	}
	for i := range cfg.Targets {
		t := &cfg.Targets[i]
		if t.Hold == nil && t.DNS == nil {
			t.Hold = &config.Hold{Connections: n}
			*t = t.Resolved(cfg.Defaults)
		}
	}
}

// verdictExit prints the backends worse than their history (regressions,
// first) and over budget, and returns exitBudget if any is over budget.
func verdictExit(s *report.Summary, stderr io.Writer) int {
	for _, b := range s.Regressions() {
		fmt.Fprintf(stderr, "worse than history: %s over %s connections was disrupted for %.3fs, %s\n", b.Backend, b.Connection, b.Disruption, b.Rank)
	}
	over := s.Exceeded()
	for _, b := range over {
		fmt.Fprintf(stderr, "budget exceeded: %s over %s connections was disrupted for %.3fs, over its limit of %.3fs (allowed %.3fs, %s)\n",
			b.Backend, b.Connection, b.Disruption, *b.Limit, *b.Allowed, b.Source)
	}
	drops := s.DropsExceeded()
	for _, h := range drops {
		fmt.Fprintf(stderr, "budget exceeded: %s had %d long-lived connections dropped, over its budget of %d\n", h.Backend, h.Drops, *h.Budget)
	}
	if len(over) > 0 || len(drops) > 0 {
		return exitBudget
	}
	return exitOK
}

// budgetsOf returns the budgets that judge a watch run: the --budgets
// file, or else the targets' own budget fields and --budget for the rest
// (strict: no grace), or nil when there are none.
func budgetsOf(file string, flat time.Duration, cfgFile string, cfg *config.Config) (*budget.File, error) {
	if file != "" {
		if flat > 0 {
			return nil, errors.New("zerodown watch: give --budgets or --budget, not both")
		}
		return budget.Load(file)
	}
	own := map[string]time.Duration{}
	for _, t := range cfg.Targets {
		if d := time.Duration(t.Budget); d > 0 && d != flat {
			own[t.Name] = d
		}
	}
	switch {
	case len(own) > 0:
		return budget.Strict(flat, own, cmp.Or(cfgFile, "the targets' budget")), nil
	case flat > 0:
		return budget.Flat(flat), nil
	}
	return nil, nil
}

// registerListen adds --web.listen-address, as Prometheus and its
// exporters name it, and its alias --listen: two names of one value.
func registerListen(fs *flag.FlagSet, def, usage string) *string {
	addr := new(string)
	fs.StringVar(addr, "web.listen-address", def, usage)
	fs.StringVar(addr, "listen", def, "alias of --web.listen-address")
	return addr
}

// listenFlag is the listen address flag of fs as the user named it, for
// errors: --listen when only the alias was given, else
// --web.listen-address.
func listenFlag(fs *flag.FlagSet) string {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if given["listen"] && !given["web.listen-address"] {
		return "--listen"
	}
	return "--web.listen-address"
}

// checkListen reports a --web.listen-address value that cannot be a
// listen address (empty is fine: no server), naming the flag as given.
func checkListen(stderr io.Writer, fs *flag.FlagSet, addr string) bool {
	if addr == "" {
		return true
	}
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		if _, perr := net.LookupPort("tcp", port); perr != nil {
			err = perr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "zerodown %s: %s %q: expected [HOST]:PORT, such as 127.0.0.1:9947 or :9949: %v\n", fs.Name(), listenFlag(fs), addr, err)
		return false
	}
	return true
}

// errNoTargets refuses a configuration with no targets.
var errNoTargets = errors.New("zerodown watch: no targets: give --config FILE, TARGET arguments or --kubeconfig FILE (--config.allow-empty accepts none; zerodown watch -h lists the flags)")

// nonNegative reports flags of fs given a negative value (as given:
// "-1s"), by name, and whether there were none.
func nonNegative(stderr io.Writer, fs *flag.FlagSet, values map[string]float64) bool {
	ok := true
	for _, name := range slices.Sorted(maps.Keys(values)) {
		if values[name] < 0 {
			given := fmt.Sprint(values[name])
			if f := fs.Lookup(name); f != nil {
				given = f.Value.String()
			}
			fmt.Fprintf(stderr, "zerodown %s: --%s must not be negative, got %s\n", fs.Name(), name, given)
			ok = false
		}
	}
	return ok
}

// hostname is the machine's name, or "" when it has none (a variable, so
// that the generated flag reference does not hold one machine's name).
var hostname = func() string {
	h, _ := os.Hostname()
	return h
}

// observerKey is the locator key that names a watch run's observer
// (none when it has no name).
func observerKey(name string) map[string]string {
	if name == "" {
		return nil
	}
	return map[string]string{"poller": name}
}

// atLeastMinInterval refuses an --interval below the least a target may
// have, naming the flag (not the configuration field it becomes).
func atLeastMinInterval(stderr io.Writer, fs *flag.FlagSet, d time.Duration) bool {
	if d > 0 && d < time.Duration(config.MinInterval) {
		fmt.Fprintf(stderr, "zerodown %s: --interval must be at least %s, got %s\n", fs.Name(), config.MinInterval, d)
		return false
	}
	return true
}

// reloadOnHUP delivers a reload request for every SIGHUP (coalesced) until
// ctx ends; stop stops listening for the signal.
func reloadOnHUP(ctx context.Context) (reloads <-chan struct{}, stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	out := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out, func() { signal.Stop(hup) }
}

// loadConfig reads file (if any), adds the command-line targets, applies
// the flag overrides of the defaults, resolves and validates.
func loadConfig(file string, urls []string, overrides config.Schedule) (*config.Config, error) {
	cfg := &config.Config{}
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--config: %w", err)
		}
		if cfg, err = config.ParseWith(data, file, overrides); err != nil {
			return nil, err
		}
	}
	var errs []error
	for _, u := range urls {
		t, err := config.TargetFromURL(u)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cfg.Targets = append(cfg.Targets, t)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// The targets of the command line, resolved against the same defaults.
	cfg.Defaults = overrides.Over(cfg.Defaults)
	cfg = cfg.Resolved()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// terminalWidth returns the width of w if it is a terminal (0 otherwise),
// asked again at every call so a resized window is followed.
func terminalWidth(w io.Writer) func() int {
	f, ok := w.(*os.File)
	if !ok || !watch.IsTerminal(f) {
		return nil
	}
	return func() int {
		width, _, err := term.GetSize(int(f.Fd()))
		if err != nil {
			return 0
		}
		return width
	}
}

// sharedLogs returns the logger's writer when it shares the live table's
// terminal (log lines then go above the table), else nil.
func (c *common) sharedLogs(stderr io.Writer, tty bool) *watch.LogWriter {
	if f, ok := stderr.(*os.File); tty && ok && watch.IsTerminal(f) {
		return c.logs
	}
	return nil
}

func viewOf(mode string, stdout io.Writer) (io.Writer, bool, error) {
	f, isFile := stdout.(*os.File)
	tty := isFile && watch.IsTerminal(f)
	switch mode {
	case "auto":
		return stdout, tty, nil
	case "table":
		return stdout, true, nil
	case "lines":
		return stdout, false, nil
	case "none":
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("--view: want auto, table, lines or none, got %q", mode)
}

func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		out      = fs.String("out", "zerodown-demo", "folder for intervals.jsonl, summary.json and the test target's CA")
		interval = fs.Duration("interval", 100*time.Millisecond, "steady probe interval")
		listen   = registerListen(fs, "127.0.0.1:9947", "address for /metrics while the demo runs; empty disables it")
		flags    common
	)
	flags.register(fs)
	flags.registerView(fs)
	flags.registerPprof(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: zerodown demo [flags]\n\nStarts a loopback test target (HTTP/1.1, HTTPS with HTTP/2, h2c, TCP, DNS over UDP\nand TCP), switches it to refuse, 503, hang, reset, SERVFAIL and drop for known\nwindows, then drops its established connections four ways (a graceful reload,\nFIN, RST, a blackhole), watches it with long-lived connections held, and prints\nthe true outages and drops next to the measured ones.\nEverything stays on 127.0.0.1; it takes about 40 seconds.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	log, view, tty, code, ok := flags.parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	if !checkListen(stderr, fs, *listen) {
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := demo.Run(ctx, demo.Options{
		Interval: *interval, OutDir: *out, Listen: *listen, View: view, TTY: tty, Logger: log, Report: stdout,
		Width: terminalWidth(stdout), Logs: flags.sharedLogs(stderr, tty),
	})
	if err != nil {
		log.Error("demo failed", "err", err)
		return exitFailure
	}
	st := res.Outages.DurationStats(nil)
	fmt.Fprintf(stdout, "\n%d outages measured, %d missed; median error %+.1fms, worst |error| %.1fms; %d of %d held connections counted dropped. Intervals and summary: %s/\n",
		st.N, st.Missed, float64(st.Median)/1e6, float64(st.WorstAbs)/1e6, len(res.Drops.Matches)-res.Drops.Missed(), len(res.Drops.Matches), strings.TrimSuffix(*out, "/"))
	return exitOK
}

// builtinDisabled reads --builtin.disable: the names it lists, and false
// (with the error printed) when one is not a built-in backend.
func builtinDisabled(stderr io.Writer, role, flagValue string) ([]string, bool) {
	names := splitList(flagValue)
	for _, n := range names {
		if !slices.Contains(config.BuiltinBackends, n) {
			fmt.Fprintf(stderr, "zerodown %s: --builtin.disable: %q is not a built-in backend (%s)\n", role, n, strings.Join(config.BuiltinBackends, ", "))
			return nil, false
		}
	}
	return names, true
}

// splitList splits a comma-separated flag value, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
