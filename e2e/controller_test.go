//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	configv1 "github.com/openshift/api/config/v1"
	mcfgv1 "github.com/openshift/api/machineconfiguration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"

	"github.com/zerodown/zerodown/intervals"
)

// Fixed times the test objects carry, so the metrics are exact.
var (
	t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 = time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	t2 = time.Date(2026, 1, 2, 0, 45, 0, 0, time.UTC)
)

// goldenNS stands for the test's namespace (a fresh name each run) in the
// golden files.
const goldenNS = "zd-e2e"

// controllerFamilies are the metric names the golden files hold: every
// collector metric except the seconds counters (they grow with time).
var controllerFamilies = []string{
	"zerodown_cluster_operator_", "zerodown_cluster_version_", "zerodown_upgrade_", "zerodown_node_",
	"zerodown_machine_config_pool_", "zerodown_workload_", "zerodown_pod_disruption_budget_",
	"zerodown_collector_", "zerodown_controller_leader",
}

func exactSamples(t *testing.T, p *process, ns string) []string {
	var out []string
	for _, l := range p.samples(t, controllerFamilies...) {
		if !strings.Contains(l, "_condition_seconds_total{") {
			out = append(out, strings.ReplaceAll(l, `namespace="`+ns+`"`, `namespace="`+goldenNS+`"`))
		}
	}
	sort.Strings(out)
	return out
}

// eventuallyGolden waits until the exact samples match testdata/name.
func eventuallyGolden(t *testing.T, p *process, ns, name string) []string {
	t.Helper()
	var got []string
	if *update {
		time.Sleep(2 * time.Second)
		got = exactSamples(t, p, ns)
		golden(t, name, got)
		return got
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got = exactSamples(t, p, ns)
		want, err := readLines(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(want, "\n") == strings.Join(got, "\n") {
			return got
		}
		if time.Now().After(deadline) {
			golden(t, name, got) // reports the difference
			return got
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func cond(typ configv1.ClusterStatusConditionType, st configv1.ConditionStatus, at time.Time, reason string) configv1.ClusterOperatorStatusCondition {
	return configv1.ClusterOperatorStatusCondition{Type: typ, Status: st, LastTransitionTime: metav1.NewTime(at), Reason: reason}
}

// setCOCondition replaces one condition of a ClusterOperator's status.
func setCOCondition(ctx context.Context, t *testing.T, c *clients, name string, nc configv1.ClusterOperatorStatusCondition) {
	t.Helper()
	co, err := c.config.ConfigV1().ClusterOperators().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	replaced := false
	for i := range co.Status.Conditions {
		if co.Status.Conditions[i].Type == nc.Type {
			co.Status.Conditions[i], replaced = nc, true
		}
	}
	if !replaced {
		co.Status.Conditions = append(co.Status.Conditions, nc)
	}
	if _, err := c.config.ConfigV1().ClusterOperators().UpdateStatus(ctx, co, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// fixtures creates the cluster objects of the controller test, deleting
// leftovers of an earlier run against the same cluster first.
func fixtures(ctx context.Context, t *testing.T, c *clients) (ns string) {
	t.Helper()
	ignoreNotFound := func(err error) {
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
	}
	cfg := c.config.ConfigV1()
	for _, n := range []string{"ingress", "dns", "odd"} {
		ignoreNotFound(cfg.ClusterOperators().Delete(ctx, n, metav1.DeleteOptions{}))
	}
	ignoreNotFound(cfg.ClusterVersions().Delete(ctx, "version", metav1.DeleteOptions{}))
	// Every Node: other tests' Nodes would show in the golden files.
	nodes, err := c.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		ignoreNotFound(c.kube.CoreV1().Nodes().Delete(ctx, n.Name, metav1.DeleteOptions{}))
	}
	ignoreNotFound(c.mcfg.MachineconfigurationV1().MachineConfigPools().Delete(ctx, "worker", metav1.DeleteOptions{}))
	// ClusterOperators: a healthy one, one without status, one with an odd status.
	mkCO := func(name string, st configv1.ClusterOperatorStatus) {
		co, err := cfg.ClusterOperators().Create(ctx, &configv1.ClusterOperator{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		co.Status = st
		if _, err := cfg.ClusterOperators().UpdateStatus(ctx, co, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mkCO("ingress", configv1.ClusterOperatorStatus{
		Conditions: []configv1.ClusterOperatorStatusCondition{
			cond("Available", "True", t0, "AsExpected"), cond("Progressing", "False", t0, "AsExpected"),
			cond("Degraded", "False", t0, "AsExpected"), cond("Upgradeable", "True", t0, "AsExpected"),
		},
		Versions: []configv1.OperandVersion{{Name: "operator", Version: "4.16.3"}, {Name: "ingress-controller", Version: "4.16.3"}},
	})
	mkCO("dns", configv1.ClusterOperatorStatus{})
	mkCO("odd", configv1.ClusterOperatorStatus{Conditions: []configv1.ClusterOperatorStatusCondition{
		cond("Available", "Perhaps", t0, "Odd"), cond("Degraded", "", t0, ""),
	}})

	// ClusterVersion at 4.16.3, with one completed update in its history.
	cv, err := cfg.ClusterVersions().Create(ctx, &configv1.ClusterVersion{
		ObjectMeta: metav1.ObjectMeta{Name: "version"},
		Spec:       configv1.ClusterVersionSpec{ClusterID: "6f2e3c1a-0d3b-4a4e-9a52-2f1f0c9f5e11"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := metav1.NewTime(t0.Add(30 * time.Minute))
	cv.Status = configv1.ClusterVersionStatus{
		Desired: configv1.Release{Version: "4.16.3", Image: "quay.example/ocp-release@sha256:1111"},
		History: []configv1.UpdateHistory{{State: configv1.CompletedUpdate, StartedTime: metav1.NewTime(t0),
			CompletionTime: &done, Version: "4.16.3", Image: "quay.example/ocp-release@sha256:1111"}},
		VersionHash: "h1",
		Conditions: []configv1.ClusterOperatorStatusCondition{
			cond("Available", "True", t0, "Done"), cond("Progressing", "False", t0, "Done"), cond("Failing", "False", t0, "Done"),
		},
	}
	if _, err := cfg.ClusterVersions().UpdateStatus(ctx, cv, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Nodes: one Ready; one cordoned and NotReady.
	mkNode := func(name string, unschedulable bool, ready corev1.ConditionStatus) {
		if _, err := c.kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.NodeSpec{Unschedulable: unschedulable}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// kube-controller-manager annotates new Nodes: retry on conflict.
		updateNode(ctx, t, c, name, true, func(n *corev1.Node) {
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready,
				LastTransitionTime: metav1.NewTime(t0), LastHeartbeatTime: metav1.NewTime(t0), Reason: "Test"}}
		})
	}
	mkNode("node-a", false, corev1.ConditionTrue)
	mkNode("node-b", true, corev1.ConditionFalse)

	// A MachineConfigPool half way through an update.
	pool, err := c.mcfg.MachineconfigurationV1().MachineConfigPools().Create(ctx, &mcfgv1.MachineConfigPool{
		ObjectMeta: metav1.ObjectMeta{Name: "worker"},
		Spec: mcfgv1.MachineConfigPoolSpec{
			MachineConfigSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"machineconfiguration.openshift.io/role": "worker"}},
			NodeSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{"node-role.kubernetes.io/worker": ""}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pool.Status = mcfgv1.MachineConfigPoolStatus{
		MachineCount: 3, UpdatedMachineCount: 1, ReadyMachineCount: 2, UnavailableMachineCount: 1,
		Conditions: []mcfgv1.MachineConfigPoolCondition{
			{Type: "Updated", Status: "False", LastTransitionTime: metav1.NewTime(t1)},
			{Type: "Updating", Status: "True", LastTransitionTime: metav1.NewTime(t1)},
			{Type: "Degraded", Status: "False", LastTransitionTime: metav1.NewTime(t0)},
		},
	}
	if _, err := c.mcfg.MachineconfigurationV1().MachineConfigPools().UpdateStatus(ctx, pool, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	// A Deployment whose pods never run (no scheduler) and its PDB.
	testNS := freshNamespace(t, c, goldenNS)
	if _, err := c.kube.AppsV1().Deployments(testNS).Create(ctx, deployment("web", "registry.invalid/web:1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	minAvail := intstr.FromInt32(1)
	if _, err := c.kube.PolicyV1().PodDisruptionBudgets(testNS).Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &minAvail,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A DaemonSet (the test's Nodes have no kubelet: it schedules nothing)
	// and a StatefulSet of one (its pod never runs).
	tmpl := func(app string) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: app, Image: "registry.invalid/" + app + ":1"}}}}
	}
	if _, err := c.kube.AppsV1().DaemonSets(testNS).Create(ctx, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}}, Template: tmpl("agent")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	one := int32(1)
	if _, err := c.kube.AppsV1().StatefulSets(testNS).Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, Template: tmpl("db")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "DaemonSet and StatefulSet settled", func() (bool, string) {
		ds, err := c.kube.AppsV1().DaemonSets(testNS).Get(ctx, "agent", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		ss, err := c.kube.AppsV1().StatefulSets(testNS).Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		ok := ds.Status.ObservedGeneration == ds.Generation &&
			ss.Status.ObservedGeneration == ss.Generation && ss.Status.Replicas == 1 && ss.Status.UpdatedReplicas == 1
		return ok, fmt.Sprintf("daemonset %+v\nstatefulset %+v", ds.Status, ss.Status)
	})

	// Let kube-controller-manager settle the Deployment and the PDB.
	eventually(t, 60*time.Second, "Deployment and PDB settled", func() (bool, string) {
		d, err := c.kube.AppsV1().Deployments(testNS).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		p, err := c.kube.PolicyV1().PodDisruptionBudgets(testNS).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		ok := d.Status.ObservedGeneration == d.Generation && d.Status.UpdatedReplicas == 2 && len(d.Status.Conditions) == 2 &&
			p.Status.ObservedGeneration == p.Generation && p.Status.ExpectedPods == 2
		return ok, fmt.Sprintf("deployment %+v\npdb %+v", d.Status, p.Status)
	})
	return testNS
}

// updateNode gets, changes and updates (or updates the status of) a Node,
// retrying on conflicts.
func updateNode(ctx context.Context, t *testing.T, c *clients, name string, status bool, change func(*corev1.Node)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := c.kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(n)
		if status {
			_, err = c.kube.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		} else {
			_, err = c.kube.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		}
		return err
	})
	if err != nil {
		t.Fatalf("updating node %s: %v", name, err)
	}
}

func deployment(name, image string) *appsv1.Deployment {
	replicas := int32(2)
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: image}}},
			},
		},
	}
}

// TestControllerCollects drives ClusterOperators, a ClusterVersion (a
// simulated upgrade), Nodes, a MachineConfigPool and a Deployment through
// condition changes and checks the controller's metrics (golden files)
// and intervals (stamped with lastTransitionTime).
func TestControllerCollects(t *testing.T) {
	ctx := ctxT(t)
	c := newClients(t)
	ns := fixtures(ctx, t, c)

	out := t.TempDir()
	p := start(t, "controller", "--workloads.namespaces", ns, "--leader-elect.namespace", ns,
		"--leader-elect.identity", "e2e-controller", "--out", out, "--leader-elect.retry-period", "200ms")
	p.waitReady(t)
	eventuallyGolden(t, p, ns, "controller-initial.txt")

	// Leader election took the Lease.
	lease, err := c.kube.CoordinationV1().Leases(ns).Get(ctx, "zerodown-controller", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("leader Lease: %v", err)
	}
	if h := lease.Spec.HolderIdentity; h == nil || *h != "e2e-controller" {
		t.Errorf("Lease holder = %v, want e2e-controller", h)
	}

	// Condition changes, stamped a little in the past (whole seconds:
	// metav1.Time keeps no more), after the controller first saw them.
	time.Sleep(1100 * time.Millisecond)
	degradedAt := time.Now().Add(-100 * time.Millisecond).Truncate(time.Second)
	setCOCondition(ctx, t, c, "ingress", cond("Degraded", "True", degradedAt, "DNSFailing"))

	// A simulated upgrade to 4.16.4 begins.
	upgradeAt := degradedAt
	cv, err := c.config.ConfigV1().ClusterVersions().Get(ctx, "version", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cv.Status.Desired = configv1.Release{Version: "4.16.4", Image: "quay.example/ocp-release@sha256:2222"}
	cv.Status.History = append([]configv1.UpdateHistory{{State: configv1.PartialUpdate, StartedTime: metav1.NewTime(t1),
		Version: "4.16.4", Image: "quay.example/ocp-release@sha256:2222"}}, cv.Status.History...)
	for i := range cv.Status.Conditions {
		if cv.Status.Conditions[i].Type == "Progressing" {
			cv.Status.Conditions[i] = cond("Progressing", "True", upgradeAt, "Upgrading")
		}
	}
	if _, err := c.config.ConfigV1().ClusterVersions().UpdateStatus(ctx, cv, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// node-a is cordoned and drained by the machine-config-daemon.
	updateNode(ctx, t, c, "node-a", false, func(n *corev1.Node) {
		n.Spec.Unschedulable = true
		if n.Annotations == nil {
			n.Annotations = map[string]string{}
		}
		n.Annotations["machineconfiguration.openshift.io/desiredDrain"] = "drain-rendered-worker-2"
		n.Annotations["machineconfiguration.openshift.io/lastAppliedDrain"] = "uncordon-rendered-worker-1"
	})
	eventuallyGolden(t, p, ns, "controller-upgrading.txt")

	// The upgrade completes.
	time.Sleep(1100 * time.Millisecond)
	completedAt := time.Now().Add(-100 * time.Millisecond).Truncate(time.Second)
	cv, err = c.config.ConfigV1().ClusterVersions().Get(ctx, "version", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	end := metav1.NewTime(t2)
	cv.Status.History[0].State, cv.Status.History[0].CompletionTime = configv1.CompletedUpdate, &end
	for i := range cv.Status.Conditions {
		if cv.Status.Conditions[i].Type == "Progressing" {
			cv.Status.Conditions[i] = cond("Progressing", "False", completedAt, "Done")
		}
	}
	if _, err := c.config.ConfigV1().ClusterVersions().UpdateStatus(ctx, cv, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := eventuallyGolden(t, p, ns, "controller-upgraded.txt")
	_ = got

	// A user marks an upgrade the versions do not show: zerodown mark
	// writes it, the controller exports it next to the ClusterVersion's.
	markStart, markEnd := time.Date(2026, 1, 2, 1, 0, 0, 0, time.UTC), time.Date(2026, 1, 2, 1, 30, 0, 500e6, time.UTC)
	markCLI(t, "start", "ingress-nginx", "--version", "1.12.0", "--namespace", ns, "--at", markStart.Format(time.RFC3339Nano))
	eventually(t, 20*time.Second, "the mark's start in the metrics", func() (bool, string) {
		s := p.samples(t, "zerodown_upgrade_")
		v1, _ := value(s, `zerodown_upgrade_in_progress{name="ingress-nginx"}`)
		v2, _ := value(s, `zerodown_upgrade_start_timestamp_seconds{name="ingress-nginx",version="1.12.0"}`)
		return v1 == "1" && v2 == "1.7673156e+09", strings.Join(s, "\n")
	})
	markCLI(t, "end", "ingress-nginx", "--namespace", ns, "--at", markEnd.Format(time.RFC3339Nano))
	eventually(t, 20*time.Second, "the mark's end in the metrics", func() (bool, string) {
		s := p.samples(t, "zerodown_upgrade_")
		v1, _ := value(s, `zerodown_upgrade_in_progress{name="ingress-nginx"}`)
		v2, _ := value(s, `zerodown_upgrade_completion_timestamp_seconds{name="ingress-nginx",state="completed",version="1.12.0"}`)
		return v1 == "0" && v2 == "1.7673174005e+09", strings.Join(s, "\n")
	})
	// Its end before its start is refused, and nothing is changed.
	if out, err := markCmd("end", "ingress-nginx", "--namespace", ns, "--at", "2026-01-01T00:00:00Z").CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "is not after the start") {
		t.Errorf("an end before the start: %v: %s", err, out)
	}

	// Time spent in each state is counted.
	secs := p.samples(t, "zerodown_cluster_operator_condition_seconds_total")
	for _, s := range []string{
		`zerodown_cluster_operator_condition_seconds_total{condition="Degraded",name="ingress",status="true"}`,
		`zerodown_cluster_operator_condition_seconds_total{condition="Degraded",name="ingress",status="false"}`,
	} {
		if v, ok := value(secs, s); !ok || v == "0" {
			t.Errorf("%s = %q, want > 0", s, v)
		}
	}

	p.stop(t)
	ivs, err := intervals.ReadFile(filepath.Join(out, "intervals.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	find := func(kind, name, condition, status string) []intervals.Interval {
		var found []intervals.Interval
		for _, iv := range ivs {
			k := iv.Locator.Keys
			if iv.Source == kind && k["name"] == name && k["condition"] == condition && iv.Message.Annotations["status"] == status {
				found = append(found, iv)
			}
		}
		return found
	}
	checkIv := func(what string, got []intervals.Interval, from, to time.Time, closed bool) {
		t.Helper()
		if len(got) != 1 {
			t.Errorf("%s: %d intervals, want 1: %+v", what, len(got), got)
			return
		}
		iv := got[0]
		if !iv.From.Equal(from) {
			t.Errorf("%s: from %s, want %s (the condition's lastTransitionTime)", what, iv.From.UTC(), from)
		}
		if closed && !iv.To.Equal(to) {
			t.Errorf("%s: to %s, want %s", what, iv.To.UTC(), to)
		}
	}
	checkIv("ingress Degraded=False", find("ClusterOperator", "ingress", "Degraded", "false"), t0, degradedAt, true)
	checkIv("ingress Degraded=True", find("ClusterOperator", "ingress", "Degraded", "true"), degradedAt, time.Time{}, false)
	checkIv("version Progressing=True", find("ClusterVersion", "version", "Progressing", "true"), upgradeAt, completedAt, true)
	checkIv("node-b Ready=False", find("Node", "node-b", "Ready", "false"), t0, time.Time{}, false)
	checkIv("ingress-nginx's marked upgrade", find("Upgrade", "ingress-nginx", "Progressing", "true"), markStart, markEnd, true)
	if got := find("ClusterOperator", "ingress", "Degraded", "true"); len(got) == 1 && got[0].Level != intervals.LevelError {
		t.Errorf("ingress Degraded=True interval level %s, want Error", got[0].Level)
	}
}

// markCmd is zerodown mark with args, against the test's cluster.
func markCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(binary, append([]string{"mark"}, args...)...)
	cmd.Env = os.Environ()
	return cmd
}

// markCLI runs zerodown mark and fails the test if it fails.
func markCLI(t *testing.T, args ...string) {
	t.Helper()
	if out, err := markCmd(args...).CombinedOutput(); err != nil {
		t.Fatalf("zerodown mark %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func readLines(path string) ([]string, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimSuffix(b, "\n"), "\n"), nil
}
