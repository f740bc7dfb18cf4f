package probes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zerodown/zerodown/config"
)

// Engine runs a set of targets, each over its connection modes, and exports
// what it measures. Apply changes the set live: series of unchanged targets
// keep running and keep their counters.
type Engine struct {
	log  *slog.Logger
	sink Sink
	dur  *prometheus.HistogramVec
	lag  prometheus.Histogram

	lifetime *prometheus.HistogramVec // of dropped held connections

	pool      *workerPool
	sched     *scheduler
	stopSched context.CancelFunc
	schedDone chan struct{}

	// observing is set when the engine knows whether its own node can be
	// trusted (a poller); impaired is why it cannot, "" when it can.
	observing bool
	impaired  atomic.Pointer[string]
	expect    Expectations

	// applyMu serialises Apply and Stop: each sees the set the previous
	// one left, whatever mu's holders do meanwhile.
	applyMu sync.Mutex

	mu          sync.Mutex
	ctx         context.Context
	epoch       time.Time          // origin of every series' schedule grid
	series      map[string]*series // by target key and connection
	holders     map[string]*holder // by Target.HoldKey
	holdOrder   []*holder          // the same, sorted by backend
	order       []*series          // sorted by backend, then connection
	keepRemoved bool
	removed     []Status // final statuses of removed series (keepRemoved)
	limiter     *limiter
	starved     *starvation
	load        *inFlight
}

// EngineOptions configures an Engine.
type EngineOptions struct {
	Logger *slog.Logger
	// Sink gets outage edges and certificate changes (may be nil).
	Sink Sink
	// Observing says the engine will be told, through SetImpaired, when
	// the observer itself cannot be trusted (a poller whose node is
	// cordoned, draining or not Ready). Failures then are counted apart
	// with reason observer, and their metrics are exported from the start.
	Observing bool
	// Expect, if set, tells DNS targets with answers_equal what to expect
	// now (discovery's view): an answer that differs from the applied
	// expectation is checked against it before it fails.
	Expect Expectations
	// MaxProbesPerSecond is a ceiling on probes started per second across
	// every target (0: none). Probes over it are skipped and counted in
	// zerodown_probes_rate_limited_total; re-probes of failing targets are
	// skipped first.
	MaxProbesPerSecond float64
	// MaxInFlightTotal bounds the requests in flight across every target
	// (0: DefaultMaxInFlightTotal); probes over it are skipped, re-probes
	// of failing targets first (they may use only half of it), and
	// counted in zerodown_probes_overload_skipped_total.
	MaxInFlightTotal int
	// NativeHistogramsOnly drops the classic buckets of
	// zerodown_probe_duration_seconds (15 series per target and
	// connection), keeping the native histogram alone (one series in a
	// Prometheus that ingests native histograms).
	NativeHistogramsOnly bool
	// KeepRemoved keeps the final status of every series that Apply
	// removes, for Statuses (a run's summary and verdict count a target
	// removed mid-run); off, a long-running poller forgets them.
	KeepRemoved bool
}

// Expectations gives the DNS answers a target (by backend name) expects now.
type Expectations interface {
	Expected(backend string) (answers []string, ok bool)
}

// SetImpaired tells the engine why the observer cannot be trusted now
// (e.g. "draining"), or "" when it can. A probe that fails while the
// observer is impaired (at its start or its end) counts as reason
// observer: apart from the target's disruption.
func (e *Engine) SetImpaired(cause string) { e.impaired.Store(&cause) }

func (e *Engine) impairedCause() string {
	if p := e.impaired.Load(); p != nil {
		return *p
	}
	return ""
}

// NewEngine returns an idle engine; Start starts it.
func NewEngine(o EngineOptions) *Engine {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{
		log:         o.Logger,
		sink:        o.Sink,
		observing:   o.Observing,
		expect:      o.Expect,
		keepRemoved: o.KeepRemoved,
		limiter:     newLimiter(o.MaxProbesPerSecond),
		starved:     &starvation{},
		load:        newInFlight(o.MaxInFlightTotal),
		dur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:                            "zerodown_probe_duration_seconds",
			Help:                            "Duration of probe requests, successful or not (a timeout observes the timeout).",
			Buckets:                         durationBuckets(o.NativeHistogramsOnly),
			NativeHistogramBucketFactor:     1.1,
			NativeHistogramMaxBucketNumber:  160,
			NativeHistogramMinResetDuration: time.Hour,
		}, []string{"backend", "protocol", "connection"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:                            "zerodown_scheduler_lag_seconds",
			Help:                            "How late probe requests really started against their schedule (dispatch and queueing for a worker).",
			Buckets:                         []float64{.0001, .00025, .0005, .001, .0025, .005, .0075, .01, .025, .05, .1, .5},
			NativeHistogramBucketFactor:     1.1,
			NativeHistogramMaxBucketNumber:  160,
			NativeHistogramMinResetDuration: time.Hour,
		}),
		lifetime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:                            "zerodown_connection_lifetime_seconds",
			Help:                            "How long long-lived connections lived before they were dropped (those zerodown closed itself are not observed).",
			Buckets:                         []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400},
			NativeHistogramBucketFactor:     1.1,
			NativeHistogramMaxBucketNumber:  160,
			NativeHistogramMinResetDuration: time.Hour,
		}, []string{"backend", "protocol"}),
		series:  map[string]*series{},
		holders: map[string]*holder{},
		pool:    newWorkerPool(),
		sched:   newScheduler(),
	}
}

// durationBuckets are the classic buckets of the probe duration histogram
// (none: native only).
func durationBuckets(nativeOnly bool) []float64 {
	if nativeOnly {
		return nil // with a native bucket factor: no classic buckets
	}
	return []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
}

// Start lets series run until ctx ends. Targets applied before Start begin
// with it; targets applied later begin at once.
func (e *Engine) Start(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	sctx, cancel := context.WithCancel(ctx)
	e.ctx, e.stopSched = sctx, cancel
	e.epoch = time.Now()
	e.schedDone = make(chan struct{})
	go func() {
		defer close(e.schedDone)
		e.sched.run(sctx)
	}()
	go e.starved.run(sctx)
	e.startAll(e.order)
	for _, h := range e.holdOrder {
		h.start(sctx)
	}
}

// HoldStatuses returns a snapshot of every target's held connections,
// sorted by backend.
func (e *Engine) HoldStatuses() []HoldStatus {
	e.mu.Lock()
	hs := e.holdOrder
	e.mu.Unlock()
	var out []HoldStatus
	for _, h := range hs {
		out = append(out, h.status()...)
	}
	return out
}

// staggerBurst is how many targets share a start time (with an even number
// of groups, a group's reused-connection series start with another group's
// new-connection ones). Targets are spread over their interval in groups
// of this size: the machine wakes once per
// group rather than once per probe (waking an idle CPU costs as much as a
// loopback request), while no group is big enough to delay its last probe
// noticeably or to load a backend in spikes.
const staggerBurst = 32

// staggerMinGroups spreads small sets of targets over the interval.
const staggerMinGroups = 4

// startAll starts series: targets, in the order their series come, go
// round-robin into groups spread over the interval, and a target's
// reused-connection series runs half an interval after its new-connection
// one, so any outage longer than half the interval is seen by one of them.
func (e *Engine) startAll(series []*series) {
	targets := map[string]int{}
	for _, s := range series {
		if _, ok := targets[s.info.Backend]; !ok {
			targets[s.info.Backend] = len(targets)
		}
	}
	n := len(targets)
	groups := max((n+staggerBurst-1)/staggerBurst, min(n, staggerMinGroups), 1)
	for _, s := range series {
		i := targets[s.info.Backend]
		offset := time.Duration(int64(s.interval) * int64(i%groups) / int64(groups))
		if s.info.Connection == config.ConnReused {
			offset = (offset + s.interval/2) % s.interval
		}
		e.startLocked(s, offset)
	}
}

// startLocked starts a series whose grid is the engine's epoch plus
// offset: its first probe is due at its grid point if that is still ahead,
// else at once.
func (e *Engine) startLocked(s *series, offset time.Duration) {
	phase := e.epoch.Add(offset)
	if now := time.Now(); now.After(phase) {
		// The latest grid point that has passed: the first probe is due at
		// once, the next ones stay on the grid.
		phase = phase.Add(now.Sub(phase) / s.interval * s.interval)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	// The histogram child is taken only now: a changed target with the
	// same labels replaces a series whose child Apply has just deleted.
	hist := e.dur.WithLabelValues(s.info.Backend, s.info.Protocol, string(s.info.Connection))
	s.mu.Lock()
	s.ctx, s.cancel, s.hist = ctx, cancel, hist
	s.startedAt = time.Now()
	s.phase = phase
	if ls, ok := s.sink.(LifecycleSink); ok {
		info, at := s.info, s.startedAt
		s.tellLocked(func() { ls.SeriesStarted(info, at) })
	}
	s.mu.Unlock()
	s.deliver()
	e.sched.add(s, phase)
}

// Stop stops the scheduler and every series (requests in flight are
// cancelled); an outage in progress ends now, annotated "stopped". The
// series stay in Statuses, frozen at the stop.
func (e *Engine) Stop() {
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	e.mu.Lock()
	all := append([]*series(nil), e.order...)
	stop, done := e.stopSched, e.schedDone
	holders := e.holdOrder
	e.mu.Unlock()
	for _, h := range holders {
		h.stop()
	}
	if stop != nil {
		stop()
		<-done
	}
	now := time.Now()
	for _, s := range all {
		e.stopSeries(s)
		s.retire(now, "stopped")
	}
}

func (e *Engine) stopSeries(s *series) {
	e.sched.remove(s)
	if s.cancel != nil {
		s.cancel()
	}
	s.prober.Close()
	e.dur.DeleteLabelValues(s.info.Backend, s.info.Protocol, string(s.info.Connection))
}

// Apply makes targets the running set. Targets must be resolved (defaults
// applied) and valid. It returns how many series it added and removed. If
// a new target cannot be built (an unreadable CA file, say) nothing
// changes and the error says which.
func (e *Engine) Apply(targets []config.Target) (added, removed int, err error) {
	added, removed, errs := e.apply(targets, false)
	return added, removed, errors.Join(errs...)
}

// ApplyEach is Apply for sets that change by themselves (discovery): a
// target that cannot be built is left out, with its error among failed,
// and the others apply.
func (e *Engine) ApplyEach(targets []config.Target) (added, removed int, failed []*ApplyError) {
	errs := []*ApplyError{}
	added, removed, all := e.apply(targets, true)
	for _, err := range all {
		errs = append(errs, err.(*ApplyError))
	}
	return added, removed, errs
}

// ApplyError says which target (over which connection) could not be built.
type ApplyError struct {
	Target     string
	Connection config.Connection
	Err        error
}

func (e *ApplyError) Error() string {
	return fmt.Sprintf("target %q (%s): %v", e.Target, e.Connection, e.Err)
}

func (e *ApplyError) Unwrap() error { return e.Err }

func (e *Engine) apply(targets []config.Target, each bool) (added, removed int, failed []error) {
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	e.mu.Lock()
	p, err := e.plan(targets, each)
	e.mu.Unlock()
	if err != nil {
		return 0, 0, []error{err}
	}
	// Stop the old series before the new ones start, so a changed target
	// never has two series with the same labels. e.mu is not held
	// meanwhile, so scrapes and views go on; applyMu keeps other Apply
	// calls out.
	finals := e.retire(p)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.install(p, finals)
	return len(p.fresh), len(p.gone), p.failed
}

// applyPlan is what an apply changes: the series and holders wanted (the
// running ones kept, new ones built), and those to go.
type applyPlan struct {
	want      map[string]*series
	fresh     []*series
	pairs     [][]*series // each target's series, for their siblings
	gone      []*series
	wantHold  map[string]*holder
	freshHold []*holder
	goneHold  []*holder
	failed    []error // targets left out (each)
}

// plan builds what targets need that is not running (e.mu held). A target
// that cannot be built is left out (each) or fails the whole apply, whose
// new series and holders are then closed; the running ones are untouched
// until the plan is installed, except for what their key leaves out (a
// DNS target's answers_equal), updated once the whole set built.
func (e *Engine) plan(targets []config.Target, each bool) (*applyPlan, error) {
	p := &applyPlan{want: map[string]*series{}, wantHold: map[string]*holder{}}
	var updates []func()
	// abort records a target that cannot be built and reports whether the
	// whole apply fails.
	abort := func(err error) bool {
		if each {
			p.failed = append(p.failed, err)
			return false
		}
		for _, f := range p.fresh {
			f.prober.Close()
		}
		for _, h := range p.freshHold {
			h.stop()
		}
		return true
	}
	for i := range targets {
		t := &targets[i]
		key := t.Key()
		var mine []*series
		for _, c := range t.Connections {
			k := key + "|" + string(c)
			if old, ok := e.series[k]; ok {
				if u, ok := old.prober.(updater); ok {
					updates = append(updates, func() { u.Update(t) })
				}
				p.want[k] = old
				mine = append(mine, old)
				continue
			}
			s, err := e.newSeries(t, c)
			if err != nil {
				if err = (&ApplyError{Target: t.Name, Connection: c, Err: err}); abort(err) {
					return nil, err
				}
				continue
			}
			p.want[k] = s
			p.fresh = append(p.fresh, s)
			mine = append(mine, s)
		}
		p.pairs = append(p.pairs, mine)
	}
	for i := range targets {
		t := &targets[i]
		hk := t.HoldKey()
		if hk == "" {
			continue
		}
		if old, ok := e.holders[hk]; ok {
			p.wantHold[hk] = old
			continue
		}
		h, err := newHolder(t, e.lifetime, e.sink, e.log)
		if err != nil {
			if err = (&ApplyError{Target: t.Name, Connection: "hold", Err: err}); abort(err) {
				return nil, err
			}
			continue
		}
		p.wantHold[hk] = h
		p.freshHold = append(p.freshHold, h)
	}
	for _, u := range updates {
		u()
	}
	for k, h := range e.holders {
		if _, ok := p.wantHold[k]; !ok {
			p.goneHold = append(p.goneHold, h)
		}
	}
	for k, s := range e.series {
		if _, ok := p.want[k]; !ok {
			p.gone = append(p.gone, s)
		}
	}
	return p, nil
}

// retire stops the holders and series that go (e.mu not held). An outage
// in progress ends at the removal; the final status is kept for the
// summary (keepRemoved).
func (e *Engine) retire(p *applyPlan) []Status {
	for _, h := range p.goneHold {
		h.stop()
	}
	now := time.Now()
	var finals []Status
	for _, s := range p.gone {
		e.stopSeries(s)
		s.retire(now, "removed")
		if e.keepRemoved {
			st := s.status(now)
			st.Removed = true
			finals = append(finals, st)
		}
	}
	return finals
}

// install makes the plan the running set and starts what is new (e.mu
// held).
func (e *Engine) install(p *applyPlan, finals []Status) {
	e.removed = append(e.removed, finals...)
	for _, pair := range p.pairs {
		// The same target over its other connection mode hints at its
		// recovery (see series.hint).
		for i, s := range pair {
			var sib *series
			if len(pair) == 2 {
				sib = pair[1-i]
			}
			s.sibling.Store(sib)
		}
	}
	e.holders = p.wantHold
	// A new slice (Collect and Stop read the old one unlocked).
	e.holdOrder = make([]*holder, 0, len(p.wantHold))
	held := map[string]bool{}
	for _, h := range p.wantHold {
		e.holdOrder = append(e.holdOrder, h)
		held[h.backend] = true
	}
	sort.Slice(e.holdOrder, func(i, j int) bool { return e.holdOrder[i].backend < e.holdOrder[j].backend })
	for _, h := range p.goneHold {
		if !held[h.backend] {
			e.lifetime.DeletePartialMatch(prometheus.Labels{"backend": h.backend})
		}
	}
	if e.ctx != nil {
		for _, h := range p.freshHold {
			h.start(e.ctx)
		}
	}
	e.series = p.want
	e.order = e.order[:0]
	for _, s := range p.want {
		e.order = append(e.order, s)
	}
	sort.Slice(e.order, func(i, j int) bool {
		a, b := e.order[i].info, e.order[j].info
		if a.Backend != b.Backend {
			return a.Backend < b.Backend
		}
		return a.Connection < b.Connection
	})
	if e.ctx != nil {
		e.startAll(p.fresh)
	}
}

func (e *Engine) newSeries(t *config.Target, c config.Connection) (*series, error) {
	p, err := New(t, c)
	if err != nil {
		return nil, err
	}
	if d, ok := p.(*dnsProber); ok && e.expect != nil && d.equal != nil {
		// Expectations answers for the targets it knows (discovered ones);
		// it says ok=false for any other name.
		name := t.Name
		d.refresh = func() ([]string, bool) { return e.expect.Expected(name) }
	}
	info := SeriesInfo{Backend: t.Name, Connection: c, Protocol: p.Protocol(), Kind: kindOf(t)}
	maxIn := t.MaxInFlight
	if maxIn <= 0 {
		maxIn = 1
	}
	s := &series{
		info:        info,
		prober:      p,
		interval:    time.Duration(t.Interval),
		fast:        time.Duration(t.FastInterval),
		timeout:     time.Duration(t.Timeout),
		maxInFlight: maxIn,
		fastStep:    max(time.Duration(t.FastInterval), time.Duration(t.Timeout)/time.Duration(maxIn)),
		fastFor:     time.Duration(t.FastFor),
		objective:   t.Objective,
		budget:      time.Duration(t.Budget),
		limiter:     e.limiter,
		load:        e.load,
		rng:         uint64(time.Now().UnixNano()) | 1,
		lag:         e.lag,
		sink:        e.sink,
		log:         e.log,
		pool:        e.pool,
		sched:       e.sched,
		hidx:        -1,
		served:      map[string]uint64{},
		impaired:    e.impairedCause,
		starved:     e.starved,
	}
	if t.HTTP != nil && t.HTTP.ServedBy != nil {
		s.servedVals = append(append([]string(nil), t.HTTP.ServedBy.Values...), OtherServedBy)
	}
	for _, r := range p.Reasons() {
		s.listed[r] = true
	}
	s.listed[ReasonObserver] = e.observing
	return s, nil
}

func kindOf(t *config.Target) string {
	switch {
	case t.HTTP != nil:
		return "http"
	case t.TCP != nil:
		return "tcp"
	default:
		return "dns"
	}
}

// Statuses returns a snapshot of every series, sorted by backend and
// connection, then (with KeepRemoved) the final statuses of the series
// removed so far, in the order they were removed.
func (e *Engine) Statuses() []Status {
	e.mu.Lock()
	all := append([]*series(nil), e.order...)
	removed := append([]Status(nil), e.removed...)
	e.mu.Unlock()
	now := time.Now()
	out := make([]Status, len(all), len(all)+len(removed))
	for i, s := range all {
		out[i] = s.status(now)
	}
	return append(out, removed...)
}
