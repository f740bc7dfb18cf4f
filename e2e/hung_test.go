//go:build e2e

package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zerodown/zerodown/testtarget"
	"github.com/zerodown/zerodown/testtarget/targettest"
)

// hungAPIServer is a loopback listener that accepts connections and never
// answers, as an API server does whose process is stuck: a client waits
// out its TLS handshake timeout every time. It returns a kubeconfig for it.
func hungAPIServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 1024)
	t.Cleanup(func() {
		l.Close()
		close(held)
		for c := range held {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			select {
			case held <- c: // held open, never answered
			default:
				c.Close()
			}
		}
	}()
	kc := `apiVersion: v1
kind: Config
clusters: [{name: hung, cluster: {server: "https://` + l.Addr().String() + `", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: hung, context: {cluster: hung, user: u}}]
current-context: hung
`
	path := filepath.Join(t.TempDir(), "hung.kubeconfig")
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestHungAPIServer starts both roles against an API server that accepts
// connections and never answers: they serve /metrics and /healthz at once,
// /readyz says what they wait for, and the poller probes its static
// targets meanwhile. (Before, the shipped liveness probe would have
// restarted them: the controller served nothing for 95 s, the poller for
// 58 s.)
func TestHungAPIServer(t *testing.T) {
	kc := hungAPIServer(t)
	tt := targettest.Start(t, testtarget.Options{})
	cfg := filepath.Join(t.TempDir(), "static.yaml")
	if err := os.WriteFile(cfg, []byte("targets:\n  - name: static\n    connections: [new]\n    interval: 50ms\n    http:\n      url: http://"+tt.HTTPAddr()+"/\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	poller := start(t, "poller", "--builtin=false", "--kubeconfig", kc, "--config", cfg, "--node-name", "hung-node")
	controller := start(t, "controller", "--kubeconfig", kc, "--leader-elect.namespace", "default")
	t.Logf("both roles serving %s after they were started", time.Since(began).Round(time.Millisecond))

	for _, p := range []struct {
		name string
		p    *process
		want []string
	}{
		{"poller", poller, []string{"waiting for:", "this node's informer cache not synced"}},
		{"controller", controller, []string{"waiting for:", "informer caches not synced"}},
	} {
		if code, body := p.p.get(t, "/healthz"); code != 200 {
			t.Errorf("%s /healthz: %d %s", p.name, code, body)
		}
		code, body := p.p.get(t, "/readyz")
		if code == 200 {
			t.Errorf("%s /readyz: 200 against a hung API server", p.name)
		}
		for _, w := range p.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s /readyz = %q, want it to say %q", p.name, body, w)
			}
		}
		if code, body := p.p.get(t, "/metrics"); code != 200 || !strings.Contains(body, "zerodown_build_info") {
			t.Errorf("%s /metrics: %d", p.name, code)
		}
	}
	// The poller probes its static target meanwhile.
	waitMetric(t, poller, `zerodown_probe_requests_total{backend="static",connection="new",protocol="http",result="success"}`,
		"> 5", func(v float64) bool { return v > 5 })
	// Discovery's API question is pending or answered "taken as served",
	// never a crash: both are still running.
	for _, p := range []*process{poller, controller} {
		select {
		case <-p.done:
			t.Fatalf("a role exited against a hung API server:\n%s", p.log())
		default:
		}
	}
}
