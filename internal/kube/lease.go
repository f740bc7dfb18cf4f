package kube

import (
	"context"
	"fmt"
	"math/rand/v2"
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
}

// Run takes part until ctx ends: it waits for the Lease, leads while it
// renews it within RenewDeadline, and runs for it again when it could not.
// On ctx's end a leader gives the Lease up, so another takes over at once.
func (e *Election) Run(ctx context.Context) {
	for ctx.Err() == nil {
		if !e.retry(ctx, func() bool { return e.tryAcquireOrRenew(ctx) }, 0) {
			return
		}
		e.OnStartedLeading()
		for ctx.Err() == nil {
			if !e.retry(ctx, func() bool {
				rctx, cancel := context.WithTimeout(ctx, e.RenewDeadline)
				defer cancel()
				return e.tryAcquireOrRenew(rctx)
			}, e.RenewDeadline) {
				break
			}
			if !sleep.For(ctx, e.RetryPeriod) {
				break
			}
		}
		if ctx.Err() != nil {
			e.release()
		}
		e.OnStoppedLeading()
	}
}

// retry calls try every RetryPeriod (with jitter) until it succeeds; it
// gives up when ctx ends or, if within is set, when within has passed.
func (e *Election) retry(ctx context.Context, try func() bool, within time.Duration) bool {
	start := time.Now()
	for {
		if try() {
			return true
		}
		if within > 0 && time.Since(start) >= within {
			return false
		}
		if !sleep.For(ctx, e.RetryPeriod+time.Duration(rand.Int64N(int64(e.RetryPeriod/5)+1))) {
			return false
		}
	}
}

// tryAcquireOrRenew takes or renews the Lease if it is free, expired or
// ours; the API server's optimistic concurrency settles races.
func (e *Election) tryAcquireOrRenew(ctx context.Context) bool {
	now := metav1.NewMicroTime(time.Now())
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
		return true
	}
	if err != nil {
		return false
	}
	e.observe(lease.Spec)
	holder := deref(lease.Spec.HolderIdentity)
	if holder != "" && holder != e.Identity && time.Since(e.observedTime) < leaseDuration(lease.Spec, e.LeaseDuration) {
		return false // held by another, and alive
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
	return true
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
