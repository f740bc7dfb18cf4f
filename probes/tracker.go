package probes

import "time"

// Sample is one settled probe outcome, fed to a Tracker in start order.
type Sample struct {
	Start  time.Time
	Reason Reason // ReasonNone on success
	Err    error
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
	// Reason is the first failure's reason on OutageBegan, the last one's
	// on OutageEnded; Err likewise.
	Reason Reason
	Err    error
}

// Tracker turns a stream of samples, in start order, into outages and
// disruption time. An outage begins halfway between the last success and
// the first failure and ends halfway between the last failure and the
// first success: the edge lies somewhere in that gap, and its midpoint
// bounds the error by half the gap either way. Nothing is rounded.
//
// Disruption time is added as samples arrive: when a failure arrives, the
// time from the previous point counted up to its start is added to its
// reason; the end of an outage adds the rest to the last reason. So the
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
	lastReason   Reason
	lastErr      error

	seconds [numReasons]time.Duration
	outages uint64
	// observerOutages began with a failure of the observer itself.
	observerOutages uint64
	// counted: the current outage is in outages (it has had a failure that
	// was not the observer's).
	counted bool
}

// Observe takes the next sample (in start order) and reports the outage
// edge it reveals, if any.
func (t *Tracker) Observe(s Sample) (Event, bool) {
	if s.Reason == ReasonNone {
		t.haveOK, t.lastOK = true, s.Start
		if !t.down {
			return Event{}, false
		}
		end := midpoint(t.lastFail, s.Start)
		t.add(t.lastReason, end)
		t.down = false
		return Event{Kind: OutageEnded, Start: t.outStart, End: end, Reason: t.lastReason, Err: t.lastErr}, true
	}
	var ev Event
	began := false
	if !t.down {
		start := s.Start
		if t.haveOK {
			start = midpoint(t.lastOK, s.Start)
		}
		t.down, t.outStart, t.countedUntil, t.counted = true, start, start, false
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
	t.add(s.Reason, s.Start)
	t.lastFail, t.lastReason, t.lastErr = s.Start, s.Reason, s.Err
	return ev, began
}

// add counts the time from countedUntil to until against reason.
func (t *Tracker) add(reason Reason, until time.Time) {
	if d := until.Sub(t.countedUntil); d > 0 {
		t.seconds[reason] += d
		t.countedUntil = until
	}
}

func midpoint(a, b time.Time) time.Time { return a.Add(b.Sub(a) / 2) }

// Down reports whether the last settled sample failed, and since when the
// outage runs.
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
