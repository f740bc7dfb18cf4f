//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	configv1 "github.com/openshift/api/config/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/zerodown/zerodown/report"
)

// netHost is a network namespace the test creates, joined to the test's
// own by a veth pair: the test is at HostIP, the namespace at NSIP. The
// API server proxies to pods only at addresses other than loopback: the
// roles whose pods it proxies to run in such namespaces.
type netHost struct {
	Name, HostIP, NSIP string
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newNetHost creates namespace zde2e-i with 10.231.i.2, its peer 10.231.i.1
// on the test's side; it is removed when the test ends.
func newNetHost(t *testing.T, i int) *netHost {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root (CI runs as root)")
	}
	h := &netHost{Name: fmt.Sprintf("zde2e-%d", i), HostIP: fmt.Sprintf("10.231.%d.1", i), NSIP: fmt.Sprintf("10.231.%d.2", i)}
	hostDev, nsDev := fmt.Sprintf("zdh%d", i), fmt.Sprintf("zdn%d", i)
	// Left over by a killed run.
	_ = exec.Command("ip", "netns", "del", h.Name).Run()
	_ = exec.Command("ip", "link", "del", hostDev).Run()
	ipCmd(t, "netns", "add", h.Name)
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", h.Name).Run()
		_ = exec.Command("ip", "link", "del", hostDev).Run()
	})
	ipCmd(t, "link", "add", hostDev, "type", "veth", "peer", "name", nsDev)
	ipCmd(t, "link", "set", nsDev, "netns", h.Name)
	ipCmd(t, "addr", "add", h.HostIP+"/24", "dev", hostDev)
	ipCmd(t, "link", "set", hostDev, "up")
	ipCmd(t, "-n", h.Name, "addr", "add", h.NSIP+"/24", "dev", nsDev)
	ipCmd(t, "-n", h.Name, "link", "set", nsDev, "up")
	ipCmd(t, "-n", h.Name, "link", "set", "lo", "up")
	return h
}

// forward relays connections to HostIP:port on to target (the API
// server, which listens on loopback only), and returns the port.
func (h *netHost) forward(t *testing.T, target string) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(newRelay(t, h.HostIP+":0", target).Addr)
	n, _ := strconv.Atoi(port)
	return n
}

// kubeconfig writes the test's kubeconfig with the API server reached
// through forward (its certificate names localhost).
func (h *netHost) kubeconfig(t *testing.T, c *clients) string {
	t.Helper()
	return h.via(t, c, os.Getenv("KUBECONFIG"))
}

// via writes a copy of the kubeconfig at path with the API server reached
// through forward.
func (h *netHost) via(t *testing.T, c *clients, path string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(c.rest.Host)
	if err != nil {
		t.Fatal(err)
	}
	port := h.forward(t, u.Host)
	for _, cl := range cfg.Clusters {
		cl.Server = fmt.Sprintf("https://%s:%d", h.HostIP, port)
		cl.TLSServerName = "localhost"
	}
	out := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// switchable answers 200, or 503 while down is set.
type switchable struct{ down atomic.Bool }

func (s *switchable) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	if s.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	_, _ = io.WriteString(w, "ok\n")
}

// rolePod registers a process running in a namespace as a Running pod at
// its address, for the API server's pod proxy.
func rolePod(ctx context.Context, t *testing.T, c *clients, ns, name, app, ip string, port int32) {
	t.Helper()
	pod, err := c.kube.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/name": app}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "zerodown", Image: "zerodown:e2e",
			Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: port}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
	if _, err := c.kube.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestReportFromCluster: two pollers and the controller run in network
// namespaces of their own, registered as pods; a backend goes down for
// both pollers while an operator goes Degraded; zerodown report
// --kubeconfig fetches every interval stream through the API server's pod
// proxy and reports it: both pollers' outages, the time both saw, the
// operator's failing JUnit case, exit 3 over budget.
func TestReportFromCluster(t *testing.T) {
	ctx := ctxT(t)
	c := newClients(t)
	ns := freshNamespace(t, c, "collect")

	const coName = "collect-co"
	_ = c.config.ConfigV1().ClusterOperators().Delete(ctx, coName, metav1.DeleteOptions{}) // left by a killed run
	co, err := c.config.ConfigV1().ClusterOperators().Create(ctx, &configv1.ClusterOperator{ObjectMeta: metav1.ObjectMeta{Name: coName}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.config.ConfigV1().ClusterOperators().Delete(context.Background(), coName, metav1.DeleteOptions{})
	})
	t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
	co.Status.Conditions = []configv1.ClusterOperatorStatusCondition{cond("Available", "True", t0, "AsExpected"), cond("Degraded", "False", t0, "AsExpected")}
	if _, err := c.config.ConfigV1().ClusterOperators().UpdateStatus(ctx, co, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	var webs []*switchable
	var pollers []*process
	for i := 1; i <= 2; i++ {
		h := newNetHost(t, i)
		web := &switchable{}
		l, err := net.Listen("tcp", h.HostIP+":0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: web, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(l) }()
		t.Cleanup(func() { srv.Close() })
		webs = append(webs, web)
		cfg := filepath.Join(t.TempDir(), "poller.yaml")
		if err := os.WriteFile(cfg, []byte(fmt.Sprintf("targets:\n  - name: web\n    http: {url: 'http://%s/'}\n", l.Addr())), 0o600); err != nil {
			t.Fatal(err)
		}
		node := fmt.Sprintf("collect-node-%d", i)
		p := startIn(t, h.Name, h.NSIP+":9949", "poller", "--builtin=false", "--kubeconfig", h.kubeconfig(t, c), "--config", cfg, "--node-name", node,
			"--discovery.namespaces", ns, "--interval", "50ms", "--timeout", "200ms", "--out", t.TempDir())
		pollers = append(pollers, p)
		rolePod(ctx, t, c, ns, "zerodown-poller-"+node, "zerodown-poller", h.NSIP, 9949)
	}
	ch := newNetHost(t, 3)
	ctl := startIn(t, ch.Name, ch.NSIP+":9948", "controller", "--kubeconfig", ch.kubeconfig(t, c), "--workloads.namespaces", ns,
		"--leader-elect.namespace", ns, "--leader-elect.identity", "e2e-collect", "--leader-elect.retry-period", "200ms", "--out", t.TempDir())
	rolePod(ctx, t, c, ns, "zerodown-controller-0", "zerodown-controller", ch.NSIP, 9948)
	ctl.waitReady(t)
	for _, p := range pollers {
		eventually(t, 30*time.Second, "web probed and up", func() (bool, string) {
			up := p.samples(t, `zerodown_backend_up{backend="web",connection="new"`)
			return len(up) == 1 && strings.HasSuffix(up[0], " 1"), strings.Join(up, "\n")
		})
	}

	// Both pollers see web down for a second; the operator goes Degraded.
	degradedAt := time.Now().Truncate(time.Second)
	setCOCondition(ctx, t, c, coName, cond("Degraded", "True", degradedAt, "Collecting"))
	for _, w := range webs {
		w.down.Store(true)
	}
	time.Sleep(time.Second)
	for _, w := range webs {
		w.down.Store(false)
	}
	setCOCondition(ctx, t, c, coName, cond("Degraded", "False", time.Now().Truncate(time.Second), "AsExpected"))
	// The outages' ends and the operator's change reach the files.
	eventually(t, 30*time.Second, "web down and up again on both pollers", func() (bool, string) {
		var all []string
		for _, p := range pollers {
			d := p.samples(t, `zerodown_disruptions_total{backend="web",connection="new"`)
			up := p.samples(t, `zerodown_backend_up{backend="web",connection="new"`)
			all = append(all, d...)
			all = append(all, up...)
			if len(d) == 0 || strings.HasSuffix(d[0], " 0") || len(up) == 0 || !strings.HasSuffix(up[0], " 1") {
				return false, strings.Join(all, "\n")
			}
		}
		return true, ""
	})
	time.Sleep(1500 * time.Millisecond)

	out := t.TempDir()
	started := time.Now()
	cmd := exec.Command(binary, "report", "--kubeconfig", os.Getenv("KUBECONFIG"), "--namespace", ns, "--budget", "100ms", "--out", out)
	logs, err := cmd.CombinedOutput()
	code := cmd.ProcessState.ExitCode()
	t.Logf("zerodown report --kubeconfig took %s", time.Since(started).Round(time.Millisecond))
	if code != 3 {
		t.Fatalf("zerodown report --kubeconfig: exit %d (%v), want 3 (web over the 100ms budget):\n%s", code, err, logs)
	}
	fetched, _ := filepath.Glob(filepath.Join(out, "intervals", "*.jsonl"))
	if len(fetched) != 3 {
		t.Errorf("fetched %q, want the streams of 2 pollers and the controller\n%s", fetched, logs)
	}

	var s report.Summary
	b, err := os.ReadFile(filepath.Join(out, report.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, bk := range s.Backends {
		if bk.Backend != "web" || bk.Connection != "new" {
			continue
		}
		found = true
		if len(bk.Pollers) != 2 || bk.Pollers[0].Poller != "collect-node-1" || bk.Pollers[1].Poller != "collect-node-2" {
			t.Errorf("web/new pollers: %+v, want collect-node-1 and -2", bk.Pollers)
		}
		for _, p := range bk.Pollers {
			if p.Outages < 1 || p.Disruption < 0.5 || p.Observed < 2 {
				t.Errorf("web/new on %s: %+v, want an outage of about 1 s and the time probed", p.Poller, p)
			}
		}
		if bk.SeenByAll < 0.5 || bk.Verdict != "exceeded" {
			t.Errorf("web/new: seen by both pollers %.3fs, verdict %s; want about 1 s, exceeded", bk.SeenByAll, bk.Verdict)
		}
	}
	if !found {
		t.Fatalf("summary.json has no web/new:\n%s", b)
	}

	var suites struct {
		Suites []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	jb, err := os.ReadFile(filepath.Join(out, report.JUnitFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(jb, &suites); err != nil {
		t.Fatal(err)
	}
	var degraded *bool
	for _, su := range suites.Suites {
		for _, tc := range su.Cases {
			if tc.Name == "clusteroperator "+coName+" should not go Degraded" {
				failed := tc.Failure != nil
				degraded = &failed
			}
		}
	}
	if degraded == nil || !*degraded {
		t.Errorf("junit.xml: the case of %s going Degraded is missing or passes (%v):\n%s", coName, degraded, jb)
	}
	html, err := os.ReadFile(filepath.Join(out, report.HTMLFile))
	if err != nil || !strings.Contains(string(html), "web · new · collect-node-2") || !strings.Contains(string(html), coName) {
		t.Errorf("report.html lacks the pollers' lanes or the operator (%v)", err)
	}
}
