package collectors

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// Served tells "not served" (404) from "cannot tell now" (an aggregated API
// answering 503 during an upgrade), against a real HTTP server.
func TestServed(t *testing.T) {
	servedRetry = time.Millisecond
	const routes = `{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"route.openshift.io/v1",` +
		`"resources":[{"name":"routes","singularName":"route","namespaced":true,"kind":"Route","verbs":["get","list","watch"]}]}`
	for _, tc := range []struct {
		name     string
		answer   func(call int32) (int, string)
		want     bool
		wantGets int32
	}{
		{"served", func(int32) (int, string) { return 200, routes }, true, 1},
		{"not served", func(int32) (int, string) { return 404, `{}` }, false, 1},
		{"resource missing", func(int32) (int, string) {
			return 200, `{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"route.openshift.io/v1","resources":[]}`
		}, false, 1},
		{"unavailable, then served", func(n int32) (int, string) {
			if n <= 2 {
				return 503, `{}`
			}
			return 200, routes
		}, true, 3},
		{"unavailable throughout", func(int32) (int, string) { return 503, `{}` }, true, int32(servedAttempts)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var gets atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/apis/route.openshift.io/v1" {
					http.NotFound(w, r)
					return
				}
				code, body := tc.answer(gets.Add(1))
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(code)
				_, _ = w.Write([]byte(body))
			}))
			defer srv.Close()
			d, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			if got := Served(d, discard(), "route.openshift.io/v1", "routes"); got != tc.want {
				t.Errorf("Served = %v, want %v", got, tc.want)
			}
			if n := gets.Load(); n != tc.wantGets {
				t.Errorf("%d requests, want %d", n, tc.wantGets)
			}
		})
	}
}
