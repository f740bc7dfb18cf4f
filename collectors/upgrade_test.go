package collectors

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zerodown/zerodown/intervals"
)

func node(name, v string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Status.NodeInfo.KubeletVersion = v
	return n
}

// recorder is an IntervalWriter that keeps what it is given.
type recorder struct {
	begun []intervals.Interval
	ended map[string]time.Time
}

func (r *recorder) Begin(iv intervals.Interval) (string, error) {
	r.begun = append(r.begun, iv)
	return string(rune('a' + len(r.begun) - 1)), nil
}

func (r *recorder) End(id string, to time.Time, _ *intervals.Message) error {
	if r.ended == nil {
		r.ended = map[string]time.Time{}
	}
	r.ended[id] = to
	return nil
}

// windowMetrics collects k's upgrade metrics as "name{labels}" -> value.
func windowMetrics(t *testing.T, collect func(ch chan<- prometheus.Metric)) map[string]float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 100)
	collect(ch)
	close(ch)
	out := map[string]float64{}
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		var ls []string
		for _, l := range pb.Label {
			ls = append(ls, l.GetName()+"="+l.GetValue())
		}
		name := m.Desc().String()
		name = name[strings.Index(name, `fqName: "`)+9:]
		name = name[:strings.Index(name, `"`)]
		out[name+"{"+strings.Join(ls, ",")+"}"] = pb.GetGauge().GetValue()
	}
	return out
}

func newTestVersions(clock *fakeClock, w IntervalWriter) *kubeVersions {
	k := newKubeVersions(10*time.Minute, NewConditions(w, nil), discard())
	k.now = clock.now
	k.conds.now = clock.now
	return k
}

func TestKubernetesUpgradeNodeByNode(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	rec := &recorder{}
	k := newTestVersions(clock, rec)
	// Before the sync: the starting point, even though the versions
	// differ (a process started in the middle of an upgrade).
	k.APIServer("v1.34.4")
	k.Kubelet(node("a", "v1.33.13"))
	k.Kubelet(node("b", "v1.33.13"))
	k.Synced()
	m := windowMetrics(t, k.collect)
	if m["zerodown_upgrade_in_progress{name=kubernetes}"] != 0 || m["zerodown_kubernetes_version_info{component=kubelet,version=v1.33.13}"] != 2 {
		t.Fatalf("at the start: %v", m)
	}
	clock.advance(time.Minute)
	start := clock.t
	k.Kubelet(node("a", "v1.34.4"))
	m = windowMetrics(t, k.collect)
	if m["zerodown_upgrade_in_progress{name=kubernetes}"] != 1 ||
		m["zerodown_upgrade_start_timestamp_seconds{name=kubernetes,version=v1.34.4}"] != float64(start.Unix()) {
		t.Fatalf("after node a changed: %v", m)
	}
	clock.advance(5 * time.Minute) // within the settle time
	k.Tick()
	k.Kubelet(node("b", "v1.34.4"))
	m = windowMetrics(t, k.collect)
	if m["zerodown_upgrade_in_progress{name=kubernetes}"] != 0 ||
		m["zerodown_upgrade_completion_timestamp_seconds{name=kubernetes,state=completed,version=v1.34.4}"] != float64(clock.t.Unix()) ||
		m["zerodown_upgrade_start_timestamp_seconds{name=kubernetes,version=v1.34.4}"] != float64(start.Unix()) {
		t.Fatalf("after node b changed: %v", m)
	}
	// The intervals: Progressing=False from the sync, True from node a's
	// change to node b's, False again.
	var got []string
	for _, iv := range rec.begun {
		got = append(got, iv.Message.Reason+" "+iv.From.UTC().Format("15:04")+" "+iv.Message.Cause)
	}
	want := "ProgressingFalse 10:00 VersionsDiffer|ProgressingTrue 10:01 VersionChanged|ProgressingFalse 10:06 VersionsAgree"
	if strings.Join(got, "|") != want {
		t.Errorf("intervals:\n got %s\nwant %s", strings.Join(got, "|"), want)
	}
	if !strings.Contains(rec.begun[1].Message.HumanMessage, "kubelets 1 of 2 (b on v1.33.13)") {
		t.Errorf("message: %s", rec.begun[1].Message.HumanMessage)
	}
}

func TestKubernetesUpgradeBySurge(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	k := newTestVersions(clock, nil)
	k.APIServer("v1.34.4-eks-1")
	k.Kubelet(node("old", "v1.34.4-eks-2")) // a build suffix is no difference
	k.Synced()
	k.Kubelet(node("old", "v1.34.4-eks-2")) // a resync: no change
	if m := windowMetrics(t, k.collect); m["zerodown_upgrade_in_progress{name=kubernetes}"] != 0 {
		t.Fatalf("nothing changed: %v", m)
	}
	k.APIServer("v1.35.0-eks-1")
	clock.advance(time.Minute)
	k.Kubelet(node("new", "v1.35.0-eks-3")) // a node joins, on a version the API server runs
	if m := windowMetrics(t, k.collect); m["zerodown_upgrade_in_progress{name=kubernetes}"] != 1 {
		t.Fatalf("after the API server changed: %v", m)
	}
	clock.advance(time.Minute)
	k.NodeGone("old")
	m := windowMetrics(t, k.collect)
	if m["zerodown_upgrade_completion_timestamp_seconds{name=kubernetes,state=completed,version=v1.35.0-eks-1}"] == 0 &&
		m["zerodown_upgrade_completion_timestamp_seconds{name=kubernetes,state=completed,version=v1.35.0-eks-3}"] == 0 {
		t.Fatalf("after the old node left: %v", m)
	}
}

func TestKubernetesUpgradeNewNodeOnNewVersionStartsIt(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	k := newTestVersions(clock, nil)
	k.APIServer("v1.35.0")
	k.Kubelet(node("a", "v1.34.4"))
	k.Synced()
	k.Kubelet(node("b", "v1.34.4")) // joins on a version already run: not an upgrade
	if m := windowMetrics(t, k.collect); m["zerodown_upgrade_in_progress{name=kubernetes}"] != 0 {
		t.Fatalf("a node joined on a known version: %v", m)
	}
	k.Kubelet(node("c", "v1.36.0")) // a version nothing else runs
	if m := windowMetrics(t, k.collect); m["zerodown_upgrade_in_progress{name=kubernetes}"] != 1 {
		t.Fatalf("a node joined on a new version: %v", m)
	}
}

func TestKubernetesUpgradeSettles(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	k := newTestVersions(clock, nil)
	k.APIServer("v1.33.13")
	k.Kubelet(node("a", "v1.33.13"))
	k.Synced()
	k.APIServer("v1.34.4") // the control plane first; the nodes stay behind
	clock.advance(9 * time.Minute)
	k.Tick()
	if m := windowMetrics(t, k.collect); m["zerodown_upgrade_in_progress{name=kubernetes}"] != 1 {
		t.Fatalf("within the settle time: %v", m)
	}
	clock.advance(time.Minute)
	k.Tick()
	m := windowMetrics(t, k.collect)
	if m["zerodown_upgrade_in_progress{name=kubernetes}"] != 0 ||
		m["zerodown_upgrade_completion_timestamp_seconds{name=kubernetes,state=partial,version=v1.34.4}"] != float64(clock.t.Unix()) {
		t.Fatalf("after the settle time: %v", m)
	}
	// The nodes follow later: a new window.
	clock.advance(time.Hour)
	start := clock.t
	k.Kubelet(node("a", "v1.34.4"))
	m = windowMetrics(t, k.collect)
	if m["zerodown_upgrade_completion_timestamp_seconds{name=kubernetes,state=completed,version=v1.34.4}"] != float64(start.Unix()) ||
		m["zerodown_upgrade_start_timestamp_seconds{name=kubernetes,version=v1.34.4}"] != float64(start.Unix()) {
		t.Fatalf("the nodes' upgrade: %v", m)
	}
}

func TestKubernetesUpgradeLeftToClusterVersion(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	k := newTestVersions(clock, nil)
	k.openShift = func() bool { return true }
	k.Kubelet(node("a", "v1.33.13"))
	k.Synced()
	k.Kubelet(node("a", "v1.34.4"))
	m := windowMetrics(t, k.collect)
	for s := range m {
		if strings.HasPrefix(s, "zerodown_upgrade_") {
			t.Fatalf("on OpenShift the ClusterVersion says: %v", m)
		}
	}
	if m["zerodown_kubernetes_version_info{component=kubelet,version=v1.34.4}"] != 1 {
		t.Fatalf("the versions are still exported: %v", m)
	}
}

func TestParseMarker(t *testing.T) {
	cm := func(label string, ann map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "zerodown", Name: "zerodown-upgrade-x",
			Labels: map[string]string{MarkerLabel: label}, Annotations: ann}}
	}
	m, err := ParseMarker(cm("ingress", map[string]string{MarkerStart: "2026-12-07T10:00:00Z", MarkerVersion: "1.12.0"}))
	if err != nil || !m.Running() || m.Version != "1.12.0" || m.Start.Hour() != 10 {
		t.Fatalf("running marker: %+v %v", m, err)
	}
	m, err = ParseMarker(cm("ingress", map[string]string{MarkerStart: "2026-12-07T10:00:00Z", MarkerEnd: "2026-12-07T10:05:00.5Z"}))
	if err != nil || m.Running() || m.Version != "ingress" {
		t.Fatalf("ended marker: %+v %v", m, err)
	}
	m, err = ParseMarker(cm("ingress", map[string]string{MarkerStart: "2026-12-07T11:00:00Z", MarkerEnd: "2026-12-07T10:05:00Z"}))
	if err != nil || !m.Running() {
		t.Fatalf("started again after it ended: %+v %v", m, err)
	}
	for _, c := range []struct {
		label string
		ann   map[string]string
		want  string
	}{
		{"ingress", nil, "annotation zerodown.io/upgrade-start missing"},
		{"ingress", map[string]string{MarkerStart: "10:00"}, `annotation zerodown.io/upgrade-start: "10:00" is not an RFC 3339 time`},
		{"ingress", map[string]string{MarkerStart: "2026-12-07T10:00:00Z", MarkerEnd: "soon"}, `annotation zerodown.io/upgrade-end: "soon"`},
		{"kubernetes", map[string]string{MarkerStart: "2026-12-07T10:00:00Z"}, `"kubernetes" is reserved`},
		{"", map[string]string{MarkerStart: "2026-12-07T10:00:00Z"}, "label zerodown.io/upgrade: empty"},
	} {
		_, err := ParseMarker(cm(c.label, c.ann))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "ConfigMap zerodown/zerodown-upgrade-x") {
			t.Errorf("%s %v: got %v, want an error naming the ConfigMap and %q", c.label, c.ann, err, c.want)
		}
	}
}

// API servers behind one address during their own rolling upgrade: an old
// one answering again does not make the upgrade complete at the old
// version, and a build suffix alone is no change.
func TestKubernetesUpgradeOldAPIServerAnswersAgain(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	k := newTestVersions(clock, nil)
	k.APIServer("v1.33.13")
	k.Kubelet(node("a", "v1.33.13"))
	k.Synced()
	k.APIServer("v1.33.13-build.2") // the same version
	if m := windowMetrics(t, k.collect); m["zerodown_upgrade_in_progress{name=kubernetes}"] != 0 {
		t.Fatalf("a build suffix opened an upgrade: %v", m)
	}
	k.APIServer("v1.34.4") // the new API server answers
	clock.advance(time.Second)
	k.APIServer("v1.33.13") // an old one again
	m := windowMetrics(t, k.collect)
	if m["zerodown_upgrade_in_progress{name=kubernetes}"] != 1 || m["zerodown_upgrade_start_timestamp_seconds{name=kubernetes,version=v1.34.4}"] == 0 {
		t.Fatalf("an old API server answering again: %v", m)
	}
	k.APIServer("v1.34.4")
	k.Kubelet(node("a", "v1.34.4"))
	m = windowMetrics(t, k.collect)
	if m["zerodown_upgrade_completion_timestamp_seconds{name=kubernetes,state=completed,version=v1.34.4}"] == 0 {
		t.Fatalf("all on v1.34.4: %v", m)
	}
}
