//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zerodown/zerodown/internal/kube"
)

// candidate is one participant of a leader election, run in-process.
type candidate struct {
	e       *kube.Election
	leading atomic.Bool
	led     atomic.Int32 // times it started leading
	cancel  context.CancelFunc
	done    chan struct{}
}

// runCandidate runs a candidate of lease 3 s and renew deadline 2 s,
// trying every retry, until the test ends.
func runCandidate(t *testing.T, kc *kube.Client, ns, id string, retry time.Duration) *candidate {
	c := &candidate{done: make(chan struct{})}
	c.e = &kube.Election{Leases: kc.Leases(ns), Name: "zerodown-controller", Identity: id,
		LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: retry,
		OnStartedLeading: func() { c.leading.Store(true); c.led.Add(1) },
		OnStoppedLeading: func() { c.leading.Store(false) },
	}
	if err := c.e.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() { defer close(c.done); c.e.Run(ctx) }()
	t.Cleanup(c.stop)
	return c
}

func (c *candidate) stop() {
	c.cancel()
	<-c.done
}

func holder(ctx context.Context, t *testing.T, kc *kube.Client, ns string) string {
	l, err := kc.Leases(ns).Get(ctx, "zerodown-controller", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Lease: %v", err)
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// The controller's leader election on the real API server: one of two
// candidates leads; when it stops it gives the Lease up and the other
// takes over at once (well within the lease duration); a Lease taken by
// someone else makes the leader step down within its renew deadline; a
// holder that stopped renewing loses the Lease after the lease duration.
func TestLeaderElection(t *testing.T) {
	ctx := ctxT(t)
	c := newClients(t)
	rc := *c.rest
	rc.QPS, rc.Burst = 50, 100 // as the controller's; client-go's 5/s would pace the candidates
	kc, err := kube.NewClient(&rc)
	if err != nil {
		t.Fatal(err)
	}
	ns := freshNamespace(t, c, "e2e-election")

	a := runCandidate(t, kc, ns, "a", 200*time.Millisecond)
	b := runCandidate(t, kc, ns, "b", 200*time.Millisecond)
	var leader, other *candidate
	eventually(t, 30*time.Second, "one leader", func() (bool, string) {
		la, lb := a.leading.Load(), b.leading.Load()
		switch {
		case la && lb:
			t.Fatal("both candidates lead at once")
		case la:
			leader, other = a, b
		case lb:
			leader, other = b, a
		}
		return leader != nil, fmt.Sprintf("a leading %v, b leading %v", la, lb)
	})
	if h := holder(ctx, t, kc, ns); h != leader.e.Identity {
		t.Fatalf("Lease holder %q, want the leader %q", h, leader.e.Identity)
	}
	// The other stays a follower while the leader renews.
	time.Sleep(2 * leader.e.LeaseDuration)
	if other.leading.Load() || !leader.leading.Load() {
		t.Fatalf("after two lease durations: leader leading %v, follower leading %v", leader.leading.Load(), other.leading.Load())
	}

	// Released on stop: the follower takes over without waiting out the
	// lease duration (the released Lease lasts one second).
	stopped := time.Now()
	leader.stop()
	if leader.leading.Load() {
		t.Error("a stopped candidate still says it leads")
	}
	eventually(t, 30*time.Second, "the follower leading", func() (bool, string) {
		return other.leading.Load(), "holder " + holder(ctx, t, kc, ns)
	})
	t.Logf("handover after a release took %s (lease duration %s)", time.Since(stopped).Round(time.Millisecond), leader.e.LeaseDuration)
	if h := holder(ctx, t, kc, ns); h != other.e.Identity {
		t.Errorf("Lease holder %q after the handover, want %q", h, other.e.Identity)
	}

	// Someone else takes the Lease (as another controller would after a
	// network partition): the leader fails to renew and steps down.
	leases := kc.Leases(ns)
	steal := func(id string, renew time.Time) {
		for {
			l, err := leases.Get(ctx, "zerodown-controller", metav1.GetOptions{})
			if err != nil {
				t.Error(err) // not the test's goroutine: no Fatal
				return
			}
			rt := metav1.NewMicroTime(renew)
			l.Spec.HolderIdentity, l.Spec.RenewTime = &id, &rt
			if _, err = leases.Update(ctx, l, metav1.UpdateOptions{}); err == nil {
				return
			}
		}
	}
	// Kept fresh, as a live holder would keep it.
	stealCtx, stopStealing := context.WithCancel(ctx)
	go func() {
		for stealCtx.Err() == nil {
			steal("intruder", time.Now())
			time.Sleep(200 * time.Millisecond)
		}
	}()
	eventually(t, 30*time.Second, "the leader stepping down for a live holder", func() (bool, string) {
		return !other.leading.Load(), "holder " + holder(ctx, t, kc, ns)
	})
	stopStealing()

	// The intruder stops renewing: after the lease duration the candidate
	// takes the Lease back, counting a transition.
	before, err := leases.Get(ctx, "zerodown-controller", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the candidate leading again", func() (bool, string) {
		return other.leading.Load(), "holder " + holder(ctx, t, kc, ns)
	})
	after, err := leases.Get(ctx, "zerodown-controller", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if transitions := func(l *coordinationv1.Lease) int32 { return *l.Spec.LeaseTransitions }; transitions(after) <= transitions(before) {
		t.Errorf("lease transitions %d after taking the Lease back, want more than %d", transitions(after), transitions(before))
	}
	if n := other.led.Load(); n != 2 {
		t.Errorf("the candidate started leading %d times, want 2", n)
	}
}

// A leader whose API server answers 500 and then hangs stops acting
// before anyone else can lead: its renewal is bounded by the renew
// deadline as a whole, and Leading is false from RenewDeadline after its
// last renewal began. Sampled every millisecond, the two candidates never
// both say they may act.
func TestLeaderElectionHungAPIServer(t *testing.T) {
	c := newClients(t)
	ns := freshNamespace(t, c, "e2e-election-hung")
	proxy := newAPIProxy(t, c.rest)
	through, err := kube.NewClient(proxy.rest())
	if err != nil {
		t.Fatal(err)
	}
	rc := *c.rest
	rc.QPS, rc.Burst = 50, 100
	direct, err := kube.NewClient(&rc)
	if err != nil {
		t.Fatal(err)
	}
	// Lease 3 s, renew 2 s, retry 0.4 s.
	a := runCandidate(t, through, ns, "behind-the-bad-api-server", 400*time.Millisecond)
	eventually(t, 30*time.Second, "a leading", func() (bool, string) { _, ok := a.e.Leading(); return ok, "" })
	b := runCandidate(t, direct, ns, "direct", 400*time.Millisecond)

	var both atomic.Int64 // samples where both may act
	var aLast, bFirst atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, la := a.e.Leading()
			_, lb := b.e.Leading()
			now := time.Now().UnixNano()
			if la {
				aLast.Store(now)
			}
			if lb && bFirst.Load() == 0 {
				bFirst.Store(now)
			}
			if la && lb {
				both.Add(1)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	time.Sleep(time.Second) // b a follower meanwhile
	if _, ok := b.e.Leading(); ok {
		t.Fatal("b leads while a renews")
	}
	faulted := time.Now()
	proxy.set(proxyFail)
	time.Sleep(time.Second)
	proxy.set(proxyHang)
	eventually(t, 30*time.Second, "b leading", func() (bool, string) { _, ok := b.e.Leading(); return ok, "" })
	close(stop)
	<-sampled
	if n := both.Load(); n > 0 {
		t.Errorf("both candidates could act in %d samples", n)
	}
	gap := time.Duration(bFirst.Load() - aLast.Load())
	t.Logf("fault at 0; a acted until +%s, b from +%s (gap %s)",
		time.Duration(aLast.Load()-faulted.UnixNano()).Round(time.Millisecond), time.Duration(bFirst.Load()-faulted.UnixNano()).Round(time.Millisecond), gap.Round(time.Millisecond))
	if gap <= 0 {
		t.Errorf("b began leading %s before a stopped", -gap)
	}
	if a.leading.Load() {
		// Its loop gives up within the renew deadline of its last try.
		eventually(t, 10*time.Second, "a's loop stepping down", func() (bool, string) { return !a.leading.Load(), "" })
	}
	proxy.set(proxyPass)
}
