//go:build e2e

// Package e2e runs zerodown's roles as real processes against a real
// control plane (etcd, kube-apiserver, kube-controller-manager and the
// OpenShift and prometheus-operator CRDs, from e2e/controlplane) and real
// loopback servers. Run it with `make e2e`, which starts the control plane
// and sets KUBECONFIG.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	configclient "github.com/openshift/client-go/config/clientset/versioned"
	mcfgclient "github.com/openshift/client-go/machineconfiguration/clientset/versioned"
	routeclient "github.com/openshift/client-go/route/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// binary is the zerodown binary built for these tests.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv("KUBECONFIG") == "" {
		fmt.Fprintln(os.Stderr, "e2e: KUBECONFIG is not set; run `make e2e` (it starts the control plane)")
		os.Exit(2)
	}
	dir, err := os.MkdirTemp("", "zerodown-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "zerodown")
	// Built with the race detector: a race in a role fails the test that ran it.
	build := exec.Command("go", "build", "-race", "-o", binary, "github.com/zerodown/zerodown/cmd/zerodown")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building zerodown:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// clients are the API clients a test needs.
type clients struct {
	rest    *rest.Config
	kube    kubernetes.Interface
	config  configclient.Interface
	mcfg    mcfgclient.Interface
	route   routeclient.Interface
	dynamic dynamic.Interface
}

func newClients(t *testing.T) *clients {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	rc.WarningHandler = rest.NoWarnings{} // ClusterVersion: unknown spec.signatureStores, harmless
	c := &clients{rest: rc}
	c.kube = kubernetes.NewForConfigOrDie(rc)
	c.config = configclient.NewForConfigOrDie(rc)
	c.mcfg = mcfgclient.NewForConfigOrDie(rc)
	c.route = routeclient.NewForConfigOrDie(rc)
	c.dynamic = dynamic.NewForConfigOrDie(rc)
	return c
}

// process is a zerodown role running as a child process.
type process struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	addr string
	done chan struct{}
	// client, if set, is how get reaches it (https, a bearer token);
	// else plain HTTP.
	client *http.Client
}

var listenRE = regexp.MustCompile(`msg="serving metrics" addr=(\S+)`)

// start runs zerodown with args (and --web.listen-address 127.0.0.1:0), waits until
// it serves metrics and stops it when the test ends. Its log is printed
// when the test fails.
func start(t *testing.T, args ...string) *process {
	t.Helper()
	return startIn(t, "", "127.0.0.1:0", args...)
}

// startIn is start in the network namespace netns ("" for the test's
// own), listening on listen.
func startIn(t *testing.T, netns, listen string, args ...string) *process {
	t.Helper()
	p := &process{done: make(chan struct{})}
	args = append(args, "--web.listen-address", listen, "--log.format", "logfmt")
	if netns == "" {
		p.cmd = exec.Command(binary, args...)
	} else {
		p.cmd = exec.Command("ip", append([]string{"netns", "exec", netns, binary}, args...)...)
	}
	p.cmd.Env = os.Environ()
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout = io.Discard
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			if m := listenRE.FindStringSubmatch(line); m != nil {
				select {
				case addrc <- m[1]:
				default:
				}
			}
		}
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if strings.Contains(p.log(), "WARNING: DATA RACE") {
			t.Errorf("zerodown %s: the race detector found a data race", args[0])
		}
		if t.Failed() {
			t.Logf("zerodown %s log:\n%s", args[0], p.log())
		}
	})
	select {
	case p.addr = <-addrc:
	case <-p.done:
		t.Fatalf("zerodown %s exited:\n%s", args[0], p.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("zerodown %s did not start serving in 30s:\n%s", args[0], p.log())
	}
	return p
}

func (p *process) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// stop sends SIGTERM and waits for the process to end.
func (p *process) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("zerodown did not stop within 15s of SIGTERM")
	}
}

func (p *process) get(t *testing.T, path string) (int, string) {
	t.Helper()
	get, url := http.Get, "http://"+p.addr+path
	if p.client != nil {
		get, url = p.client.Get, "https://"+p.addr+path
	}
	resp, err := get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// waitReady waits for /readyz to answer 200.
func (p *process) waitReady(t *testing.T) {
	t.Helper()
	eventually(t, 30*time.Second, "/readyz answers 200", func() (bool, string) {
		code, body := p.get(t, "/readyz")
		return code == 200, fmt.Sprintf("%d %s", code, body)
	})
}

// samples scrapes /metrics and returns the sample lines whose metric name
// starts with one of prefixes, sorted.
func (p *process) samples(t *testing.T, prefixes ...string) []string {
	t.Helper()
	code, body := p.get(t, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	var out []string
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, pfx := range prefixes {
			if strings.HasPrefix(line, pfx) {
				out = append(out, line)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// value returns the value of the one sample line that starts with series
// (name and labels, as exposed), and whether there is one.
func value(lines []string, series string) (string, bool) {
	for _, l := range lines {
		if strings.HasPrefix(l, series+" ") {
			return strings.TrimPrefix(l, series+" "), true
		}
	}
	return "", false
}

// eventually polls cond every 100ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("after %s, still not %s; last state:\n%s", timeout, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	text := strings.Join(got, "\n") + "\n"
	if *update {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != text {
		t.Errorf("%s differs (run `go test -tags e2e ./e2e -update` to accept):\n%s", path, diff(strings.Split(strings.TrimSuffix(string(want), "\n"), "\n"), got))
	}
}

// diff lists lines only in want (-) and only in got (+).
func diff(want, got []string) string {
	in := func(ss []string) map[string]bool {
		m := map[string]bool{}
		for _, s := range ss {
			m[s] = true
		}
		return m
	}
	w, g := in(want), in(got)
	var b strings.Builder
	for _, s := range want {
		if !g[s] {
			b.WriteString("- " + s + "\n")
		}
	}
	for _, s := range got {
		if !w[s] {
			b.WriteString("+ " + s + "\n")
		}
	}
	return b.String()
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}

// freshNamespace creates a namespace named prefix plus a random suffix and
// deletes it when the test ends. A name of its own each run matters:
// kube-controller-manager's caches may still hold the objects of a
// namespace of the same name deleted a moment ago, and then it misbehaves
// (ReplicaSet hash collisions).
func freshNamespace(t *testing.T, c *clients, prefix string) string {
	t.Helper()
	ns, err := c.kube.CoreV1().Namespaces().Create(ctxT(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.kube.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{}) })
	// Pods need its default ServiceAccount (the ServiceAccount admission
	// plugin refuses them until the controller made it).
	eventually(t, 30*time.Second, "ServiceAccount default in "+ns.Name, func() (bool, string) {
		_, err := c.kube.CoreV1().ServiceAccounts(ns.Name).Get(ctxT(t), "default", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	})
	return ns.Name
}
