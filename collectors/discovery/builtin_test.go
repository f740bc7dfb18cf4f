package discovery

import (
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"

	routev1 "github.com/openshift/api/route/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/zerodown/zerodown/config"
)

// A client configuration's inline credentials become files (0600) the
// probes read; files stay files; an exec plugin cannot be used.
func TestCredentialsOf(t *testing.T) {
	dir := t.TempDir()
	c, err := credentialsOf(&rest.Config{BearerToken: "t0k3n", TLSClientConfig: rest.TLSClientConfig{CAData: []byte("CA"), CertData: []byte("CERT"), KeyData: []byte("KEY")}}, dir)
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{c.tls.CAFile: "CA", c.tls.CertFile: "CERT", c.tls.KeyFile: "KEY", c.token: "t0k3n"} {
		b, err := os.ReadFile(file)
		fi, _ := os.Stat(file)
		if err != nil || string(b) != want || fi.Mode().Perm() != 0o600 || !strings.HasPrefix(file, dir) {
			t.Errorf("%s: %q %v, mode %v; want %q, 0600, in %s", file, b, err, fi.Mode(), want, dir)
		}
	}
	c, err = credentialsOf(&rest.Config{BearerTokenFile: "/sa/token", TLSClientConfig: rest.TLSClientConfig{CAFile: "/sa/ca.crt"}}, "")
	if err != nil || c.token != "/sa/token" || c.tls.CAFile != "/sa/ca.crt" {
		t.Errorf("files: %+v, %v; want them used as they are, nothing written", c, err)
	}
	if _, err := credentialsOf(&rest.Config{ExecProvider: &clientcmdapi.ExecConfig{Command: "oc"}}, dir); err == nil {
		t.Error("an exec plugin was accepted")
	}
	if _, err := credentialsOf(&rest.Config{BearerToken: "x"}, ""); err == nil {
		t.Error("inline credentials without a folder were accepted")
	}
	// A file already there (planted, or left by another run) is never
	// reused: its mode and contents are someone else's.
	if _, err := credentialsOf(&rest.Config{BearerToken: "again"}, dir); err == nil {
		t.Error("an existing token file was written over")
	}
	// A key inline next to a certificate file, and the other way round.
	dir2 := t.TempDir()
	c, err = credentialsOf(&rest.Config{TLSClientConfig: rest.TLSClientConfig{CertFile: "/etc/client.crt", KeyData: []byte("KEY")}}, dir2)
	if b, _ := os.ReadFile(c.tls.KeyFile); err != nil || c.tls.CertFile != "/etc/client.crt" || string(b) != "KEY" {
		t.Errorf("a certificate file and an inline key: %+v, %v", c.tls, err)
	}
	c, err = credentialsOf(&rest.Config{TLSClientConfig: rest.TLSClientConfig{CertData: []byte("CERT"), KeyFile: "/etc/client.key"}}, t.TempDir())
	if err != nil || c.tls.KeyFile != "/etc/client.key" || c.tls.CertFile == "" {
		t.Errorf("an inline certificate and a key file: %+v, %v", c.tls, err)
	}
}

// One list of names: the constants, and what a configuration may disable.
func TestBuiltinNames(t *testing.T) {
	for _, n := range []string{KubeAPI, CacheKubeAPI, KubeAPIInternal, CacheKubeAPIInternal, KubeAPIService, CacheKubeAPIService,
		OpenShiftAPI, OAuthAPI, IngressToOAuthServer, IngressToConsole, IngressCanary, ImageRegistry} {
		if !slices.Contains(config.BuiltinBackends, n) {
			t.Errorf("%s is not in config.BuiltinBackends", n)
		}
	}
	if len(BuiltinNames()) != 12 {
		t.Errorf("BuiltinNames: %v", BuiltinNames())
	}
}

// From outside the cluster a Route is probed at its host, and a Service
// only at its load balancer's ingress addresses.
func TestOutside(t *testing.T) {
	r := &routev1.Route{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: routev1.RouteSpec{Host: "web.apps.example", Path: "/health", TLS: &routev1.TLSConfig{}}}
	tg, why := RouteTarget(r, Options{Outside: true, RouterHTTPS: "router:443"}, "", "", false)
	if why != "" || tg.HTTP.URL != "https://web.apps.example/health" || tg.HTTP.Host != "" || tg.Name != "route:shop:web" {
		t.Errorf("route from outside: %+v %q, want https://web.apps.example/health without a Host override", tg.HTTP, why)
	}
	d := &Discovery{o: Options{Outside: true, Annotation: DefaultAnnotation}, skipped: map[string]string{}, log: slog.New(slog.DiscardHandler)}
	lb := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api"},
		Spec:   corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.0.0.1", Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "192.0.2.10"}}}}}
	ts := d.serviceTargets(lb, "http", 0) // outside: no endpoints read
	if len(ts) != 1 || ts[0].HTTP == nil || ts[0].HTTP.URL != "http://192.0.2.10:8080/" {
		t.Errorf("LoadBalancer from outside: %+v, want one HTTP target at its ingress address", ts)
	}
	lb.Spec.Type, lb.Status = corev1.ServiceTypeClusterIP, corev1.ServiceStatus{}
	if ts := d.serviceTargets(lb, "true", 0); len(ts) != 0 {
		t.Errorf("a ClusterIP Service from outside: %+v, want nothing (not reachable)", ts)
	}
}

// A pod's client (rest.InClusterConfig: files, and the token read from its
// file too) needs no folder for credentials; a kubeconfig's inline data
// does.
func TestInlineCredentials(t *testing.T) {
	for _, tc := range []struct {
		name string
		rc   rest.Config
		want bool
	}{
		{"in a pod", rest.Config{BearerToken: "t", BearerTokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token",
			TLSClientConfig: rest.TLSClientConfig{CAFile: "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"}}, false},
		{"inline CA", rest.Config{TLSClientConfig: rest.TLSClientConfig{CAData: []byte("x")}}, true},
		{"inline client certificate", rest.Config{TLSClientConfig: rest.TLSClientConfig{CertData: []byte("x"), KeyData: []byte("y")}}, true},
		{"inline token", rest.Config{BearerToken: "t"}, true},
		{"files", rest.Config{TLSClientConfig: rest.TLSClientConfig{CAFile: "a", CertFile: "b", KeyFile: "c"}}, false},
	} {
		if got := InlineCredentials(&tc.rc); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
