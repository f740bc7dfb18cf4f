//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/zerodown/zerodown/internal/testpki"
)

// TestDeploySecureEndpoints runs the OpenShift overlay's authenticated
// endpoints as shipped. The test does what the service CA and the kubelet
// would: it issues each annotated Service's serving certificate (for the
// Service's names only) into the Secret the annotation names, injects
// the CA bundle into the ConfigMap that asks for it, and writes the
// ConfigMaps, Secrets and projected volumes each container mounts to a
// folder. Both roles then run with the manifests' own arguments and are
// scraped as the ServiceMonitors tell Prometheus to: over https, verified
// by server name, with the platform Prometheus's token (200), with the
// token of a ServiceAccount without the right (403), with none (401). The
// poller's network matrix reaches a peer over https, verified with the
// mounted bundle.
func TestDeploySecureEndpoints(t *testing.T) {
	c := newClients(t)
	ctx := ctxT(t)
	const ns = "zerodown"
	applyOpenShift(t, c, "../deploy/overlays/openshift")

	// The service CA.
	ca := testpki.New(t)
	caPEM, err := os.ReadFile(ca.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"zerodown-poller", "zerodown-controller"} {
		svc, err := c.kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		secret := svc.Annotations["service.beta.openshift.io/serving-cert-secret-name"]
		if secret == "" {
			t.Fatalf("Service %s has no service.beta.openshift.io/serving-cert-secret-name: the service CA makes it no certificate", name)
		}
		crt, key := ca.IssueFor(t, name, name+"."+ns+".svc", name+"."+ns+".svc.cluster.local")
		putSecret(t, c, ns, secret, map[string][]byte{"tls.crt": mustRead(t, crt), "tls.key": mustRead(t, key)})
	}
	bundle, err := c.kube.CoreV1().ConfigMaps(ns).Get(ctx, "zerodown-serving-ca", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if bundle.Annotations["service.beta.openshift.io/inject-cabundle"] != "true" {
		t.Fatalf("ConfigMap zerodown-serving-ca does not ask the service CA for its bundle: %v", bundle.Annotations)
	}
	bundle.Data = map[string]string{"service-ca.crt": string(caPEM)}
	if _, err := c.kube.CoreV1().ConfigMaps(ns).Update(ctx, bundle, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Both roles, with the manifests' arguments. Not the router's
	// addresses and the Service in front of the pollers: those are no
	// loopback addresses here.
	shipped := func(args []string) []string {
		return slices.DeleteFunc(args, func(a string) bool {
			return strings.HasPrefix(a, "--router.") || strings.HasPrefix(a, "--network.service=")
		})
	}
	dep, err := c.kube.AppsV1().Deployments(ns).Get(ctx, "zerodown-controller", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := c.kube.AppsV1().DaemonSets(ns).Get(ctx, "zerodown-poller", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctrlArgs := shipped(asKubelet(t, c, ns, &dep.Spec.Template.Spec))
	pollArgs := shipped(asKubelet(t, c, ns, &ds.Spec.Template.Spec))
	for _, want := range []string{"--web.kubernetes-auth", "--web.config.file="} {
		for _, args := range [][]string{ctrlArgs, pollArgs} {
			if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, want) }) {
				t.Errorf("%s runs without %s: %q", args[0], want, args)
			}
		}
	}
	for _, n := range []string{"node-a", "node-b"} {
		readyNode(t, c, n)
	}
	ctrl := start(t, append(ctrlArgs, "--kubeconfig", saKubeconfig(t, c, ns, "zerodown-controller"),
		"--leader-elect.namespace", ns, "--leader-elect.identity", "secure")...)
	// The poller in a network namespace of its own: an EndpointSlice
	// cannot hold a loopback address, and its peer must have one.
	h := newNetHost(t, 40)
	poll := startIn(t, h.Name, "0.0.0.0:9949", append(pollArgs, "--kubeconfig", h.via(t, c, saKubeconfig(t, c, ns, "zerodown-poller")),
		"--node-name", "node-a", "--network.namespace", ns, "--cluster-dns", "127.0.0.1:1")...)
	poll.addr = h.NSIP + ":9949"

	// Prometheus, as the ServiceMonitors configure it.
	prom := serviceAccountToken(t, c, "openshift-monitoring", "prometheus-k8s")
	stranger := serviceAccountToken(t, c, ns, "zerodown-report")
	for _, r := range []struct {
		p       *process
		monitor string
	}{{ctrl, "zerodown-controller"}, {poll, "zerodown-poller"}} {
		ep := monitorEndpoint(t, c, ns, r.monitor)
		if ep.Scheme != "https" || ep.BearerTokenFile != "/var/run/secrets/kubernetes.io/serviceaccount/token" {
			t.Errorf("ServiceMonitor %s: scheme %q, bearerTokenFile %q: want https with Prometheus's own token", r.monitor, ep.Scheme, ep.BearerTokenFile)
		}
		scraper := func(token string) *http.Client { return ep.client(t, c, ns, token) }
		r.p.client = scraper("")
		r.p.waitReady(t) // health and readiness stay open, for the kubelet
		for _, tc := range []struct {
			who   string
			token string
			code  int
		}{{"Prometheus (openshift-monitoring/prometheus-k8s)", prom, 200}, {"zerodown-report, without get on /metrics", stranger, 403}, {"no token", "", 401}} {
			eventually(t, 30*time.Second, r.monitor+": /metrics as "+tc.who+" answers "+strconv.Itoa(tc.code), func() (bool, string) {
				resp, err := scraper(tc.token).Get("https://" + r.p.addr + "/metrics")
				if err != nil {
					return false, err.Error()
				}
				resp.Body.Close()
				return resp.StatusCode == tc.code, resp.Status
			})
		}
		if resp, err := http.Get("http://" + r.p.addr + "/metrics"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Errorf("%s answers /metrics over plain HTTP", r.monitor)
			}
		}
		r.p.client = scraper(prom)
	}
	waitMetric(t, ctrl, "zerodown_controller_leader", "= 1", func(v float64) bool { return v == 1 })

	// The network matrix: a peer on node-b (the poller itself, at its
	// address), probed over https and verified with the bundle.
	slice := endpointSlice("zerodown-poller", h.NSIP)
	pn, pp, proto := "metrics", int32(9949), corev1.ProtocolTCP
	slice.Ports = []discoveryv1.EndpointPort{{Name: &pn, Port: &pp, Protocol: &proto}}
	nodeB := "node-b"
	slice.Endpoints[0].NodeName = &nodeB
	_ = c.kube.DiscoveryV1().EndpointSlices(ns).Delete(ctx, slice.Name, metav1.DeleteOptions{})
	if _, err := c.kube.DiscoveryV1().EndpointSlices(ns).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.kube.DiscoveryV1().EndpointSlices(ns).Delete(context.Background(), slice.Name, metav1.DeleteOptions{})
	})
	eventually(t, 30*time.Second, "the poller's peer on node-b is up over https", func() (bool, string) {
		up := poll.samples(t, `zerodown_network_up{path="pod"`)
		return len(up) == 1 && strings.HasSuffix(up[0], " 1"), strings.Join(up, "\n")
	})

	// zerodown report --kubeconfig finds that the poller serves TLS, and
	// reads its intervals through the pod proxy over https.
	// The pod is the DaemonSet's, labelled apart so that its controller
	// leaves it be, registered Running at the poller's address.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "zerodown-poller-secure", Labels: map[string]string{"e2e": "secure"}},
		Spec: *ds.Spec.Template.Spec.DeepCopy()}
	pod.Spec.NodeName = "node-a"
	_ = c.kube.CoreV1().Pods(ns).Delete(ctx, pod.Name, *metav1.NewDeleteOptions(0))
	pod, err = c.kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.kube.CoreV1().Pods(ns).Delete(context.Background(), pod.Name, *metav1.NewDeleteOptions(0))
	})
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: h.NSIP, PodIPs: []corev1.PodIP{{IP: h.NSIP}}}
	if _, err := c.kube.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cmd := exec.Command(binary, "report", "--kubeconfig", os.Getenv("KUBECONFIG"), "--namespace", ns, "--selector", "e2e=secure", "--out", out)
	logs, _ := cmd.CombinedOutput()
	if b, err := os.ReadFile(filepath.Join(out, "intervals", "zerodown-poller-secure.jsonl")); err != nil || len(b) == 0 {
		t.Errorf("report did not fetch the poller's intervals over https (%v, %d bytes):\n%s", err, len(b), logs)
	}
}

// asKubelet writes the volumes the pod's first container mounts under a
// folder, as the kubelet would, and returns the container's arguments
// with every mount path moved there (in the files from ConfigMaps too).
func asKubelet(t *testing.T, c *clients, ns string, spec *corev1.PodSpec) []string {
	t.Helper()
	ctx := ctxT(t)
	root := t.TempDir()
	ctr := spec.Containers[0]
	var pairs []string
	for _, m := range ctr.VolumeMounts {
		pairs = append(pairs, m.MountPath, root+m.MountPath)
	}
	moved := strings.NewReplacer(pairs...)
	for _, m := range ctr.VolumeMounts {
		i := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
		if i < 0 {
			t.Fatalf("container %s mounts volume %s, which the pod does not have", ctr.Name, m.Name)
		}
		v := spec.Volumes[i]
		dir := root + m.MountPath
		if err := os.MkdirAll(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		var sources []corev1.VolumeProjection
		switch {
		case v.EmptyDir != nil:
		case v.ConfigMap != nil:
			sources = []corev1.VolumeProjection{{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: v.ConfigMap.LocalObjectReference, Items: v.ConfigMap.Items}}}
		case v.Secret != nil:
			sources = []corev1.VolumeProjection{{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: v.Secret.SecretName}, Items: v.Secret.Items}}}
		case v.Projected != nil:
			sources = v.Projected.Sources
		default:
			t.Fatalf("volume %s: a kind this test does not write", v.Name)
		}
		for _, src := range sources {
			data := map[string][]byte{}
			var items []corev1.KeyToPath
			switch {
			case src.ConfigMap != nil:
				cm, err := c.kube.CoreV1().ConfigMaps(ns).Get(ctx, src.ConfigMap.Name, metav1.GetOptions{})
				if err != nil {
					t.Fatalf("volume %s: %v", v.Name, err)
				}
				for k, s := range cm.Data {
					data[k] = []byte(moved.Replace(s))
				}
				items = src.ConfigMap.Items
			case src.Secret != nil:
				s, err := c.kube.CoreV1().Secrets(ns).Get(ctx, src.Secret.Name, metav1.GetOptions{})
				if err != nil {
					t.Fatalf("volume %s: %v", v.Name, err)
				}
				data, items = s.Data, src.Secret.Items
			default:
				t.Fatalf("volume %s: a projection this test does not write", v.Name)
			}
			if len(items) == 0 {
				for k := range data {
					items = append(items, corev1.KeyToPath{Key: k, Path: k})
				}
			}
			for _, it := range items {
				b, ok := data[it.Key]
				if !ok {
					t.Fatalf("volume %s: no key %s", v.Name, it.Key)
				}
				if err := os.WriteFile(filepath.Join(dir, it.Path), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	args := slices.Clone(ctr.Args)
	for i := range args {
		args[i] = moved.Replace(args[i])
	}
	return args
}

// endpoint is what the test reads of a ServiceMonitor's first endpoint.
type endpoint struct {
	Scheme          string `json:"scheme"`
	BearerTokenFile string `json:"bearerTokenFile"`
	TLSConfig       struct {
		ServerName string `json:"serverName"`
		CA         struct {
			ConfigMap, Secret *struct{ Name, Key string }
		} `json:"ca"`
	} `json:"tlsConfig"`
}

func monitorEndpoint(t *testing.T, c *clients, ns, name string) endpoint {
	t.Helper()
	u, err := c.dynamic.Resource(schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "servicemonitors"}).
		Namespace(ns).Get(ctxT(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var sm struct {
		Spec struct {
			Endpoints []endpoint `json:"endpoints"`
		} `json:"spec"`
	}
	b, _ := json.Marshal(u.Object)
	if err := json.Unmarshal(b, &sm); err != nil || len(sm.Spec.Endpoints) == 0 {
		t.Fatalf("ServiceMonitor %s: %v, %d endpoints", name, err, len(sm.Spec.Endpoints))
	}
	return sm.Spec.Endpoints[0]
}

// client is Prometheus's scrape client for the endpoint: the CA from the
// ConfigMap or Secret it names, its server name, token as the bearer.
func (e endpoint) client(t *testing.T, c *clients, ns, token string) *http.Client {
	t.Helper()
	var caPEM []byte
	switch ref := e.TLSConfig.CA; {
	case ref.ConfigMap != nil:
		cm, err := c.kube.CoreV1().ConfigMaps(ns).Get(ctxT(t), ref.ConfigMap.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		caPEM = []byte(cm.Data[ref.ConfigMap.Key])
	case ref.Secret != nil:
		s, err := c.kube.CoreV1().Secrets(ns).Get(ctxT(t), ref.Secret.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		caPEM = s.Data[ref.Secret.Key]
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("the ServiceMonitor's CA (%+v) holds no certificate", e.TLSConfig.CA)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: e.TLSConfig.ServerName}}
	return &http.Client{Timeout: 5 * time.Second, Transport: bearer{token, tr}}
}

// bearer sends token (if any) with every request.
type bearer struct {
	token string
	rt    http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if b.token != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.rt.RoundTrip(r)
}

// serviceAccountToken makes the namespace and ServiceAccount if needed
// and returns a fresh token of it.
func serviceAccountToken(t *testing.T, c *clients, ns, name string) string {
	t.Helper()
	ctx := ctxT(t)
	if _, err := c.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if _, err := c.kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	tr, err := c.kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authnv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// putSecret creates or replaces a kubernetes.io/tls Secret.
func putSecret(t *testing.T, c *clients, ns, name string, data map[string][]byte) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, Type: corev1.SecretTypeTLS, Data: data}
	_ = c.kube.CoreV1().Secrets(ns).Delete(ctxT(t), name, metav1.DeleteOptions{})
	if _, err := c.kube.CoreV1().Secrets(ns).Create(ctxT(t), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// readyNode makes a Node that is Ready (again, if a test left it).
func readyNode(t *testing.T, c *clients, name string) {
	t.Helper()
	ctx := ctxT(t)
	if _, err := c.kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	now := metav1.Now()
	updateNode(ctx, t, c, name, true, func(n *corev1.Node) {
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastTransitionTime: now, LastHeartbeatTime: now, Reason: "Test"}}
	})
	updateNode(ctx, t, c, name, false, func(n *corev1.Node) { n.Spec.Unschedulable = false })
	t.Cleanup(func() { _ = c.kube.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
