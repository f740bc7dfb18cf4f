package cli

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zerodown/zerodown/budget"
	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/report"
	"github.com/zerodown/zerodown/rules/notify"
	"github.com/zerodown/zerodown/watch"
)

// watchFlags are watch's flags.
type watchFlags struct {
	cfgFile                 string // --config
	check, empty            bool   // --config.check, --config.allow-empty
	interval, fast, timeout time.Duration
	duration                time.Duration
	listen, out, title      string
	budget                  time.Duration // --budget
	budgets                 string        // --budgets
	maxRate                 float64
	native                  bool
	hold                    int
	observer                string          // --node-name
	alerting                AlertingOptions // the embedded evaluator's flags; Hook unset
	rbPolicy, rbRecord      string          // --rollback.policy, --rollback.record
	rbOff                   bool            // --rollback.disabled
	kubeconfig, builtinOff  string          // --kubeconfig, --builtin.disable
	common                  Common
}

const watchUsage = `Usage: zerodown watch [flags] [TARGET...]

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
`

// register adds watch's flags to fs, and its usage.
func (f *watchFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.cfgFile, "config", "", "YAML file of targets (see config/testdata/example.yaml)")
	fs.BoolVar(&f.check, "config.check", false, "check the configuration, print the problems and exit (0 valid, 2 invalid)")
	fs.DurationVar(&f.interval, "interval", 0, "steady probe interval for targets that set none (default 1s; at least 10ms)")
	fs.DurationVar(&f.fast, "fast-interval", 0, "probe interval while a target fails, to pin down the end of an outage (default 10ms)")
	fs.DurationVar(&f.timeout, "timeout", 0, "timeout of one probe (default 1s); a slower probe fails with reason timeout")
	fs.DurationVar(&f.duration, "duration", 0, "how long to watch; 0 watches until SIGINT or SIGTERM")
	RegisterListen(fs, &f.listen, "127.0.0.1:9947", "address for /metrics (Prometheus and OpenMetrics); empty disables it")
	fs.StringVar(&f.out, "out", "zerodown-out", "folder for intervals.jsonl (streamed while running) and, at the end, the report: summary.json, junit.xml, report.html, disruption.csv")
	fs.DurationVar(&f.budget, "budget", 0, "exit 3 if any backend's disruption exceeds this, no grace (0 = no budget; targets' own budget fields count too)")
	fs.StringVar(&f.budgets, "budgets", "", "budget file (per backend and connection, with globs, history and grace; see budget/testdata/example.yaml): exit 3 if one is exceeded")
	fs.StringVar(&f.title, "report.title", "zerodown watch", "title of report.html")
	fs.Float64Var(&f.maxRate, "probe.max-rate", 0, "ceiling on probes started per second across all targets (0 = none); probes over it are skipped, re-probes of failing targets first")
	fs.BoolVar(&f.native, "probe.native-histograms-only", false, "export zerodown_probe_duration_seconds as a native histogram only, without its 15 classic bucket series per target and connection")
	fs.IntVar(&f.hold, "hold", 0, "hold this many long-lived connections open to every HTTP and TCP target without a hold of its own, and count how they are dropped (0 = none; at most 64; see hold in config/testdata/example.yaml)")
	fs.BoolVar(&f.empty, "config.allow-empty", false, "accept a configuration, or a SIGHUP reload, with no targets (otherwise an error: a truncated file must not silently stop all probing)")
	fs.DurationVar(&f.alerting.Interval, "rules.interval", time.Second, "step of the embedded rule evaluator: the process's metrics are stored and every rule group evaluated this often (0 evaluates no rules)")
	fs.StringVar(&f.alerting.AlertmanagerURL, "alertmanager.url", "", "send the evaluator's alerts to this Alertmanager (its v2 API), e.g. http://127.0.0.1:9093, with resends and a final resolve at exit")
	fs.StringVar(&f.alerting.Webhook, "alert.webhook", "", "post Alertmanager's webhook payload (version 4) to this URL for every alert that fires or resolves, for setups without an Alertmanager")
	fs.StringVar(&f.alerting.ExternalURL, "web.external-url", "", "base URL of the alerts' generator links (e.g. the Prometheus that scrapes this watch); empty: no links")
	fs.StringVar(&f.rbPolicy, "rollback.policy", "", "act on the evaluator's alerts with this rollback policy (as the controller's webhook does), on the cluster of --kubeconfig")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "watch this cluster too, in this one process: its operators, version, nodes, pools and workloads (metrics, intervals, the live view) and its built-in backends (the Kubernetes API; on OpenShift its APIs, OAuth server, console, canary, registry; Routes at their hosts); --rollback.policy acts on it (for that alone the default is $KUBECONFIG, ~/.kube/config)")
	fs.StringVar(&f.builtinOff, "builtin.disable", "", "with --kubeconfig: comma-separated built-in backends not to probe (also builtin.disable in --config): "+strings.Join(config.BuiltinBackends, ", "))
	fs.StringVar(&f.rbRecord, "rollback.record", "default/zerodown-rollback", "NAMESPACE/NAME of the ConfigMap that records which alerts acted (at most once each) and the cooldowns")
	fs.BoolVar(&f.rbOff, "rollback.disabled", false, "kill switch: decide and log, never act")
	fs.StringVar(&f.observer, "node-name", hostname(), "who observes: written into every interval (locator key poller), so that the runs of several CI runners merge in one report as several pollers")
	fs.Func("rules", "rule file to evaluate in-process (repeatable; default: the shipped rules, embedded)", func(s string) error {
		f.alerting.RuleFiles = append(f.alerting.RuleFiles, s)
		return nil
	})
	f.common.register(fs)
	f.common.registerView(fs)
	f.common.RegisterServe(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), watchUsage)
		fs.PrintDefaults()
	}
}

// validate reports the flags' values that no configuration can make
// right, and whether there were none.
func (f *watchFlags) validate(fs *flag.FlagSet, stderr io.Writer) bool {
	if !CheckListen(stderr, fs, f.listen) {
		return false
	}
	if !NonNegative(stderr, fs, map[string]float64{"interval": f.interval.Seconds(), "fast-interval": f.fast.Seconds(),
		"timeout": f.timeout.Seconds(), "duration": f.duration.Seconds(), "budget": f.budget.Seconds(), "probe.max-rate": f.maxRate,
		"rules.interval": f.alerting.Interval.Seconds()}) || !AtLeastMinInterval(stderr, fs, f.interval) {
		return false
	}
	if f.hold < 0 || f.hold > 64 {
		fmt.Fprintf(stderr, "zerodown watch: --hold: want 0 to 64 connections, got %d\n", f.hold)
		return false
	}
	return true
}

// load reads the configuration with the flags' targets and overrides:
// one rule for the check, the start and every reload.
func (f *watchFlags) load() (*config.Config, error) {
	overrides := config.Schedule{Interval: config.Duration(f.interval), FastInterval: config.Duration(f.fast), Timeout: config.Duration(f.timeout),
		Budget: config.Duration(f.budget)}
	cfg, err := LoadConfig(f.cfgFile, f.common.args, overrides)
	// With --kubeconfig the cluster gives targets of its own (its
	// built-in backends, its Routes and Services).
	if err == nil && len(cfg.Targets) == 0 && !f.empty && f.kubeconfig == "" {
		return nil, errNoTargets
	}
	if err == nil {
		holdAll(cfg, f.hold)
	}
	return cfg, err
}

// fromKube is what a watch run takes from the Kubernetes part: the
// rollback receiver of --rollback.policy and the cluster of --kubeconfig.
type fromKube struct {
	hook    func(notify.Message)   // the rollback receiver; nil without
	metrics []prometheus.Collector // the rollback receiver's
	cluster watch.Cluster          // nil without --kubeconfig
	undo    []func()
}

// close stops what fromKube started, the last first.
func (k *fromKube) close() {
	for _, u := range slices.Backward(k.undo) {
		u()
	}
}

// fromKube sets up the rollback receiver and the cluster the flags ask
// for. ok false: a usage error, printed, and nothing left running.
func (f *watchFlags) fromKube(p Parts, cfg *config.Config, log *slog.Logger, stderr io.Writer) (*fromKube, bool) {
	k := &fromKube{}
	fail := func() (*fromKube, bool) {
		k.close()
		return nil, false
	}
	if f.rbPolicy != "" && f.alerting.Interval == 0 {
		fmt.Fprintln(stderr, "zerodown watch: --rollback.policy acts on the evaluator's alerts: it needs --rules.interval above 0")
		return fail()
	}
	if f.rbPolicy != "" {
		hook, metrics, stop, err := p.watchRollback(f.rbPolicy, f.kubeconfig, f.rbRecord, f.rbOff, log)
		if err != nil {
			fmt.Fprintln(stderr, "zerodown watch:", err)
			return fail()
		}
		k.hook, k.metrics, k.undo = hook, append(k.metrics, metrics), append(k.undo, stop)
	}
	if f.kubeconfig != "" {
		off, ok := BuiltinDisabled(stderr, "watch", f.builtinOff)
		if !ok {
			return fail()
		}
		off = append(off, cfg.Builtin.Disable...) // as the poller does
		c, cleanup, err := p.watchCluster(f.kubeconfig, off, log)
		if err != nil {
			fmt.Fprintln(stderr, "zerodown watch: --kubeconfig:", err)
			return fail()
		}
		k.cluster, k.undo = c, append(k.undo, cleanup)
	}
	return k, true
}

func runWatch(args []string, stdout, stderr io.Writer, p Parts) int {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f watchFlags
	f.register(fs)
	log, view, tty, code, ok := f.common.parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	if !f.validate(fs, stderr) {
		return ExitUsage
	}
	cfg, err := f.load()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitUsage
	}
	judge, err := budgetsOf(f.budgets, f.budget, f.cfgFile, cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitUsage
	}
	if f.check {
		fmt.Fprintf(stdout, "configuration valid: %s\n", plural(len(cfg.Targets), "target"))
		return ExitOK
	}
	kube, ok := f.fromKube(p, cfg, log, stderr)
	if !ok {
		return ExitUsage
	}
	defer kube.close()
	alerting := f.alerting
	alerting.Hook = kube.hook

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reloads, stopHUP := ReloadOnHUP(ctx)
	defer stopHUP()

	if fi, err := os.Stat(filepath.Join(f.out, watch.IntervalsFile)); err == nil && fi.Size() > 0 {
		log.Warn("--out holds the intervals of an earlier run: this run appends to them, and the report at the end covers both runs; give a fresh --out to keep runs apart",
			"file", filepath.Join(f.out, watch.IntervalsFile))
	}
	sum, err := watch.Run(ctx, watch.Options{
		Config: cfg, Reload: f.load, ReloadRequests: reloads, Duration: f.duration,
		Listen: f.listen, OutDir: f.out, View: view, TTY: tty, Logger: log, MaxProbesPerSecond: f.maxRate, NativeHistogramsOnly: f.native,
		Width: terminalWidth(stdout), Logs: f.common.sharedLogs(stderr, tty), Pprof: f.common.Pprof, WebConfigFile: f.common.WebConfigFile,
		Alerting: p.alerting(alerting), Collectors: kube.metrics, Budgets: judge, ReportTitle: f.title, Cluster: kube.cluster,
		Extra: observerKey(f.observer),
	})
	if errors.Is(err, watch.ErrSetup) {
		fmt.Fprintln(stderr, "zerodown watch:", err)
		return ExitUsage
	}
	if err != nil {
		log.Error("watch failed", "err", err)
		return ExitFailure
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
// first) and over budget, and returns ExitBudget if any is over budget.
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
		return ExitBudget
	}
	return ExitOK
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

// errNoTargets refuses a configuration with no targets.
var errNoTargets = errors.New("zerodown watch: no targets: give --config FILE, TARGET arguments or --kubeconfig FILE (--config.allow-empty accepts none; zerodown watch -h lists the flags)")

// observerKey is the locator key that names a watch run's observer
// (none when it has no name).
func observerKey(name string) map[string]string {
	if name == "" {
		return nil
	}
	return map[string]string{"poller": name}
}

// hostname is the machine's name, or "" when it has none (a variable, so
// that the generated flag reference does not hold one machine's name).
var hostname = func() string {
	h, _ := os.Hostname()
	return h
}
