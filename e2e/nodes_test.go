//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// realNodes are the nodes e2e/nodes/up.sh started (ZERODOWN_NODES says how
// many; e2e/run.sh runs these tests after starting them). Without it the
// test is skipped: the rest of the suite runs on a control plane without
// nodes.
func realNodes(t *testing.T, c *clients) []string {
	t.Helper()
	want, err := strconv.Atoi(os.Getenv("ZERODOWN_NODES"))
	if err != nil || want < 1 {
		t.Skip("no real nodes: e2e/run.sh starts them (e2e/nodes/up.sh) and runs this with ZERODOWN_NODES=N")
	}
	var names []string
	eventually(t, 60*time.Second, fmt.Sprintf("%d nodes zd-node-* Ready", want), func() (bool, string) {
		nodes, err := c.kube.CoreV1().Nodes().List(ctxT(t), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		names = names[:0]
		for _, n := range nodes.Items {
			if strings.HasPrefix(n.Name, "zd-node-") && nodeReady(&n) {
				names = append(names, n.Name)
			}
		}
		return len(names) == want, fmt.Sprint(names)
	})
	return slices.Clone(names)
}

// nodeReady reports whether n's Ready condition is True.
func nodeReady(n *corev1.Node) bool {
	return slices.ContainsFunc(n.Status.Conditions, func(c corev1.NodeCondition) bool {
		return c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue
	})
}

// podMetrics scrapes a pod's /metrics through the API server's pod proxy.
func podMetrics(t *testing.T, c *clients, ns, pod, port string) string {
	t.Helper()
	b, err := c.kube.CoreV1().Pods(ns).ProxyGet("http", pod, port, "metrics", nil).DoRaw(ctxT(t))
	if err != nil {
		return ""
	}
	return string(b)
}

// TestNodesRunDeploy applies deploy/overlays/kubernetes as a user would, on
// real nodes: a poller pod Ready on every node, the controller's two
// replicas Ready with one of them holding the Lease, the network matrix
// up between the nodes over the pod network and through the Service
// (kube-proxy), and zerodown report --kubeconfig gathering every pod's
// intervals. The pods' CPU and memory, from the kubelets' own stats, are
// logged (measured, not asserted).
func TestNodesRunDeploy(t *testing.T) {
	c := newClients(t)
	nodes := realNodes(t, c)
	const ns = "zerodown"
	// What the tests before left in namespace zerodown (the OpenShift
	// overlay) goes first.
	kubectl(t, "delete", "-k", "../deploy/overlays/openshift", "--ignore-not-found", "--wait=true", "--timeout=120s")
	start := time.Now()
	kubectl(t, "apply", "--server-side", "--field-manager=zerodown-e2e", "-k", "../deploy/overlays/kubernetes")

	pods := func(app string) []corev1.Pod {
		l, err := c.kube.CoreV1().Pods(ns).List(ctxT(t), metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + app})
		if err != nil {
			t.Fatal(err)
		}
		return slices.DeleteFunc(l.Items, func(p corev1.Pod) bool {
			return p.DeletionTimestamp != nil || !strings.HasPrefix(p.Spec.NodeName, "zd-node-") ||
				!slices.ContainsFunc(p.Status.Conditions, func(c corev1.PodCondition) bool {
					return c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue
				})
		})
	}
	var pollers, controllers []corev1.Pod
	eventually(t, 3*time.Minute, "a poller Ready on every node and two controllers Ready", func() (bool, string) {
		pollers, controllers = pods("zerodown-poller"), pods("zerodown-controller")
		var on []string
		for _, p := range pollers {
			on = append(on, p.Spec.NodeName)
		}
		slices.Sort(on)
		return slices.Equal(on, nodes) && len(controllers) == 2, fmt.Sprintf("pollers on %v, %d controllers", on, len(controllers))
	})
	t.Logf("deploy/overlays/kubernetes applied: every pod Ready after %s", time.Since(start).Round(100*time.Millisecond))

	eventually(t, 60*time.Second, "one controller holds the Lease and says it leads", func() (bool, string) {
		lease, err := c.kube.CoordinationV1().Leases(ns).Get(ctxT(t), "zerodown-controller", metav1.GetOptions{})
		if err != nil || lease.Spec.HolderIdentity == nil {
			return false, fmt.Sprint(err)
		}
		var leading []string
		for _, p := range controllers {
			if strings.Contains(podMetrics(t, c, ns, p.Name, "9948"), "\nzerodown_controller_leader 1\n") {
				leading = append(leading, p.Name)
			}
		}
		return len(leading) == 1 && leading[0] == *lease.Spec.HolderIdentity, fmt.Sprintf("Lease held by %s; leading: %v", *lease.Spec.HolderIdentity, leading)
	})

	for _, p := range pollers {
		var want []string
		for _, n := range nodes {
			if n != p.Spec.NodeName {
				want = append(want, fmt.Sprintf(`zerodown_backend_up{backend="net:pod:%s",connection="new"} 1`, n))
			}
		}
		want = append(want, `zerodown_backend_up{backend="net:service:zerodown-poller-service",connection="new"} 1`)
		eventually(t, 60*time.Second, "the poller on "+p.Spec.NodeName+" reaches the others and the Service", func() (bool, string) {
			m := podMetrics(t, c, ns, p.Name, "9949")
			var missing []string
			for _, w := range want {
				if !strings.Contains(m, "\n"+w+"\n") {
					missing = append(missing, w)
				}
			}
			return len(missing) == 0, strings.Join(missing, "\n")
		})
	}

	out := t.TempDir()
	cmd := exec.Command(binary, "report", "--kubeconfig", os.Getenv("KUBECONFIG"), "--namespace", ns, "--out", out)
	logs, _ := cmd.CombinedOutput()
	for _, p := range append(slices.Clone(pollers), controllers...) {
		if fi, err := os.Stat(filepath.Join(out, "intervals", p.Name+".jsonl")); err != nil || fi.Size() == 0 {
			t.Errorf("report did not gather %s's intervals (%v):\n%s", p.Name, err, logs)
		}
	}

	// The kubelets' own account of the pods (cAdvisor samples every few
	// seconds: wait for a sample of each).
	type usage struct{ cpu, mem float64 }
	seen := map[string]usage{}
	eventually(t, 90*time.Second, "the kubelets' stats of every zerodown pod", func() (bool, string) {
		for _, n := range nodes {
			b, err := c.kube.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", n, "proxy", "stats", "summary").DoRaw(ctxT(t))
			if err != nil {
				return false, fmt.Sprintf("stats of %s: %v", n, err)
			}
			var s struct {
				Pods []struct {
					PodRef struct{ Name, Namespace string }
					CPU    struct {
						UsageNanoCores uint64 `json:"usageNanoCores"`
					}
					Memory struct {
						WorkingSetBytes uint64 `json:"workingSetBytes"`
					}
				}
			}
			if err := json.Unmarshal(b, &s); err != nil {
				t.Fatal(err)
			}
			for _, p := range s.Pods {
				if p.PodRef.Namespace == ns && p.CPU.UsageNanoCores > 0 && p.Memory.WorkingSetBytes > 0 {
					seen[p.PodRef.Name+" on "+n] = usage{float64(p.CPU.UsageNanoCores) / 1e6, float64(p.Memory.WorkingSetBytes) / (1 << 20)}
				}
			}
		}
		return len(seen) == len(pollers)+len(controllers), fmt.Sprint(seen)
	})
	for k, u := range seen {
		t.Logf("%s: CPU %.1f millicores, working set %.1f MiB", k, u.cpu, u.mem)
	}
}
