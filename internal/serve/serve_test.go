package serve

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zerodown/zerodown/internal/testpki"
)

// With a web configuration that requires client certificates, every
// endpoint (the metrics, the handlers such as the rollback webhook,
// /intervals) answers only a client whose certificate the CA signed.
func TestMutualTLS(t *testing.T) {
	ca := testpki.New(t)
	srvCert, srvKey := ca.Issue(t, "server", true)
	cliCert, cliKey := ca.Issue(t, "alertmanager", false)
	other := testpki.New(t) // a CA the server does not trust
	strangerCert, strangerKey := other.Issue(t, "stranger", false)
	cfg := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n  client_ca_file: %s\n  client_auth_type: RequireAndVerifyClientCert\n",
		srvCert, srvKey, ca.CAFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	ivs := filepath.Join(t.TempDir(), "intervals.jsonl")
	if err := os.WriteFile(ivs, []byte(`{"alive":"2026-12-01T10:00:00Z"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	s, err := Start(Options{Addr: "127.0.0.1:0", Gatherer: prometheus.NewRegistry(), OnListen: func(a string) { addrc <- a },
		WebConfigFile: cfg, Intervals: ivs,
		Handlers: map[string]http.Handler{"/alertmanager/webhook": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "decided\n") })}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := <-addrc
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(ca.CAFile)
	pool.AppendCertsFromPEM(pem)
	client := func(cert, key string) *http.Client {
		c := &tls.Config{RootCAs: pool}
		if cert != "" {
			pair, err := tls.LoadX509KeyPair(cert, key)
			if err != nil {
				t.Fatal(err)
			}
			c.Certificates = []tls.Certificate{pair}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: c}}
	}
	for _, path := range []string{"/metrics", "/healthz", "/alertmanager/webhook", "/intervals"} {
		resp, err := client(cliCert, cliKey).Get("https://" + addr + path)
		if err != nil {
			t.Errorf("%s with the client certificate: %v", path, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s with the client certificate: %s", path, resp.Status)
		}
		for name, c := range map[string]*http.Client{"no certificate": client("", ""), "a certificate of another CA": client(strangerCert, strangerKey)} {
			if resp, err := c.Get("https://" + addr + path); err == nil {
				resp.Body.Close()
				t.Errorf("%s with %s: %s, want the TLS handshake refused", path, name, resp.Status)
			}
		}
	}
	if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && strings.Contains(string(body), "# HELP") {
			t.Error("plain HTTP served the metrics")
		}
	}
}

func TestWebConfigInvalid(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(cfg, []byte("tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Start(Options{Addr: "127.0.0.1:0", Gatherer: prometheus.NewRegistry(), WebConfigFile: cfg})
	if err == nil || !strings.Contains(err.Error(), "--web.config.file "+cfg) {
		t.Fatalf("Start with a web configuration naming missing files: %v, want an error naming --web.config.file", err)
	}
}

// Health and readiness answer under Kubernetes's names and Prometheus's
// (/-/healthy, /-/ready) alike: the same handlers.
func TestHealthAndReadiness(t *testing.T) {
	var missing atomic.Pointer[[]string]
	missing.Store(&[]string{"caches"})
	addrc := make(chan string, 1)
	s, err := Start(Options{Addr: "127.0.0.1:0", Gatherer: prometheus.NewRegistry(), OnListen: func(a string) { addrc <- a },
		Ready: func() error { return Waiting(*missing.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := <-addrc
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, tc := range []struct {
		ready bool
		path  string
		code  int
		body  string
	}{
		{false, "/healthz", http.StatusOK, "ok\n"},
		{false, "/-/healthy", http.StatusOK, "ok\n"},
		{false, "/readyz", http.StatusServiceUnavailable, "not ready: waiting for: caches\n"},
		{false, "/-/ready", http.StatusServiceUnavailable, "not ready: waiting for: caches\n"},
		{true, "/healthz", http.StatusOK, "ok\n"},
		{true, "/-/healthy", http.StatusOK, "ok\n"},
		{true, "/readyz", http.StatusOK, "ok\n"},
		{true, "/-/ready", http.StatusOK, "ok\n"},
	} {
		if tc.ready {
			missing.Store(&[]string{})
		}
		if code, body := get(tc.path); code != tc.code || body != tc.body {
			t.Errorf("%s (ready %v): %d %q, want %d %q", tc.path, tc.ready, code, body, tc.code, tc.body)
		}
	}
}

// A listen address in use is an error that names the flag.
func TestListenError(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, err = Start(Options{Addr: busy.Addr().String(), Gatherer: prometheus.NewRegistry()})
	if err == nil || !strings.HasPrefix(err.Error(), "--web.listen-address "+busy.Addr().String()+": ") {
		t.Fatalf("Start on a busy address: %v, want an error naming --web.listen-address", err)
	}
}
