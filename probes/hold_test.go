package probes

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/internal/testwait"
	"github.com/zerodown/zerodown/testtarget"
)

// dropRecorder is a DropSink that keeps every drop.
type dropRecorder struct {
	Sink
	mu    sync.Mutex
	drops []Drop
}

func (r *dropRecorder) ConnectionDropped(d Drop) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drops = append(r.drops, d)
}

func (r *dropRecorder) all() []Drop {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Drop(nil), r.drops...)
}

const (
	holdCheck   = 100 * time.Millisecond
	holdTimeout = 400 * time.Millisecond
	holdConns   = 2
)

// holdTargets are one target per kind of held connection against tt.
func holdTargets(tt *testtarget.Server, ca string) map[string]config.Target {
	hold := func(stream string) *config.Hold {
		return &config.Hold{Connections: holdConns, Check: config.Duration(holdCheck), Stream: stream}
	}
	tls := config.TLS{CAFile: ca}
	return map[string]config.Target{
		"http":        {HTTP: &config.HTTPProbe{URL: "http://" + tt.HTTPAddr() + "/"}, Hold: hold("")},
		"https":       {HTTP: &config.HTTPProbe{URL: "https://" + tt.HTTPSAddr() + "/", HTTPVersion: "1.1", TLS: tls}, Hold: hold("")},
		"h2":          {HTTP: &config.HTTPProbe{URL: "https://" + tt.HTTPSAddr() + "/", TLS: tls}, Hold: hold("")},
		"h2c":         {HTTP: &config.HTTPProbe{URL: "h2c://" + tt.H2CAddr() + "/"}, Hold: hold("")},
		"h2c-stream":  {HTTP: &config.HTTPProbe{URL: "h2c://" + tt.H2CAddr() + "/"}, Hold: hold("/stream?every=50ms")},
		"http-stream": {HTTP: &config.HTTPProbe{URL: "http://" + tt.HTTPAddr() + "/"}, Hold: hold("/stream?every=50ms")},
		"tcp":         {TCP: &config.TCPProbe{Address: tt.TCPAddr(), Send: "ping\n"}, Hold: hold("")},
	}
}

func startHolder(t testing.TB, tg config.Target, name string, sink Sink) (*holder, *prometheus.HistogramVec) {
	t.Helper()
	tg.Name = name
	r := tg.Resolved(config.Schedule{Timeout: config.Duration(holdTimeout)})
	if err := r.Validate(); err != nil {
		t.Fatalf("target %s: %v", name, err)
	}
	lifetime := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lifetime"}, []string{"backend", "protocol"})
	h, err := newHolder(&r, lifetime, sink, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	h.start(context.Background())
	t.Cleanup(h.stop)
	return h, lifetime
}

func openConns(h *holder) (open int, checks uint64) {
	for _, s := range h.status() {
		open += s.Open
		checks += s.Checks
	}
	return open, checks
}

// TestHoldDropFaults drops held connections of every kind with each drop
// fault of the test target and checks that every connection open at the
// fault is counted once, with the reason the fault implies, seen after
// the fault began; and that replacements are opened.
func TestHoldDropFaults(t *testing.T) {
	// The reason each kind of connection sees for each fault; more than
	// one where the fault may meet the connection in more than one state.
	want := map[testtarget.Fault]map[string][]DropReason{
		// A server that closes a socket with data it has not read yet (a
		// check just sent, the stream's WINDOW_UPDATEs) sends an RST, not a
		// FIN: the kernel's rule. On a busy machine any kind may meet it.
		testtarget.DropFIN: {"http": {DropEOF, DropReset}, "https": {DropEOF, DropReset}, "h2": {DropEOF, DropReset},
			"h2c": {DropEOF, DropReset}, "h2c-stream": {DropEOF, DropReset}, "http-stream": {DropEOF, DropReset}, "tcp": {DropEOF, DropReset}},
		testtarget.DropRST: {"http": {DropReset}, "https": {DropReset}, "h2": {DropReset}, "h2c": {DropReset},
			"h2c-stream": {DropReset}, "http-stream": {DropReset}, "tcp": {DropReset}},
		// A graceful reload: HTTP/2 gets a GOAWAY, idle HTTP/1.1 is closed
		// (or, caught in a request, answered "Connection: close"); an
		// HTTP/1.1 stream goes on until the hard stop at the window's end.
		testtarget.DropGraceful: {"http": {DropEOF, DropClose, DropReset}, "https": {DropEOF, DropClose, DropReset}, "h2": {DropGoAway},
			"h2c": {DropGoAway}, "h2c-stream": {DropGoAway}, "http-stream": {DropEOF, DropReset}, "tcp": {DropEOF, DropReset}},
		testtarget.DropBlackhole: {"http": {DropTimeout}, "https": {DropTimeout}, "h2": {DropTimeout}, "h2c": {DropTimeout},
			"h2c-stream": {DropTimeout}, "http-stream": {DropTimeout}, "tcp": {DropTimeout}},
	}
	for _, fault := range []testtarget.Fault{testtarget.DropFIN, testtarget.DropRST, testtarget.DropGraceful, testtarget.DropBlackhole} {
		t.Run(string(fault), func(t *testing.T) {
			tt, ca := startTarget(t, testtarget.Options{})
			holders := map[string]*holder{}
			recs := map[string]*dropRecorder{}
			for name, tg := range holdTargets(tt, ca) {
				recs[name] = &dropRecorder{}
				holders[name], _ = startHolder(t, tg, name, recs[name])
			}
			for name, h := range holders {
				testwait.Until(t, name+": every connection open and checked", func() bool {
					open, checks := openConns(h)
					return open == holdConns && checks >= holdConns
				})
			}
			// Long enough for a silent connection's check and timeout on a
			// busy machine: the window's end resets what is left.
			rec := tt.Window(fault, 5*holdTimeout)
			for name, h := range holders {
				testwait.Until(t, name+": every connection dropped once", func() bool { return len(recs[name].all()) >= holdConns })
				testwait.Until(t, name+": connections open again", func() bool {
					open, _ := openConns(h)
					return open == holdConns
				})
			}
			time.Sleep(2 * holdCheck) // room for a drop counted twice to show
			for name := range holders {
				drops := recs[name].all()
				if len(drops) != holdConns {
					t.Errorf("%s: %d drops, want %d (one per connection): %+v", name, len(drops), holdConns, drops)
				}
				slots := map[int]bool{}
				for _, d := range drops {
					slots[d.Slot] = true
					if !containsReason(want[fault][name], d.Reason) {
						t.Errorf("%s: dropped with reason %s (%v), want one of %v", name, d.Reason, d.Err, want[fault][name])
					}
					if d.At.Before(rec.From) {
						t.Errorf("%s: drop seen at %s, before the fault began at %s", name, d.At.Format(time.RFC3339Nano), rec.From.Format(time.RFC3339Nano))
					}
					if d.Opened.After(rec.From) {
						t.Errorf("%s: the dropped connection was opened at %s, after the fault began", name, d.Opened.Format(time.RFC3339Nano))
					}
					t.Logf("%s: %s after %s (seen %s after the fault began)", name, d.Reason, d.Lifetime().Round(time.Millisecond), d.At.Sub(rec.From).Round(time.Microsecond))
				}
				if len(slots) != min(len(drops), holdConns) {
					t.Errorf("%s: drops on slots %v: a connection was counted twice", name, slots)
				}
			}
		})
	}
}

func containsReason(rs []DropReason, r DropReason) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// TestHoldSurvivesRequestFaults: faults that hurt requests but leave
// connections up (503 answers) drop nothing.
func TestHoldSurvivesRequestFaults(t *testing.T) {
	tt, ca := startTarget(t, testtarget.Options{})
	tg := holdTargets(tt, ca)
	rec := &dropRecorder{}
	h, _ := startHolder(t, tg["h2"], "h2", rec)
	h1, _ := startHolder(t, tg["http"], "http", rec)
	for _, x := range []*holder{h, h1} {
		testwait.Until(t, "connections open", func() bool { open, _ := openConns(x); return open == holdConns })
	}
	_, before := openConns(h1)
	tt.Window(testtarget.HTTP503, 5*holdCheck)
	testwait.Until(t, "checks answered after the window", func() bool { _, c := openConns(h1); return c >= before+2*holdConns })
	if d := rec.all(); len(d) > 0 {
		t.Errorf("503 answers dropped held connections: %+v", d)
	}
}

// TestHoldMetrics: the exported series of a holder, reasons at zero from
// the start, and a drop counted in them and in the lifetime histogram.
func TestHoldMetrics(t *testing.T) {
	tt, _ := startTarget(t, testtarget.Options{})
	e := NewEngine(EngineOptions{})
	tg := config.Target{Name: "tcp", TCP: &config.TCPProbe{Address: tt.TCPAddr(), Send: "ping\n"}, Connections: []config.Connection{config.ConnNew},
		Hold: &config.Hold{Connections: 2, Check: config.Duration(holdCheck), Budget: 3, Objective: 0.99}}
	r := tg.Resolved(config.Schedule{Timeout: config.Duration(holdTimeout)})
	if _, _, err := e.Apply([]config.Target{r}); err != nil {
		t.Fatal(err)
	}
	e.Start(context.Background())
	defer e.Stop()
	testwait.Until(t, "two connections open", func() bool {
		return mv(t, e, "zerodown_connections_open", nil) == 2
	})
	tt.Window(testtarget.DropRST, 10*time.Millisecond)
	testwait.Until(t, "two resets counted", func() bool {
		return mv(t, e, "zerodown_connection_drops_total", map[string]string{"reason": "reset"}) == 2
	})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP zerodown_connection_drop_budget How many drops of long-lived connections the backend may have during an upgrade (hold.budget), for the upgrade alert.
# TYPE zerodown_connection_drop_budget gauge
zerodown_connection_drop_budget{backend="tcp"} 3
# HELP zerodown_connection_slo_objective The share of checks of long-lived connections that must find them alive (hold.objective); absent: the shipped rules assume 0.999.
# TYPE zerodown_connection_slo_objective gauge
zerodown_connection_slo_objective{backend="tcp"} 0.99
# HELP zerodown_connections_wanted Long-lived connections the configuration asks to hold open to the backend.
# TYPE zerodown_connections_wanted gauge
zerodown_connections_wanted{backend="tcp"} 2
`), "zerodown_connection_drop_budget", "zerodown_connection_slo_objective", "zerodown_connections_wanted"); err != nil {
		t.Error(err)
	}
	for _, reason := range AllDropReasons() {
		want := 0.0
		if reason == DropReset {
			want = 2
		}
		if got := mv(t, e, "zerodown_connection_drops_total", map[string]string{"reason": reason.String()}); got != want {
			t.Errorf("drops with reason %s = %v, want %v (every reason exported from the start)", reason, got, want)
		}
	}
	if n := testutil.CollectAndCount(e, "zerodown_connection_lifetime_seconds"); n != 1 {
		t.Errorf("lifetime histograms = %d, want 1", n)
	}
	testwait.Until(t, "replacements opened", func() bool {
		return mv(t, e, "zerodown_connections_opened_total", nil) == 4
	})

	// A reload without hold stops the connections without counting drops.
	r.Hold = nil
	if _, _, err := e.Apply([]config.Target{r}); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(e, "zerodown_connections_open", "zerodown_connection_lifetime_seconds"); n != 0 {
		t.Errorf("%d held-connection series left after hold was removed", n)
	}
}

// mv is the value of the first series of name matching labels, 0 if none.
func mv(t *testing.T, c prometheus.Collector, name string, labels map[string]string) float64 {
	v, _ := metricValue(t, c, name, labels)
	return v
}

// A peer that accepts and closes at once is not reconnected to in a tight
// loop: a connection dropped before its first answered check backs off.
func TestHoldBacksOffFromInstantDrops(t *testing.T) {
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
			c.Close()
		}
	}()
	rec := &dropRecorder{}
	startHolder(t, config.Target{TCP: &config.TCPProbe{Address: l.Addr().String(), Send: "ping\n"},
		Hold: &config.Hold{Connections: 1, Check: config.Duration(200 * time.Millisecond)}}, "closer", rec)
	time.Sleep(time.Second)
	// Without backoff: thousands a second. With it: about one per 100-200 ms.
	if n := len(rec.all()); n == 0 || n > 20 {
		t.Errorf("%d drops in a second, want a few (backing off towards the check interval)", n)
	}
}

// An HTTP/1.1 answer with "Connection: close" is a graceful close, even
// though the server's FIN follows at once.
func TestHoldConnectionClose(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye\n")
	}))
	defer srv.Close()
	rec := &dropRecorder{}
	startHolder(t, config.Target{HTTP: &config.HTTPProbe{URL: srv.URL + "/"},
		Hold: &config.Hold{Connections: 1, Check: config.Duration(holdCheck)}}, "closing", rec)
	testwait.Until(t, "three drops", func() bool { return len(rec.all()) >= 3 })
	for _, d := range rec.all() {
		if d.Reason != DropClose {
			t.Errorf("dropped with %s (%v), want close", d.Reason, d.Err)
		}
	}
}
