package discovery

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	routev1 "github.com/openshift/api/route/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/listers"
	"k8s.io/client-go/tools/cache"

	"github.com/zerodown/zerodown/collectors"
	"github.com/zerodown/zerodown/intervals"
)

// The conditions of a probed Service's endpoints (Options.Endpoints):
// the changes that most often explain a Service's outage, the pods behind
// it going away. Each is written as an interval of the Service as it
// changes, from the EndpointSlices discovery watches anyway: no watch of
// its own.
const (
	// CondEndpointsTerminating is True while an endpoint is terminating
	// (its pod deleted, still listed): requests sent to it fail when the
	// pod stops before the data path forgets it.
	CondEndpointsTerminating = "EndpointsTerminating"
	// CondEndpointsNotReady is True while an endpoint is neither ready nor
	// terminating (a pod starting, or failing its readiness probe).
	CondEndpointsNotReady = "EndpointsNotReady"
	// CondEndpointsAvailable is False while no endpoint is ready.
	CondEndpointsAvailable = "EndpointsAvailable"
)

// (CondEndpointsRestarted, in restarts.go, says why an endpoint is not
// ready when its container just terminated.)

// KindService is the kind of the object the endpoint conditions belong to.
const KindService = "Service"

// watchEndpoints records the endpoint conditions of every chosen Service,
// of the Services behind every chosen Route and of the PathServices, as
// their EndpointSlices, the Services or the Routes change.
func (d *Discovery) watchEndpoints(i int, svc, eps, routes cache.SharedIndexInformer) error {
	on := func(fn func(metav1.Object)) cache.ResourceEventHandler {
		each := func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if o, ok := obj.(metav1.Object); ok {
				fn(o)
			}
		}
		return cache.ResourceEventHandlerFuncs{AddFunc: each, UpdateFunc: func(_, o any) { each(o) }, DeleteFunc: each}
	}
	if _, err := eps.AddEventHandler(on(func(o metav1.Object) {
		if name := o.GetLabels()[discoveryv1.LabelServiceName]; name != "" {
			d.observeEndpoints(i, o.GetNamespace(), name)
		}
	})); err != nil {
		return err
	}
	if _, err := svc.AddEventHandler(on(func(o metav1.Object) { d.observeEndpoints(i, o.GetNamespace(), o.GetName()) })); err != nil {
		return err
	}
	if routes == nil {
		return nil
	}
	_, err := routes.AddEventHandler(on(func(o metav1.Object) {
		if r, ok := o.(*routev1.Route); ok {
			for _, name := range routeServices(r) {
				d.observeEndpoints(i, r.Namespace, name)
			}
		}
	}))
	return err
}

// routeServices are the Services a Route sends to.
func routeServices(r *routev1.Route) []string {
	var out []string
	for _, b := range append([]routev1.RouteTargetReference{r.Spec.To}, r.Spec.AlternateBackends...) {
		if b.Kind == "Service" && b.Name != "" {
			out = append(out, b.Name)
		}
	}
	return out
}

// PathServices are the Services on the way to every backend whose
// endpoints are recorded whether or not they are probed: the cluster
// DNS's and the ingress routers' ("namespace/name").
var PathServices = []string{"kube-system/kube-dns", "openshift-dns/dns-default",
	"openshift-ingress/router-internal-default", "openshift-ingress/router-default"}

// endpointsWanted reports whether the endpoints of the Service ns/name are
// recorded: it is probed (chosen itself, or behind a chosen Route), or on
// the path (PathServices).
func (d *Discovery) endpointsWanted(i int, ns, name string) bool {
	if slices.Contains(PathServices, ns+"/"+name) {
		_, err := listers.NewNamespaced(d.services[i], ns).Get(name)
		return err == nil
	}
	if s, err := listers.NewNamespaced(d.services[i], ns).Get(name); err == nil {
		if _, ok := d.chosen(s.Annotations, s.Labels); ok {
			return true
		}
	}
	if i >= len(d.routes) || !d.routesOn() {
		return false
	}
	rs, _ := listers.NewNamespaced(d.routes[i], ns).List(labels.Everything())
	for _, r := range rs {
		if _, ok := d.chosen(r.Annotations, r.Labels); ok && slices.Contains(routeServices(r), name) {
			return true
		}
	}
	return false
}

// observeEndpoints records the endpoint conditions of the Service ns/name
// if it is probed, and forgets it (ending its intervals) if it is not (any
// more).
func (d *Discovery) observeEndpoints(i int, ns, name string) {
	ref := collectors.ObjectRef{Kind: KindService, Namespace: ns, Name: name}
	d.epMu.Lock()
	defer d.epMu.Unlock()
	if !d.endpointsWanted(i, ns, name) {
		if d.epTracked[ref] {
			delete(d.epTracked, ref)
			delete(d.notReady, ref)
			delete(d.restarts, ref)
			d.o.Endpoints.Delete(ref)
		}
		return
	}
	d.epTracked[ref] = true
	if d.notReady == nil {
		d.notReady, d.restarts = map[collectors.ObjectRef]map[string]bool{}, map[collectors.ObjectRef]map[string]string{}
	}
	conds, notReady := endpointConds(d.slicesOf(i, ns, name), d.restarts[ref])
	was := d.notReady[ref]
	now := map[string]bool{}
	for _, p := range notReady {
		now[p] = true
		if !was[p] {
			d.lookUp(i, ref, p) // newly not ready: why?
		}
	}
	for p := range d.restarts[ref] {
		if !now[p] {
			delete(d.restarts[ref], p) // ready again, or gone
		}
	}
	d.notReady[ref] = now
	d.o.Endpoints.Observe(ref, conds)
}

// endpointConds reads the endpoint conditions of a Service from its
// EndpointSlices, and the pods of the endpoints that are not ready and not
// terminating. An endpoint is counted once, whatever the slices
// and address families that list it; its ready condition unset means
// ready. restarted says why some pods went not ready (restarts.go).
func endpointConds(es []*discoveryv1.EndpointSlice, restarted map[string]string) ([]collectors.Cond, []string) {
	type ep struct {
		ready, terminating, pod bool
		node                    string
	}
	seen := map[string]ep{}
	for _, e := range es {
		for _, p := range e.Endpoints {
			key, pod := strings.Join(p.Addresses, ","), p.TargetRef != nil && p.TargetRef.Name != ""
			if pod {
				key = p.TargetRef.Name
			}
			c := p.Conditions
			seen[key] = ep{ready: c.Ready == nil || *c.Ready, terminating: c.Terminating != nil && *c.Terminating,
				pod: pod, node: deref(p.NodeName)}
		}
	}
	var terminating, notReady, restarts, notReadyPods []string
	nodes := [3]map[string]bool{{}, {}, {}} // of the terminating, the not ready, the restarted
	ready := 0
	for _, k := range slices.Sorted(maps.Keys(seen)) {
		switch e := seen[k]; {
		case e.terminating:
			terminating = append(terminating, k)
			nodes[0][e.node] = e.node != ""
		case !e.ready:
			notReady = append(notReady, k)
			nodes[1][e.node] = e.node != ""
			if e.pod {
				notReadyPods = append(notReadyPods, k)
			}
			if why := restarted[k]; why != "" {
				restarts = append(restarts, k+" ("+why+")")
				nodes[2][e.node] = e.node != ""
			}
		default:
			ready++
		}
	}
	n := len(seen)
	// say names the endpoints, and the nodes they run on, which the
	// report reads to tell a node's drain behind them (report.nodesOf).
	say := func(what string, names []string, on map[string]bool) string {
		if len(names) == 0 {
			return ""
		}
		return fmt.Sprintf("%d of %d endpoints %s: %s", len(names), n, what, strings.Join(first(names, 5), ", ")) + nodesSuffix(on)
	}
	// cond is a condition in status; bad gives it its reason and level.
	cond := func(typ string, status, bad bool, reason string, level intervals.Level, msg string) collectors.Cond {
		// Restate: which pods are in the state is the point; an interval
		// names those of its own time (else the pods of a rollout a
		// minute ago would be named for a container killed now).
		c := collectors.Cond{Type: typ, Status: collectors.BoolStatus(status), Message: msg, Level: intervals.LevelInfo, Restate: true}
		if bad {
			c.Reason, c.Level = reason, level
		}
		return c
	}
	return []collectors.Cond{
		cond(CondEndpointsTerminating, len(terminating) > 0, len(terminating) > 0, "PodsTerminating", intervals.LevelWarning, say("terminating", terminating, nodes[0])),
		cond(CondEndpointsNotReady, len(notReady) > 0, len(notReady) > 0, "PodsNotReady", intervals.LevelWarning, say("not ready", notReady, nodes[1])),
		cond(CondEndpointsRestarted, len(restarts) > 0, len(restarts) > 0, "ContainersRestarted", intervals.LevelWarning, say("restarted", restarts, nodes[2])),
		cond(CondEndpointsAvailable, ready > 0, ready == 0, "NoReadyEndpoints", intervals.LevelError, fmt.Sprintf("%d of %d endpoints ready", ready, n)),
	}, notReadyPods
}

// nodesSuffix is " (node a)" or " (nodes a, b)" for the nodes marked in
// on, every one of them; "" when none is known.
func nodesSuffix(on map[string]bool) string {
	var names []string
	for n, known := range on {
		if known {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	switch len(names) {
	case 0:
		return ""
	case 1:
		return " (node " + names[0] + ")"
	}
	return " (nodes " + strings.Join(names, ", ") + ")"
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// first is at most n of names, and how many more.
func first(names []string, n int) []string {
	if len(names) <= n {
		return names
	}
	return append(slices.Clone(names[:n]), fmt.Sprintf("and %d more", len(names)-n))
}
