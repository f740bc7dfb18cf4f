package probes

import "time"

// Sample is one settled probe outcome, fed to a Tracker in start order.
type Sample struct {
	Start  time.Time
	Reason Reason // ReasonNone on success
	Err    error
	// Gap is how long after this sample the next one was due when this one
	// was launched, before its own outcome was known (0: unknown). A
	// failure's share of time never shrinks because of the re-probes its
	// own failure brought (see Tracker).
	Gap time.Duration
}

// EventKind tells an outage's beginning from its end.
type EventKind uint8

// The event kinds.
const (
	OutageBegan EventKind = iota + 1
	OutageEnded
)

// Event is an outage edge found by a Tracker.
type Event struct {
	Kind  EventKind
	Start time.Time // the outage's estimated beginning
	End   time.Time // the outage's estimated end (OutageEnded only)
	// Reason is the first failure's reason on OutageBegan. On OutageEnded
	// it is the outage's cause: the reason that saw most of its time (the
	// observer's only when the outage was never the target's).
	Reason Reason
	// Last is the last failure's reason (OutageEnded only).
	Last Reason
	// Err is the first failure's error on OutageBegan, the last one's on
	// OutageEnded.
	Err error
	// Split is the outage's time by reason (OutageEnded only).
	Split [numReasons]time.Duration
	// Ended says why an outage ended without a success: "removed" (its
	// target was removed) or "stopped" (the engine stopped); "" when a
	// success ended it.
	Ended string
}

// Duration is End - Start.
func (ev Event) Duration() time.Duration { return ev.End.Sub(ev.Start) }

// Tracker turns a stream of samples, in start order, into outages and
// disruption time. An outage begins halfway between the last success and
// the first failure and ends halfway between the last failure and the
// first success: the edge lies somewhere in that gap, and its midpoint
// bounds the error by half the gap either way. Nothing is rounded.
//
// But a failure brings fast re-probes, and in a partial outage (a rolling
// update: one new connection in twenty sent to a dying pod) one request
// fails and the next is answered. Were the re-probe's success allowed to
// end the outage, a failure would weigh half the fast step on its right
// instead of half the interval, and the disruption of partial outages
// would be counted some 40 % short (on real nodes under load: 0.42 s where
// two witnesses saw 1.0 and 1.1 s). So an outage ends no earlier than
// halfway to the probe that would have followed its last failure anyway
// (Sample.Gap, fixed before the failure was known): a success before that
// point leaves the end pending, a failure before it continues the outage,
// and the first sample at or after it ends the outage there (Flush). Each
// sample then weighs half the gap to either neighbour as scheduled
// regardless of its outcome, and the disruption is an unbiased estimate
// of the time a request would have failed; a total outage's end is still
// pinned down by the re-probes of its later failures, whose own gap is the
// fast step.
//
// Disruption time is added as samples arrive: the time from an outage's
// beginning to its first failure counts against that failure's reason; the
// gap between two failures is split at its midpoint between their reasons;
// the end of an outage adds the rest to the last reason. So the
// totals only grow, an ongoing outage is counted up to its latest failed
// sample, and a closed outage is counted exactly once, in full.
//
// A Tracker is not safe for concurrent use.
type Tracker struct {
	haveOK       bool
	lastOK       time.Time
	down         bool
	outStart     time.Time
	countedUntil time.Time
	lastFail     time.Time
	lastGap      time.Duration
	// endAt, when set, is where the outage ends unless a failure comes
	// before it: a success came within its last failure's share of time.
	endAt      time.Time
	lastReason Reason
	lastErr    error

	seconds [numReasons]time.Duration
	// split is the current (or last) outage's time by reason.
	split [numReasons]time.Duration
	// everDown: an outage has begun.
	everDown bool
	outages  uint64
	// observerOutages began with a failure of the observer itself.
	observerOutages uint64
	// counted: the current outage is in outages (it has had a failure that
	// was not the observer's).
	counted bool
}

// Observe takes the next sample (in start order) and reports the outage
// edge it reveals, if any.
func (t *Tracker) Observe(s Sample) (Event, bool) {
	t.Flush(s.Start)
	if s.Reason == ReasonNone {
		t.haveOK, t.lastOK = true, s.Start
		if !t.down || !t.endAt.IsZero() {
			return Event{}, false
		}
		end := midpoint(t.lastFail, s.Start)
		if due := t.lastFail.Add(t.lastGap / 2); due.After(s.Start) {
			// Within the last failure's share: the end waits for it.
			t.endAt = due
			return Event{}, false
		}
		return t.end(end, ""), true
	}
	// A failure: an end pending continues (the gap since the last failure
	// is split between the two failures as usual).
	t.endAt = time.Time{}
	var ev Event
	began := false
	if !t.down {
		start := s.Start
		if t.haveOK {
			start = midpoint(t.lastOK, s.Start)
		}
		if start.Before(t.countedUntil) {
			// The last outage ended at its last failure's share, after
			// the success that preceded this failure: no time is counted
			// twice.
			start = t.countedUntil
		}
		t.down, t.outStart, t.countedUntil, t.counted = true, start, start, false
		t.split = [numReasons]time.Duration{}
		t.everDown = true
		if s.Reason == ReasonObserver {
			t.observerOutages++
		}
		ev, began = Event{Kind: OutageBegan, Start: start, Reason: s.Reason, Err: s.Err}, true
	}
	if s.Reason != ReasonObserver && !t.counted {
		// An outage is the target's from its first failure that is not
		// the observer's, even if it began as the observer's.
		t.outages++
		t.counted = true
	}
	if !began && t.lastReason != ReasonObserver && s.Reason != ReasonObserver {
		// The gap since the previous failure is split at its midpoint
		// between the two failures' reasons, as edges are. (Between the
		// observer's failures and the target's, the gap goes to the later
		// failure, as before: see TestTrackerObserverThenTarget.)
		t.add(t.lastReason, midpoint(t.lastFail, s.Start))
	}
	t.add(s.Reason, s.Start)
	t.lastFail, t.lastReason, t.lastErr, t.lastGap = s.Start, s.Reason, s.Err, s.Gap
	return ev, began
}

// End ends an outage in progress at at (or at its last failure, if that is
// later) without a success: its target was removed or the engine stopped,
// as why says. The time up to the end is counted against the last
// failure's reason.
func (t *Tracker) End(at time.Time, why string) (Event, bool) {
	if !t.down {
		return Event{}, false
	}
	if at.Before(t.lastFail) {
		at = t.lastFail
	}
	if !t.endAt.IsZero() {
		// A success came: the outage ends where it was to, or at the
		// stop if that comes first (no time is claimed after it).
		return t.end(minTime(t.endAt, at), ""), true
	}
	return t.end(at, why), true
}

// Reschedule says the probe after the last failure comes at at, earlier
// than planned, for a reason other than that failure (its sibling's
// recovery): the failure stands for the time until then only.
func (t *Tracker) Reschedule(at time.Time) {
	if t.down && t.endAt.IsZero() {
		t.lastGap = max(min(t.lastGap, at.Sub(t.lastFail)), 0)
	}
}

// Flush ends an outage whose end is pending (a success came within its last
// failure's share of time) if that end is at or before at, the start of the
// next sample. Observe flushes too, but returns only the edge the sample
// itself reveals: a caller that wants every edge calls Flush(s.Start)
// before Observe(s).
func (t *Tracker) Flush(at time.Time) (Event, bool) {
	if !t.down || t.endAt.IsZero() || at.Before(t.endAt) {
		return Event{}, false
	}
	return t.end(t.endAt, ""), true
}

func (t *Tracker) end(at time.Time, why string) Event {
	t.add(t.lastReason, at)
	t.down, t.endAt = false, time.Time{}
	return Event{Kind: OutageEnded, Start: t.outStart, End: at, Reason: t.cause(), Last: t.lastReason,
		Err: t.lastErr, Split: t.split, Ended: why}
}

// cause is the reason that saw most of the current outage's time, the
// observer's only if the outage never was the target's; ties and outages
// of no measurable time go to the last failure's reason.
func (t *Tracker) cause() Reason {
	best := ReasonNone // t.split[ReasonNone] stays zero
	for r, d := range t.split {
		if Reason(r) == ReasonObserver && t.counted {
			continue
		}
		if d > t.split[best] {
			best = Reason(r)
		}
	}
	if best == ReasonNone {
		return t.lastReason
	}
	return best
}

// add counts the time from countedUntil to until against reason.
func (t *Tracker) add(reason Reason, until time.Time) {
	if d := until.Sub(t.countedUntil); d > 0 {
		t.seconds[reason] += d
		t.split[reason] += d
		t.countedUntil = until
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func midpoint(a, b time.Time) time.Time { return a.Add(b.Sub(a) / 2) }

// Cause is the reason that saw most of the current outage so far, or of
// the last one (ReasonNone before the first).
func (t *Tracker) Cause() Reason {
	if !t.everDown {
		return ReasonNone
	}
	return t.cause()
}

// Split is the current (or last) outage's time by reason so far.
func (t *Tracker) Split() [numReasons]time.Duration { return t.split }

// Down reports whether an outage runs (the last settled sample failed, or
// a success came within the last failure's share of time), and since when.
func (t *Tracker) Down() (bool, time.Time) { return t.down, t.outStart }

// Disruption is the disruption time counted so far for reason.
func (t *Tracker) Disruption(r Reason) time.Duration { return t.seconds[r] }

// TotalDisruption is the disruption time counted so far, all reasons but
// observer (the observer's own trouble is not the target's disruption).
func (t *Tracker) TotalDisruption() time.Duration {
	var d time.Duration
	for r, s := range t.seconds {
		if Reason(r) != ReasonObserver {
			d += s
		}
	}
	return d
}

// Outages is the number of outages with at least one failure that was not
// the observer's own.
func (t *Tracker) Outages() uint64 { return t.outages }

// Counted reports whether the current outage (if any) is the target's:
// it has had a failure that was not the observer's own.
func (t *Tracker) Counted() bool { return t.counted }

// ObserverOutages is the number of outages that began with a failure of
// the observer itself.
func (t *Tracker) ObserverOutages() uint64 { return t.observerOutages }
