package kube

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zerodown/zerodown/internal/sleep"
)

// Election is leader election on a coordination.k8s.io Lease, as
// client-go's leaderelection does it (whose package would link every
// Kubernetes API group; see Client): a candidate takes the Lease when its
// holder has not renewed it for LeaseDuration, as measured on this
// candidate's clock from when it last saw the Lease change, so clocks need
// not agree.
type Election struct {
	Leases                                    *Resource[*coordinationv1.Lease, *coordinationv1.LeaseList]
	Name, Identity                            string
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// OnStartedLeading and OnStoppedLeading are called in turn, on Run's
	// goroutine; OnNewLeader when another candidate is seen to lead.
	OnStartedLeading, OnStoppedLeading func()
	OnNewLeader                        func(identity string)

	observed     coordinationv1.LeaseSpec // as last read
	observedTime time.Time                // when it last changed, on our clock
	leader       string                   // last reported to OnNewLeader

	mu        sync.Mutex
	leading   bool      // the Lease is ours, as of renewedAt
	renewedAt time.Time // when the latest successful acquire or renew began
}

// Run takes part until ctx ends: it waits for the Lease, leads while it
// renews it, and runs for it again when it could not. As client-go's
// leaderelection does, one renewal (its tries every RetryPeriod together)
// is bounded by RenewDeadline as a whole: a leader whose API server
// answers 5xx and then hangs stops leading RenewDeadline after the renewal
// began. Leading says, at any moment, whether this candidate may still act.
// On ctx's end a leader gives the Lease up, so another takes over at once:
// stop whatever acts for the leader before ctx ends.
func (e *Election) Run(ctx context.Context) {
	for ctx.Err() == nil {
		if !e.acquire(ctx) {
			return
		}
		e.OnStartedLeading()
		for ctx.Err() == nil && e.renew(ctx) {
			if !sleep.For(ctx, e.RetryPeriod) {
				break
			}
		}
		e.setLeading(false, time.Time{})
		if ctx.Err() != nil {
			e.release()
		}
		e.OnStoppedLeading()
	}
}

// acquire tries every RetryPeriod (with jitter) until it holds the Lease;
// false when ctx ended first.
func (e *Election) acquire(ctx context.Context) bool {
	for {
		if e.tryAcquireOrRenew(ctx) {
			return true
		}
		if !sleep.For(ctx, e.RetryPeriod+time.Duration(rand.Int64N(int64(e.RetryPeriod/5)+1))) {
			return false
		}
	}
}

// renew tries every RetryPeriod until the Lease is renewed, all within one
// RenewDeadline; false when it was not.
func (e *Election) renew(ctx context.Context) bool {
	rctx, cancel := context.WithTimeout(ctx, e.RenewDeadline)
	defer cancel()
	for {
		if e.tryAcquireOrRenew(rctx) {
			return true
		}
		if !sleep.For(rctx, e.RetryPeriod) {
			return false
		}
	}
}

// Leading reports whether this candidate leads, and until when it may act
// without renewing again: RenewDeadline after its last successful renewal
// began. Another candidate takes over no sooner than LeaseDuration after
// it saw that renewal, so the two never act at once (as long as the clocks
// run at rates within LeaseDuration/RenewDeadline of each other). Safe for
// concurrent use.
func (e *Election) Leading() (until time.Time, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	until = e.renewedAt.Add(e.RenewDeadline)
	return until, e.leading && time.Now().Before(until)
}

// tryAcquireOrRenew takes or renews the Lease if it is free, expired or
// ours; the API server's optimistic concurrency settles races.
func (e *Election) tryAcquireOrRenew(ctx context.Context) bool {
	began := time.Now()
	now := metav1.NewMicroTime(began)
	seconds := int32(max(e.LeaseDuration/time.Second, 1))
	lease, err := e.Leases.Get(ctx, e.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: e.Name, Namespace: e.Leases.GetNamespace()},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &e.Identity, LeaseDurationSeconds: &seconds, AcquireTime: &now, RenewTime: &now,
				LeaseTransitions: new(int32)}}
		if lease, err = e.Leases.Create(ctx, lease, metav1.CreateOptions{}); err != nil {
			return false
		}
		e.observe(lease.Spec)
		e.setLeading(true, began)
		return true
	}
	if err != nil {
		return false
	}
	e.observe(lease.Spec)
	holder := deref(lease.Spec.HolderIdentity)
	if holder != "" && holder != e.Identity && time.Since(e.observedTime) < leaseDuration(lease.Spec, e.LeaseDuration) {
		e.setLeading(false, time.Time{}) // held by another, and alive: act no more
		return false
	}
	spec := lease.Spec.DeepCopy()
	if holder != e.Identity {
		transitions := deref(spec.LeaseTransitions) + 1
		spec.LeaseTransitions, spec.AcquireTime = &transitions, &now
	}
	spec.HolderIdentity, spec.LeaseDurationSeconds, spec.RenewTime = &e.Identity, &seconds, &now
	lease.Spec = *spec
	updated, err := e.Leases.Update(ctx, lease, metav1.UpdateOptions{})
	if err != nil {
		return false
	}
	e.observe(updated.Spec)
	e.setLeading(true, began)
	return true
}

// setLeading notes whether the Lease is ours: true after a successful
// acquire or renew that began at began (zero keeps the last one).
func (e *Election) setLeading(leading bool, began time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.leading = leading
	if !began.IsZero() {
		e.renewedAt = began
	}
}

// observe notes the Lease as read, and when it last changed.
func (e *Election) observe(spec coordinationv1.LeaseSpec) {
	if e.observedTime.IsZero() || !spec.RenewTime.Equal(e.observed.RenewTime) || deref(spec.HolderIdentity) != deref(e.observed.HolderIdentity) {
		e.observed, e.observedTime = spec, time.Now()
	}
	if h := deref(spec.HolderIdentity); h != "" && h != e.leader {
		e.leader = h
		if h != e.Identity && e.OnNewLeader != nil {
			e.OnNewLeader(h)
		}
	}
}

// release gives the Lease up if it is still ours.
func (e *Election) release() {
	ctx, cancel := context.WithTimeout(context.Background(), e.RenewDeadline)
	defer cancel()
	lease, err := e.Leases.Get(ctx, e.Name, metav1.GetOptions{})
	if err != nil || deref(lease.Spec.HolderIdentity) != e.Identity {
		return
	}
	now, one := metav1.NewMicroTime(time.Now()), int32(1)
	lease.Spec.HolderIdentity, lease.Spec.LeaseDurationSeconds, lease.Spec.RenewTime = nil, &one, &now
	_, _ = e.Leases.Update(ctx, lease, metav1.UpdateOptions{})
}

func leaseDuration(spec coordinationv1.LeaseSpec, fallback time.Duration) time.Duration {
	if spec.LeaseDurationSeconds != nil && *spec.LeaseDurationSeconds > 0 {
		return time.Duration(*spec.LeaseDurationSeconds) * time.Second
	}
	return fallback
}

func deref[T any](p *T) T {
	if p == nil {
		return *new(T)
	}
	return *p
}

// Validate checks the durations as client-go's leaderelection does.
func (e *Election) Validate() error {
	switch {
	case e.RetryPeriod <= 0 || e.RenewDeadline <= 0 || e.LeaseDuration <= 0:
		return fmt.Errorf("leader election: lease duration, renew deadline and retry period must be positive")
	case e.LeaseDuration <= e.RenewDeadline:
		return fmt.Errorf("leader election: lease duration (%s) must be longer than the renew deadline (%s)", e.LeaseDuration, e.RenewDeadline)
	case e.RenewDeadline <= time.Duration(1.2*float64(e.RetryPeriod)):
		return fmt.Errorf("leader election: renew deadline (%s) must be longer than 1.2 x the retry period (%s)", e.RenewDeadline, e.RetryPeriod)
	}
	return nil
}
