package discovery

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	routev1 "github.com/openshift/api/route/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/listers"

	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/internal/kube/kubetest"
)

// describe renders a target compactly for comparison.
func describe(t config.Target) string {
	switch {
	case t.TCP != nil:
		return fmt.Sprintf("%s tcp %s", t.Name, t.TCP.Address)
	case t.HTTP != nil:
		s := fmt.Sprintf("%s http %s host=%s", t.Name, t.HTTP.URL, t.HTTP.Host)
		if t.HTTP.TLS.CAFile != "" {
			s += " ca=" + t.HTTP.TLS.CAFile
		}
		if sb := t.HTTP.ServedBy; sb != nil {
			s += fmt.Sprintf(" served_by=%s%v", sb.Header, sb.Values)
		}
		return s
	default:
		return fmt.Sprintf("%s dns %s %s @%s equal=%v", t.Name, t.DNS.Type, t.DNS.Name, t.DNS.Server, t.DNS.AnswersEqual)
	}
}

func newTestDiscovery(t *testing.T, sel, caFile string, objs ...any) *Discovery {
	t.Helper()
	s := labels.Nothing()
	if sel != "" {
		var err error
		if s, err = labels.Parse(sel); err != nil {
			t.Fatal(err)
		}
	}
	var svcs, slices, routes []any
	for _, o := range objs {
		switch o.(type) {
		case *corev1.Service:
			svcs = append(svcs, o)
		case *discoveryv1.EndpointSlice:
			slices = append(slices, o)
		case *routev1.Route:
			routes = append(routes, o)
		}
	}
	return &Discovery{
		o: Options{Annotation: DefaultAnnotation, RouterHTTP: "router:80", RouterHTTPS: "router:443",
			RouterTLS: config.TLS{CAFile: caFile}, ClusterDNS: "127.0.0.53:53", ClusterDomain: "cluster.local"},
		log:      slog.New(slog.DiscardHandler),
		sel:      s,
		services: []listers.ResourceIndexer[*corev1.Service]{kubetest.Lister[*corev1.Service](t, corev1.Resource("services"), svcs...)},
		slices:   []listers.ResourceIndexer[*discoveryv1.EndpointSlice]{kubetest.Lister[*discoveryv1.EndpointSlice](t, discoveryv1.Resource("endpointslices"), slices...)},
		routes:   []listers.ResourceIndexer[*routev1.Route]{kubetest.Lister[*routev1.Route](t, routev1.Resource("routes"), routes...)},
		skipped:  map[string]string{},
	}
}

func svc(name, probe string, spec corev1.ServiceSpec, annotations ...string) *corev1.Service {
	a := map[string]string{}
	if probe != "" {
		a[DefaultAnnotation] = probe
	}
	for i := 0; i+1 < len(annotations); i += 2 {
		a[annotations[i]] = annotations[i+1]
	}
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Annotations: a, Labels: map[string]string{"tier": name}}, Spec: spec}
}

func slice(name, svcName string, family discoveryv1.AddressType, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "shop", Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svcName}},
		AddressType: family, Endpoints: eps,
	}
}

func ep(ready *bool, addrs ...string) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: addrs, Conditions: discoveryv1.EndpointConditions{Ready: ready}}
}

func TestTargets(t *testing.T) {
	yes, no := true, false
	ports := []corev1.ServicePort{{Name: "http", Port: 8080}, {Port: 9090}, {Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}}
	objs := []any{
		svc("web", "true", corev1.ServiceSpec{ClusterIP: "10.96.0.10", Ports: ports}),
		svc("api", "http", corev1.ServiceSpec{ClusterIP: "10.96.0.11", Ports: ports}, AnnotationPath, "/healthz", AnnotationPorts, "http"),
		svc("both", "tcp,https", corev1.ServiceSpec{ClusterIP: "10.96.0.12", Ports: []corev1.ServicePort{{Name: "tls", Port: 443}}}),
		svc("db", "dns", corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "pg", Port: 5432}}}),
		slice("db-a", "db", discoveryv1.AddressTypeIPv4, ep(&yes, "10.1.0.2"), ep(&no, "10.1.0.9"), ep(nil, "10.1.0.1")),
		slice("db-b", "db", discoveryv1.AddressTypeIPv6, ep(&yes, "fd00::1")),
		slice("db-c", "db", discoveryv1.AddressTypeIPv4, ep(&yes, "10.1.0.2", "10.1.0.3")),
		svc("ext", "true", corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.org."}),
		svc("v6", "dns", corev1.ServiceSpec{ClusterIP: "fd00:96::1", Ports: []corev1.ServicePort{{Port: 80}}}),
		svc("off", "false", corev1.ServiceSpec{ClusterIP: "10.96.0.13", Ports: ports}),
		svc("plain", "", corev1.ServiceSpec{ClusterIP: "10.96.0.14", Ports: ports}),
		// Selected by label, but the annotation "false" leaves it out.
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "optout", Labels: map[string]string{"tier": "plain"},
			Annotations: map[string]string{DefaultAnnotation: "false"}}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.16", Ports: ports}},
		svc("odd", "tcp,ftp", corev1.ServiceSpec{ClusterIP: "10.96.0.15", Ports: []corev1.ServicePort{{Port: 21}}}),
		&routev1.Route{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "front", Annotations: map[string]string{DefaultAnnotation: "true"}},
			Spec: routev1.RouteSpec{Host: "front.apps.example", Path: "/cart", To: routev1.RouteTargetReference{Name: "web"}}},
		&routev1.Route{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "secure", Annotations: map[string]string{
			DefaultAnnotation: "true", AnnotationServedBy: "X-Backend", AnnotationPath: "healthz"}},
			Spec: routev1.RouteSpec{To: routev1.RouteTargetReference{Name: "blue"},
				AlternateBackends: []routev1.RouteTargetReference{{Name: "green"}},
				TLS:               &routev1.TLSConfig{Termination: routev1.TLSTerminationReencrypt}},
			Status: routev1.RouteStatus{Ingress: []routev1.RouteIngress{{Host: "secure.apps.example"}}}},
		&routev1.Route{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "pending", Annotations: map[string]string{DefaultAnnotation: "true"}},
			Spec: routev1.RouteSpec{To: routev1.RouteTargetReference{Name: "web"}}},
	}
	ca := filepath.Join(t.TempDir(), "router-ca.pem")
	if err := os.WriteFile(ca, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	d := newTestDiscovery(t, "tier=plain", ca, objs...)
	var got []string
	for _, tg := range d.Targets() {
		got = append(got, strings.ReplaceAll(describe(tg), ca, "CA"))
	}
	want := []string{
		"dns-srv:shop:plain:http dns SRV _http._tcp.plain.shop.svc.cluster.local @127.0.0.53:53 equal=[plain.shop.svc.cluster.local:8080]",
		"dns-srv:shop:web:http dns SRV _http._tcp.web.shop.svc.cluster.local @127.0.0.53:53 equal=[web.shop.svc.cluster.local:8080]",
		"dns:shop:db dns A db.shop.svc.cluster.local @127.0.0.53:53 equal=[10.1.0.1 10.1.0.2 10.1.0.3]",
		"dns:shop:ext dns CNAME ext.shop.svc.cluster.local @127.0.0.53:53 equal=[db.example.org]",
		"dns:shop:plain dns A plain.shop.svc.cluster.local @127.0.0.53:53 equal=[10.96.0.14]",
		"dns:shop:v6 dns AAAA v6.shop.svc.cluster.local @127.0.0.53:53 equal=[fd00:96::1]",
		"dns:shop:web dns A web.shop.svc.cluster.local @127.0.0.53:53 equal=[10.96.0.10]",
		"route:shop:front http http://router:80/cart host=front.apps.example",
		"route:shop:secure http https://router:443/healthz host=secure.apps.example ca=CA served_by=X-Backend[blue green]",
		"service:shop:api:http http http://10.96.0.11:8080/healthz host=",
		"service:shop:both:tls tcp 10.96.0.12:443",
		"service:shop:both:tls:https http https://10.96.0.12:443/ host=",
		"service:shop:odd:21 tcp 10.96.0.15:21",
		"service:shop:plain:9090 tcp 10.96.0.14:9090",
		"service:shop:plain:http tcp 10.96.0.14:8080",
		"service:shop:web:9090 tcp 10.96.0.10:9090",
		"service:shop:web:http tcp 10.96.0.10:8080",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("targets:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// What yields no target is said once, with the reason.
	for obj, why := range map[string]string{
		"route/shop/pending": "the route has no host yet",
		"service/shop/odd":   `annotation zerodown.io/probe: unknown probe kind "ftp" (want tcp, http, https, dns)`,
	} {
		if d.skipped[obj] != why {
			t.Errorf("skipped[%s] = %q, want %q", obj, d.skipped[obj], why)
		}
	}
	// The inventory needs no router address and lists the same targets.
	d.o.RouterHTTP, d.o.RouterHTTPS = "", ""
	inv := d.Inventory()
	if len(inv) != len(want) {
		t.Errorf("inventory has %d items, want %d: %+v", len(inv), len(want), inv)
	}
	for _, it := range inv {
		if it.Backend == "route:shop:front" && (it.Kind != "http" || it.Object != "route/shop/front") {
			t.Errorf("inventory item %+v", it)
		}
		if it.Backend == "dns:shop:db" && (it.Kind != "dns" || it.Object != "service/shop/db") {
			t.Errorf("inventory item %+v", it)
		}
	}
	d.o.RouterHTTP, d.o.RouterHTTPS = "router:80", "router:443"

	// Expected answers, straight from the caches.
	for backend, want := range map[string]string{
		"dns:shop:db":           "[10.1.0.1 10.1.0.2 10.1.0.3] true",
		"dns-srv:shop:web:http": "[web.shop.svc.cluster.local:8080] true",
		"dns:shop:off":          "[] false",
		"dns:shop:optout":       "[] false",
		"dns:shop:missing":      "[] false",
		"route:shop:front":      "[] false",
	} {
		got, ok := d.Expected(backend)
		if s := fmt.Sprint(got, " ", ok); s != want {
			t.Errorf("Expected(%s) = %s, want %s", backend, s, want)
		}
	}

	// Every target is valid once resolved.
	for _, tg := range d.Targets() {
		r := tg.Resolved(config.Schedule{})
		if err := r.Validate(); err != nil {
			t.Errorf("%s: %v", tg.Name, err)
		}
	}
}

// slim keeps what readyAddresses reads and drops the rest of an
// EndpointSlice; other objects lose their managedFields.
func TestSlim(t *testing.T) {
	yes, no := true, false
	full := slice("web-a", "web", discoveryv1.AddressTypeIPv4, ep(&yes, "10.1.0.1"), ep(&no, "10.1.0.2"), ep(nil, "10.1.0.3"))
	zone, node := "zone-a", "node-1"
	for i := range full.Endpoints {
		full.Endpoints[i].TargetRef = &corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: "web-abc", UID: "u"}
		full.Endpoints[i].NodeName, full.Endpoints[i].Zone = &node, &zone
	}
	port := int32(8080)
	full.Ports = []discoveryv1.EndpointPort{{Port: &port}}
	full.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "endpointslice-controller"}}
	out, err := slim(full)
	if err != nil {
		t.Fatal(err)
	}
	s := out.(*discoveryv1.EndpointSlice)
	if s.Ports != nil || s.ManagedFields != nil || s.Endpoints[0].TargetRef != nil || s.Endpoints[0].NodeName != nil || s.Endpoints[0].Zone != nil {
		t.Errorf("slimmed slice keeps more than it needs: %+v", s)
	}
	// Where endpoint conditions are recorded, the pod's name and its
	// node stay.
	withPods, err := slimForEndpoints(full)
	if err != nil {
		t.Fatal(err)
	}
	if p := withPods.(*discoveryv1.EndpointSlice).Endpoints[0]; p.TargetRef == nil || *p.TargetRef != (corev1.ObjectReference{Name: "web-abc"}) ||
		p.NodeName == nil || *p.NodeName != node || p.Zone != nil {
		t.Errorf("slimmed for endpoint conditions: %+v, want the pod's name and node alone", p)
	}
	svc := svc("web", "dns", corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone})
	got := readyAddresses(svc, []*discoveryv1.EndpointSlice{s})
	if want := []string{"10.1.0.1", "10.1.0.3"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ready addresses of the slimmed slice = %v, want %v", got, want)
	}
	withFields := svc.DeepCopy()
	withFields.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	if o, _ := slim(withFields); o.(*corev1.Service).ManagedFields != nil {
		t.Error("a Service keeps its managedFields")
	}
}

// zerodown.io/hold holds connections to a chosen object's HTTP and TCP
// targets (never its DNS ones); a bad value holds none and says why.
func TestHoldAnnotation(t *testing.T) {
	ports := []corev1.ServicePort{{Name: "pg", Port: 5432}}
	objs := []any{
		svc("db", "true", corev1.ServiceSpec{ClusterIP: "10.96.0.20", Ports: ports}, AnnotationHold, "3", AnnotationHoldStream, "/ignored-on-tcp"),
		svc("bad", "tcp", corev1.ServiceSpec{ClusterIP: "10.96.0.21", Ports: ports}, AnnotationHold, "lots"),
		&routev1.Route{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "events", Annotations: map[string]string{
			DefaultAnnotation: "true", AnnotationHold: "2", AnnotationHoldStream: "/events"}},
			Spec: routev1.RouteSpec{Host: "events.apps.example", To: routev1.RouteTargetReference{Name: "web"}}},
	}
	d := newTestDiscovery(t, "", "", objs...)
	got := map[string]string{}
	for _, tg := range d.Targets() {
		got[tg.Name] = "none"
		if tg.Hold != nil {
			got[tg.Name] = fmt.Sprintf("%d %q", tg.Hold.Connections, tg.Hold.Stream)
		}
		r := tg.Resolved(config.Schedule{})
		if err := r.Validate(); err != nil {
			t.Errorf("%s: %v", tg.Name, err)
		}
	}
	want := map[string]string{
		"service:shop:db:pg":  `3 ""`,
		"dns:shop:db":         "none",
		"dns-srv:shop:db:pg":  "none",
		"service:shop:bad:pg": "none",
		"route:shop:events":   `2 "/events"`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("holds %v, want %v", got, want)
	}
	if why := d.skipped["service/shop/bad (held connections)"]; !strings.Contains(why, `want 1 to 64 connections, got "lots"`) {
		t.Errorf("bad annotation: %q", why)
	}
}

func TestIntervalAnnotation(t *testing.T) {
	ports := []corev1.ServicePort{{Name: "web", Port: 80}}
	objs := []any{
		svc("fast", "http", corev1.ServiceSpec{ClusterIP: "10.96.0.30", Ports: ports}, AnnotationInterval, "100ms"),
		svc("tiny", "http", corev1.ServiceSpec{ClusterIP: "10.96.0.31", Ports: ports}, AnnotationInterval, "1ms"),
		svc("plain", "http", corev1.ServiceSpec{ClusterIP: "10.96.0.32", Ports: ports}),
	}
	d := newTestDiscovery(t, "", "", objs...)
	got := map[string]string{}
	for _, tg := range d.Targets() {
		r := tg.Resolved(config.Schedule{})
		if err := r.Validate(); err != nil {
			t.Errorf("%s: %v", tg.Name, err)
		}
		got[tg.Name] = time.Duration(r.Interval).String()
	}
	want := map[string]string{"service:shop:fast:web": "100ms", "service:shop:tiny:web": "1s", "service:shop:plain:web": "1s"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("intervals %v, want %v", got, want)
	}
	if why := d.skipped["service/shop/tiny (interval)"]; !strings.Contains(why, `want a duration of at least 10ms, got "1ms"`) {
		t.Errorf("bad annotation: %q", why)
	}
}
