package probes

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// scheduler starts the probes of every series from one goroutine and one
// timer: a heap orders the series by their next due time. Series due
// together are launched in one pass, so a thousand targets cost one
// wake-up per group instead of one goroutine and timer each, and the
// launch itself never waits behind running probes.
type scheduler struct {
	mu     sync.Mutex
	due    dueHeap
	urgent []*series // series that asked to be re-probed fast
	wake   chan struct{}
}

func newScheduler() *scheduler {
	return &scheduler{wake: make(chan struct{}, 1)}
}

func (sc *scheduler) poke() {
	select {
	case sc.wake <- struct{}{}:
	default:
	}
}

// add schedules s from phase on.
func (sc *scheduler) add(s *series, phase time.Time) {
	sc.mu.Lock()
	s.due = phase
	heap.Push(&sc.due, s)
	sc.mu.Unlock()
	sc.poke()
}

// remove unschedules s.
func (sc *scheduler) remove(s *series) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if s.hidx >= 0 {
		heap.Remove(&sc.due, s.hidx)
	}
	s.removed = true
}

// expedite asks for s to be looked at now (it started failing).
func (sc *scheduler) expedite(s *series) {
	sc.mu.Lock()
	sc.urgent = append(sc.urgent, s)
	sc.mu.Unlock()
	sc.poke()
}

// run launches due probes until ctx ends.
func (sc *scheduler) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sc.wake:
		case <-timer.C:
		}
		now := time.Now()
		sc.mu.Lock()
		for _, s := range sc.urgent {
			if s.hidx < 0 || s.removed {
				continue
			}
			if due := s.expedite(now); due.Before(s.due) {
				s.due = due
				heap.Fix(&sc.due, s.hidx)
			}
		}
		sc.urgent = sc.urgent[:0]
		for len(sc.due) > 0 && !sc.due[0].due.After(now) {
			s := sc.due[0]
			s.due = s.tick(now, s.due)
			heap.Fix(&sc.due, 0)
		}
		next := time.Hour
		if len(sc.due) > 0 {
			next = sc.due[0].due.Sub(now)
		}
		sc.mu.Unlock()
		timer.Reset(max(next, 0))
	}
}

// dueHeap is a min-heap of series by due time.
type dueHeap []*series

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i, j
}
func (h *dueHeap) Push(x any) {
	s := x.(*series)
	s.hidx = len(*h)
	*h = append(*h, s)
}
func (h *dueHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	s.hidx = -1
	return s
}
