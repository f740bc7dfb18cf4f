// Command groundtruth is the e2e cluster's independent witness of
// disruption: a client of its own, sharing no code with zerodown's probes,
// that asks each target at a fixed rate and logs every request's start,
// duration and result. The e2e upgrade tests run it as a DaemonSet and hold
// zerodown's measurements against its log.
//
//	groundtruth [-interval 10ms] [-timeout 1s] [-listen :8081] NAME=URL...
//
// A URL is http://HOST[:PORT]/PATH (a GET on a new connection each time,
// success is a 2xx answer) or dns://NAME (the Go resolver asks the
// servers of /etc/resolv.conf, as an application in the pod would;
// success is at least one address, or with ?want=IP,IP exactly those).
// Two targets of one URL are two independent streams: how far they
// disagree is the noise of any sampling of that backend. GET /log?since=UNIX_NANOS serves the
// records since then as JSON Lines (the last -keep of them are kept), and
// /healthz answers ok. A failure during which this process itself could
// not run for 100 ms or more is marked stalled: the witness's trouble,
// perhaps not the target's.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Record is one request.
type Record struct {
	Target string `json:"target"`
	// Start is when the request began (Unix nanoseconds).
	Start int64 `json:"start"`
	// Micros is how long it took.
	Micros int64  `json:"us"`
	OK     bool   `json:"ok"`
	Err    string `json:"err,omitempty"`
	// Stalled says this process could not run for part of a failed
	// request (its node's CPU taken by others): the failure may be the
	// witness's own, and says nothing sure about the target.
	Stalled bool `json:"stalled,omitempty"`
}

// stalls remembers when this process could not run: a ticker every 10 ms
// that fires more than stallAfter late marks the time in between.
type stalls struct {
	mu    sync.Mutex
	spans [][2]int64 // [from, to] Unix nanoseconds, the newest last
}

const stallAfter = 100 * time.Millisecond

func (st *stalls) watch(ctx context.Context) {
	const every = 10 * time.Millisecond
	last := time.Now()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			now = time.Now()
			if now.Sub(last) > every+stallAfter {
				st.mu.Lock()
				st.spans = append(st.spans, [2]int64{last.UnixNano(), now.UnixNano()})
				if len(st.spans) > 10_000 {
					st.spans = st.spans[5_000:]
				}
				st.mu.Unlock()
			}
			last = now
		}
	}
}

// during says whether a stall overlapped [from, to].
func (st *stalls) during(from, to int64) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	for i := len(st.spans) - 1; i >= 0 && st.spans[i][1] >= from; i-- {
		if st.spans[i][0] <= to {
			return true
		}
	}
	return false
}

type target struct {
	name, kind, addr string
	want             []string // dns: the exact answer, sorted
}

func parse(arg string) (target, error) {
	name, raw, ok := strings.Cut(arg, "=")
	if !ok || name == "" {
		return target{}, fmt.Errorf("%q: want NAME=URL", arg)
	}
	switch {
	case strings.HasPrefix(raw, "http://"):
		return target{name: name, kind: "http", addr: raw}, nil
	case strings.HasPrefix(raw, "dns://"):
		host, query, _ := strings.Cut(strings.TrimPrefix(raw, "dns://"), "?want=")
		t := target{name: name, kind: "dns", addr: host}
		if query != "" {
			t.want = strings.Split(query, ",")
			slices.Sort(t.want)
		}
		return t, nil
	}
	return target{}, fmt.Errorf("%q: want an http:// or dns:// URL", arg)
}

type journal struct {
	mu   sync.Mutex
	recs []Record
	keep int
}

func (j *journal) add(r Record) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.recs) >= j.keep {
		j.recs = append(j.recs[:0], j.recs[len(j.recs)-j.keep/2:]...)
	}
	j.recs = append(j.recs, r)
}

func (j *journal) since(t int64) []Record {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []Record
	for _, r := range j.recs {
		if r.Start >= t {
			out = append(out, r)
		}
	}
	return out
}

func main() {
	interval := flag.Duration("interval", 10*time.Millisecond, "time between the starts of two requests to one target")
	timeout := flag.Duration("timeout", time.Second, "a request not done by then fails")
	listen := flag.String("listen", ":8081", "address of /log and /healthz")
	keep := flag.Int("keep", 1_000_000, "records kept in memory")
	flag.Parse()
	var targets []target
	for _, a := range flag.Args() {
		t, err := parse(a)
		if err != nil {
			fmt.Fprintln(os.Stderr, "groundtruth:", err)
			os.Exit(2)
		}
		targets = append(targets, t)
	}
	if len(targets) == 0 || *interval <= 0 || *timeout <= 0 || *keep < 2 {
		fmt.Fprintln(os.Stderr, "groundtruth: want NAME=URL arguments, and positive -interval, -timeout and -keep")
		os.Exit(2)
	}
	j := &journal{keep: *keep}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	st := &stalls{}
	go st.watch(ctx)
	for _, t := range targets {
		go run(ctx, t, *interval, *timeout, j, st)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/log", func(w http.ResponseWriter, r *http.Request) {
		since, _ := strconv.ParseInt(r.URL.Query().Get("since"), 10, 64)
		w.Header().Set("Content-Type", "application/jsonl")
		enc := json.NewEncoder(w)
		for _, rec := range j.since(since) {
			enc.Encode(rec)
		}
	})
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); srv.Close() }()
	log.Printf("groundtruth: %d targets every %s (timeout %s), log on %s", len(targets), *interval, *timeout, *listen)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// run asks t every interval, each request in its own goroutine so a slow
// one never delays the next start.
func run(ctx context.Context, t target, interval, timeout time.Duration, j *journal, st *stalls) {
	resolver := &net.Resolver{PreferGo: true}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		go func() {
			start := time.Now()
			rctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			var err error
			switch t.kind {
			case "http":
				err = get(rctx, t.addr)
			case "dns":
				var addrs []string
				addrs, err = resolver.LookupHost(rctx, t.addr)
				slices.Sort(addrs)
				switch {
				case err != nil:
				case len(addrs) == 0:
					err = errors.New("no address")
				case t.want != nil && !slices.Equal(addrs, t.want):
					err = fmt.Errorf("answer %v, want %v", addrs, t.want)
				}
			}
			if ctx.Err() != nil {
				return
			}
			r := Record{Target: t.name, Start: start.UnixNano(), Micros: time.Since(start).Microseconds(), OK: err == nil}
			if err != nil {
				r.Err = err.Error()
				r.Stalled = st.during(r.Start, time.Now().UnixNano())
			}
			j.add(r)
		}()
	}
}

// nextPort is the source port the next connection tries.
var nextPort atomic.Uint32

const firstPort, lastPort = 10000, 65535

// dial connects from the next source port in turn, skipping ports in use.
// Cycling through 55,000 ports, a port comes back only after minutes
// (over two at 400 connections a second): longer than the conntrack entry
// of a connection whose SYN went unanswered (120 s). The kernel's own
// choice returns to the same port at once after such a failure, and the
// stale entry, still mapping the Service to a pod that is gone, sends each
// new SYN after it: a client at hundreds of connections a second keeps
// failing minutes after a rollout, by its own doing.
func dial(ctx context.Context, host string) (net.Conn, error) {
	var err error
	for range 16 {
		p := firstPort + int(nextPort.Add(1)%(lastPort-firstPort+1))
		var conn net.Conn
		conn, err = (&net.Dialer{LocalAddr: &net.TCPAddr{Port: p}}).DialContext(ctx, "tcp", host)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) {
			return conn, err
		}
	}
	return nil, err
}

// get asks rawURL once on a connection of its own, and closes it first:
// the client keeps the TIME_WAIT. (With "Connection: close" the server
// closes first and keeps it; at hundreds of connections a second from one
// pod, a reused source port then meets the server's TIME_WAIT, and the
// SYN waits a second for its retransmission: failures of the witness, not
// of the backend.)
func get(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	conn, err := dial(ctx, host)
	if err != nil {
		return err
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: zerodown-groundtruth\r\n\r\n", u.RequestURI(), u.Host); err != nil {
		return err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}
