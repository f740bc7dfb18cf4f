package probes

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/zerodown/zerodown/config"
)

// The hand-written HTTP/1.1 path (plain http:// to an IP over a new
// connection) sends what the Transport path sends: method, Host, the
// target's headers, the bearer token read at every probe.
func TestLeanRequestLikeTransport(t *testing.T) {
	var mu sync.Mutex
	var got []*http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Clone(r.Context()))
		mu.Unlock()
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("zero"), 0o600); err != nil {
		t.Fatal(err)
	}
	tg := resolved(t, config.Target{HTTP: &config.HTTPProbe{URL: srv.URL + "/health?x=1", Method: "HEAD", Host: "app.example",
		Headers: map[string]string{"X-Probe": "zerodown"}, BearerTokenFile: token}})
	for i, c := range []config.Connection{config.ConnNew, config.ConnReused} {
		p, err := New(tg, c)
		if err != nil {
			t.Fatal(err)
		}
		if lean := p.(*httpProber).leanAddr != ""; lean != (c == config.ConnNew) {
			t.Fatalf("%s: lean = %v", c, lean)
		}
		for _, tok := range []string{"one", "two"} { // rotated between probes
			if err := os.WriteFile(token, []byte(tok+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if r := probeWith(p, time.Second); !r.OK() {
				t.Fatalf("%s: %v", c, r.Err)
			}
		}
		p.Close()
		mu.Lock()
		reqs := got[2*i:]
		mu.Unlock()
		for j, r := range reqs {
			want := []string{"Bearer one", "Bearer two"}[j]
			if r.Method != "HEAD" || r.Host != "app.example" || r.URL.RequestURI() != "/health?x=1" ||
				r.Header.Get("X-Probe") != "zerodown" || r.Header.Get("Authorization") != want {
				t.Errorf("%s, probe %d: %s %s host %s headers %v; want HEAD /health?x=1, host app.example, X-Probe and %q",
					c, j, r.Method, r.URL.RequestURI(), r.Host, r.Header, want)
			}
		}
	}
	if n := len(got); n != 4 {
		t.Fatalf("%d requests, want 4", n)
	}
	if !got[0].Close {
		t.Error("a new-connection probe did not ask to close the connection")
	}
}
