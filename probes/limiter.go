package probes

import (
	"sync"
	"sync/atomic"
	"time"
)

// limiter is a ceiling on probes per second across every series of an
// engine: a token bucket holding a tenth of a second's worth. Re-probes of
// failing series may only take from the upper half of the bucket, so when
// the ceiling is reached the steady probes of healthy targets go first and
// the outages being pinned down are probed less often.
type limiter struct {
	rate   float64 // tokens per second
	burst  float64
	denied atomic.Uint64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newLimiter(perSecond float64) *limiter {
	if perSecond <= 0 {
		return nil
	}
	burst := max(perSecond/10, 1)
	return &limiter{rate: perSecond, burst: burst, tokens: burst}
}

// take reports whether a probe may start at now; a re-probe needs the
// bucket more than half full.
func (l *limiter) take(now time.Time, reprobe bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	need := 1.0
	if reprobe {
		need = max(l.burst/2, 1)
	}
	if l.tokens < need {
		l.denied.Add(1)
		return false
	}
	l.tokens--
	return true
}

// inFlight bounds the requests in flight across every series of an
// engine: when the process cannot keep up (more targets than its CPU can
// probe, a storm of hung backends), probes are skipped, re-probes of
// failing targets first, rather than piling up goroutines and connections
// until the poller itself falls over and every target looks down.
type inFlight struct {
	max     int64
	n       atomic.Int64
	skipped atomic.Uint64
}

// DefaultMaxInFlightTotal bounds the requests in flight of an engine.
const DefaultMaxInFlightTotal = 1024

func newInFlight(max int) *inFlight {
	if max <= 0 {
		max = DefaultMaxInFlightTotal
	}
	return &inFlight{max: int64(max)}
}

// start reports whether a request may start; a re-probe only while fewer
// than half the slots are taken.
func (f *inFlight) start(reprobe bool) bool {
	limit := f.max
	if reprobe {
		limit = max(f.max/2, 1)
	}
	if f.n.Add(1) > limit {
		f.n.Add(-1)
		f.skipped.Add(1)
		return false
	}
	return true
}

func (f *inFlight) done() { f.n.Add(-1) }

// spread stretches a re-probe step as the engine's slots fill: step /
// (1 - used), used the share of the re-probes' half taken, at most
// ceiling once they are all taken. Re-probes of hung targets hold their
// slots for the whole timeout; taken as fast as the step allows, many at
// once spent them all in the first part of an outage and left the rest
// unprobed (11 targets hung for 1 s at a 10 ms step: every slot taken
// after 460 ms, the outages' ends 180 ms early). Stretched, the slots last:
// those 11 settle at about 31 ms, with no gap. Quick failures hold no
// slot and keep the fast step.
func (f *inFlight) spread(step, ceiling time.Duration) time.Duration {
	if f == nil {
		return step
	}
	limit, n, ceiling := max(f.max/2, 1), f.n.Load(), max(step, ceiling)
	if n >= limit {
		return ceiling
	}
	return min(max(step, time.Duration(float64(step)/(1-float64(n)/float64(limit)))), ceiling)
}
