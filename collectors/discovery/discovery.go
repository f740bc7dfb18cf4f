// Package discovery turns Routes and Services into probe targets. An
// object is probed when it carries the annotation (zerodown.io/probe by
// default) or matches the label selector. Targets change live as objects
// change; Targets reads informer listers only, so while the API server is
// away the last known targets stay.
//
// A Route is probed through the router: its URL names the router address,
// its Host header and TLS SNI are the route's host. A Service is probed at
// its cluster IP (TCP connect or HTTP) and through its DNS name, asked of
// the cluster DNS; the answer must be exactly the Service itself (its
// cluster IP; for a headless Service its ready endpoints; for an
// ExternalName its CNAME; SRV records for named ports), so a stale or
// wrong answer is disruption with its own reason.
package discovery

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	routev1 "github.com/openshift/api/route/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/listers"
	"k8s.io/client-go/tools/cache"

	"github.com/zerodown/zerodown/collectors"
	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/internal/kube"
)

// Annotations read on Routes and Services.
const (
	// DefaultAnnotation chooses objects to probe. On a Service its value
	// lists probe kinds: tcp, http, https, dns ("true": tcp,dns). On a
	// Route any value but "false" probes it through the router.
	DefaultAnnotation = "zerodown.io/probe"
	// AnnotationPath is the HTTP path to ask (default: the Route's path, or /).
	AnnotationPath = "zerodown.io/path"
	// AnnotationPorts restricts a Service's probes to these ports (names
	// or numbers, comma-separated).
	AnnotationPorts = "zerodown.io/ports"
	// AnnotationServedBy names a response header that says which backend
	// served a Route's request; its values are the Route's backends.
	AnnotationServedBy = "zerodown.io/served-by-header"
	// AnnotationHold holds this many long-lived connections (1 to 64)
	// to the object's HTTP and TCP targets, counting how they are dropped.
	AnnotationHold = "zerodown.io/hold"
	// AnnotationHoldStream is a path each held HTTP connection requests
	// and reads for as long as it streams.
	AnnotationHoldStream = "zerodown.io/hold-stream"
	// AnnotationInterval probes the object's targets at this steady
	// interval (a Go duration, at least 10ms) instead of the poller's
	// default: finer for the few backends whose short outages matter.
	AnnotationInterval = "zerodown.io/interval"
)

// holdOf is the hold the annotations ask for (nil: none), and why a bad
// value was ignored.
func holdOf(ann map[string]string) (*config.Hold, string) {
	v := ann[AnnotationHold]
	if v == "" {
		return nil, ""
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 || n > 64 {
		return nil, fmt.Sprintf("annotation %s: want 1 to 64 connections, got %q; holding none", AnnotationHold, v)
	}
	stream := ann[AnnotationHoldStream]
	if stream != "" && (!strings.HasPrefix(stream, "/") || strings.ContainsAny(stream, " \r\n")) {
		return nil, fmt.Sprintf("annotation %s: want a path starting with /, got %q; holding none", AnnotationHoldStream, stream)
	}
	return &config.Hold{Connections: n, Stream: stream}, ""
}

// annotated gives t what the object's annotations ask beyond its kind:
// its interval, and its hold (HTTP and TCP targets).
func (d *Discovery) annotated(t config.Target, ann map[string]string, obj string) config.Target {
	if v := ann[AnnotationInterval]; v != "" {
		iv, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || config.Duration(iv) < config.MinInterval {
			d.skip(obj+" (interval)", fmt.Sprintf("annotation %s: want a duration of at least %s, got %q; probing at the default interval", AnnotationInterval, config.MinInterval, v))
		} else {
			t.Interval = config.Duration(iv)
		}
	}
	h, why := holdOf(ann)
	if why != "" {
		d.skip(obj+" (held connections)", why)
	}
	switch {
	case h == nil, t.DNS != nil:
	case t.TCP != nil && h.Stream != "":
		h2 := *h
		h2.Stream = ""
		t.Hold = &h2
	default:
		t.Hold = h
	}
	return t
}

// Options configures discovery.
type Options struct {
	Client *kube.Client
	// Routes are watched too (on OpenShift, or wherever the API serves
	// route.openshift.io/v1).
	Routes bool
	// Annotation chooses objects (default DefaultAnnotation).
	Annotation string
	// Selector, if set, chooses objects by label too.
	Selector string
	// Namespaces to watch (empty: all).
	Namespaces []string
	// RouterHTTP and RouterHTTPS are the router's addresses (host:port)
	// for plain and TLS Routes.
	RouterHTTP, RouterHTTPS string
	// RouterTLS verifies the router's certificates (CA file, or skip).
	RouterTLS config.TLS
	// ClusterDNS is the DNS server (host:port) for Service names; empty
	// uses the system resolver (in a pod: the cluster DNS).
	ClusterDNS string
	// ClusterDomain is the cluster's DNS domain (default cluster.local).
	ClusterDomain string
	// Outside: the prober runs outside the cluster (watch --kubeconfig),
	// as a user does. Routes are probed at their hosts, not through the
	// router; Services only at their load balancers' ingress addresses
	// (cluster IPs and the cluster DNS are not reachable).
	Outside bool
	Resync  time.Duration
	Logger  *slog.Logger
	// Endpoints, if set, gets the endpoints of every chosen Service, and
	// of the Services behind every chosen Route, as conditions of the
	// Service (EndpointsTerminating, EndpointsNotReady,
	// EndpointsAvailable; see endpoints.go): the controller records them
	// as intervals, the changes the report ties Service outages to. A pod
	// whose endpoint goes not ready is read once (get pods, at most 5 a
	// second) to say if its container just terminated
	// (EndpointsRestarted; restarts.go).
	Endpoints *collectors.Conditions
	// APIs asks whether Routes are served (see kube.NewAPIs).
	APIs kube.APIs
}

// Discovery watches Routes, Services and EndpointSlices.
type Discovery struct {
	o        Options
	log      *slog.Logger
	sel      labels.Selector
	starters []func(<-chan struct{})
	synced   []cache.InformerSynced // Services and EndpointSlices
	rsynced  []cache.InformerSynced // Routes
	routes   []listers.ResourceIndexer[*routev1.Route]
	rgate    *collectors.Gate // Routes served? (nil: no Routes)
	services []listers.ResourceIndexer[*corev1.Service]
	slices   []listers.ResourceIndexer[*discoveryv1.EndpointSlice]
	sliceIdx []cache.Indexer // the slices' caches, indexed by Service too (serviceIndex)
	changes  chan struct{}

	mu      sync.Mutex
	skipped map[string]string // object -> why it yields no target, logged once

	epMu      sync.Mutex                    // one Service's endpoints observed at a time
	epTracked map[collectors.ObjectRef]bool // Services whose endpoints are recorded
	// notReady are the pods of a recorded Service's endpoints that were
	// not ready when last observed; restarts why some of them went not
	// ready (restarts.go). Both guarded by epMu.
	notReady     map[collectors.ObjectRef]map[string]bool
	restarts     map[collectors.ObjectRef]map[string]string
	restartDrops uint64
	lookups      chan podLookup // nil: restarts are not looked up
	// restartsForbidden: reading pods was refused (logged once); read by
	// readRestarts alone.
	restartsForbidden bool
}

// New sets discovery up; Start starts it. Nothing asks the API server
// before Start, which finds out in the background whether Routes are
// served: without them, Routes are skipped with one log line.
func New(o Options) (*Discovery, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Annotation == "" {
		o.Annotation = DefaultAnnotation
	}
	if o.ClusterDomain == "" {
		o.ClusterDomain = "cluster.local"
	}
	sel := labels.Nothing()
	if o.Selector != "" {
		var err error
		if sel, err = labels.Parse(o.Selector); err != nil {
			return nil, fmt.Errorf("discovery label selector %q: %w", o.Selector, err)
		}
	}
	d := &Discovery{o: o, log: o.Logger, sel: sel, changes: make(chan struct{}, 1), skipped: map[string]string{},
		epTracked: map[collectors.ObjectRef]bool{}, notReady: map[collectors.ObjectRef]map[string]bool{},
		restarts: map[collectors.ObjectRef]map[string]string{}}
	if o.Endpoints != nil {
		d.lookups = make(chan podLookup, restartQueue)
	}
	namespaces := collectors.Dedupe(o.Namespaces)
	if len(namespaces) == 0 {
		namespaces = []string{""}
	}
	if o.Routes {
		d.rgate = collectors.NewGate("route.openshift.io/v1", "routes")
	}
	notify := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { d.changed() },
		UpdateFunc: func(any, any) { d.changed() },
		DeleteFunc: func(any) { d.changed() },
	}
	for _, ns := range namespaces {
		opts := kube.InformerOptions{Resync: o.Resync, Transform: slim}
		if o.Endpoints != nil {
			opts.Transform = slimForEndpoints
		}
		svc, eps := kube.NewInformer(o.Client.Services(ns), opts), kube.NewInformer(o.Client.EndpointSlices(ns), opts)
		for _, inf := range []cache.SharedIndexInformer{svc, eps} {
			if _, err := inf.AddEventHandler(notify); err != nil {
				return nil, err
			}
			d.synced = append(d.synced, inf.HasSynced)
		}
		if err := eps.AddIndexers(cache.Indexers{serviceIndex: sliceService}); err != nil {
			return nil, err
		}
		d.services = append(d.services, svc.Lister)
		d.slices = append(d.slices, eps.Lister)
		d.sliceIdx = append(d.sliceIdx, eps.GetIndexer())
		d.starters = append(d.starters, svc.Start, eps.Start)
		var routes cache.SharedIndexInformer
		if d.rgate != nil {
			ri := kube.NewInformer(o.Client.Routes(ns), kube.InformerOptions{Resync: o.Resync, Transform: collectors.Trim})
			if _, err := ri.AddEventHandler(notify); err != nil {
				return nil, err
			}
			d.rsynced = append(d.rsynced, ri.HasSynced)
			d.routes = append(d.routes, ri.Lister)
			d.rgate.OnServed(ri.Start)
			routes = ri
		}
		if o.Endpoints != nil {
			if err := d.watchEndpoints(len(d.services)-1, svc, eps, routes); err != nil {
				return nil, err
			}
		}
	}
	return d, nil
}

func (d *Discovery) changed() {
	select {
	case d.changes <- struct{}{}:
	default:
	}
}

// Start starts the informers until ctx ends; Routes' once the API server
// is found to serve them, in the background.
func (d *Discovery) Start(ctx context.Context) {
	for _, s := range d.starters {
		s(ctx.Done())
	}
	if d.lookups != nil {
		go d.readRestarts(ctx)
	}
	if d.rgate != nil {
		go d.rgate.Run(ctx, d.o.APIs, d.log, func(st collectors.GateState) {
			switch st {
			case collectors.GateServed:
				d.log.Info("route discovery switched on: the cluster serves route.openshift.io/v1")
			case collectors.GateNotServed:
				d.log.Info("route discovery switched off: the cluster does not serve route.openshift.io/v1 (asked again every minute)")
			}
			d.changed()
		})
	}
}

// routesOn reports whether the Route listers are to be read now: once
// their API is served (without a gate, whenever there are listers).
func (d *Discovery) routesOn() bool {
	return d.rgate == nil || d.rgate.State() == collectors.GateServed
}

// Pending says what discovery still waits for (for /readyz).
func (d *Discovery) Pending() []string {
	var out []string
	for _, ok := range d.synced {
		if !ok() {
			out = append(out, "Service and EndpointSlice caches not synced")
			break
		}
	}
	if d.rgate != nil && d.rgate.State() == collectors.GateUnknown {
		out = append(out, "asking whether the API server serves route.openshift.io/v1")
	}
	return out
}

// RouteSyncTimeout bounds the wait for Routes: an aggregated API that
// answers errors (openshift-apiserver rolling out) must not hold back the
// Services, whose probes start without it; Routes join when they sync.
var RouteSyncTimeout = 30 * time.Second

// WaitForSync waits for the Service and EndpointSlice caches, then up to
// RouteSyncTimeout for the Routes'. It reports false only when ctx ended.
func (d *Discovery) WaitForSync(ctx context.Context) bool {
	if !cache.WaitForCacheSync(ctx.Done(), d.synced...) {
		return false
	}
	if d.rgate == nil {
		return true
	}
	rctx, cancel := context.WithTimeout(ctx, RouteSyncTimeout)
	defer cancel()
	// Routes: until the API server says whether it serves them and, if it
	// does, their caches sync; for RouteSyncTimeout at most.
	settled := func() bool {
		switch d.rgate.State() {
		case collectors.GateNotServed:
			return true
		case collectors.GateServed:
			for _, synced := range d.rsynced {
				if !synced() {
					return false
				}
			}
			return true
		}
		return false
	}
	if cache.WaitForCacheSync(rctx.Done(), settled) || ctx.Err() != nil {
		return ctx.Err() == nil
	}
	d.log.Warn("Routes not synced yet; going on without them (they join when they sync)", "waited", RouteSyncTimeout)
	return true
}

// Changes is signalled (coalesced) whenever a watched object changes.
func (d *Discovery) Changes() <-chan struct{} { return d.changes }

// chosen reports whether obj is to be probed, and the annotation's value.
// The annotation "false" wins over the selector: a way to leave one object
// out of a selected set.
func (d *Discovery) chosen(annotations, lbls map[string]string) (string, bool) {
	v, ok := annotations[d.o.Annotation]
	switch {
	case ok && v == "false":
		return "", false
	case ok:
		return v, true
	case d.sel.Matches(labels.Set(lbls)):
		return v, true
	}
	return "", false
}

// Expected gives the answers the DNS target named backend expects now,
// from the informer caches (probes.Expectations). ok is false for a
// backend that is not a discovered DNS target (any more).
func (d *Discovery) Expected(backend string) ([]string, bool) {
	parts := strings.Split(backend, ":")
	if len(parts) < 3 || (parts[0] != "dns" && parts[0] != "dns-srv") {
		return nil, false
	}
	ns, name := parts[1], parts[2]
	for i, l := range d.services {
		s, err := listers.NewNamespaced(l, ns).Get(name)
		if err != nil {
			continue
		}
		v, ok := d.chosen(s.Annotations, s.Labels)
		if !ok {
			return nil, false
		}
		for _, t := range d.serviceTargets(s, v, i) {
			if t.Name == backend && t.DNS != nil {
				return t.DNS.AnswersEqual, true
			}
		}
		return nil, false
	}
	return nil, false
}

// Targets returns the targets of every chosen Route and Service, sorted by
// name, unresolved (the caller applies its defaults).
func (d *Discovery) Targets() []config.Target {
	var out []config.Target
	d.each(false, func(t config.Target, _ string) { out = append(out, t) })
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Item is one target of the inventory.
type Item struct {
	Backend string // the backend label
	Kind    string // http, tcp or dns
	Object  string // route/NS/NAME or service/NS/NAME
}

// Inventory lists the targets pollers are expected to probe, sorted by
// backend. Unlike Targets it needs no router address: the controller
// exports it so that pollers missing a target stand out.
func (d *Discovery) Inventory() []Item {
	var out []Item
	d.each(true, func(t config.Target, obj string) {
		kind := "dns"
		switch {
		case t.HTTP != nil:
			kind = "http"
		case t.TCP != nil:
			kind = "tcp"
		}
		out = append(out, Item{Backend: t.Name, Kind: kind, Object: obj})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Backend < out[j].Backend })
	return out
}

// each calls fn with every target of every chosen object.
func (d *Discovery) each(inventory bool, fn func(t config.Target, object string)) {
	routes := d.routes
	if !d.routesOn() {
		routes = nil
	}
	for _, l := range routes {
		rs, _ := l.List(labels.Everything())
		for _, r := range rs {
			if _, ok := d.chosen(r.Annotations, r.Labels); ok {
				if t, ok := d.routeTarget(r, inventory); ok {
					obj := "route/" + r.Namespace + "/" + r.Name
					fn(d.annotated(t, r.Annotations, obj), obj)
				}
			}
		}
	}
	for i, l := range d.services {
		ss, _ := l.List(labels.Everything())
		for _, s := range ss {
			if v, ok := d.chosen(s.Annotations, s.Labels); ok {
				obj := "service/" + s.Namespace + "/" + s.Name
				for _, t := range d.serviceTargets(s, v, i) {
					fn(d.annotated(t, s.Annotations, obj), obj)
				}
			}
		}
	}
}

func (d *Discovery) skip(obj, why string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.skipped[obj] == why {
		return
	}
	d.skipped[obj] = why
	d.log.Warn("not probing", "object", obj, "why", why)
}

// routeTarget probes a Route through the router with its host as Host
// header and SNI. For the inventory, a missing router address is no reason
// to leave the Route out.
func (d *Discovery) routeTarget(r *routev1.Route, inventory bool) (config.Target, bool) {
	t, why := RouteTarget(r, d.o, "", "", inventory)
	if why != "" {
		d.skip("route/"+r.Namespace+"/"+r.Name, why)
		return config.Target{}, false
	}
	return t, true
}

// RouteTarget is the target of a Route, probed through the router of o:
// named backend ("" for route:NS:NAME), at path ("" for the Route's own or
// its zerodown.io/path). why says why there is none; for the inventory a
// missing router address is no reason.
func RouteTarget(r *routev1.Route, o Options, backend, path string, inventory bool) (t config.Target, why string) {
	host := r.Spec.Host
	if host == "" {
		for _, in := range r.Status.Ingress {
			if in.Host != "" {
				host = in.Host
				break
			}
		}
	}
	if host == "" {
		return config.Target{}, "the route has no host yet"
	}
	scheme, addr := "http", o.RouterHTTP
	if r.Spec.TLS != nil {
		scheme, addr = "https", o.RouterHTTPS
	}
	if o.Outside {
		addr = host
	}
	if addr == "" && !inventory {
		return config.Target{}, "no router address for " + scheme + " routes is configured"
	}
	if path == "" {
		path = r.Spec.Path
		if p := r.Annotations[AnnotationPath]; p != "" {
			path = p
		}
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	hp := &config.HTTPProbe{URL: scheme + "://" + addr + path, Host: host}
	if o.Outside {
		hp.Host = "" // the URL names the host itself
	}
	if scheme == "https" {
		hp.TLS = o.RouterTLS
	}
	if h := r.Annotations[AnnotationServedBy]; h != "" {
		vals := []string{r.Spec.To.Name}
		for _, b := range r.Spec.AlternateBackends {
			vals = append(vals, b.Name)
		}
		hp.ServedBy = &config.ServedBy{Header: h, Values: vals}
	}
	if backend == "" {
		backend = "route:" + r.Namespace + ":" + r.Name
	}
	return config.Target{Name: backend, HTTP: hp}, ""
}

// serviceTargets probes a Service at its cluster IP and through DNS.
func (d *Discovery) serviceTargets(s *corev1.Service, kinds string, i int) []config.Target {
	obj := "service/" + s.Namespace + "/" + s.Name
	if d.o.Outside {
		return d.outsideTargets(s, kinds)
	}
	want := map[string]bool{}
	switch strings.TrimSpace(kinds) {
	case "", "true":
		want["tcp"], want["dns"] = true, true
	default:
		for _, k := range strings.Split(kinds, ",") {
			k = strings.TrimSpace(k)
			switch k {
			case "tcp", "http", "https", "dns":
				want[k] = true
			default:
				d.skip(obj, fmt.Sprintf("annotation %s: unknown probe kind %q (want tcp, http, https, dns)", d.o.Annotation, k))
			}
		}
	}
	ports := d.ports(s)
	fqdn := s.Name + "." + s.Namespace + ".svc." + d.o.ClusterDomain
	base := s.Namespace + ":" + s.Name
	var out []config.Target
	headless := s.Spec.ClusterIP == corev1.ClusterIPNone
	external := s.Spec.Type == corev1.ServiceTypeExternalName
	if !headless && !external && s.Spec.ClusterIP != "" {
		path := s.Annotations[AnnotationPath]
		if path == "" {
			path = "/"
		}
		for _, p := range ports {
			addr := net.JoinHostPort(s.Spec.ClusterIP, strconv.Itoa(int(p.Port)))
			name := "service:" + base + ":" + portName(p)
			if want["tcp"] {
				out = append(out, config.Target{Name: name, TCP: &config.TCPProbe{Address: addr}})
			}
			for _, scheme := range []string{"http", "https"} {
				if want[scheme] {
					n := name
					if want["tcp"] || (want["http"] && want["https"]) {
						n += ":" + scheme
					}
					out = append(out, config.Target{Name: n, HTTP: &config.HTTPProbe{URL: scheme + "://" + addr + path}})
				}
			}
		}
	}
	if !want["dns"] {
		return out
	}
	dnsTarget := func(name, qname, qtype string, answers []string) config.Target {
		if answers == nil {
			answers = []string{}
		}
		return config.Target{Name: name, DNS: &config.DNSProbe{Server: d.o.ClusterDNS, Name: qname, Type: qtype, AnswersEqual: answers}}
	}
	switch {
	case external:
		out = append(out, dnsTarget("dns:"+base, fqdn, "CNAME", []string{strings.TrimSuffix(s.Spec.ExternalName, ".")}))
	case headless:
		out = append(out, dnsTarget("dns:"+base, fqdn, "A", readyAddresses(s, d.slicesOf(i, s.Namespace, s.Name))))
	case s.Spec.ClusterIP != "":
		qtype := "A"
		if strings.Contains(s.Spec.ClusterIP, ":") {
			qtype = "AAAA"
		}
		out = append(out, dnsTarget("dns:"+base, fqdn, qtype, []string{s.Spec.ClusterIP}))
		for _, p := range ports {
			if p.Name == "" {
				continue
			}
			proto := strings.ToLower(string(p.Protocol))
			if proto == "" {
				proto = "tcp"
			}
			srv := "_" + p.Name + "._" + proto + "." + fqdn
			out = append(out, dnsTarget("dns-srv:"+base+":"+p.Name, srv, "SRV", []string{fqdn + ":" + strconv.Itoa(int(p.Port))}))
		}
	}
	return out
}

// outsideTargets probes a Service from outside the cluster: at its load
// balancer's ingress addresses (TCP, or HTTP and HTTPS as the annotation
// asks); other Services are not reachable from there.
func (d *Discovery) outsideTargets(s *corev1.Service, kinds string) []config.Target {
	obj := "service/" + s.Namespace + "/" + s.Name
	var addrs []string
	if s.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, in := range s.Status.LoadBalancer.Ingress {
			if a := cmp.Or(in.IP, in.Hostname); a != "" {
				addrs = append(addrs, a)
			}
		}
	}
	if len(addrs) == 0 {
		d.skip(obj, "outside the cluster only the ingress addresses of LoadBalancer Services are reachable")
		return nil
	}
	want := map[string]bool{}
	for _, k := range strings.Split(kinds, ",") {
		if k = strings.TrimSpace(k); k == "http" || k == "https" {
			want[k] = true
		}
	}
	path := cmp.Or(s.Annotations[AnnotationPath], "/")
	base := "service:" + s.Namespace + ":" + s.Name
	var out []config.Target
	for _, p := range d.ports(s) {
		for i, a := range addrs {
			name := base + ":" + portName(p)
			if len(addrs) > 1 {
				name += ":" + strconv.Itoa(i)
			}
			addr := net.JoinHostPort(a, strconv.Itoa(int(p.Port)))
			switch {
			case want["https"]:
				out = append(out, config.Target{Name: name, HTTP: &config.HTTPProbe{URL: "https://" + addr + path}})
			case want["http"]:
				out = append(out, config.Target{Name: name, HTTP: &config.HTTPProbe{URL: "http://" + addr + path}})
			default:
				out = append(out, config.Target{Name: name, TCP: &config.TCPProbe{Address: addr}})
			}
		}
	}
	return out
}

// ports are the Service's TCP ports, restricted by AnnotationPorts.
func (d *Discovery) ports(s *corev1.Service) []corev1.ServicePort {
	only := map[string]bool{}
	for _, p := range strings.Split(s.Annotations[AnnotationPorts], ",") {
		if p = strings.TrimSpace(p); p != "" {
			only[p] = true
		}
	}
	var out []corev1.ServicePort
	for _, p := range s.Spec.Ports {
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			continue
		}
		if len(only) > 0 && !only[p.Name] && !only[strconv.Itoa(int(p.Port))] {
			continue
		}
		out = append(out, p)
	}
	return out
}

func portName(p corev1.ServicePort) string {
	if p.Name != "" {
		return p.Name
	}
	return strconv.Itoa(int(p.Port))
}

// slim is the transform of discovery's informers: objects lose their
// managedFields and kubectl's last-applied annotation (collectors.Trim),
// and an EndpointSlice keeps only what readyAddresses reads (its name,
// labels, address type, and each endpoint's addresses and ready
// condition): every poller caches every EndpointSlice of the cluster, and
// their target references, node names, zones, hints and ports are most of
// their size. slimForEndpoints keeps what the endpoint conditions read too
// (every condition and the pod's name), where they are recorded.
func slim(obj any) (any, error) { return slimSlice(obj, false) }

func slimForEndpoints(obj any) (any, error) { return slimSlice(obj, true) }

func slimSlice(obj any, pods bool) (any, error) {
	es, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return collectors.Trim(obj)
	}
	out := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: es.Name, Namespace: es.Namespace, Labels: es.Labels,
			UID: es.UID, ResourceVersion: es.ResourceVersion},
		AddressType: es.AddressType,
		Endpoints:   make([]discoveryv1.Endpoint, len(es.Endpoints)),
	}
	for i, ep := range es.Endpoints {
		out.Endpoints[i] = discoveryv1.Endpoint{Addresses: ep.Addresses, Conditions: discoveryv1.EndpointConditions{Ready: ep.Conditions.Ready}}
		if pods {
			out.Endpoints[i].Conditions = ep.Conditions
			if r := ep.TargetRef; r != nil {
				out.Endpoints[i].TargetRef = &corev1.ObjectReference{Name: r.Name}
			}
			out.Endpoints[i].NodeName = ep.NodeName
		}
	}
	return out, nil
}

// serviceIndex indexes EndpointSlices by their Service ("namespace/name"):
// a Service's slices are found without reading every slice of its
// namespace (at 1,000 Services under churn, that scan was 90 % of the
// controller's CPU).
const serviceIndex = "service"

func sliceService(obj any) ([]string, error) {
	es, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || es.Labels[discoveryv1.LabelServiceName] == "" {
		return nil, nil
	}
	return []string{es.Namespace + "/" + es.Labels[discoveryv1.LabelServiceName]}, nil
}

// slicesOf returns the EndpointSlices of the Service ns/name in the i-th
// cache: through its service index (an informer's), else by label (a
// test's cache).
func (d *Discovery) slicesOf(i int, ns, name string) []*discoveryv1.EndpointSlice {
	if i < len(d.sliceIdx) {
		objs, _ := d.sliceIdx[i].ByIndex(serviceIndex, ns+"/"+name)
		out := make([]*discoveryv1.EndpointSlice, 0, len(objs))
		for _, o := range objs {
			if es, ok := o.(*discoveryv1.EndpointSlice); ok {
				out = append(out, es)
			}
		}
		return out
	}
	es, _ := listers.NewNamespaced(d.slices[i], ns).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name}))
	return es
}

// readyAddresses are the IPv4 addresses of the Service's ready endpoints
// (an endpoint whose ready condition is unset counts as ready), sorted.
func readyAddresses(s *corev1.Service, es []*discoveryv1.EndpointSlice) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range es {
		if e.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		for _, ep := range e.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				if !seen[a] {
					seen[a] = true
					out = append(out, a)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}
