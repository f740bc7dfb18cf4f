// Package collectors turns Kubernetes and OpenShift state into metrics and
// intervals: one file per resource kind, each a prometheus.Collector whose
// Collect reads informer listers only, never the API. Condition changes
// become intervals stamped with the condition's lastTransitionTime, in the
// same JSON Lines stream as probe outages (see Conditions).
//
// On a cluster without OpenShift's CRDs the OpenShift collectors switch
// themselves off (one log line, zerodown_collector_enabled 0); the rest
// work. Whether an API is served is found out in the background (see
// Gate): nothing waits for the API server at start-up.
package collectors

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	configv1 "github.com/openshift/api/config/v1"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	"github.com/zerodown/zerodown/internal/kube"
)

// Options configures a Set.
type Options struct {
	Client *kube.Client
	// Intervals gets an interval for every condition change (may be nil).
	Intervals IntervalWriter
	Logger    *slog.Logger
	// Workloads chooses the Deployments, DaemonSets, StatefulSets and
	// PodDisruptionBudgets to collect.
	Workloads WorkloadSelector
	// Resync is the informers' resync period (0: none).
	Resync time.Duration
	// APIs asks which OpenShift APIs the cluster serves (see
	// kube.NewAPIs), and the API server's version.
	APIs kube.APIs
	// Upgrades configures the upgrades read from Kubernetes versions and
	// markers.
	Upgrades UpgradeOptions
}

// UpgradeOptions configures the upgrade windows that do not come from a
// ClusterVersion.
type UpgradeOptions struct {
	// IgnoreVersions leaves out the upgrade read from the API server's and
	// the kubelets' versions.
	IgnoreVersions bool
	// Settle ends a Kubernetes upgrade whose versions still differ after
	// this long without a change (0: DefaultUpgradeSettle).
	Settle time.Duration
	// VersionEvery is how often the API server's version is asked (0:
	// DefaultVersionEvery).
	VersionEvery time.Duration
	// MarkerNamespace holds the upgrade markers ("": none are read).
	MarkerNamespace string
}

// DefaultVersionEvery is how often the API server's version is asked.
const DefaultVersionEvery = 30 * time.Second

// WorkloadSelector chooses workloads by namespace and label.
type WorkloadSelector struct {
	// Namespaces to watch; empty means all.
	Namespaces []string
	// LabelSelector in the usual syntax ("app=web,tier!=db"); empty: all.
	LabelSelector string
}

// Names of the collectors, the values of the collector label.
const (
	CollectorClusterOperator   = "clusteroperator"
	CollectorClusterVersion    = "clusterversion"
	CollectorNode              = "node"
	CollectorMachineConfigPool = "machineconfigpool"
	CollectorWorkload          = "workload"
	CollectorPDB               = "poddisruptionbudget"
	CollectorUpgrade           = "upgrade"
)

var (
	enabledDesc = prometheus.NewDesc("zerodown_collector_enabled",
		"1 if the collector runs, 0 if it switched itself off (its API is not served by this cluster).",
		[]string{"collector"}, nil)
	syncedDesc = prometheus.NewDesc("zerodown_collector_synced",
		"1 once the collector's informer caches have synced.",
		[]string{"collector"}, nil)
)

// kind is one collector of a Set.
type kind struct {
	name    string
	gate    *Gate // nil: always on
	synced  []cache.InformerSynced
	ready   atomic.Bool // its caches have synced
	collect func(ch chan<- prometheus.Metric)
	descs   []*prometheus.Desc
}

// Set is every collector, their informers and the shared condition
// tracker. It implements prometheus.Collector.
type Set struct {
	log   *slog.Logger
	conds *Conditions
	kinds []*kind
	apis  kube.APIs
	gates []*Gate

	starters []func(stop <-chan struct{})
	versions *kubeVersions // nil: not followed
	every    time.Duration
}

// on reports whether the collector runs: always, or once its API is
// served.
func (k *kind) on() bool { return k.gate.State() == GateServed }

// New builds the collectors; nothing runs, and nothing asks the API
// server, before Start.
func New(o Options) (*Set, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	sel, err := labels.Parse(o.Workloads.LabelSelector)
	if err != nil {
		return nil, fmt.Errorf("workload label selector %q: %w", o.Workloads.LabelSelector, err)
	}
	s := &Set{log: o.Logger, conds: NewConditions(o.Intervals, o.Logger)}

	c, opts := o.Client, kube.InformerOptions{Resync: o.Resync, Transform: Trim}
	nodes := kube.NewInformer(c.Nodes(), opts)
	s.starters = append(s.starters, nodes.Start)
	s.kinds = append(s.kinds, newNodeCollector(nodes, s.conds))

	wopts := opts
	wopts.Tweak = func(lo *metav1.ListOptions) { lo.LabelSelector = o.Workloads.LabelSelector }
	namespaces := Dedupe(o.Workloads.Namespaces)
	if len(namespaces) == 0 {
		namespaces = []string{""} // all
	}
	var ws []workloadInformers
	for _, ns := range namespaces {
		w := workloadInformers{
			deployments:  kube.NewInformer(c.Deployments(ns), wopts),
			daemonSets:   kube.NewInformer(c.DaemonSets(ns), wopts),
			statefulSets: kube.NewInformer(c.StatefulSets(ns), wopts),
			pdbs:         kube.NewInformer(c.PodDisruptionBudgets(ns), wopts),
		}
		ws = append(ws, w)
		s.starters = append(s.starters, w.deployments.Start, w.daemonSets.Start, w.statefulSets.Start, w.pdbs.Start)
	}
	s.kinds = append(s.kinds, newWorkloadCollector(ws, sel, s.conds), newPDBCollector(ws, sel))

	s.apis = o.APIs
	cos, cvs := kube.NewInformer(c.ClusterOperators(), opts), kube.NewInformer(c.ClusterVersions(), opts)
	co, cv := newClusterOperatorCollector(cos, s.conds), newClusterVersionCollector(cvs, s.conds)
	g := NewGate("config.openshift.io/v1", "clusteroperators", "clusterversions")
	g.OnServed(cos.Start)
	g.OnServed(cvs.Start)
	co.gate, cv.gate = g, g
	s.gates = append(s.gates, g)
	s.kinds = append(s.kinds, co, cv)

	pools := kube.NewInformer(c.MachineConfigPools(), opts)
	mcp := newMachineConfigPoolCollector(pools, s.conds)
	g = NewGate("machineconfiguration.openshift.io/v1", "machineconfigpools")
	g.OnServed(pools.Start)
	mcp.gate = g
	s.gates = append(s.gates, g)
	s.kinds = append(s.kinds, mcp)
	s.kinds = append(s.kinds, s.newUpgradeCollector(o, nodes, cvs))
	return s, nil
}

// newUpgradeCollector builds the collector of the upgrades that are not the
// ClusterVersion's: the Kubernetes versions' and the markers'.
func (s *Set) newUpgradeCollector(o Options, nodes *kube.Informer[*corev1.Node], cvs *kube.Informer[*configv1.ClusterVersion]) *kind {
	k := &kind{name: CollectorUpgrade, descs: []*prometheus.Desc{kubeVersionDesc, upgradeInProgressDesc, upgradeStartDesc, upgradeCompletionDesc}}
	var parts []func(ch chan<- prometheus.Metric)
	if !o.Upgrades.IgnoreVersions {
		kv := newKubeVersions(o.Upgrades.Settle, s.conds, s.log.With("collector", CollectorUpgrade))
		kv.openShift = func() bool { l, _ := cvs.Lister.List(labels.Everything()); return len(l) > 0 }
		reg := handle(nodes, kv.Kubelet, func(n *corev1.Node) { kv.NodeGone(n.Name) })
		s.versions, s.every = kv, cmp.Or(o.Upgrades.VersionEvery, DefaultVersionEvery)
		// Synced once every node of the first list reached the handler
		// (the informer's own HasSynced can be true before): a node
		// seen after it would count as one joining.
		k.synced = append(k.synced, reg.HasSynced)
		parts = append(parts, kv.collect)
	}
	if ns := o.Upgrades.MarkerNamespace; ns != "" {
		mopts := kube.InformerOptions{Resync: o.Resync, Transform: Trim,
			Tweak: func(lo *metav1.ListOptions) { lo.LabelSelector = MarkerLabel }}
		cms := kube.NewInformer(o.Client.ConfigMaps(ns), mopts)
		s.starters = append(s.starters, cms.Start)
		// Not waited for: who may not list ConfigMaps there (a user of
		// watch --kubeconfig) still gets the versions' upgrade, and the
		// controller's readiness does not hang on a missing Role.
		// The informer's own errors are logged.
		parts = append(parts, newMarkers(cms, s.conds, s.log.With("collector", CollectorUpgrade)).collect)
	}
	k.collect = func(ch chan<- prometheus.Metric) {
		for _, p := range parts {
			p(ch)
		}
	}
	return k
}

// followVersions asks the API server's version every s.every, and starts
// the version tracker once the nodes are listed.
func (s *Set) followVersions(ctx context.Context, synced cache.InformerSynced) {
	kv := s.versions
	ask := func() {
		if s.apis == nil {
			return
		}
		v, err := s.apis.ServerVersion(ctx)
		if err != nil {
			s.log.Debug("asking the API server's version", "err", err)
			return
		}
		kv.APIServer(v)
	}
	ask()
	if cache.WaitForCacheSync(ctx.Done(), synced) {
		kv.Synced()
	}
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			ask()
			kv.Tick()
		}
	}
}

// Dedupe trims ss, drops empty and repeated values, and sorts them.
func Dedupe(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// Start starts the informers of the Kubernetes collectors and, in the
// background, finds out which OpenShift APIs are served and starts theirs
// when they are; everything stops when ctx ends. It never waits for the
// API server.
func (s *Set) Start(ctx context.Context) {
	for _, start := range s.starters {
		start(ctx.Done())
	}
	if s.versions != nil {
		for _, k := range s.kinds {
			if k.name == CollectorUpgrade {
				go s.followVersions(ctx, k.synced[0])
			}
		}
	}
	for _, g := range s.gates {
		go g.Run(ctx, s.apis, s.log, func(st GateState) {
			for _, k := range s.kinds {
				switch {
				case k.gate != g:
				case st == GateServed:
					s.log.Info("collector switched on", "collector", k.name, "group_version", g.GroupVersion)
				case st == GateNotServed:
					s.log.Info("collector switched off: its API is not served by this cluster (asked again every minute)",
						"collector", k.name, "group_version", g.GroupVersion)
				}
			}
		})
	}
	for _, k := range s.kinds {
		go func() {
			if k.gate != nil {
				select {
				case <-ctx.Done():
					return
				case <-k.gate.Served():
				}
			}
			if cache.WaitForCacheSync(ctx.Done(), k.synced...) {
				k.ready.Store(true)
			}
		}()
	}
}

// WaitForSync waits until every collector is settled (synced, or its API
// found not served), or ctx ends (an error then says what it waits for).
func (s *Set) WaitForSync(ctx context.Context) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		pending := s.Pending()
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", strings.Join(pending, "; "), ctx.Err())
		case <-t.C:
		}
	}
}

// Pending says what the collectors still wait for (for /readyz): API
// discovery of a group, or a collector's informer caches.
func (s *Set) Pending() []string {
	var out []string
	seen := map[*Gate]bool{}
	for _, k := range s.kinds {
		switch k.gate.State() {
		case GateUnknown:
			if !seen[k.gate] {
				seen[k.gate] = true
				out = append(out, "asking whether the API server serves "+k.gate.GroupVersion)
			}
		case GateServed:
			if !k.ready.Load() {
				out = append(out, k.name+" informer caches not synced")
			}
		}
	}
	return out
}

// Synced reports whether every collector is settled (for /readyz).
func (s *Set) Synced() bool { return len(s.Pending()) == 0 }

// Describe implements prometheus.Collector.
func (s *Set) Describe(ch chan<- *prometheus.Desc) {
	ch <- enabledDesc
	ch <- syncedDesc
	seen := map[*prometheus.Desc]bool{} // the upgrade metrics have two collectors
	for _, k := range s.kinds {
		for _, d := range k.descs {
			if !seen[d] {
				seen[d] = true
				ch <- d
			}
		}
	}
}

// Conditions is the set's condition tracker, for other sources of
// conditions (discovery's endpoint conditions) to write their intervals
// with the set's.
func (s *Set) Conditions() *Conditions { return s.conds }

// Collect implements prometheus.Collector.
func (s *Set) Collect(ch chan<- prometheus.Metric) {
	for _, k := range s.kinds {
		ready := k.ready.Load()
		on := k.on()
		ch <- prometheus.MustNewConstMetric(enabledDesc, prometheus.GaugeValue, b2f(on), k.name)
		ch <- prometheus.MustNewConstMetric(syncedDesc, prometheus.GaugeValue, b2f(ready), k.name)
		if on && ready {
			k.collect(ch)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// trackConditions feeds an informer's objects to the condition tracker.
func trackConditions[T metav1.Object](inf cache.SharedIndexInformer, conds *Conditions, kindName string, condsOf func(T) []Cond) {
	ref := func(o metav1.Object) ObjectRef {
		return ObjectRef{Kind: kindName, Namespace: o.GetNamespace(), Name: o.GetName()}
	}
	handle(inf, func(o T) { conds.Observe(ref(o), condsOf(o)) }, func(o T) { conds.Delete(ref(o)) })
}

// handle gives an informer's objects of type T to upsert when added or
// updated and to gone when deleted (a tombstone's last state), and
// returns the registration (its HasSynced: every object of the first list
// handled).
func handle[T any](inf cache.SharedIndexInformer, upsert, gone func(T)) cache.ResourceEventHandlerRegistration {
	// AddEventHandler fails only on a stopped informer: not ours.
	reg, _ := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if o, ok := obj.(T); ok {
				upsert(o)
			}
		},
		UpdateFunc: func(_, obj any) {
			if o, ok := obj.(T); ok {
				upsert(o)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if o, ok := obj.(T); ok {
				gone(o)
			}
		},
	})
	return reg
}

// condDescs are the three metrics of a kind's conditions.
type condDescs struct {
	state, seconds, transitions *prometheus.Desc
}

func newCondDescs(prefix, what string, objLabels ...string) condDescs {
	l := append(append([]string(nil), objLabels...), "condition", "status")
	return condDescs{
		state: prometheus.NewDesc(prefix+"_condition",
			"1 for the status a "+what+" condition has now, 0 for the others (a missing condition is unknown).", l, nil),
		seconds: prometheus.NewDesc(prefix+"_condition_seconds_total",
			"Time a "+what+" condition spent in each status since zerodown first saw the object.", l, nil),
		transitions: prometheus.NewDesc(prefix+"_condition_transitions_total",
			"Changes of a "+what+" condition into each status seen by zerodown.", l, nil),
	}
}

func (d condDescs) list() []*prometheus.Desc {
	return []*prometheus.Desc{d.state, d.seconds, d.transitions}
}

// emit writes the condition metrics of one object: the state of every
// condition in conds and the counters of every condition the tracker knows.
func (d condDescs) emit(ch chan<- prometheus.Metric, conds []Cond, counters map[string]CondCounters, objLabels ...string) {
	lv := func(typ string, s Status) []string {
		return append(append(make([]string, 0, len(objLabels)+2), objLabels...), typ, s.String())
	}
	for _, c := range conds {
		for s := range numStatuses {
			ch <- prometheus.MustNewConstMetric(d.state, prometheus.GaugeValue, b2f(s == c.Status), lv(c.Type, s)...)
		}
	}
	for _, typ := range sortedTypes(counters) {
		cc := counters[typ]
		for s := range numStatuses {
			ch <- prometheus.MustNewConstMetric(d.seconds, prometheus.CounterValue, cc.Seconds[s], lv(typ, s)...)
			ch <- prometheus.MustNewConstMetric(d.transitions, prometheus.CounterValue, float64(cc.Transitions[s]), lv(typ, s)...)
		}
	}
}

// pick returns the conditions named in want, in that order; a condition
// the object lacks is reported with missing as its status.
func pick(have map[string]Cond, want []string, missing func(typ string) Status) []Cond {
	out := make([]Cond, 0, len(want))
	for _, typ := range want {
		c, ok := have[typ]
		if !ok {
			c = Cond{Type: typ, Status: missing(typ), Reason: "ConditionMissing"}
		}
		out = append(out, c)
	}
	return out
}

func missingUnknown(string) Status { return StatusUnknown }

func unixTime(t *metav1.Time) (float64, bool) {
	if t == nil || t.IsZero() {
		return 0, false
	}
	return float64(t.UnixNano()) / 1e9, true
}
