package discovery

import (
	"strings"
	"sync"
	"testing"
	"time"

	routev1 "github.com/openshift/api/route/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zerodown/zerodown/collectors"
	"github.com/zerodown/zerodown/intervals"
)

// recorder keeps the intervals a condition tracker writes.
type recorder struct {
	mu    sync.Mutex
	begun []intervals.Interval
	ended map[string]bool
}

func (r *recorder) Begin(iv intervals.Interval) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.begun = append(r.begun, iv)
	return string(rune('a' + len(r.begun) - 1)), nil
}

func (r *recorder) End(id string, _ time.Time, _ *intervals.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended == nil {
		r.ended = map[string]bool{}
	}
	r.ended[id] = true
	return nil
}

// open lists the messages of the open intervals.
func (r *recorder) open() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for i, iv := range r.begun {
		if !r.ended[string(rune('a'+i))] {
			out = append(out, iv.Message.HumanMessage)
		}
	}
	return out
}

func podEP(pod string, ready, terminating bool, addr string) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: []string{addr}, TargetRef: &corev1.ObjectReference{Name: pod},
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Terminating: &terminating}}
}

// on puts an endpoint on a node.
func on(node string, ep discoveryv1.Endpoint) discoveryv1.Endpoint {
	ep.NodeName = &node
	return ep
}

// The endpoints of a chosen Service, and of the Service behind a chosen
// Route, are recorded as the Service's conditions; an unchosen Service's
// are not; a Service no longer chosen is forgotten.
func TestEndpointConditions(t *testing.T) {
	web := svc("web", "tcp", corev1.ServiceSpec{ClusterIP: "10.0.0.1"})
	quiet := svc("quiet", "", corev1.ServiceSpec{ClusterIP: "10.0.0.2"})
	back := svc("back", "", corev1.ServiceSpec{ClusterIP: "10.0.0.3"})
	route := &routev1.Route{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "front", Annotations: map[string]string{DefaultAnnotation: "true"}},
		Spec: routev1.RouteSpec{Host: "front.example", To: routev1.RouteTargetReference{Kind: "Service", Name: "back"}}}
	// web: one pod ready, one terminating (in both address families), one
	// starting; back: its only pod terminating; quiet: not probed.
	d := newTestDiscovery(t, "", "", web, quiet, back, route,
		slice("web-4", "web", discoveryv1.AddressTypeIPv4, podEP("web-a", true, false, "10.1.0.1"), on("n2", podEP("web-b", false, true, "10.1.0.2")),
			podEP("web-c", false, false, "10.1.0.3")),
		slice("web-6", "web", discoveryv1.AddressTypeIPv6, on("n2", podEP("web-b", false, true, "fd00::2"))),
		slice("back-4", "back", discoveryv1.AddressTypeIPv4, on("n1", podEP("back-a", false, true, "10.1.1.1")),
			on("n2", podEP("back-b", false, true, "10.1.1.2"))),
		slice("quiet-4", "quiet", discoveryv1.AddressTypeIPv4, podEP("quiet-a", false, true, "10.1.2.1")),
		// The cluster DNS: recorded though not probed.
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "kube-dns"}},
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "kube-dns-4",
			Labels: map[string]string{discoveryv1.LabelServiceName: "kube-dns"}}, AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints: []discoveryv1.Endpoint{podEP("coredns-a", true, false, "10.1.3.1"), podEP("coredns-b", false, false, "10.1.3.2")}})
	rec := &recorder{}
	d.o.Endpoints = collectors.NewConditions(rec, nil)
	d.epTracked = map[collectors.ObjectRef]bool{}
	for _, name := range []string{"web", "quiet", "back"} {
		d.observeEndpoints(0, "shop", name)
	}
	d.observeEndpoints(0, "kube-system", "kube-dns")
	want := []string{
		"Service/shop/web EndpointsTerminating=true: 1 of 3 endpoints terminating: web-b (node n2)",
		"Service/shop/web EndpointsNotReady=true: 1 of 3 endpoints not ready: web-c",
		"Service/shop/web EndpointsRestarted=false",
		"Service/shop/web EndpointsAvailable=true: 1 of 3 endpoints ready",
		"Service/shop/back EndpointsTerminating=true: 2 of 2 endpoints terminating: back-a, back-b (nodes n1, n2)",
		"Service/shop/back EndpointsNotReady=false",
		"Service/shop/back EndpointsRestarted=false",
		"Service/shop/back EndpointsAvailable=false: 0 of 2 endpoints ready",
		"Service/kube-system/kube-dns EndpointsTerminating=false",
		"Service/kube-system/kube-dns EndpointsNotReady=true: 1 of 2 endpoints not ready: coredns-b",
		"Service/kube-system/kube-dns EndpointsRestarted=false",
		"Service/kube-system/kube-dns EndpointsAvailable=true: 1 of 2 endpoints ready",
	}
	if got := rec.open(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("open intervals:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// web is no longer chosen: its intervals end, and it is forgotten.
	web.Annotations = nil // the cache holds this very object
	d.observeEndpoints(0, "shop", "web")
	for _, o := range rec.open() {
		if strings.Contains(o, "/web ") {
			t.Errorf("still open after web stopped being probed: %s", o)
		}
	}
	if d.epTracked[collectors.ObjectRef{Kind: KindService, Namespace: "shop", Name: "web"}] {
		t.Error("web still tracked")
	}
}

// An endpoint going not ready has its pod looked up once; a container
// that just terminated is written as EndpointsRestarted until the endpoint
// is ready again.
func TestEndpointRestarts(t *testing.T) {
	web := svc("web", "tcp", corev1.ServiceSpec{ClusterIP: "10.0.0.1"})
	b := on("n2", podEP("web-b", true, false, "10.1.0.2"))
	sl := slice("web-4", "web", discoveryv1.AddressTypeIPv4, podEP("web-a", true, false, "10.1.0.1"), b,
		discoveryv1.Endpoint{Addresses: []string{"10.1.0.9"}, Conditions: discoveryv1.EndpointConditions{Ready: new(bool)}})
	d := newTestDiscovery(t, "", "", web, sl)
	rec := &recorder{}
	d.o.Endpoints = collectors.NewConditions(rec, nil)
	d.epTracked = map[collectors.ObjectRef]bool{}
	d.lookups = make(chan podLookup, 8)
	ref := collectors.ObjectRef{Kind: KindService, Namespace: "shop", Name: "web"}
	queued := func() []string {
		var out []string
		for len(d.lookups) > 0 {
			out = append(out, (<-d.lookups).pod)
		}
		return out
	}
	restarted := func() string {
		for _, o := range rec.open() {
			if strings.Contains(o, CondEndpointsRestarted) {
				return o
			}
		}
		return ""
	}

	d.observeEndpoints(0, "shop", "web")
	if got := queued(); len(got) != 0 {
		t.Fatalf("looked up %v, though no pod went not ready (an endpoint without a pod is never looked up)", got)
	}
	// web-b goes not ready: its pod is looked up, once.
	sl.Endpoints[1].Conditions.Ready = new(bool)
	d.observeEndpoints(0, "shop", "web")
	d.observeEndpoints(0, "shop", "web")
	if got := queued(); strings.Join(got, ",") != "web-b" {
		t.Fatalf("looked up %v, want web-b once", got)
	}
	// What the lookup found (readRestarts).
	d.restarts[ref] = map[string]string{"web-b": "app: OOMKilled, exit 137"}
	d.observeEndpoints(0, "shop", "web")
	if got, want := restarted(), "Service/shop/web EndpointsRestarted=true: 1 of 3 endpoints restarted: web-b (app: OOMKilled, exit 137) (node n2)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// Ready again: the restart is forgotten.
	sl.Endpoints[1].Conditions.Ready = nil
	d.observeEndpoints(0, "shop", "web")
	if got := restarted(); got != "Service/shop/web EndpointsRestarted=false" {
		t.Errorf("ready again: %q", got)
	}
	if len(d.restarts[ref]) != 0 {
		t.Errorf("restarts kept: %v", d.restarts[ref])
	}
}

// A container that terminated lately is a restart; one long ago, or none,
// is not.
func TestRestartOf(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	term := func(reason string, code int32, ago time.Duration) *corev1.ContainerStateTerminated {
		return &corev1.ContainerStateTerminated{Reason: reason, ExitCode: code, FinishedAt: metav1.NewTime(now.Add(-ago))}
	}
	pod := func(sts ...corev1.ContainerStatus) *corev1.Pod {
		return &corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: sts}}
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"restarted, running again", pod(corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
			LastTerminationState: corev1.ContainerState{Terminated: term("OOMKilled", 137, 3*time.Second)}}), "app: OOMKilled, exit 137"},
		{"terminated now", pod(corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Terminated: term("Error", 2, 0)}}), "app: Error, exit 2"},
		{"two containers, one restarted", pod(corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
			corev1.ContainerStatus{Name: "proxy", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
				LastTerminationState: corev1.ContainerState{Terminated: term("", 1, time.Minute)}}), "proxy: terminated, exit 1"},
		{"restarted an hour ago", pod(corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
			LastTerminationState: corev1.ContainerState{Terminated: term("OOMKilled", 137, time.Hour)}}), ""},
		{"never restarted", pod(corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}), ""},
	} {
		if got := restartOf(tc.pod, now); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
