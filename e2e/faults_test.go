//go:build e2e

package e2e

import (
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/rest"
)

// Modes of an apiProxy.
const (
	proxyPass = iota // forward every request
	proxyFail        // answer 500 at once
	proxyHang        // hold every request until the mode changes or the client gives up
)

// apiProxy stands in front of the test's API server on loopback, as an
// API server that goes bad during its own upgrade: it forwards requests
// (with the test's credentials), or answers 500, or hangs.
type apiProxy struct {
	URL  string
	mode atomic.Int32
	mu   sync.Mutex
	wake chan struct{} // closed when the mode changes
	srv  *http.Server
}

func newAPIProxy(t *testing.T, upstream *rest.Config) *apiProxy {
	t.Helper()
	target, err := url.Parse(upstream.Host)
	if err != nil {
		t.Fatal(err)
	}
	transport, err := rest.TransportFor(upstream)
	if err != nil {
		t.Fatal(err)
	}
	p := &apiProxy{wake: make(chan struct{})}
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport:     transport,
		FlushInterval: -1, // watches stream
		ErrorLog:      nil,
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for {
			p.mu.Lock()
			wake := p.wake
			p.mu.Unlock()
			switch p.mode.Load() {
			case proxyFail:
				http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"injected","code":500}`, http.StatusInternalServerError)
				return
			case proxyHang:
				select {
				case <-wake:
					continue
				case <-r.Context().Done():
					return
				}
			}
			rp.ServeHTTP(w, r)
			return
		}
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.URL = "http://" + l.Addr().String()
	go func() { _ = p.srv.Serve(l) }()
	t.Cleanup(func() { p.set(proxyPass); _ = p.srv.Close() })
	return p
}

// set changes the mode; hung requests go on in the new one.
func (p *apiProxy) set(mode int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode.Store(mode)
	close(p.wake)
	p.wake = make(chan struct{})
}

// rest is a client configuration through the proxy (which adds the
// credentials).
func (p *apiProxy) rest() *rest.Config {
	return &rest.Config{Host: p.URL, QPS: 50, Burst: 100}
}

// kubeconfig writes a kubeconfig through the proxy and returns its path.
func (p *apiProxy) kubeconfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(`apiVersion: v1
kind: Config
clusters: [{name: proxy, cluster: {server: "`+p.URL+`"}}]
users: [{name: proxy, user: {}}]
contexts: [{name: proxy, context: {cluster: proxy, user: proxy}}]
current-context: proxy
`), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// relay spreads TCP connections over backends in turn, as a Service does
// over its endpoints (kube-proxy picks one per connection); with one
// backend it forwards.
type relay struct {
	Addr     string
	backends []string
	next     atomic.Uint64
}

func newRelay(t *testing.T, listen string, backends ...string) *relay {
	t.Helper()
	l, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{Addr: l.Addr().String(), backends: backends}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go r.serve(c)
		}
	}()
	return r
}

func (r *relay) serve(c net.Conn) {
	defer c.Close()
	b := r.backends[r.next.Add(1)%uint64(len(r.backends))]
	up, err := net.Dial("tcp", b)
	if err != nil {
		return // as a dead endpoint: the client sees the connection close
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}
