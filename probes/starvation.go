package probes

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// starvation measures how long the process itself was kept from running:
// a goroutine asks to wake every starvationTick and records how late it
// woke (beyond starvationSlack, the timer's own noise). Summed over a
// request's lifetime, that lateness says how much of the request's
// duration the observer, not the target, is to blame for: a poller short
// of CPU (a node being drained, a busy CI machine, too many targets for
// its core) sees its own slowness as slow answers.
type starvation struct {
	total      atomic.Int64  // nanoseconds of lateness, ever
	discounted atomic.Uint64 // slow probes put down to it

	mu   sync.Mutex
	ring [starvationRing]starvationPoint
	n    uint64
}

type starvationPoint struct {
	at  time.Time
	cum time.Duration // total lateness up to at
}

const (
	starvationTick  = 5 * time.Millisecond
	starvationSlack = time.Millisecond
	// starvationRing covers 2.5 s of ticks (more when the process is
	// starved); a request older than that is judged by what is left.
	starvationRing = 512
)

func (m *starvation) run(ctx context.Context) {
	t := time.NewTimer(starvationTick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			now = time.Now()
			late := now.Sub(last) - starvationTick - starvationSlack
			last = now
			m.record(now, max(late, 0))
			t.Reset(starvationTick)
		}
	}
}

func (m *starvation) record(now time.Time, late time.Duration) {
	cum := time.Duration(m.total.Add(int64(late)))
	m.mu.Lock()
	m.ring[m.n%starvationRing] = starvationPoint{at: now, cum: cum}
	m.n++
	m.mu.Unlock()
}

// during is how long the process was starved between from and to, as far
// as the ticks that woke in (from, to + one tick] tell: the lateness of a
// tick is seen when it wakes, which a starved process does late.
func (m *starvation) during(from, to time.Time) time.Duration {
	if m == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n == 0 {
		return 0
	}
	until := to.Add(starvationTick)
	var before, after time.Duration
	haveBefore, haveAfter := false, false
	oldest := uint64(0)
	if m.n > starvationRing {
		oldest = m.n - starvationRing
	}
	for i := m.n; i > oldest; i-- {
		p := m.ring[(i-1)%starvationRing]
		if !haveAfter && !p.at.After(until) {
			after, haveAfter = p.cum, true
		}
		if !p.at.After(from) {
			before, haveBefore = p.cum, true
			break
		}
	}
	// A stall still going on, or over but not yet seen because the
	// ticker has not run since (the probe's goroutine ran first): the
	// time since the newest tick, beyond one tick, counts too, within
	// [from, to].
	var pending time.Duration
	if newest := m.ring[(m.n-1)%starvationRing]; newest.at.Before(to) {
		pending = time.Since(newest.at) - starvationTick - starvationSlack
		pending = min(pending, to.Sub(newest.at), to.Sub(from))
		pending = max(pending, 0)
	}
	if !haveAfter {
		return pending
	}
	if !haveBefore {
		before = m.ring[oldest%starvationRing].cum
	}
	return max(after-before, 0) + pending
}
