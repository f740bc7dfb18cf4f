//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	configv1 "github.com/openshift/api/config/v1"
	routev1 "github.com/openshift/api/route/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zerodown/zerodown/intervals"
	"github.com/zerodown/zerodown/testtarget"
	"github.com/zerodown/zerodown/testtarget/targettest"
)

// openshiftObjects makes what an OpenShift cluster has and the built-in
// backends look for: the Infrastructure (the API's external and internal
// URLs, here both this control plane), the OAuth server's, the console's
// and the ingress canary's Routes, the image registry's Service.
func openshiftObjects(ctx context.Context, t *testing.T, c *clients, apiURL, internalURL string) {
	t.Helper()
	cfg := c.config.ConfigV1().Infrastructures()
	_ = cfg.Delete(ctx, "cluster", metav1.DeleteOptions{})
	infra, err := cfg.Create(ctx, &configv1.Infrastructure{ObjectMeta: metav1.ObjectMeta{Name: "cluster"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	infra.Status.APIServerURL, infra.Status.APIServerInternalURL = apiURL, internalURL
	infra.Status.InfrastructureName = "zd-e2e"
	infra.Status.ControlPlaneTopology, infra.Status.InfrastructureTopology = configv1.HighlyAvailableTopologyMode, configv1.HighlyAvailableTopologyMode
	if _, err := cfg.UpdateStatus(ctx, infra, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cfg.Delete(context.Background(), "cluster", metav1.DeleteOptions{}) })
	for _, r := range []struct{ ns, name, host string }{
		{"openshift-authentication", "oauth-openshift", "oauth-openshift.apps.zd-e2e.example"},
		{"openshift-console", "console", "console-openshift-console.apps.zd-e2e.example"},
		{"openshift-ingress-canary", "canary", "canary-openshift-ingress-canary.apps.zd-e2e.example"},
		{"openshift-image-registry", "", ""},
	} {
		if _, err := c.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: r.ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		if r.name == "" {
			continue
		}
		_ = c.route.RouteV1().Routes(r.ns).Delete(ctx, r.name, metav1.DeleteOptions{})
		if _, err := c.route.RouteV1().Routes(r.ns).Create(ctx, &routev1.Route{ObjectMeta: metav1.ObjectMeta{Name: r.name},
			Spec: routev1.RouteSpec{Host: r.host, To: routev1.RouteTargetReference{Kind: "Service", Name: r.name}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		ns, name := r.ns, r.name
		t.Cleanup(func() { _ = c.route.RouteV1().Routes(ns).Delete(context.Background(), name, metav1.DeleteOptions{}) })
	}
	svcs := c.kube.CoreV1().Services("openshift-image-registry")
	_ = svcs.Delete(ctx, "image-registry", metav1.DeleteOptions{})
	if _, err := svcs.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "image-registry"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "5000-tcp", Port: 5000}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svcs.Delete(context.Background(), "image-registry", metav1.DeleteOptions{}) })
}

// TestBuiltinBackends: with no configuration, a poller probes the
// Kubernetes API (quorum and cached reads, through the Infrastructure's
// external and internal URLs) and the OAuth server, console and canary
// Routes through the router; the OpenShift APIs this control plane does
// not serve are off, and the controller's inventory says why; a flag
// turns one off; a poller whose ServiceAccount may not read the default
// namespace measures the API as down with reason http_status, never as
// up.
func TestBuiltinBackends(t *testing.T) {
	ctx := ctxT(t)
	c := newClients(t)
	router := targettest.Start(t, testtarget.Options{})
	port := c.rest.Host[strings.LastIndex(c.rest.Host, ":")+1:]
	// The serving certificate names 127.0.0.1 and localhost: two URLs of
	// one API server.
	openshiftObjects(ctx, t, c, c.rest.Host, "https://localhost:"+port)

	p := start(t, "poller", "--discovery=false", "--router.http-address", router.HTTPAddr(), "--builtin.disable", "image-registry",
		"--interval", "200ms", "--out", t.TempDir())
	for _, b := range []string{"kube-api", "cache-kube-api", "kube-api-internal", "cache-kube-api-internal",
		"ingress-to-oauth-server", "ingress-to-console", "ingress-canary"} {
		for _, conn := range []string{"new", "reused"} {
			waitMetric(t, p, fmt.Sprintf(`zerodown_backend_up{backend=%q,connection=%q}`, b, conn), "= 1", func(v float64) bool { return v == 1 })
		}
	}
	waitMetric(t, p, `zerodown_poller_targets{source="builtin"}`, "= 7", func(v float64) bool { return v == 7 })
	for _, off := range []string{"openshift-api", "oauth-api", "kube-api-service", "image-registry"} {
		if v := metric(t, p, fmt.Sprintf(`zerodown_backend_up{backend=%q,connection="new"}`, off)); v != -1 {
			t.Errorf("%s probed (up %v), want it off", off, v)
		}
	}

	ctl := start(t, "controller", "--leader-elect=false", "--discovery=false")
	eventually(t, 30*time.Second, "the built-in backends in the inventory", func() (bool, string) {
		got := strings.Join(ctl.samples(t, "zerodown_discovery_target_info"), "\n")
		for _, want := range []string{
			`backend="kube-api",kind="builtin",object="` + c.rest.Host + `",reason=""} 1`,
			`backend="ingress-canary",kind="builtin",object="route/openshift-ingress-canary/canary",reason=""} 1`,
			`backend="image-registry",kind="builtin",object="service/openshift-image-registry/image-registry",reason=""} 1`,
			`backend="openshift-api",kind="builtin",object="apis/image.openshift.io/v1",reason="the cluster does not serve image.openshift.io/v1"} 0`,
			`backend="kube-api-service",kind="builtin",object="",reason="not in a pod: the kubernetes Service is not reachable"} 0`,
		} {
			if !strings.Contains(got, want) {
				return false, got
			}
		}
		return true, ""
	})

	// A ServiceAccount without the poller's RBAC: the API answers 403.
	ns := freshNamespace(t, c, "zd-builtin")
	if _, err := c.kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	q := start(t, "poller", "--kubeconfig", saKubeconfig(t, c, ns, "nobody"), "--discovery=false", "--builtin.disable",
		"kube-api-internal,cache-kube-api-internal,ingress-to-oauth-server,ingress-to-console,ingress-canary,image-registry", "--interval", "200ms")
	waitMetric(t, q, `zerodown_disruption_seconds_total{backend="kube-api",connection="new",reason="http_status"}`, "> 0 (403 is disruption)",
		func(v float64) bool { return v > 0 })
	if v := metric(t, q, `zerodown_backend_up{backend="kube-api",connection="new"}`); v != 0 {
		t.Errorf("kube-api answering 403 is up %v, want 0", v)
	}
}

// TestWatchWithCluster: zerodown watch --kubeconfig in one process probes
// its static target and the cluster's built-in backends, collects the
// cluster's operators and nodes (metrics, an interval per condition
// change in its own stream), and its report covers all of it.
func TestWatchWithCluster(t *testing.T) {
	ctx := ctxT(t)
	c := newClients(t)
	fixtures(ctx, t, c) // operators, the ClusterVersion, node-b cordoned and NotReady
	tt := targettest.Start(t, testtarget.Options{})
	dir := t.TempDir()
	cfg := dir + "/targets.yaml"
	writeText(t, cfg, fmt.Sprintf("targets:\n  - name: web\n    http: {url: 'http://%s/'}\n", tt.HTTPAddr()))
	out := dir + "/out"
	w := start(t, "watch", "--kubeconfig", os.Getenv("KUBECONFIG"), "--config", cfg, "--out", out, "--view", "none", "--interval", "200ms")
	for _, b := range []string{"web", "kube-api", "cache-kube-api"} {
		waitMetric(t, w, fmt.Sprintf(`zerodown_backend_up{backend=%q,connection="new"}`, b), "= 1", func(v float64) bool { return v == 1 })
	}
	waitMetric(t, w, `zerodown_node_unschedulable{node="node-b"}`, "= 1 (the cluster's nodes collected)", func(v float64) bool { return v == 1 })

	// Discovery from outside: an annotated LoadBalancer Service is probed
	// at its ingress address (here the loopback test target).
	ns := freshNamespace(t, c, "zd-watch")
	_, portStr, _ := strings.Cut(tt.HTTPAddr(), ":")
	port, _ := strconv.Atoi(portStr)
	svc, err := c.kube.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web-lb", Annotations: map[string]string{"zerodown.io/probe": "http"}},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Name: "http", Port: int32(port)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "127.0.0.1"}}
	if _, err := c.kube.CoreV1().Services(ns).UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, w, fmt.Sprintf(`zerodown_backend_up{backend="service:%s:web-lb:http",connection="new"}`, ns), "= 1 (at the load balancer)",
		func(v float64) bool { return v == 1 })
	time.Sleep(1100 * time.Millisecond)
	setCOCondition(ctx, t, c, "ingress", cond("Degraded", "True", time.Now().Truncate(time.Second), "WatchedFromCI"))
	waitMetric(t, w, `zerodown_cluster_operator_condition{condition="Degraded",name="ingress",status="true"}`, "= 1", func(v float64) bool { return v == 1 })
	time.Sleep(500 * time.Millisecond)
	w.stop(t)

	ivs, err := intervals.ReadFile(out + "/intervals.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var degraded, kubeAPI bool
	for _, iv := range ivs {
		k := iv.Locator.Keys
		degraded = degraded || iv.Source == "ClusterOperator" && k["name"] == "ingress" && iv.Message.Reason == "DegradedTrue"
		kubeAPI = kubeAPI || iv.Source == "Probing" && k["backend"] == "kube-api"
	}
	if !degraded || !kubeAPI {
		t.Errorf("watch's intervals: ingress Degraded %v, kube-api probed %v; want both in its one stream", degraded, kubeAPI)
	}
	html, err := os.ReadFile(out + "/report.html")
	if err != nil || !strings.Contains(string(html), "kube-api · new") || !strings.Contains(string(html), "ingress") {
		t.Errorf("report.html lacks the built-in backend or the operator (%v)", err)
	}
}

// TestWatchOnAKubeconfigAlone: the one-process CI mode starts on a
// kubeconfig alone (it once refused: "no targets"), and probes the
// cluster's built-in backends.
func TestWatchOnAKubeconfigAlone(t *testing.T) {
	w := start(t, "watch", "--kubeconfig", os.Getenv("KUBECONFIG"), "--out", t.TempDir(), "--view", "none", "--interval", "200ms")
	waitMetric(t, w, `zerodown_backend_up{backend="kube-api",connection="new"}`, "= 1", func(v float64) bool { return v == 1 })
}
