// Package poller is the zerodown poller role: the probe engine in the
// cluster, one per node. It probes static targets from its configuration
// and the targets discovery finds (Routes, Services and their DNS names),
// applying changes live without resetting unchanged targets. It knows its
// node and watches it: probes that fail while the node is cordoned,
// draining or not Ready are counted apart (reason observer), because a
// poller measuring its own node's reboot is the classic false alarm.
package poller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/zerodown/zerodown/collectors"
	"github.com/zerodown/zerodown/collectors/discovery"
	"github.com/zerodown/zerodown/collectors/peers"
	"github.com/zerodown/zerodown/config"
	kubeutil "github.com/zerodown/zerodown/internal/kube"
	"github.com/zerodown/zerodown/internal/role"
	"github.com/zerodown/zerodown/internal/serve"
	"github.com/zerodown/zerodown/netmatrix"
	"github.com/zerodown/zerodown/probes"
	"github.com/zerodown/zerodown/targets"
)

// Options configures a poller.
type Options struct {
	// Config holds the static targets and the defaults every target
	// (static or discovered) takes. Resolved and valid.
	Config *config.Config
	// REST reaches the API server; nil runs static targets only.
	REST *rest.Config
	// NodeName is the node this poller runs on (downward API); empty:
	// the node is not watched.
	NodeName string
	// Discover enables discovery of Routes and Services (needs REST).
	Discover  bool
	Discovery discovery.Options // Kube, Route and Logger are filled in
	// Builtin enables the built-in backends (needs REST): the Kubernetes
	// API, and on OpenShift its APIs, OAuth server, console, ingress
	// canary and image registry (see discovery.Builtin). Routes go
	// through Discovery's router addresses.
	Builtin bool
	// BuiltinDisabled names built-in backends turned off.
	BuiltinDisabled []string
	// InCluster: running in a pod (the kubernetes Service is reachable).
	InCluster bool
	// Settle is how long discovery changes are gathered before they are
	// applied (default 250ms).
	Settle time.Duration
	// Reload, if set, reads the configuration again when ReloadRequests
	// delivers (SIGHUP): static targets that did not change keep running.
	Reload         func() (*config.Config, error)
	ReloadRequests <-chan struct{}
	Listen         string
	OnListen       func(addr string)
	// Pprof serves Go's profiles on /debug/pprof/ (--debug.pprof).
	Pprof bool
	// WebConfigFile: TLS, mTLS and basic auth of every endpoint
	// (--web.config.file; see serve.Options).
	WebConfigFile string
	// KubernetesAuth guards /metrics and /debug/pprof/ with the API
	// server's TokenReview and SubjectAccessReview (--web.kubernetes-auth;
	// needs REST).
	KubernetesAuth bool
	OutDir         string // intervals.jsonl; empty: none
	Logger         *slog.Logger
	// MaxProbesPerSecond is a ceiling on probes per second across all
	// targets (0: none).
	MaxProbesPerSecond float64
	// NativeHistogramsOnly drops the classic buckets of the probe duration
	// histogram (see probes.EngineOptions).
	NativeHistogramsOnly bool
	// Network, if set, probes the network to the other pollers (needs
	// REST and NodeName).
	Network *NetworkOptions
}

// NetworkOptions configure the network matrix: which pollers are peers
// and how many of them this one probes.
type NetworkOptions struct {
	// Namespace of the pollers; PeersService their headless Service;
	// PortName the endpoint port they answer /healthz on.
	Namespace, PeersService, PortName string
	// Service, if set, is the Service in front of the pollers, probed as
	// path service.
	Service string
	// Path labels this poller's peer probes (netmatrix.PathPod, or
	// PathHost on the host network).
	Path   string
	Select netmatrix.SelectOptions
	// Rotate is how often the chosen peers change (default 30m).
	Rotate time.Duration
	// TLS, if set: the peers serve TLS, verified with it
	// (netmatrix.TargetOptions.TLS).
	TLS *config.TLS
}

var (
	impairedDesc = prometheus.NewDesc("zerodown_poller_node_impaired",
		"1 for the reason this poller's own node cannot be trusted now (not_ready, draining, cordoned); probes failing meanwhile count as reason observer.",
		[]string{"node", "cause"}, nil)
	targetsDesc = prometheus.NewDesc("zerodown_poller_targets",
		"Targets probed, by where they come from: static (the configuration), builtin (the built-in backends), discovered (Routes, Services) or network (peers on other nodes).",
		[]string{"source"}, nil)
	applyDesc = prometheus.NewDesc("zerodown_poller_target_updates_total",
		"Target set changes applied, by result (success, error).",
		[]string{"result"}, nil)
)

var impairedCauses = []string{"not_ready", "draining", "cordoned"}

// state is what the poller exports of itself.
type state struct {
	node string

	mu          sync.Mutex
	impaired    string
	static      int
	bySource    map[string]int // targets running, by source
	applyOK     uint64
	applyFailed uint64
}

// applied counts what an apply of the target set did (targets.Manager's
// OnApply).
func (s *state) applied(a targets.Applied) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(a.Failed) > 0 {
		s.applyFailed++
	} else {
		s.applyOK++
	}
	s.static, s.bySource = a.Static, a.BySource
}

func (s *state) setStatic(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.static = n
}

func (s *state) Describe(ch chan<- *prometheus.Desc) {
	ch <- impairedDesc
	ch <- targetsDesc
	ch <- applyDesc
}

func (s *state) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.node != "" {
		for _, c := range impairedCauses {
			v := 0.0
			if s.impaired == c {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(impairedDesc, prometheus.GaugeValue, v, s.node, c)
		}
	}
	ch <- prometheus.MustNewConstMetric(targetsDesc, prometheus.GaugeValue, float64(s.static), "static")
	for _, from := range []string{sourceDiscovered, sourceBuiltin, sourceNetwork} {
		ch <- prometheus.MustNewConstMetric(targetsDesc, prometheus.GaugeValue, float64(s.bySource[from]), from)
	}
	ch <- prometheus.MustNewConstMetric(applyDesc, prometheus.CounterValue, float64(s.applyOK), "success")
	ch <- prometheus.MustNewConstMetric(applyDesc, prometheus.CounterValue, float64(s.applyFailed), "error")
}

// Run runs the poller until ctx ends. Its parts are made first (the
// cluster's clients and target sources, the engine, the target manager,
// the HTTP server); then they run as one group of actors (oklog/run, as
// Prometheus runs its parts): each source's follower, the node watcher,
// the reload loop. The first actor to end stops the others; the engine
// stops once none of them can apply any more.
func Run(ctx context.Context, o Options) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Settle <= 0 {
		o.Settle = 250 * time.Millisecond
	}
	log := o.Logger
	base, err := role.Start(o.OutDir, log)
	if err != nil {
		return err
	}
	defer func() { _ = base.Close(time.Now()) }()
	c, err := newCluster(o)
	if err != nil {
		return err
	}
	defer c.close()

	var extra map[string]string
	if o.NodeName != "" {
		extra = map[string]string{"node": o.NodeName}
	}
	st := &state{node: o.NodeName}
	sink := probes.NewIntervalSink(base.Intervals, log, extra)
	defer sink.Close() // after the engine stopped, before the file closes
	eo := probes.EngineOptions{Logger: log, Sink: sink, Observing: o.NodeName != "",
		MaxProbesPerSecond: o.MaxProbesPerSecond, NativeHistogramsOnly: o.NativeHistogramsOnly}
	exp := &expected{disco: c.disco}
	if c.disco != nil {
		eo.Expect = exp
	}
	engine := probes.NewEngine(eo)
	set := targets.New(targets.Options{Engine: engine, Config: o.Config, Sources: []string{sourceBuiltin, sourceDiscovered, sourceNetwork},
		Logger: log, OnApply: st.applied})
	exp.set = set
	if err := set.Start(); err != nil {
		return err
	}
	st.setStatic(len(o.Config.Targets))
	reloads := serve.NewReloadGauges()
	reg := base.Registry
	reg.MustRegister(engine, st, reloads)
	if c.mesh != nil {
		reg.MustRegister(&netmatrix.Collector{Self: o.NodeName, Path: cmp.Or(o.Network.Path, netmatrix.PathPod), Statuses: engine.Statuses})
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	engine.Start(ctx)
	// Stopped when Run returns, after g.Run: once every actor stopped
	// applying.
	defer engine.Stop()
	var nodeSynced func() bool
	if c.kube != nil && o.NodeName != "" {
		nodeSynced = watchNode(ctx, c.kube, o.NodeName, engine, st, log)
	}
	so := serve.Options{Addr: o.Listen, Gatherer: reg, Ready: func() error { return c.pending(nodeSynced) }, Logger: log, OnListen: o.OnListen,
		Pprof: o.Pprof, WebConfigFile: o.WebConfigFile, Intervals: base.IntervalsPath}
	if o.KubernetesAuth {
		if c.kube == nil {
			return errors.New("--web.kubernetes-auth needs a cluster (in a pod, or --kubeconfig)")
		}
		so.Guard = kubeutil.NewDelegated(c.kube).Wrap
	}
	srv, err := serve.Start(so)
	if err != nil {
		return err
	}
	defer srv.Close()

	return runActors(ctx, o, c, set, reloads)
}

// runActors runs the sources' followers and the reload loop as one group
// until ctx ends or one of them returns.
func runActors(ctx context.Context, o Options, c *cluster, set *targets.Manager, reloads *serve.ReloadGauges) error {
	log := o.Logger
	var g run.Group
	actor := func(fn func(context.Context)) {
		actx, stop := context.WithCancel(ctx)
		g.Add(func() error { fn(actx); return nil }, func(error) { stop() })
	}
	actor(func(ctx context.Context) { <-ctx.Done() }) // the caller's end ends the group
	if d := c.disco; d != nil {
		d.Start(ctx)
		actor(func(ctx context.Context) {
			if !d.WaitForSync(ctx) {
				return
			}
			c.discoSynced.Store(true)
			log.Info("discovery synced")
			targets.Follow(ctx, o.Settle, d.Changes(), func() bool { return set.Set(sourceDiscovered, d.Targets()) })
		})
	}
	if m := c.mesh; m != nil {
		m.Start(ctx)
		actor(func(ctx context.Context) {
			if !m.WaitForSync(ctx) {
				return
			}
			log.Info("network peers synced")
			followPeers(ctx, o.Settle, m, *o.Network, o.NodeName, func(ts []config.Target) bool { return set.Set(sourceNetwork, ts) })
		})
	}
	if b := c.builtin; b != nil {
		actor(func(ctx context.Context) {
			b.Run(ctx, builtinRefresh, func() bool { return set.Set(sourceBuiltin, b.Targets()) })
		})
	}
	actor(func(ctx context.Context) { reloadLoop(ctx, o, set, reloads) })
	return g.Run()
}

// reloadLoop reloads the configuration at every request (SIGHUP).
func reloadLoop(ctx context.Context, o Options, set *targets.Manager, reloads *serve.ReloadGauges) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.ReloadRequests:
			if o.Reload == nil {
				continue
			}
			if err := set.Reload(o.Reload); err != nil {
				reloads.Failed()
				o.Logger.Error("configuration reload failed; the running targets stay", "err", err)
				continue
			}
			reloads.Succeeded(time.Now())
		}
	}
}

// cluster is what the poller reads of its cluster: the clients and the
// target sources (nil where not asked for or without a cluster).
type cluster struct {
	kube        *kubeutil.Client
	disco       *discovery.Discovery
	builtin     *discovery.Builtin
	mesh        *peers.Watcher
	discoSynced atomic.Bool
	creds       string // the folder of inline credentials written, if any
}

func newCluster(o Options) (*cluster, error) {
	c := &cluster{}
	if o.REST == nil {
		if o.Discover || o.NodeName != "" || o.Builtin || o.Network != nil {
			return nil, errors.New("discovery, built-in backends, node watching and the network matrix need a Kubernetes client configuration")
		}
		return c, nil
	}
	var err error
	if c.kube, err = kubeutil.NewClient(o.REST); err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	apis, err := kubeutil.NewAPIs(o.REST)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	if o.Discover {
		do := o.Discovery
		do.Logger, do.Client, do.Routes, do.APIs = o.Logger, c.kube, true, apis
		if c.disco, err = discovery.New(do); err != nil {
			return nil, err
		}
	}
	if o.Builtin {
		off := map[string]bool{}
		for _, n := range o.BuiltinDisabled {
			off[n] = true
		}
		// Inline credentials of the client become files in a folder of
		// its own. A pod's are files already: nothing is written (its
		// root filesystem is read-only, and /tmp with it).
		if discovery.InlineCredentials(o.REST) {
			if c.creds, err = os.MkdirTemp("", "zerodown-credentials-"); err != nil {
				return nil, err
			}
		}
		if c.builtin, err = discovery.NewBuiltin(discovery.BuiltinOptions{REST: o.REST, InCluster: o.InCluster, Disabled: off,
			Router: o.Discovery, CredentialsDir: c.creds, Logger: o.Logger}, c.kube, apis); err != nil {
			c.close()
			return nil, err
		}
	}
	if o.Network != nil {
		if o.NodeName == "" {
			c.close()
			return nil, errors.New("the network matrix needs this poller's node (--node-name)")
		}
		c.mesh = peers.New(peers.Options{Client: c.kube, Namespace: o.Network.Namespace, PeersService: o.Network.PeersService,
			PortName: o.Network.PortName, Service: o.Network.Service, Self: o.NodeName, Logger: o.Logger})
	}
	return c, nil
}

func (c *cluster) close() {
	if c.creds != "" {
		_ = os.RemoveAll(c.creds)
	}
}

// pending says what /readyz waits for; /healthz and /metrics answer, and
// static targets are probed, from the start, whatever the API server
// does.
func (c *cluster) pending(nodeSynced func() bool) error {
	var pending []string
	if nodeSynced != nil && !nodeSynced() {
		pending = append(pending, "this node's informer cache not synced")
	}
	if c.mesh != nil && !c.mesh.Synced() {
		pending = append(pending, "the network peers' caches not synced")
	}
	if c.disco != nil && !c.discoSynced.Load() {
		if p := c.disco.Pending(); len(p) > 0 {
			pending = append(pending, p...)
		} else {
			pending = append(pending, "discovery caches not synced")
		}
	}
	return serve.Waiting(pending)
}

// The poller's target sources, in the order they win a name after the
// static targets.
const (
	sourceBuiltin    = "builtin"
	sourceDiscovered = "discovered"
	sourceNetwork    = "network"
)

// expected gives a discovered DNS target's answers as discovery sees them
// now (probes.Expectations). A static target keeps its configuration.
type expected struct {
	disco *discovery.Discovery
	set   *targets.Manager
}

func (e *expected) Expected(backend string) ([]string, bool) {
	if e.set == nil || e.set.IsStatic(backend) {
		return nil, false
	}
	return e.disco.Expected(backend)
}

// followPeers applies the network targets once the peers synced, then
// after every burst of changes (settled for settle) and at every rotation.
func followPeers(ctx context.Context, settle time.Duration, w *peers.Watcher, o NetworkOptions, self string, apply func([]config.Target) bool) {
	rotate := o.Rotate
	if rotate <= 0 {
		rotate = 30 * time.Minute
	}
	for {
		// Rounds follow the wall clock, so every poller rotates at once
		// and each node stays probed by the same number of peers.
		now := time.Now()
		round := uint64(now.UnixNano() / int64(rotate))
		cur := w.Current()
		chosen := netmatrix.Choose(self, cur.Nodes, cur.Peers, round, o.Select)
		var ts []config.Target
		if cur.Port != 0 {
			ts = netmatrix.Targets(chosen, netmatrix.TargetOptions{Path: o.Path, Port: cur.Port, Service: cur.Service, ServiceName: o.Service, TLS: o.TLS})
		}
		apply(ts)
		next := time.NewTimer(time.Duration(int64(round+1)*int64(rotate)) - time.Duration(now.UnixNano()))
		select {
		case <-ctx.Done():
			next.Stop()
			return
		case <-next.C:
			continue
		case <-w.Changes():
		}
		next.Stop()
		if !targets.Settled(ctx, settle, w.Changes()) {
			return
		}
	}
}

// builtinRefresh is how often the cluster is asked again which built-in
// backends it has (an OpenShift API may appear late, a Route move).
const builtinRefresh = 30 * time.Second

// watchNode follows this poller's Node and tells the engine when it is
// impaired. It returns whether the Node's cache has synced.
func watchNode(ctx context.Context, kube *kubeutil.Client, node string, e *probes.Engine, st *state, log *slog.Logger) func() bool {
	inf := kubeutil.NewInformer(kube.Nodes(), kubeutil.InformerOptions{Tweak: func(lo *metav1.ListOptions) {
		lo.FieldSelector = fields.OneTermEqualSelector("metadata.name", node).String()
	}})
	update := func(obj any) {
		n, ok := obj.(*corev1.Node)
		if !ok || n.Name != node {
			return
		}
		cause := collectors.ReadNodeState(n).Impaired()
		e.SetImpaired(cause)
		st.mu.Lock()
		old := st.impaired
		st.impaired = cause
		st.mu.Unlock()
		if old != cause {
			if cause == "" {
				log.Info("own node healthy: probe failures count against targets again", "node", node)
			} else {
				log.Info("own node impaired: probe failures count as reason observer", "node", node, "cause", cause)
			}
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    update,
		UpdateFunc: func(_, obj any) { update(obj) },
	})
	inf.Start(ctx.Done())
	return inf.HasSynced
}

// Describe sends the descriptions of the poller's own metrics (besides
// the probe engine's): part of the metric contract.
func Describe(ch chan<- *prometheus.Desc) { (&state{}).Describe(ch) }
