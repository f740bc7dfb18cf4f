package collectors

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/zerodown/zerodown/internal/kube"
	"github.com/zerodown/zerodown/internal/testwait"
)

const routesList = `{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"route.openshift.io/v1",` +
	`"resources":[{"name":"routes","singularName":"route","namespaced":true,"kind":"Route","verbs":["get","list","watch"]}]}`

// A Gate tells "not served" (404) from "cannot tell now" (an aggregated
// API answering 503 during an upgrade, a hung API server), against a real
// HTTP server, and picks up an API that appears later.
func TestGate(t *testing.T) {
	GateRetry, GateRecheck = time.Millisecond, 20*time.Millisecond
	for _, tc := range []struct {
		name      string
		answer    func(call int32) (int, string)
		want      GateState
		wantGets  int32 // at least, when the gate settles
		exactGets bool
	}{
		{"served", func(int32) (int, string) { return 200, routesList }, GateServed, 1, true},
		{"not served", func(int32) (int, string) { return 404, `{}` }, GateNotServed, 1, false},
		{"resource missing", func(int32) (int, string) {
			return 200, `{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"route.openshift.io/v1","resources":[]}`
		}, GateNotServed, 1, false},
		{"unavailable, then served", func(n int32) (int, string) {
			if n <= 2 {
				return 503, `{}`
			}
			return 200, routesList
		}, GateServed, 3, true},
		{"unavailable throughout: taken as served", func(int32) (int, string) { return 503, `{}` }, GateServed, int32(GateAttempts), true},
		{"not served, installed later", func(n int32) (int, string) {
			if n <= 3 {
				return 404, `{}`
			}
			return 200, routesList
		}, GateServed, 4, true},
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
			d, err := kube.NewAPIs(&rest.Config{Host: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			g := NewGate("route.openshift.io/v1", "routes")
			var started atomic.Bool
			g.OnServed(func(<-chan struct{}) { started.Store(true) })
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan struct{})
			go func() { defer close(done); g.Run(ctx, d, discard(), nil) }()
			testwait.Until(t, fmt.Sprintf("gate %v after %d requests", tc.want, tc.wantGets), func() bool { return g.State() == tc.want && gets.Load() >= tc.wantGets })
			if tc.want == GateServed {
				<-done
				if !started.Load() {
					t.Error("served, but the starters did not run")
				}
				select {
				case <-g.Served():
				default:
					t.Error("served, but Served() is not closed")
				}
				if n := gets.Load(); tc.exactGets && n != tc.wantGets {
					t.Errorf("%d requests, want %d", n, tc.wantGets)
				}
			} else if started.Load() {
				t.Error("not served, but the starters ran")
			}
		})
	}
}

// An API server that accepts connections and never answers leaves the
// gate unknown while it retries, without blocking the caller; after
// GateAttempts failures the API is taken as served.
func TestGateHungServer(t *testing.T) {
	GateRetry = time.Millisecond
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	d, err := kube.NewAPIs(&rest.Config{Host: "http://" + l.Addr().String(), Timeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	g := NewGate("route.openshift.io/v1", "routes")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Run(ctx, d, discard(), nil)
	if s := g.State(); s != GateUnknown {
		t.Errorf("state right after start = %v, want unknown", s)
	}
	testwait.Until(t, fmt.Sprintf("taken as served after %d attempts", GateAttempts), func() bool { return g.State() == GateServed })
}
