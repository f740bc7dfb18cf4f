// Package watch is the embedded default of zerodown: it probes the targets
// of a configuration, serves their metrics, shows a live view, streams
// intervals into an output folder and writes a summary when it ends.
package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zerodown/zerodown/budget"
	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/internal/role"
	"github.com/zerodown/zerodown/internal/serve"
	"github.com/zerodown/zerodown/intervals"
	"github.com/zerodown/zerodown/probes"
	"github.com/zerodown/zerodown/report"
	"github.com/zerodown/zerodown/rules/alert"
	"github.com/zerodown/zerodown/targets"
)

// Options configures a watch run.
type Options struct {
	// Config is the loaded configuration (targets resolved and valid).
	Config *config.Config
	// Reload, when set, loads the configuration again; it is called for
	// every value received on ReloadRequests (SIGHUP).
	Reload         func() (*config.Config, error)
	ReloadRequests <-chan struct{}
	// Duration of the run; 0 runs until ctx ends.
	Duration time.Duration
	// Listen is the metrics address ("" = no server).
	Listen string
	// OutDir receives intervals.jsonl and summary.json ("" = nowhere).
	OutDir string
	// View receives the live view; TTY redraws it in place, otherwise
	// state changes are printed as plain lines.
	View io.Writer
	TTY  bool
	// Width, if set, gives the terminal's width in columns: table lines
	// are cut to it, never wrapped.
	Width func() int
	// Logs, if set, is the writer the run's logger writes to: on a
	// terminal, log lines then go above the live table.
	Logs *LogWriter
	// Refresh is how often the live view is drawn (default 500ms).
	Refresh time.Duration
	Logger  *slog.Logger
	// Extra locator keys for every interval (e.g. poller=node-1).
	Extra map[string]string
	// OnListen, when set, is called with the metrics address once it is
	// bound (tests listen on port 0).
	OnListen func(addr string)
	// Pprof serves Go's profiles on /debug/pprof/ (--debug.pprof).
	Pprof bool
	// WebConfigFile: TLS, mTLS and basic auth of every endpoint
	// (--web.config.file; see serve.Options).
	WebConfigFile string
	// MaxProbesPerSecond is a ceiling on probes per second across all
	// targets (0: none).
	MaxProbesPerSecond float64
	// NativeHistogramsOnly drops the classic buckets of the probe duration
	// histogram (see probes.EngineOptions).
	NativeHistogramsOnly bool
	// Alerting, if set, starts the run's embedded rule evaluator (package
	// watch/alerting: Start, its Options bound) in the run's environment.
	// Nil evaluates no rules.
	Alerting func(AlertingEnv) (Alerting, error)
	// Collectors are registered next to the run's own (the rollback
	// receiver's metrics).
	Collectors []prometheus.Collector
	// Budgets judge the run (nil: nothing judged); the verdict is in the
	// summary, and OutDir gets the report (junit.xml, report.html,
	// disruption.csv).
	Budgets *budget.File
	// ReportTitle heads report.html.
	ReportTitle string
	// Cluster, if set, adds a cluster's state and built-in backends
	// (watch --kubeconfig).
	Cluster Cluster
}

// AlertingEnv is what a run gives its evaluator: the registry of its
// metrics, the interval stream of its alerts (nil: none), the log, and
// the cause of a backend's latest outage so far.
type AlertingEnv struct {
	Registry  *prometheus.Registry
	Intervals *intervals.Writer
	Logger    *slog.Logger
	// Cause names the change the latest outage of the backend (and
	// connection, where the labels have one) that the alert's labels
	// name is attributed to, as the report would; "" when there is
	// none or no backend label.
	Cause func(labels map[string]string) string
}

// Alerting is a run's embedded rule evaluator (watch/alerting.Alerting):
// watch does not link the PromQL engine itself.
type Alerting interface {
	// Active returns the alerts pending or firing now.
	Active() []alert.Alert
	// Run evaluates until ctx ends.
	Run(ctx context.Context)
	// Stop resolves what still fires at now, sends what is queued and
	// releases the evaluator; it returns every alert episode that fired.
	Stop(now time.Time) ([]alert.Alert, error)
}

// Cluster is what watch --kubeconfig adds to a run: the controller's
// collectors (ClusterOperators, the ClusterVersion, Nodes,
// MachineConfigPools, workloads: metrics, and an interval per condition
// change in the run's stream) and the built-in backends. Only the full
// build has one.
type Cluster interface {
	// Start starts collecting: condition changes go to iw (nil: none),
	// metrics to reg.
	Start(ctx context.Context, iw *intervals.Writer, reg prometheus.Registerer) error
	// Targets are the built-in backends found so far, unresolved.
	Targets() []config.Target
	// Changes delivers when Targets changed.
	Changes() <-chan struct{}
	// Lines say what in the cluster is not healthy now, for the live view.
	Lines() []string
}

// ErrSetup marks an error in what the options name (rule files, alert
// receivers), found before anything was probed.
var ErrSetup = errors.New("invalid setup")

// IntervalsFile and SummaryFile are the names written into OutDir.
const (
	IntervalsFile = intervals.FileName
	SummaryFile   = "summary.json"
)

// Run watches until the duration passes or ctx ends, then stops the
// probes, closes the intervals (open outages end at the stop time) and
// writes the summary. What was measured is written even when Run fails.
func Run(ctx context.Context, o Options) (*Summary, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Refresh <= 0 {
		o.Refresh = 500 * time.Millisecond
	}
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}

	runStart := time.Now() // every interval of this run begins after it
	base, err := role.Start(o.OutDir, log)
	if err != nil {
		return nil, err
	}
	iw := base.Intervals
	sink := probes.NewIntervalSink(iw, log, o.Extra)
	engine := probes.NewEngine(probes.EngineOptions{Logger: log, Sink: sink, KeepRemoved: true, MaxProbesPerSecond: o.MaxProbesPerSecond,
		NativeHistogramsOnly: o.NativeHistogramsOnly})
	reg := base.Registry
	reloads := serve.NewReloadGauges()
	reg.MustRegister(engine, reloads)
	reg.MustRegister(o.Collectors...)

	var alerts Alerting
	if o.Alerting != nil {
		env := AlertingEnv{Registry: reg, Intervals: iw, Logger: log, Cause: func(labels map[string]string) string {
			return causeSoFar(base.IntervalsPath, runStart, labels)
		}}
		if alerts, err = o.Alerting(env); err != nil {
			sink.Close()
			_ = base.Close(time.Now())
			return nil, fmt.Errorf("%w: %w", ErrSetup, err)
		}
	}
	started := time.Now()
	set := targets.New(targets.Options{Engine: engine, Config: o.Config, Sources: []string{sourceCluster}, Logger: log})
	if err := set.Start(); err != nil {
		sink.Close()
		if alerts != nil {
			_, _ = alerts.Stop(started)
		}
		_ = base.Close(time.Now())
		return nil, err
	}
	reloads.Succeeded(started)

	var srv *serve.Server
	if o.Listen != "" {
		var err error
		if srv, err = serve.Start(serve.Options{Addr: o.Listen, Gatherer: reg, Logger: log, OnListen: o.OnListen, Pprof: o.Pprof, WebConfigFile: o.WebConfigFile,
			Intervals: base.IntervalsPath}); err != nil {
			engine.Stop()
			sink.Close()
			if alerts != nil {
				_, _ = alerts.Stop(time.Now())
			}
			_ = base.Close(time.Now())
			return nil, err
		}
	}

	engine.Start(ctx)
	view := newView(o.View, o.TTY, o.Width, started, o.OutDir)
	view.held = engine.HoldStatuses
	var clusterChanges <-chan struct{}
	if o.Cluster != nil {
		if err := o.Cluster.Start(ctx, iw, reg); err != nil {
			log.Error("watching the cluster", "err", err)
		} else {
			clusterChanges = o.Cluster.Changes()
			view.cluster = o.Cluster.Lines
		}
	}
	var wg sync.WaitGroup
	if alerts != nil {
		view.alerts = alerts.Active
		wg.Add(1)
		go func() {
			defer wg.Done()
			alerts.Run(ctx)
		}()
	}
	if o.TTY {
		o.Logs.attach(view)
		defer o.Logs.attach(nil)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(o.Refresh)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				view.draw(engine.Statuses())
			case <-o.ReloadRequests:
				reload(set, o.Reload, reloads, log)
			case <-clusterChanges:
				set.Set(sourceCluster, o.Cluster.Targets())
			}
		}
	}()
	<-ctx.Done()
	wg.Wait()
	// The final table shows the backends as they were when the run
	// ended: stopping ends their outages (in the files, as "stopped"),
	// and a backend down at the end must not show UP.
	statuses := engine.Statuses()
	engine.Stop()
	sink.Close() // every record written before the file closes
	ended := time.Now()
	var errs []error
	var fired []alert.Alert
	if alerts != nil {
		var err error
		if fired, err = alerts.Stop(ended); err != nil {
			errs = append(errs, err)
		}
		view.alerts = nil
	}
	view.final(statuses, fired)

	if err := base.Close(ended); err != nil {
		errs = append(errs, err)
	}
	if srv != nil {
		srv.Close()
	}
	sum := newSummary(started, ended, statuses)
	sum.addAlerts(fired)
	drops := set.DropBudgets()
	// The verdict: from the report of the run's intervals, or without
	// them from the series' own totals.
	if o.OutDir != "" {
		if err := writeReport(o, sum, runStart, drops); err != nil {
			errs = append(errs, err)
		}
	} else {
		sum.judge(o.Budgets, engine.HoldStatuses(), drops)
	}
	return sum, errors.Join(errs...)
}

// causeSoFar attributes the latest outage so far of the backend (and
// connection) the labels name, from the run's intervals (path; "" when
// the run writes none), as the report does at the end.
func causeSoFar(path string, runStart time.Time, labels map[string]string) string {
	backend := labels["backend"]
	if path == "" || backend == "" {
		return ""
	}
	own, _, _ := runIntervals(path, runStart)
	r := report.Build([]report.Input{{Path: path, Intervals: own}}, report.Options{})
	var latest *report.Outage
	for i := range r.Outages {
		o := &r.Outages[i]
		if o.Observer || o.Backend != backend || (labels["connection"] != "" && o.Connection != labels["connection"]) {
			continue
		}
		if latest == nil || o.From.After(latest.From) {
			latest = o
		}
	}
	if latest == nil {
		return ""
	}
	return latest.CauseText()
}

// runIntervals reads the intervals of this run (begun at runStart or
// later) from path, which may hold earlier runs' too.
func runIntervals(path string, runStart time.Time) ([]intervals.Interval, []string, error) {
	all, warns, err := intervals.ReadFileWarn(path)
	own := all[:0:0]
	for _, iv := range all {
		if !iv.From.Before(runStart) {
			own = append(own, iv)
		}
	}
	return own, warns, err
}

// writeReport reports the run's intervals (the file may hold earlier
// runs' too) into OutDir, with summary.json.
func writeReport(o Options, sum *Summary, runStart time.Time, drops map[string]int) error {
	path := filepath.Join(o.OutDir, IntervalsFile)
	own, warns, err := runIntervals(path, runStart)
	r := report.Build([]report.Input{{Path: path, Intervals: own}}, report.Options{Title: o.ReportTitle, Budgets: o.Budgets, DropBudgets: drops})
	r.Warnings = append(r.Warnings, warns...)
	sum.fromReport(r)
	return errors.Join(err, r.Write(o.OutDir, sum))
}

// sourceCluster is the source of the cluster's targets (watch
// --kubeconfig: its built-in backends and discovered Routes and Services),
// after the static targets.
const sourceCluster = "cluster"

// reload loads the configuration again (SIGHUP) and applies it with the
// cluster's targets (targets.Manager's rules: a configuration that does
// not load, or a static target of it that cannot be built, keeps the
// running set, and every problem is named).
func reload(set *targets.Manager, load func() (*config.Config, error), g *serve.ReloadGauges, log *slog.Logger) {
	if load == nil {
		return
	}
	if err := set.Reload(load); err != nil {
		g.Failed()
		log.Error("configuration reload failed; keeping the running targets", "err", err)
		return
	}
	g.Succeeded(time.Now())
}

// IsTerminal reports whether f is a character device (a terminal).
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
