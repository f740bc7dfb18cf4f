package probes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/http2"

	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/internal/sleep"
)

// DropReason says how a held connection ended.
type DropReason uint8

const (
	// DropEOF: the peer closed the connection (FIN).
	DropEOF DropReason = iota
	// DropReset: the connection was reset (RST).
	DropReset
	// DropTimeout: a check was not answered within the timeout, or a
	// stream went silent: the path or the peer went dark.
	DropTimeout
	// DropGoAway: an HTTP/2 server sent GOAWAY (a graceful reload).
	DropGoAway
	// DropClose: an HTTP/1.1 server answered "Connection: close".
	DropClose
	// DropStreamEnd: the held stream ended or was reset while the
	// connection stayed up.
	DropStreamEnd
	// DropError: anything else (a protocol or TLS error).
	DropError
	numDropReasons
)

var dropNames = [numDropReasons]string{"eof", "reset", "timeout", "goaway", "close", "stream_end", "error"}

func (r DropReason) String() string {
	if r < numDropReasons {
		return dropNames[r]
	}
	return fmt.Sprintf("DropReason(%d)", r)
}

// AllDropReasons lists every DropReason, in order.
func AllDropReasons() []DropReason {
	rs := make([]DropReason, numDropReasons)
	for i := range rs {
		rs[i] = DropReason(i)
	}
	return rs
}

// Drop is a held connection that ended without zerodown closing it.
type Drop struct {
	Backend  string
	Protocol string
	// Slot says which of the target's held connections it was (0-based).
	Slot   int
	Reason DropReason
	Err    error
	// Opened is when the connection was established, LastAlive its latest
	// sign of life (an answered check, stream data) and At when the drop
	// was seen. A drop seen on a read (FIN, RST, GOAWAY) happened at At;
	// a timeout happened between LastAlive and At.
	Opened, LastAlive, At time.Time
}

// Lifetime is how long the connection lived.
func (d Drop) Lifetime() time.Duration { return d.At.Sub(d.Opened) }

// DropSink is a Sink that also hears of dropped held connections.
type DropSink interface {
	ConnectionDropped(d Drop)
}

// heldConn is one established long-lived connection.
type heldConn interface {
	// run uses the connection until it is dropped (the reason and the
	// error) or ctx ends (ctx.Err()). alive is called at every answered
	// check.
	run(ctx context.Context, alive func()) (DropReason, error)
	protocol() string
	close()
}

// dialHeld opens one held connection of a target.
type dialHeld func(ctx context.Context) (heldConn, error)

// holdStats are the counters of one target's held connections over one
// protocol.
type holdStats struct {
	open           int
	opened, checks uint64
	drops          [numDropReasons]uint64
}

// holder keeps a target's held connections open and counts their drops.
type holder struct {
	backend string
	n       int
	check   time.Duration
	timeout time.Duration
	dial    dialHeld

	objective float64
	budget    int

	sink     DropSink
	log      *slog.Logger
	lifetime *prometheus.HistogramVec

	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	protos map[string]*holdStats
	order  []string
}

// newHolder builds the holder of t (t.Hold set, resolved).
func newHolder(t *config.Target, lifetime *prometheus.HistogramVec, sink Sink, log *slog.Logger) (*holder, error) {
	h := &holder{
		backend:   t.Name,
		n:         t.Hold.Connections,
		check:     time.Duration(t.Hold.Check),
		timeout:   time.Duration(t.Timeout),
		objective: t.Hold.Objective,
		budget:    t.Hold.Budget,
		lifetime:  lifetime,
		log:       log,
		protos:    map[string]*holdStats{},
	}
	if ds, ok := sink.(DropSink); ok {
		h.sink = ds
	}
	var err error
	expected := "tcp" // the protocol exported before any connection opens
	switch {
	case t.HTTP != nil:
		h.dial, expected, err = newHTTPHold(t, h.timeout)
	case t.TCP != nil:
		h.dial = newTCPHold(t.TCP, h.check, h.timeout)
	default:
		err = errors.New("hold needs an http or tcp target")
	}
	if err != nil {
		return nil, err
	}
	h.statsLocked(expected) // not started yet: nobody else holds it
	return h, nil
}

// statsLocked returns the counters of protocol p, created at zero.
func (h *holder) statsLocked(p string) *holdStats {
	s, ok := h.protos[p]
	if !ok {
		s = &holdStats{}
		h.protos[p] = s
		h.order = append(h.order, p)
	}
	return s
}

// start opens the held connections; they run until stop.
func (h *holder) start(ctx context.Context) {
	ctx, h.cancel = context.WithCancel(ctx)
	for slot := range h.n {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.hold(ctx, slot)
		}()
	}
}

// stop closes the held connections (not counted as drops) and waits.
func (h *holder) stop() {
	if h.cancel != nil {
		h.cancel()
	}
	h.wg.Wait()
}

// holdRetryMin is the first wait before opening a connection again after
// a failed attempt; it doubles up to the check interval.
const holdRetryMin = 100 * time.Millisecond

// hold keeps one connection open: a dropped one is replaced at once, a
// failed attempt is retried with backoff.
func (h *holder) hold(ctx context.Context, slot int) {
	// Slots start spread over a check, so their checks do not come in bursts.
	if !sleep.For(ctx, time.Duration(int64(h.check)*int64(slot)/int64(h.n))) {
		return
	}
	retry := holdRetryMin
	for ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(ctx, h.timeout)
		c, err := h.dial(dctx)
		cancel()
		switch {
		case err != nil:
			h.log.Debug("opening a held connection", "backend", h.backend, "slot", slot, "err", err)
		case h.runConn(ctx, slot, c):
			retry = holdRetryMin
			continue
		}
		// A failed attempt, or a connection dropped before its first check
		// was answered (a proxy that accepts and closes, a stream answered
		// 404): back off rather than reconnect in a tight loop, jittered so
		// that the connections of many pollers do not come back at a
		// recovering backend in step.
		if !sleep.For(ctx, retry/2+rand.N(retry/2+1)) {
			return
		}
		retry = min(2*retry, h.check)
	}
}

// runConn uses c until it is dropped or ctx ends, and counts the drop. It
// reports whether the connection was healthy: a check answered, or it
// lived a check long.
func (h *holder) runConn(ctx context.Context, slot int, c heldConn) bool {
	defer c.close()
	p := c.protocol()
	opened := time.Now()
	lastAlive := opened // run calls alive on this goroutine
	h.mu.Lock()
	st := h.statsLocked(p)
	st.open++
	st.opened++
	h.mu.Unlock()
	reason, err := c.run(ctx, func() {
		lastAlive = time.Now()
		h.mu.Lock()
		st.checks++
		h.mu.Unlock()
	})
	at := time.Now()
	ours := ctx.Err() != nil // closed by us: not a drop
	h.mu.Lock()
	st.open--
	if !ours {
		st.drops[reason]++
	}
	h.mu.Unlock()
	if ours {
		return true
	}
	d := Drop{Backend: h.backend, Protocol: p, Slot: slot, Reason: reason, Err: err,
		Opened: opened, LastAlive: lastAlive, At: at}
	h.lifetime.WithLabelValues(h.backend, p).Observe(d.Lifetime().Seconds())
	if h.sink != nil {
		h.sink.ConnectionDropped(d)
	}
	return d.LastAlive.After(opened) || d.Lifetime() >= h.check
}

// metrics snapshots the holder as constant metrics.
func (h *holder) metrics() []prometheus.Metric {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []prometheus.Metric
	for _, p := range h.order {
		s := h.protos[p]
		out = append(out,
			prometheus.MustNewConstMetric(connsOpenDesc, prometheus.GaugeValue, float64(s.open), h.backend, p),
			prometheus.MustNewConstMetric(connsOpenedDesc, prometheus.CounterValue, float64(s.opened), h.backend, p),
			prometheus.MustNewConstMetric(connChecksDesc, prometheus.CounterValue, float64(s.checks), h.backend, p))
		for r, n := range s.drops {
			out = append(out, prometheus.MustNewConstMetric(connDropsDesc, prometheus.CounterValue, float64(n), h.backend, p, DropReason(r).String()))
		}
	}
	out = append(out, prometheus.MustNewConstMetric(connsWantedDesc, prometheus.GaugeValue, float64(h.n), h.backend))
	if h.objective > 0 {
		out = append(out, prometheus.MustNewConstMetric(connObjectiveDesc, prometheus.GaugeValue, h.objective, h.backend))
	}
	if h.budget > 0 {
		out = append(out, prometheus.MustNewConstMetric(connBudgetDesc, prometheus.GaugeValue, float64(h.budget), h.backend))
	}
	return out
}

// HoldStatus is a snapshot of a target's held connections over one
// protocol.
type HoldStatus struct {
	Backend  string
	Protocol string
	Wanted   int
	Open     int
	Opened   uint64
	Checks   uint64
	Drops    map[string]uint64 // by reason, those above zero
}

func (h *holder) status() []HoldStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []HoldStatus
	for _, p := range h.order {
		s := h.protos[p]
		st := HoldStatus{Backend: h.backend, Protocol: p, Wanted: h.n, Open: s.open, Opened: s.opened, Checks: s.checks, Drops: map[string]uint64{}}
		for r, n := range s.drops {
			if n > 0 {
				st.Drops[DropReason(r).String()] = n
			}
		}
		out = append(out, st)
	}
	return out
}

// dropReasonOf classes the error that ended a held connection.
func dropReasonOf(err error) DropReason {
	var goAway http2.GoAwayError
	switch {
	case errors.As(err, &goAway):
		return DropGoAway
	case errors.Is(err, errStreamEnded):
		return DropStreamEnd
	case errors.Is(err, errConnClose):
		return DropClose
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return DropReset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return DropEOF
	case isTimeout(err), errors.Is(err, syscall.ETIMEDOUT), errors.Is(err, errNoAnswer):
		return DropTimeout
	}
	return DropError
}

var (
	errStreamEnded = errors.New("the held stream ended")
	errConnClose   = errors.New(`the server answered "Connection: close"`)
	errNoAnswer    = errors.New("a check was not answered in time")
)

// signal is a wake-up that holds at most one pending notification.
type signal chan struct{}

func newSignal() signal { return make(signal, 1) }

func (s signal) notify() {
	select {
	case s <- struct{}{}:
	default:
	}
}

func (s signal) drain() {
	select {
	case <-s:
	default:
	}
}

// awaitAnswer waits until answered, a connection error, ctx's end or the
// timeout, whichever comes first.
func awaitAnswer(ctx context.Context, answered signal, errc <-chan error, timeout time.Duration) (DropReason, error, bool) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-answered:
		return 0, nil, true
	case err := <-errc:
		return dropReasonOf(err), err, false
	case <-t.C:
		return DropTimeout, fmt.Errorf("%w (%s)", errNoAnswer, timeout), false
	case <-ctx.Done():
		return 0, ctx.Err(), false
	}
}

// nextCheck waits for the next tick, a connection error or ctx's end;
// ok is false (with the drop's reason and error, or ctx's error) unless
// the tick came.
func nextCheck(ctx context.Context, tick *time.Ticker, errc <-chan error) (reason DropReason, err error, ok bool) {
	select {
	case <-ctx.Done():
		return 0, ctx.Err(), false
	case err := <-errc:
		return dropReasonOf(err), err, false
	case <-tick.C:
		return 0, nil, true
	}
}
