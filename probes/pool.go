package probes

import (
	"context"
	"time"
)

// job is one probe to run.
type job struct {
	s   *series
	ctx context.Context
	seq uint64
	due time.Time
}

// workerPool runs probes on long-lived goroutines when one is idle, and on
// a new goroutine otherwise. A probe's goroutine grows its stack deep into
// net/http; reusing goroutines saves growing a fresh one for every probe,
// which costs as much as the rest of the scheduling together. Idle workers
// leave after a while, so a burst does not keep its goroutines forever.
type workerPool struct {
	jobs chan job
	sem  chan struct{} // bounds the workers
}

const (
	maxWorkers     = 64
	workerIdleTime = 30 * time.Second
)

func newWorkerPool() *workerPool {
	return &workerPool{jobs: make(chan job), sem: make(chan struct{}, maxWorkers)}
}

func (p *workerPool) run(j job) {
	select {
	case p.jobs <- j: // an idle worker took it
		return
	default:
	}
	select {
	case p.sem <- struct{}{}:
		go p.work(j)
	default:
		go j.s.probe(j.ctx, j.seq, j.due)
	}
}

func (p *workerPool) work(j job) {
	defer func() { <-p.sem }()
	idle := time.NewTimer(workerIdleTime)
	defer idle.Stop()
	for {
		j.s.probe(j.ctx, j.seq, j.due)
		idle.Reset(workerIdleTime)
		select {
		case j = <-p.jobs:
		case <-idle.C:
			return
		}
	}
}
