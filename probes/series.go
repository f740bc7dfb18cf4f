package probes

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zerodown/zerodown/config"
)

// Sink receives what the scheduler finds, for intervals and logs. It is
// called in the order a series' events happen, never with the series lock
// held (the events are queued under it and delivered after); it must not
// call back into the engine.
type Sink interface {
	// OutageBegan: ev.Start, ev.Reason and ev.Err are the outage's
	// beginning and its first failure.
	OutageBegan(s SeriesInfo, ev Event)
	// OutageEnded: ev.Reason is the outage's cause (the reason that saw
	// most of its time), ev.Split its time by reason; ev.Ended says when
	// it ended without a success (its target removed, the engine stopped).
	OutageEnded(s SeriesInfo, ev Event)
	CertChanged(s SeriesInfo, at time.Time, old, cur *Cert)
}

// LifecycleSink is a Sink that is also told when a series begins and
// stops being probed, so that readers know which backends were watched,
// from when to when, even those that never failed. why is "removed" or
// "stopped".
type LifecycleSink interface {
	Sink
	SeriesStarted(s SeriesInfo, at time.Time)
	SeriesStopped(s SeriesInfo, at time.Time, why string)
}

// SeriesInfo names a series: one target sampled over one connection mode.
type SeriesInfo struct {
	Backend    string
	Connection config.Connection
	Protocol   string
	Kind       string // http, tcp or dns
}

// entry is a started probe that has not been settled yet.
type entry struct {
	start   time.Time
	dur     time.Duration
	gap     time.Duration // to the probe due after it when it was launched (Sample.Gap)
	aborted bool          // cancelled by a stop: not a sample
	done    bool
	// impaired: the observer was impaired at the request's start or end.
	impaired bool
	// excused: an answer slow only because this process was starved of
	// CPU: fast enough to end an outage.
	excused bool
	reason  Reason
	err     error
}

// series probes one target over one connection mode on its own schedule.
type series struct {
	info        SeriesInfo
	prober      Prober
	listed      [numReasons]bool // reasons exported even at zero
	servedVals  []string
	interval    time.Duration
	fast        time.Duration
	timeout     time.Duration // slower answers are failures
	maxInFlight int
	hist        prometheus.Observer
	lag         prometheus.Observer
	sink        Sink
	log         *slog.Logger
	pool        *workerPool
	impaired    func() string // why the observer cannot be trusted now ("" if it can)
	starved     *starvation   // how long this process could not run

	sched     *scheduler
	fastStep  time.Duration          // min(fast, timeout/max_in_flight): hung requests never exhaust the slots
	fastFor   time.Duration          // how long a failing series is probed every fastStep before backing off
	objective float64                // the availability objective, exported as zerodown_slo_objective (0: none)
	budget    time.Duration          // the upgrade disruption budget, exported as zerodown_budget_seconds (0: none)
	sibling   atomic.Pointer[series] // the same target over its other connection mode, if any; set by Apply
	limiter   *limiter               // the engine's ceiling on probes per second (nil: none)
	load      *inFlight              // the engine's requests in flight
	phase     time.Time              // origin of the steady grid
	due       time.Time              // guarded by sched.mu
	hidx      int                    // index in the scheduler's heap, -1 when not in it; guarded by sched.mu
	removed   bool                   // guarded by sched.mu
	cancel    context.CancelFunc

	mu          sync.Mutex
	ctx         context.Context
	startedAt   time.Time
	lastLaunch  time.Time
	pending     []entry // started, not settled, in start order; pending[0] is in flight
	base        uint64  // sequence number of pending[0]
	inFlight    int
	tracker     Tracker
	requests    [numReasons]uint64
	skipped     uint64
	latestStart time.Time
	latestFail  bool
	// failSince is when the series began being probed fast (zero while
	// steady); step is the current re-probe step once it backs off.
	failSince time.Time
	step      time.Duration
	// watchUntil: after a recovery the series is probed fast for a while,
	// since a flapping backend often fails again at once and the start of
	// that next outage is then pinned down too.
	watchUntil  time.Time
	rng         uint64 // jitter state
	haveResult  bool
	latencyEWMA time.Duration
	served      map[string]uint64
	recent      [recentN]uint32 // latest request durations in µs (saturating), for live quantiles
	nRecent     uint64
	cert        *Cert
	certChanges uint64
	// sinkStart is the start of the current outage as the sink was told:
	// an outage that began as the observer's and became the target's is
	// told as two, split at its first own failure.
	sinkStart time.Time
	// sinkObserver is the tracker's observer time at that split: the
	// target's part of the outage does not repeat it.
	sinkObserver time.Duration
	// retiredAt is when the series was removed or stopped: its status is
	// frozen there and late results are ignored.
	retiredAt time.Time
	// outbox holds sink calls made under mu, delivered in order by
	// deliver once mu is released (deliverMu keeps that order).
	outbox    []func()
	deliverMu sync.Mutex
}

// tellLocked queues a sink call; s.mu is held.
func (s *series) tellLocked(f func()) {
	if s.sink != nil {
		s.outbox = append(s.outbox, f)
	}
}

// deliver makes the queued sink calls, in order, without the series lock.
func (s *series) deliver() {
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()
	s.mu.Lock()
	box := s.outbox
	s.outbox = nil
	s.mu.Unlock()
	for _, f := range box {
		f()
	}
}

// minSlowAfter is the floor of the time after which a request still in
// flight makes its series provisionally down.
const minSlowAfter = 10 * time.Millisecond

// recentN durations are kept per series for the live p99.
const recentN = 256

// tick launches a probe (the series is due at now) and returns when the
// next one is due. Steady probes fall on a fixed grid, phase + k*interval,
// so series keep their stagger however often they go through fast
// re-probing. While failing, probes come every fastStep for the first
// fastFor, then the step doubles, with jitter, up to interval: a long
// outage costs no more than steady state, and pollers that share a dead
// backend do not probe it in lockstep.
func (s *series) tick(now, due time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	launched := s.launchLocked(now, due)
	next := s.nextLocked(now)
	if launched {
		// The probe that follows this one whatever it finds: how much
		// time this one stands for (Sample.Gap).
		s.pending[len(s.pending)-1].gap = next.Sub(now)
	}
	return next
}

// nextLocked is when the probe after one launched at now is due.
func (s *series) nextLocked(now time.Time) time.Time {
	if s.failingLocked(now) {
		return now.Add(s.reprobeStepLocked(now))
	}
	s.failSince = time.Time{}
	next := s.phase.Add((now.Sub(s.phase)/s.interval + 1) * s.interval)
	if fast := now.Add(s.fastStep); now.Before(s.watchUntil) && fast.Before(next) {
		return fast
	}
	return next
}

// watchWindow is how long a series is probed fast after it recovered:
// an interval, at most fastFor.
func (s *series) watchWindow() time.Duration { return min(s.interval, s.fastFor) }

// reprobeStepLocked is the step to the next probe of a failing series.
func (s *series) reprobeStepLocked(now time.Time) time.Duration {
	if s.failSince.IsZero() {
		s.failSince, s.step = now, s.fastStep
	}
	if now.Sub(s.failSince) < s.fastFor || s.fastStep >= s.interval {
		return s.load.spread(s.fastStep, s.interval)
	}
	s.step = min(2*s.step, s.interval)
	// Jitter: a quarter of the step, drawn from xorshift.
	s.rng ^= s.rng << 13
	s.rng ^= s.rng >> 7
	s.rng ^= s.rng << 17
	return s.step - time.Duration(s.rng%uint64(s.step/4+1))
}

// hint says the series' sibling (the same target over the other
// connection mode) just recovered: a failing series probes fast again, for
// fastFor, so its own recovery is pinned down too. It reports whether the
// series is failing (and should be expedited).
func (s *series) hint(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.retiredAt.IsZero() || s.failSince.IsZero() || now.Sub(s.failSince) < s.fastFor {
		return false
	}
	s.failSince, s.step = now, s.fastStep
	// The next probe comes now, brought by the sibling's answer, not by
	// this series' own: the last probe launched stands for the time until
	// now only (Sample.Gap), so the end is pinned down as before.
	if n := len(s.pending); n > 0 {
		e := &s.pending[n-1]
		e.gap = max(min(e.gap, now.Sub(e.start)), 0)
	} else {
		s.tracker.Reschedule(now)
	}
	return true
}

// expedite returns when the next probe should be due now that the series
// is failing: a fast step after the last launch, or now.
func (s *series) expedite(now time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.failingLocked(now) {
		return s.due
	}
	due := s.lastLaunch.Add(s.fastStep)
	if due.Before(now) {
		due = now
	}
	return due
}

// slowAfterLocked is how long a request may run before its series counts
// as provisionally down: four times the usual latency, at least
// minSlowAfter, at most the timeout.
func (s *series) slowAfterLocked() time.Duration {
	return min(max(4*s.latencyEWMA, minSlowAfter), s.timeout)
}

// recoverWithin is recoverWithinLocked, taking the lock.
func (s *series) recoverWithin() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recoverWithinLocked()
}

// recoverWithinLocked is how fast an answer must be to end an outage:
// slowAfter, but at least a quarter of min(interval, timeout), so a client
// short of CPU still sees the recovery while answers queued behind a hung
// connection (which wait most of an interval, or longer) do not end it
// early.
func (s *series) recoverWithinLocked() time.Duration {
	return min(max(s.slowAfterLocked(), s.recoverFloor()), s.timeout)
}

// recoverFloor is the least recoverWithin: a quarter of min(interval,
// timeout).
func (s *series) recoverFloor() time.Duration { return min(s.interval, s.timeout) / 4 }

// failingLocked: the newest answer was a failure, or the oldest request in
// flight is overdue. Either way the series is probed fast.
func (s *series) failingLocked(now time.Time) bool {
	if s.latestFail {
		return true
	}
	return len(s.pending) > 0 && now.Sub(s.pending[0].start) > s.slowAfterLocked()
}

// launchLocked starts a probe, unless the series, the engine's rate or
// its load forbids, and reports whether it did.
func (s *series) launchLocked(now, due time.Time) bool {
	if s.inFlight >= s.maxInFlight {
		s.skipped++
		return false
	}
	if s.limiter != nil && !s.limiter.take(now, !s.failSince.IsZero()) {
		return false // counted by the limiter
	}
	if !s.load.start(!s.failSince.IsZero()) {
		s.skipped++
		return false
	}
	seq := s.base + uint64(len(s.pending))
	s.pending = append(s.pending, entry{start: now})
	s.inFlight++
	s.lastLaunch = now
	s.pool.run(job{s: s, ctx: s.ctx, seq: seq, due: due})
	return true
}

// probe runs one probe on a worker. The sample's time is when the request
// really starts here, not when the scheduler launched it; how late that is
// against the schedule is the scheduling lag.
func (s *series) probe(parent context.Context, seq uint64, due time.Time) {
	start := time.Now()
	impairedAtStart := s.impaired()
	s.lag.Observe(max(start.Sub(due), 0).Seconds())
	// A request still running after its timeout counts as
	// failed from its start, whatever it would answer later, and is
	// cancelled then. Not sooner: at an interval of 20 ms, a request
	// answered in 30 ms on a busy node is slow, not an outage (it was one,
	// falsely, when the limit was min(interval, timeout)). A hung backend
	// is seen sooner anyway: an overdue request makes the series fail
	// provisionally and re-probe fast.
	ctx, cancel := context.WithDeadline(parent, start.Add(s.timeout))
	r := Result{Start: start}
	s.prober.Probe(ctx, &r)
	r.Duration = time.Since(start)
	cancel()
	if parent.Err() != nil {
		// Stopping: an aborted request says nothing about the target.
		s.abort(seq)
		return
	}
	answeredLate := false
	if r.Reason == ReasonNone && r.Duration > s.timeout {
		// Answered after the timeout: a user waited that long, so it
		// counts as disruption from its start, even if it was answered in
		// the end (a hung connection released and retried).
		r.Reason = ReasonTimeout
		r.Err = fmt.Errorf("answered after %s, longer than the timeout %s", r.Duration.Round(time.Microsecond), s.timeout)
		answeredLate = true
	}
	cause := cmp.Or(impairedAtStart, s.impaired())
	if r.Reason != ReasonNone && cause != "" {
		// The observer's own trouble (its node draining, say) is not the
		// target's: counted apart.
		r.Err = fmt.Errorf("while this poller's node was %s: %w", cause, r.Err)
		r.Reason = ReasonObserver
	}
	starved := false
	// Only slow requests are looked at (recoverWithin is at least
	// recoverFloor: most answers take no lock here).
	var recoverWithin time.Duration
	if r.Reason == ReasonNone && r.Duration > s.recoverFloor() {
		recoverWithin = s.recoverWithin()
	}
	if r.Reason == ReasonTimeout || r.Reason == ReasonNone && recoverWithin > 0 && r.Duration > recoverWithin {
		// Slow while this process could not run: an answer that would have
		// been in time without the lost time, or a request that lost half
		// its time, says nothing about the target.
		if st := s.starved.during(start, start.Add(r.Duration)); st > 0 &&
			(answeredLate && r.Duration-st <= s.timeout || r.Reason == ReasonNone && r.Duration-st <= recoverWithin ||
				r.Reason == ReasonTimeout && !answeredLate && st >= s.timeout/2) {
			starved = true
			if r.Reason == ReasonTimeout {
				s.starved.discounted.Add(1)
				r.Err = fmt.Errorf("while this process was starved of CPU for %s of %s: %w", st.Round(time.Microsecond), r.Duration.Round(time.Microsecond), r.Err)
				r.Reason = ReasonObserver
			}
		}
	}
	s.hist.Observe(r.Duration.Seconds())
	if r.Reason != ReasonNone {
		s.log.Debug("probe failed", "backend", s.info.Backend, "connection", s.info.Connection,
			"reason", r.Reason.String(), "duration", r.Duration, "dns", r.Phases.DNS, "connect", r.Phases.Connect,
			"tls", r.Phases.TLS, "first_byte", r.Phases.FirstByte, "transfer", r.Phases.Transfer, "err", r.Err)
	}
	s.complete(seq, &r, cause != "" || starved && r.Reason != ReasonNone, starved && r.Reason == ReasonNone)
}

// abort settles a request cancelled by a stop without judging the target.
func (s *series) abort(seq uint64) {
	defer s.deliver()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight--
	s.load.done()
	if !s.retiredAt.IsZero() {
		return
	}
	s.pending[int(seq-s.base)] = entry{done: true, aborted: true}
	s.settleLocked()
}

func (s *series) complete(seq uint64, r *Result, impaired, excused bool) {
	// The scheduler takes its lock, then a series'; so a series asks to be
	// expedited only once its own lock is released.
	failing, recovered, tell := s.completeLocked(seq, r, impaired, excused)
	if tell {
		s.deliver()
	}
	if failing {
		s.sched.expedite(s)
	}
	if sib := s.sibling.Load(); recovered && sib != nil && sib.hint(time.Now()) {
		s.sched.expedite(sib)
	}
}

// completeLocked records a result and reports whether the series just
// started failing, whether an outage just ended, and whether sink calls
// wait for deliver.
func (s *series) completeLocked(seq uint64, r *Result, impaired, excused bool) (failing, recovered, tell bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight--
	s.load.done()
	if !s.retiredAt.IsZero() {
		return false, false, false // a late answer after the series was removed or stopped
	}
	s.requests[r.Reason]++
	s.recent[s.nRecent%recentN] = uint32(min(r.Duration.Microseconds(), math.MaxUint32))
	s.nRecent++
	s.haveResult = true
	wasFailing := s.latestFail
	if !r.Start.Before(s.latestStart) {
		s.latestStart, s.latestFail = r.Start, r.Reason != ReasonNone
	}
	if down, _ := s.tracker.Down(); r.Reason == ReasonNone && !wasFailing && !down {
		// Exponentially weighted latency of successes in steady state, for
		// slowAfter; frozen during outages, whose slow answers would
		// otherwise raise the bar that ends them.
		if s.latencyEWMA == 0 {
			s.latencyEWMA = r.Duration
		} else {
			s.latencyEWMA += (r.Duration - s.latencyEWMA) / 8
		}
	}
	if r.ServedBy != "" {
		s.served[r.ServedBy]++
	}
	if r.Cert != nil {
		if s.cert != nil {
			s.certChanges++
			info, at, old, cur := s.info, r.Start, s.cert, r.Cert
			s.tellLocked(func() { s.sink.CertChanged(info, at, old, cur) })
		}
		s.cert = r.Cert
	}

	i := int(seq - s.base)
	s.pending[i] = entry{start: r.Start, dur: r.Duration, gap: s.pending[i].gap, done: true, reason: r.Reason, err: r.Err, impaired: impaired, excused: excused}
	wasDown, _ := s.tracker.Down()
	s.settleLocked()
	down, _ := s.tracker.Down()
	if wasDown && !down {
		s.watchUntil = time.Now().Add(s.watchWindow())
	}
	return s.latestFail && !wasFailing, wasDown && !down, len(s.outbox) > 0
}

// endSinkLocked tells the sink that the outage ev ended, from where the
// sink was told it began.
func (s *series) endSinkLocked(ev Event) {
	if s.sink == nil {
		return
	}
	if !ev.Start.Equal(s.sinkStart) {
		ev.Start = s.sinkStart
		ev.Split[ReasonObserver] = max(ev.Split[ReasonObserver]-s.sinkObserver, 0)
	}
	info := s.info
	s.tellLocked(func() { s.sink.OutageEnded(info, ev) })
}

// retire ends the series' outage in progress at now, why being "removed"
// or "stopped", and freezes its status there; results still in flight are
// ignored afterwards. The scheduler no longer runs it.
func (s *series) retire(now time.Time, why string) {
	defer s.deliver()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.retiredAt.IsZero() {
		return
	}
	s.retiredAt = now
	if ev, ok := s.tracker.End(now, why); ok {
		s.endSinkLocked(ev)
	}
	if ls, ok := s.sink.(LifecycleSink); ok && !s.startedAt.IsZero() {
		info := s.info
		s.tellLocked(func() { ls.SeriesStopped(info, now, why) })
	}
	s.latestFail = false
}

// settleLocked feeds the finished requests at the head of pending to the
// tracker, in start order, and reports the outage edges they reveal.
func (s *series) settleLocked() {
	n := 0
	for ; n < len(s.pending) && s.pending[n].done; n++ {
		e := &s.pending[n]
		if e.aborted {
			continue
		}
		smp := Sample{Start: e.start, Reason: e.reason, Err: e.err, Gap: e.gap}
		if ev, ok := s.tracker.Flush(smp.Start); ok {
			// An end that waited for its last failure's share of time.
			s.endSinkLocked(ev)
		}
		if smp.Reason == ReasonNone && e.dur > s.recoverWithinLocked() && !e.excused {
			if down, _ := s.tracker.Down(); down {
				// Recovery takes an answer at the usual speed: a slow one
				// was held up by the outage (queued behind a hung
				// connection, or retried by the client after it).
				smp.Reason = ReasonTimeout
				smp.Err = fmt.Errorf("answered after %s while recovering, usually within %s", e.dur.Round(time.Microsecond), s.recoverWithinLocked())
				if e.impaired || !s.tracker.Counted() {
					// Slow while the observer itself was impaired, or at
					// the end of an outage that was only ever the
					// observer's (a node back from NotReady): its
					// trouble, not the target's.
					smp.Reason = ReasonObserver
				}
			}
		}
		counted := s.tracker.Outages()
		ev, ok := s.tracker.Observe(smp)
		if s.sink == nil {
			continue
		}
		switch {
		case ok && ev.Kind == OutageBegan:
			s.sinkStart, s.sinkObserver = ev.Start, 0
			info := s.info
			s.tellLocked(func() { s.sink.OutageBegan(info, ev) })
		case ok && ev.Kind == OutageEnded:
			s.endSinkLocked(ev)
		case s.tracker.Outages() > counted:
			// The observer's outage became the target's: its first own
			// failure splits it.
			obs := s.tracker.Split()[ReasonObserver]
			split := [numReasons]time.Duration{ReasonObserver: smp.Start.Sub(s.sinkStart)}
			info, ended := s.info, Event{Kind: OutageEnded, Start: s.sinkStart, End: smp.Start,
				Reason: ReasonObserver, Last: ReasonObserver, Split: split}
			s.tellLocked(func() { s.sink.OutageEnded(info, ended) })
			s.sinkStart, s.sinkObserver = smp.Start, obs
			began := Event{Kind: OutageBegan, Start: smp.Start, Reason: smp.Reason, Err: smp.Err}
			s.tellLocked(func() { s.sink.OutageBegan(info, began) })
		}
	}
	if n > 0 {
		s.pending = append(s.pending[:0], s.pending[n:]...)
		s.base += uint64(n)
	}
}

// Status is a snapshot of a series, for live views and summaries.
type Status struct {
	SeriesInfo
	Up         bool
	HaveResult bool
	Requests   uint64
	Failures   uint64 // all failed requests, the observer's included
	// ObserverFailures failed while the observer itself was impaired or
	// starved of CPU: not the target's.
	ObserverFailures uint64
	Outages          uint64
	Disruption       time.Duration
	Observed         time.Duration
	CurrentOutage    time.Duration // zero when up
	// Cause is the reason that saw most of the current outage, or of the
	// last one when up (ReasonNone before any).
	Cause    Reason
	Skipped  uint64
	InFlight int
	// P99 is the 99th percentile of the latest (up to 256) request durations.
	P99 time.Duration
	// Removed: the target was removed (a reload, discovery) while the
	// engine ran; the status is its final one.
	Removed bool
}

func (s *series) status(now time.Time) Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.retiredAt.IsZero() {
		now = s.retiredAt
	}
	st := Status{
		Cause:      s.tracker.Cause(),
		SeriesInfo: s.info,
		HaveResult: s.haveResult,
		Up:         !s.failingLocked(now),
		Outages:    s.tracker.Outages(),
		Disruption: s.tracker.TotalDisruption(),
		Skipped:    s.skipped,
		InFlight:   s.inFlight,
	}
	if !s.startedAt.IsZero() {
		st.Observed = now.Sub(s.startedAt)
	}
	st.ObserverFailures = s.requests[ReasonObserver]
	for r, n := range s.requests {
		st.Requests += n
		if r != int(ReasonNone) {
			st.Failures += n
		}
	}
	if n := min(s.nRecent, recentN); n > 0 {
		d := append([]uint32(nil), s.recent[:n]...)
		slices.Sort(d)
		st.P99 = time.Duration(d[(len(d)*99-1)/100]) * time.Microsecond
	}
	if !s.retiredAt.IsZero() {
		st.Up = true // nothing goes on any more
	} else if down, since := s.tracker.Down(); down {
		st.CurrentOutage = now.Sub(since)
	} else if !st.Up && len(s.pending) > 0 {
		st.CurrentOutage = now.Sub(s.pending[0].start)
	}
	return st
}
