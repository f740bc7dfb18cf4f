package collectors

import (
	"cmp"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/version"

	"github.com/zerodown/zerodown/intervals"
)

// Upgrades where OpenShift's ClusterVersion does not say: on Kubernetes the
// versions of the API server and of the kubelets, and a user's own markers
// for upgrades of anything else (see marker.go). Each is exported with the
// same metrics as the ClusterVersion's newest update, its name label
// telling them apart, so the rules, budgets and dashboards need no second
// case.

// UpgradeKubernetes is the name label of the upgrade read from the
// Kubernetes components' versions.
const UpgradeKubernetes = "kubernetes"

// DefaultUpgradeSettle is how long a Kubernetes upgrade whose components
// still disagree stays in progress after the last version change: longer
// than ZerodownUpgradeStuck takes to fire (an hour without a change, for
// 30 minutes), so a stuck upgrade is reported stuck before it settles.
const DefaultUpgradeSettle = 2 * time.Hour

// The end states of an upgrade window, the state label of
// zerodown_upgrade_completion_timestamp_seconds.
const (
	stateCompleted = "completed"
	statePartial   = "partial" // ended by the settle time, versions still differ
)

var kubeVersionDesc = prometheus.NewDesc("zerodown_kubernetes_version_info",
	"How many of the cluster's Kubernetes components run each version: component=\"apiserver\" is the API server this process reaches (/version), component=\"kubelet\" counts the nodes by status.nodeInfo.kubeletVersion.",
	[]string{"component", "version"}, nil)

// window is one upgrade: in progress from start until end.
type window struct {
	version    string
	start, end time.Time // end is zero while it runs
	state      string    // stateCompleted or statePartial once it ended
}

// kubeVersions follows the versions of the API server and the kubelets and
// opens an upgrade window when one of them changes: a node's kubelet
// reports another version, a node joins running a version nothing else
// runs, or the API server answers with another version. The window is
// named after the newest version running. It completes when every
// component runs one version (major.minor.patch: a provider's build
// suffix is not a difference), or, as partial, after settle without any
// change: skew left in place on purpose (a control plane upgraded ahead of
// its nodes, a provider whose patch levels differ).
//
// Versions seen before the first sync are the starting point, not a
// change: a process started in the middle of an upgrade opens the window
// at the next change it sees. While a ClusterVersion exists (OpenShift),
// its history is the upgrade and no window opens here.
type kubeVersions struct {
	settle time.Duration
	now    func() time.Time
	conds  *Conditions
	log    *slog.Logger
	// openShift reports whether a ClusterVersion exists (nil: never).
	openShift func() bool

	mu         sync.Mutex
	synced     bool
	apiserver  string
	kubelets   map[string]string // node name -> kubelet version
	lastChange time.Time
	win        *window
}

func newKubeVersions(settle time.Duration, conds *Conditions, log *slog.Logger) *kubeVersions {
	if settle <= 0 {
		settle = DefaultUpgradeSettle
	}
	return &kubeVersions{settle: settle, now: time.Now, conds: conds, log: log, kubelets: map[string]string{}}
}

// APIServer records the API server's version (gitVersion).
func (k *kubeVersions) APIServer(v string) {
	if v == "" {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	// A build suffix alone is no change; a version going back is (an
	// older API server behind the same address answered).
	changed := k.apiserver != "" && !sameVersion(k.apiserver, v)
	k.apiserver = v
	k.update(changed, "the API server")
}

// Kubelet records a node's kubelet version.
func (k *kubeVersions) Kubelet(node *corev1.Node) {
	v := node.Status.NodeInfo.KubeletVersion
	if v == "" {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	old, known := k.kubelets[node.Name]
	changed := known && !sameVersion(old, v) || !known && k.synced && !k.runs(v)
	k.kubelets[node.Name] = v
	k.update(changed, "node "+node.Name)
}

// NodeGone forgets a deleted node (an old node removed can complete an
// upgrade that replaces nodes).
func (k *kubeVersions) NodeGone(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.kubelets[name]; !ok {
		return
	}
	delete(k.kubelets, name)
	k.update(false, "")
}

// Synced marks the versions seen so far as the starting point.
func (k *kubeVersions) Synced() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.synced {
		k.synced = true
		k.update(false, "")
	}
}

// Tick ends a window that has settled.
func (k *kubeVersions) Tick() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.update(false, "")
}

// runs reports whether some component runs v (same major.minor.patch).
func (k *kubeVersions) runs(v string) bool {
	for _, w := range k.versions() {
		if sameVersion(v, w) {
			return true
		}
	}
	return false
}

// versions lists every component's version (the API server's first).
func (k *kubeVersions) versions() []string {
	var vs []string
	if k.apiserver != "" {
		vs = append(vs, k.apiserver)
	}
	for _, v := range k.kubelets {
		vs = append(vs, v)
	}
	return vs
}

// update applies a change (what: which component) and ends the window
// when the versions agree or have settled. Called with mu held.
func (k *kubeVersions) update(changed bool, what string) {
	if !k.synced {
		return
	}
	now := k.now()
	vs := k.versions()
	newest := newestVersion(vs)
	agree := true
	for _, v := range vs {
		agree = agree && sameVersion(v, newest)
	}
	if k.openShift != nil && k.openShift() {
		changed = false // OpenShift's ClusterVersion says when it upgrades
	}
	if changed {
		k.lastChange = now
		if k.win == nil || !k.win.end.IsZero() {
			k.win = &window{version: newest, start: now}
			k.log.Info("Kubernetes upgrade started: a component changed version", "component", what, "version", newest)
		}
	}
	if w := k.win; w != nil && w.end.IsZero() {
		// The window keeps the newest version it saw: a component seen
		// on an older one again (an old API server answering) does not
		// make the upgrade one to the older version.
		if newerThan(w.version, newest) {
			newest = w.version
			agree = false
		}
		w.version = newest
		switch {
		case agree:
			w.end, w.state = now, stateCompleted
			k.log.Info("Kubernetes upgrade completed: every component runs one version", "version", newest)
		case now.Sub(k.lastChange) >= k.settle:
			w.end, w.state = now, statePartial
			k.log.Info("Kubernetes upgrade ended with versions still differing: none changed for the settle time",
				"version", newest, "settle", k.settle.String())
		}
	}
	k.observe(newest, agree)
}

// observe hands the window to the condition tracker as the Progressing
// condition of Upgrade/kubernetes, so it becomes an interval.
func (k *kubeVersions) observe(newest string, agree bool) {
	if k.conds == nil || len(k.kubelets) == 0 && k.apiserver == "" {
		return
	}
	c := Cond{Type: "Progressing", Status: StatusFalse, Level: intervals.LevelInfo, Reason: "VersionsAgree"}
	if !agree {
		c.Reason = "VersionsDiffer"
	}
	if w := k.win; w != nil && w.end.IsZero() {
		c.Status, c.Since, c.Reason, c.Level = StatusTrue, w.start, "VersionChanged", intervals.LevelWarning
	} else if w != nil {
		c.Since = w.end
		if w.state == statePartial {
			c.Reason = "Settled"
		}
	}
	c.Message = k.summary(newest)
	k.conds.Observe(ObjectRef{Kind: "Upgrade", Name: UpgradeKubernetes}, []Cond{c})
}

// summary says who runs what: "to v1.34.4: API server v1.34.4, kubelets
// 1 of 2 (zd-node-2 on v1.33.13)".
func (k *kubeVersions) summary(newest string) string {
	var behind []string
	for n, v := range k.kubelets {
		if !sameVersion(v, newest) {
			behind = append(behind, n+" on "+v)
		}
	}
	sort.Strings(behind)
	s := fmt.Sprintf("to %s: API server %s, kubelets %d of %d", newest, cmp.Or(k.apiserver, "unknown"), len(k.kubelets)-len(behind), len(k.kubelets))
	if len(behind) > 3 {
		behind = append(behind[:3], fmt.Sprintf("%d more", len(behind)-3))
	}
	if len(behind) > 0 {
		s += " (" + strings.Join(behind, ", ") + ")"
	}
	return s
}

// collect emits the versions and the window.
func (k *kubeVersions) collect(ch chan<- prometheus.Metric) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.synced {
		return
	}
	counts := map[[2]string]int{}
	if k.apiserver != "" {
		counts[[2]string{"apiserver", k.apiserver}]++
	}
	for _, v := range k.kubelets {
		counts[[2]string{"kubelet", v}]++
	}
	for key, n := range counts {
		ch <- prometheus.MustNewConstMetric(kubeVersionDesc, prometheus.GaugeValue, float64(n), key[0], key[1])
	}
	if k.openShift != nil && k.openShift() {
		return
	}
	emitWindow(ch, UpgradeKubernetes, k.win)
}

// emitWindow exports an upgrade window with the ClusterVersion's metrics
// (w nil: none seen, not in progress).
func emitWindow(ch chan<- prometheus.Metric, name string, w *window) {
	if w == nil {
		ch <- prometheus.MustNewConstMetric(upgradeInProgressDesc, prometheus.GaugeValue, 0, name)
		return
	}
	ch <- prometheus.MustNewConstMetric(upgradeInProgressDesc, prometheus.GaugeValue, b2f(w.end.IsZero()), name)
	ch <- prometheus.MustNewConstMetric(upgradeStartDesc, prometheus.GaugeValue, unixSeconds(w.start), name, w.version)
	if !w.end.IsZero() {
		ch <- prometheus.MustNewConstMetric(upgradeCompletionDesc, prometheus.GaugeValue, unixSeconds(w.end), name, w.version, w.state)
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// sameVersion compares two Kubernetes versions by major.minor.patch; what
// cannot be parsed is compared as text.
func sameVersion(a, b string) bool {
	va, ea := version.ParseGeneric(a)
	vb, eb := version.ParseGeneric(b)
	if ea != nil || eb != nil {
		return a == b
	}
	return va.Major() == vb.Major() && va.Minor() == vb.Minor() && va.Patch() == vb.Patch()
}

// newerThan reports whether version a is newer than b (unparsable: no).
func newerThan(a, b string) bool {
	va, ea := version.ParseGeneric(a)
	vb, eb := version.ParseGeneric(b)
	return ea == nil && eb == nil && va.GreaterThan(vb)
}

// newestVersion is the highest of vs (unparsable ones rank lowest; ties
// keep the first).
func newestVersion(vs []string) string {
	best := ""
	var bv *version.Version
	for _, v := range vs {
		pv, err := version.ParseGeneric(v)
		switch {
		case err != nil:
			if best == "" {
				best = v
			}
		case bv == nil || pv.GreaterThan(bv):
			best, bv = v, pv
		}
	}
	return best
}
