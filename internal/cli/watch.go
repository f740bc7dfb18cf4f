package cli

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
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

func runWatch(args []string, stdout, stderr io.Writer, p Parts) int {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfgFile    = fs.String("config", "", "YAML file of targets (see config/testdata/example.yaml)")
		check      = fs.Bool("config.check", false, "check the configuration, print the problems and exit (0 valid, 2 invalid)")
		interval   = fs.Duration("interval", 0, "steady probe interval for targets that set none (default 1s; at least 10ms)")
		fast       = fs.Duration("fast-interval", 0, "probe interval while a target fails, to pin down the end of an outage (default 10ms)")
		timeout    = fs.Duration("timeout", 0, "timeout of one probe (default 1s); a slower probe fails with reason timeout")
		duration   = fs.Duration("duration", 0, "how long to watch; 0 watches until SIGINT or SIGTERM")
		listen     = RegisterListen(fs, "127.0.0.1:9947", "address for /metrics (Prometheus and OpenMetrics); empty disables it")
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
		flags      Common
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
	if !CheckListen(stderr, fs, *listen) {
		return ExitUsage
	}
	if !NonNegative(stderr, fs, map[string]float64{"interval": interval.Seconds(), "fast-interval": fast.Seconds(),
		"timeout": timeout.Seconds(), "duration": duration.Seconds(), "budget": flatBdgt.Seconds(), "probe.max-rate": *maxRate,
		"rules.interval": ruleStep.Seconds()}) || !AtLeastMinInterval(stderr, fs, *interval) {
		return ExitUsage
	}
	overrides := config.Schedule{Interval: config.Duration(*interval), FastInterval: config.Duration(*fast), Timeout: config.Duration(*timeout),
		Budget: config.Duration(*flatBdgt)}
	// One rule for the check, the start and every reload.
	if *hold < 0 || *hold > 64 {
		fmt.Fprintf(stderr, "zerodown watch: --hold: want 0 to 64 connections, got %d\n", *hold)
		return ExitUsage
	}
	load := func() (*config.Config, error) {
		cfg, err := LoadConfig(*cfgFile, flags.args, overrides)
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
		return ExitUsage
	}
	judge, err := budgetsOf(*budgets, *flatBdgt, *cfgFile, cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitUsage
	}
	if *check {
		fmt.Fprintf(stdout, "configuration valid: %s\n", plural(len(cfg.Targets), "target"))
		return ExitOK
	}

	var hook func(notify.Message)
	var extra []prometheus.Collector
	if *rbPolicy != "" && *ruleStep == 0 {
		fmt.Fprintln(stderr, "zerodown watch: --rollback.policy acts on the evaluator's alerts: it needs --rules.interval above 0")
		return ExitUsage
	}
	if *rbPolicy != "" {
		h, metrics, closeHook, err := p.watchRollback(*rbPolicy, *kubecfg, *rbRecord, *rbOff, log)
		if err != nil {
			fmt.Fprintln(stderr, "zerodown watch:", err)
			return ExitUsage
		}
		defer closeHook()
		hook, extra = h, append(extra, metrics)
	}

	var cluster watch.Cluster
	if *kubecfg != "" {
		off, ok := BuiltinDisabled(stderr, "watch", *builtinOff)
		if !ok {
			return ExitUsage
		}
		off = append(off, cfg.Builtin.Disable...) // as the poller does
		c, cleanup, err := p.watchCluster(*kubecfg, off, log)
		if err != nil {
			fmt.Fprintln(stderr, "zerodown watch: --kubeconfig:", err)
			return ExitUsage
		}
		defer cleanup()
		cluster = c
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reloads, stopHUP := ReloadOnHUP(ctx)
	defer stopHUP()

	if fi, err := os.Stat(filepath.Join(*out, watch.IntervalsFile)); err == nil && fi.Size() > 0 {
		log.Warn("--out holds the intervals of an earlier run: this run appends to them, and the report at the end covers both runs; give a fresh --out to keep runs apart",
			"file", filepath.Join(*out, watch.IntervalsFile))
	}
	sum, err := watch.Run(ctx, watch.Options{
		Config: cfg, Reload: load, ReloadRequests: reloads, Duration: *duration,
		Listen: *listen, OutDir: *out, View: view, TTY: tty, Logger: log, MaxProbesPerSecond: *maxRate, NativeHistogramsOnly: *native,
		Width: terminalWidth(stdout), Logs: flags.sharedLogs(stderr, tty), Pprof: flags.Pprof, WebConfigFile: flags.WebConfigFile,
		Alerting:   p.alerting(AlertingOptions{Interval: *ruleStep, RuleFiles: ruleFiles, AlertmanagerURL: *amURL, Webhook: *webhook, ExternalURL: *extURL, Hook: hook}),
		Collectors: extra, Budgets: judge, ReportTitle: *title, Cluster: cluster, Extra: observerKey(*observer),
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
