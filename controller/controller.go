// Package controller is the zerodown controller role: it runs the
// collectors (cluster state as metrics and intervals), serves /metrics,
// /healthz and /readyz, and takes part in leader election with a Lease so
// that whatever acts on the cluster (the rollback webhook) acts from one
// replica only. Every replica collects and exports.
package controller

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"

	"github.com/zerodown/zerodown/collectors"
	"github.com/zerodown/zerodown/collectors/discovery"
	kubeutil "github.com/zerodown/zerodown/internal/kube"
	"github.com/zerodown/zerodown/internal/role"
	"github.com/zerodown/zerodown/internal/serve"
	"github.com/zerodown/zerodown/intervals"
	"github.com/zerodown/zerodown/rollback"
)

// Options configures the controller.
type Options struct {
	REST   *rest.Config
	Logger *slog.Logger
	// Listen is the address of /metrics, /healthz and /readyz.
	Listen string
	// OnListen, if set, is told the address once it listens.
	OnListen func(addr string)
	// Pprof serves Go's profiles on /debug/pprof/ (--debug.pprof).
	Pprof bool
	// WebConfigFile: TLS, mTLS and basic auth of every endpoint
	// (--web.config.file; see serve.Options).
	WebConfigFile string
	// KubernetesAuth guards /metrics and /debug/pprof/ with the API
	// server's TokenReview and SubjectAccessReview (--web.kubernetes-auth).
	KubernetesAuth bool
	// OutDir receives intervals.jsonl (empty: no intervals).
	OutDir    string
	Workloads collectors.WorkloadSelector
	// Upgrades: the Kubernetes versions' upgrades and the markers'.
	Upgrades collectors.UpgradeOptions
	Resync   time.Duration
	Election Election
	// Discovery, if set, runs target discovery (Kube and Route are filled
	// in) and exports its inventory: what pollers are expected to probe.
	Discovery *discovery.Options
	// Builtin exports the built-in backends the cluster has (and why the
	// others are off) in the inventory; Routes go through Discovery's
	// router addresses. InCluster: running in a pod.
	Builtin, InCluster bool
	// Rollback, if set, serves the rollback webhook (rollback.Path).
	Rollback *Rollback
}

// Rollback configures the rollback webhook.
type Rollback struct {
	Policy *rollback.Policy
	// TokenFile holds the bearer token Alertmanager sends (empty: none
	// required; the flag's help says why that is unwise).
	TokenFile string
	// Disabled is the kill switch of the flag.
	Disabled bool
	// Record names the ConfigMap (in the Lease's namespace) that keeps
	// which alerts acted and the cooldowns, and holds the kill switch.
	Record string
	// Samples is the data source of the no-data policy (nil: none).
	Samples func(context.Context, map[string]string) (bool, error)
}

// rollbackIntervals writes the webhook's actions into the interval stream.
type rollbackIntervals struct{ w *intervals.Writer }

func (r rollbackIntervals) Rollback(at time.Time, d rollback.Decision) {
	level := intervals.LevelWarning
	switch d.Result {
	case rollback.ResultDryRun:
		level = intervals.LevelInfo
	case rollback.ResultFailed:
		level = intervals.LevelError
	}
	_ = r.w.Point(intervals.Interval{
		From: intervals.Time{Time: at}, Level: level, Source: "Rollback",
		Locator: intervals.Locator{Type: "Rollback", Keys: map[string]string{"rule": d.Rule, "action": d.Action, "target": d.Target}},
		Message: intervals.Message{Reason: d.Result, HumanMessage: d.Detail,
			Annotations: map[string]string{"alert": d.Alert, "dry_run": strconv.FormatBool(d.DryRun)}},
	})
}

var inventoryDesc = prometheus.NewDesc("zerodown_discovery_target_info",
	"A target every poller is expected to probe (value 1): one discovery chose (from an annotated or selected Route or Service, kind http, tcp or dns), or a built-in backend (kind builtin). A built-in backend the cluster lacks has value 0 and says why in reason.",
	[]string{"backend", "kind", "object", "reason"}, nil)

// inventory exports a discovery's inventory once its caches synced, and
// the built-in backends once found.
type inventory struct {
	d       *discovery.Discovery // may be nil
	synced  *atomic.Bool
	builtin *discovery.Builtin // may be nil
}

func (i inventory) Describe(ch chan<- *prometheus.Desc) { ch <- inventoryDesc }
func (i inventory) Collect(ch chan<- prometheus.Metric) {
	if i.d != nil && i.synced.Load() {
		for _, it := range i.d.Inventory() {
			ch <- prometheus.MustNewConstMetric(inventoryDesc, prometheus.GaugeValue, 1, it.Backend, it.Kind, it.Object, "")
		}
	}
	if i.builtin != nil {
		for _, it := range i.builtin.Items() {
			v := 1.0
			if it.Off != "" {
				v = 0
			}
			ch <- prometheus.MustNewConstMetric(inventoryDesc, prometheus.GaugeValue, v, it.Backend, "builtin", it.Object, it.Off)
		}
	}
}

// Election configures leader election.
type Election struct {
	// Disabled skips leader election: this replica leads (one replica,
	// or a laptop).
	Disabled bool
	// Namespace and Name of the Lease.
	Namespace, Name string
	// Identity of this replica (default: host name).
	Identity                                  string
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

var leaderDesc = prometheus.NewDesc("zerodown_controller_leader",
	"1 if this controller replica holds the leader Lease (only the leader acts on the cluster).", nil, nil)

type leaderGauge struct{ leading func() (time.Time, bool) }

func (g leaderGauge) Describe(ch chan<- *prometheus.Desc) { ch <- leaderDesc }
func (g leaderGauge) Collect(ch chan<- prometheus.Metric) {
	v := 0.0
	if _, ok := g.leading(); ok {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(leaderDesc, prometheus.GaugeValue, v)
}

// Run runs the controller until ctx ends.
func Run(ctx context.Context, o Options) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	kube, err := kubeutil.NewClient(o.REST)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}

	base, err := role.Start(o.OutDir, log)
	if err != nil {
		return err
	}
	defer func() { _ = base.Close(time.Now()) }()
	iw := base.Intervals
	var sink collectors.IntervalWriter
	if iw != nil {
		sink = iw
	}
	apis, err := kubeutil.NewAPIs(o.REST)
	if err != nil {
		return fmt.Errorf("discovery client: %w", err)
	}
	set, err := collectors.New(collectors.Options{
		Client: kube, Intervals: sink,
		Logger: log, Workloads: o.Workloads, Resync: o.Resync, APIs: apis, Upgrades: o.Upgrades,
	})
	if err != nil {
		return err
	}

	var (
		disco       *discovery.Discovery
		discoSynced = &atomic.Bool{}
	)
	if o.Discovery != nil {
		do := *o.Discovery
		do.Logger, do.Client, do.Routes, do.APIs = log, kube, true, apis
		do.Endpoints = set.Conditions()
		if disco, err = discovery.New(do); err != nil {
			return err
		}
	}

	le, err := election(kube, o.Election, log)
	if err != nil {
		return err
	}
	leading := func() (time.Time, bool) { return time.Time{}, true }
	if le != nil {
		leading = le.Leading
	}
	reg := base.Registry
	reg.MustRegister(set, leaderGauge{leading})
	handlers := map[string]http.Handler{}
	var ex *rollback.Executor
	if r := o.Rollback; r != nil {
		eo := rollback.Options{
			Policy: r.Policy, Leader: leading, Disabled: r.Disabled, Logger: log.With("component", "rollback"), Samples: r.Samples,
			Cluster:  &rollback.Kube{Client: kube, Namespace: o.Election.Namespace, Name: r.Record, Component: "zerodown-controller"},
			Identity: o.Election.Identity,
		}
		if le != nil {
			eo.Identity = le.Identity
		}
		if iw != nil {
			eo.Intervals = rollbackIntervals{iw}
		}
		ex = rollback.NewExecutor(eo)
		defer ex.Close()
		reg.MustRegister(ex)
		handlers[rollback.Path] = &rollback.Receiver{Executor: ex, TokenFile: r.TokenFile, Logger: log.With("component", "rollback")}
		log.Info("rollback webhook enabled", "path", rollback.Path, "rules", len(r.Policy.Rules), "record", o.Election.Namespace+"/"+r.Record,
			"disabled", r.Disabled, "token", r.TokenFile != "")
	}
	var builtin *discovery.Builtin
	if o.Builtin {
		var router discovery.Options
		if o.Discovery != nil {
			router = *o.Discovery
		}
		// The controller probes nothing: no credentials are written.
		if builtin, err = discovery.NewBuiltin(discovery.BuiltinOptions{REST: o.REST, InCluster: o.InCluster, Router: router,
			InventoryOnly: true, Logger: log.With("component", "builtin")}, kube, apis); err != nil {
			return err
		}
		go builtin.Run(ctx, 30*time.Second, func() bool { return true })
	}
	if disco != nil || builtin != nil {
		reg.MustRegister(inventory{disco, discoSynced, builtin})
	}
	// /readyz says what it waits for; /healthz and /metrics answer from
	// the start, whatever the API server does.
	ready := func() error {
		pending := set.Pending()
		if disco != nil && !discoSynced.Load() {
			pending = append(pending, disco.Pending()...)
			if len(pending) == 0 {
				pending = append(pending, "discovery caches not synced")
			}
		}
		return serve.Waiting(pending)
	}
	so := serve.Options{Addr: o.Listen, Gatherer: reg, Ready: ready, Logger: log, OnListen: o.OnListen, Pprof: o.Pprof, WebConfigFile: o.WebConfigFile,
		Handlers: handlers, Intervals: base.IntervalsPath}
	if o.KubernetesAuth {
		so.Guard = kubeutil.NewDelegated(kube).Wrap
	}
	srv, err := serve.Start(so)
	if err != nil {
		return err
	}
	defer srv.Close()

	set.Start(ctx)
	go func() {
		if err := set.WaitForSync(ctx); err != nil {
			log.Error("collectors not synced", "err", err)
			return
		}
		log.Info("collectors synced")
	}()
	if disco != nil {
		disco.Start(ctx)
		go func() {
			if disco.WaitForSync(ctx) {
				discoSynced.Store(true)
				log.Info("discovery synced")
			}
		}()
	}

	if le == nil {
		<-ctx.Done()
		return nil
	}
	// The election ends after the webhook: on shutdown the server stops
	// taking deliveries and the executor finishes what it started, and
	// only then is the Lease given up, so that the next leader never acts
	// while this one still does.
	ectx, stopElection := context.WithCancel(context.Background())
	elected := make(chan struct{})
	go func() { defer close(elected); le.Run(ectx) }()
	select {
	case <-ctx.Done():
	case <-elected:
	}
	srv.Close()
	if ex != nil {
		ex.Close()
	}
	stopElection()
	<-elected
	return nil
}

// election builds this replica's leader election (nil when disabled).
// Losing the Lease (the API server away for longer than the renew
// deadline) is not fatal: the replica stops leading and runs for it
// again.
func election(kube *kubeutil.Client, e Election, log *slog.Logger) (*kubeutil.Election, error) {
	if e.Disabled {
		return nil, nil
	}
	id := e.Identity
	if id == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("leader election identity: %w", err)
		}
		id = h
	}
	le := &kubeutil.Election{
		Leases: kube.Leases(e.Namespace), Name: e.Name, Identity: id,
		LeaseDuration: e.LeaseDuration, RenewDeadline: e.RenewDeadline, RetryPeriod: e.RetryPeriod,
		OnStartedLeading: func() { log.Info("leading", "lease", e.Namespace+"/"+e.Name, "identity", id) },
		OnStoppedLeading: func() { log.Info("not leading", "lease", e.Namespace+"/"+e.Name, "identity", id) },
		OnNewLeader:      func(leader string) { log.Info("leader elected", "leader", leader) },
	}
	if err := le.Validate(); err != nil {
		return nil, err
	}
	return le, nil
}

// Describe sends the descriptions of every metric the controller exports
// (its collectors built as Run builds them, never started): the metric
// contract that "zerodown rules check" holds rules against.
func Describe(ch chan<- *prometheus.Desc) error {
	cfg := &rest.Config{Host: "https://127.0.0.1:1"} // never contacted
	kube, err := kubeutil.NewClient(cfg)
	if err != nil {
		return err
	}
	set, err := collectors.New(collectors.Options{Client: kube})
	if err != nil {
		return err
	}
	set.Describe(ch)
	leaderGauge{}.Describe(ch)
	inventory{}.Describe(ch)
	rollback.Describe(ch)
	return nil
}
