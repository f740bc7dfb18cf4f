package collectors

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/zerodown/zerodown/internal/kube"
	"github.com/zerodown/zerodown/internal/sleep"
)

// GateState is what a Gate knows of its API.
type GateState int32

// The states of a Gate.
const (
	GateUnknown   GateState = iota // not asked, or no definite answer yet
	GateServed                     // served (or taken as served): its informers run
	GateNotServed                  // definitely not served (asked again now and then)
)

// Gate finds out, in the background, whether the API server serves the
// resources of one group version, and starts what needs them once it does.
// It never blocks start-up: a hung or restarting API server, or an
// aggregated API answering 503 in the middle of an upgrade, only delays
// the collectors that need the API.
//
// A definite "not found" switches the API's users off and is asked again
// every GateRecheck, so an OpenShift API group installed later is picked
// up. Other errors are retried with backoff; after GateAttempts of them
// the API is taken as served (its informers retry on their own).
type Gate struct {
	GroupVersion string
	Resources    []string

	state  atomic.Int32
	served chan struct{} // closed once served

	mu     sync.Mutex
	starts []func(stop <-chan struct{})
}

// Gate timing (variables for tests).
var (
	GateAttempts = 5
	GateRetry    = 500 * time.Millisecond // doubling per attempt, at most GateMaxRetry
	GateMaxRetry = 30 * time.Second
	GateRecheck  = time.Minute
)

// NewGate returns a gate for resources of groupVersion.
func NewGate(groupVersion string, resources ...string) *Gate {
	return &Gate{GroupVersion: groupVersion, Resources: resources, served: make(chan struct{})}
}

// Served is closed once the API is served (or taken as served).
func (g *Gate) Served() <-chan struct{} { return g.served }

// State is what the gate knows now.
func (g *Gate) State() GateState {
	if g == nil {
		return GateServed
	}
	return GateState(g.state.Load())
}

// OnServed adds what starts once the API is served (informer factories'
// Start). Call before Run.
func (g *Gate) OnServed(start func(stop <-chan struct{})) {
	g.mu.Lock()
	g.starts = append(g.starts, start)
	g.mu.Unlock()
}

// Run asks d until the API is served, or ctx ends, then runs the starters
// with ctx. onChange (may be nil) hears every change of state.
func (g *Gate) Run(ctx context.Context, d kube.APIs, log *slog.Logger, onChange func(GateState)) {
	set := func(s GateState) {
		if GateState(g.state.Swap(int32(s))) != s && onChange != nil {
			onChange(s)
		}
	}
	wait := GateRetry
	failures := 0
	for ctx.Err() == nil {
		served, err := g.ask(d)
		switch {
		case err == nil && served:
			set(GateServed)
			g.start(ctx)
			return
		case err == nil:
			set(GateNotServed) // onChange says so, once
			failures, wait = 0, GateRetry
			sleep.For(ctx, GateRecheck)
			continue
		}
		failures++
		if failures >= GateAttempts && g.State() == GateUnknown {
			log.Warn("cannot tell whether the cluster serves an API; taking it as served (its informers retry)",
				"group_version", g.GroupVersion, "attempts", failures, "err", err)
			set(GateServed)
			g.start(ctx)
			return
		}
		log.Warn("asking the API server whether it serves an API", "group_version", g.GroupVersion,
			"attempt", failures, "retry_in", wait, "err", err)
		sleep.For(ctx, wait)
		wait = min(2*wait, GateMaxRetry)
	}
}

// ask reports whether every resource is served; err is set when the API
// server gave no definite answer.
func (g *Gate) ask(d kube.APIs) (bool, error) {
	list, err := d.ServerResourcesForGroupVersion(g.GroupVersion)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	have := map[string]bool{}
	for _, r := range list.APIResources {
		have[r.Name] = true
	}
	for _, r := range g.Resources {
		if !have[r] {
			return false, nil
		}
	}
	return true, nil
}

func (g *Gate) start(ctx context.Context) {
	close(g.served)
	g.mu.Lock()
	starts := g.starts
	g.mu.Unlock()
	for _, s := range starts {
		s(ctx.Done())
	}
}
