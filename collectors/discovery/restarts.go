package discovery

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zerodown/zerodown/collectors"
)

// Restarts: an endpoint going not ready says that a pod stopped answering,
// not why. When one of a recorded Service's endpoints goes not ready (not
// terminating: a deleted pod says why already), its pod is read once, and
// a container that has just terminated (OOMKilled, Error, exit 137) is
// written into the Service's EndpointsRestarted condition until the
// endpoint is ready again. Reading is the only cost: one GET per endpoint
// that goes not ready, at most restartReads a second (bursts of
// restartBurst), none while endpoints only come and go; lookups beyond
// restartQueue waiting are dropped (the endpoint stays "not ready").
const (
	restartReads = 5
	restartBurst = 10
	restartQueue = 256
	// restartRecent is how long ago a container may have terminated and
	// still explain its endpoint going not ready now.
	restartRecent = 2 * time.Minute
)

// CondEndpointsRestarted is True while an endpoint whose container just
// terminated (and is being restarted) is not ready.
const CondEndpointsRestarted = "EndpointsRestarted"

// podLookup asks why the pod behind one of a Service's endpoints went not
// ready.
type podLookup struct {
	i   int // the informer set (namespace) the Service is in
	svc collectors.ObjectRef
	pod string
}

// lookUp queues a read of pod, which just went not ready behind svc;
// dropped if the queue is full. Called with epMu held.
func (d *Discovery) lookUp(i int, svc collectors.ObjectRef, pod string) {
	if d.lookups == nil {
		return
	}
	select {
	case d.lookups <- podLookup{i: i, svc: svc, pod: pod}:
	default:
		d.restartDrops++
	}
}

// readRestarts reads the pods queued by lookUp, restartReads a second at
// most, until ctx ends, and records what restarted.
func (d *Discovery) readRestarts(ctx context.Context) {
	tick := time.NewTicker(time.Second / restartReads)
	defer tick.Stop()
	tokens := restartBurst
	for {
		var l podLookup
		select {
		case <-ctx.Done():
			return
		case l = <-d.lookups:
		}
		for tokens == 0 {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				tokens = min(tokens+1, restartBurst)
			}
		}
		tokens--
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		pod, err := d.o.Client.Pods(l.svc.Namespace).Get(rctx, l.pod, metav1.GetOptions{})
		cancel()
		if err != nil {
			if apierrors.IsForbidden(err) && !d.restartsForbidden {
				d.restartsForbidden = true
				d.log.Info("reading pods is forbidden: endpoints that go not ready are recorded without why (grant get on pods to record container restarts)", "err", err)
			}
			d.log.Debug("reading a pod that went not ready", "pod", l.svc.Namespace+"/"+l.pod, "err", err)
			continue
		}
		why := restartOf(pod, time.Now())
		if why == "" {
			continue
		}
		d.epMu.Lock()
		if d.restarts[l.svc] == nil {
			d.restarts[l.svc] = map[string]string{}
		}
		d.restarts[l.svc][l.pod] = why
		d.epMu.Unlock()
		d.observeEndpoints(l.i, l.svc.Namespace, l.svc.Name)
	}
}

// restartOf says which of pod's containers terminated within
// restartRecent of now, and how ("app: OOMKilled, exit 137"); "" if none.
func restartOf(pod *corev1.Pod, now time.Time) string {
	var out []string
	for _, st := range pod.Status.ContainerStatuses {
		t := st.State.Terminated
		if t == nil {
			t = st.LastTerminationState.Terminated
		}
		if t == nil || !t.FinishedAt.IsZero() && now.Sub(t.FinishedAt.Time) > restartRecent {
			continue
		}
		out = append(out, fmt.Sprintf("%s: %s, exit %d", st.Name, cmp.Or(t.Reason, "terminated"), t.ExitCode))
	}
	return strings.Join(out, "; ")
}
