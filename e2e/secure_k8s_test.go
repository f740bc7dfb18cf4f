//go:build e2e

package e2e

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// TestDeployKubernetesSecure builds plain Kubernetes with the secure and
// cert-manager components (and the host-network pollers) and checks that
// the pieces meet: every Secret a pod mounts for TLS is a Certificate's,
// issued by the CA issuer of the CA Certificate; every ServiceMonitor
// verifies with that Secret's ca.crt and a server name the Certificate
// carries; the pollers verify their peers with the same CA file.
// (cert-manager's CRDs are not on this control plane: the build is
// checked, not applied.)
func TestDeployKubernetesSecure(t *testing.T) {
	objs := map[string][]*unstructured.Unstructured{}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader([]byte(kubectl(t, "kustomize", "testdata/kubernetes-secure"))), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if u.Object != nil {
			objs[u.GetKind()] = append(objs[u.GetKind()], u)
		}
	}
	str := func(u *unstructured.Unstructured, path ...string) string {
		s, _, _ := unstructured.NestedString(u.Object, path...)
		return s
	}
	issuers := map[string]*unstructured.Unstructured{}
	for _, u := range objs["Issuer"] {
		issuers[u.GetName()] = u
	}
	certs := map[string]*unstructured.Unstructured{} // by secretName
	for _, u := range objs["Certificate"] {
		certs[str(u, "spec", "secretName")] = u
	}
	// served: the Certificate behind a serving Secret, checked to be
	// issued by a CA issuer whose own Certificate is a CA.
	served := func(secret, by string) *unstructured.Unstructured {
		cert := certs[secret]
		if cert == nil {
			t.Errorf("%s: Secret %s is no Certificate's", by, secret)
			return nil
		}
		iss := issuers[str(cert, "spec", "issuerRef", "name")]
		if iss == nil {
			t.Errorf("Certificate %s: no Issuer %s", cert.GetName(), str(cert, "spec", "issuerRef", "name"))
			return cert
		}
		ca := certs[str(iss, "spec", "ca", "secretName")]
		if ca == nil {
			t.Errorf("Certificate %s: its Issuer %s signs with no Certificate's Secret", cert.GetName(), iss.GetName())
		} else if isCA, _, _ := unstructured.NestedBool(ca.Object, "spec", "isCA"); !isCA {
			t.Errorf("Certificate %s: its Issuer %s signs with no CA Certificate's Secret", cert.GetName(), iss.GetName())
		}
		return cert
	}
	var workloads []*corev1.PodTemplateSpec
	for _, u := range append(objs["DaemonSet"], objs["Deployment"]...) {
		var tmpl corev1.PodTemplateSpec
		if u.GetKind() == "DaemonSet" {
			var ds appsv1.DaemonSet
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &ds); err != nil {
				t.Fatal(err)
			}
			tmpl = ds.Spec.Template
		} else {
			var d appsv1.Deployment
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &d); err != nil {
				t.Fatal(err)
			}
			tmpl = d.Spec.Template
		}
		workloads = append(workloads, &tmpl)
		name := u.GetName()
		c := tmpl.Spec.Containers[0]
		for _, want := range []string{"--web.kubernetes-auth", "--web.config.file=/etc/zerodown/web/web-config.yaml"} {
			if !slices.Contains(c.Args, want) {
				t.Errorf("%s: no %s in %q", name, want, c.Args)
			}
		}
		if u.GetKind() == "DaemonSet" && !slices.Contains(c.Args, "--network.tls.ca-file=/etc/zerodown/tls/ca.crt") {
			t.Errorf("%s: its network matrix does not verify its peers with the CA: %q", name, c.Args)
		}
		if c.ReadinessProbe.HTTPGet.Scheme != corev1.URISchemeHTTPS || c.LivenessProbe.HTTPGet.Scheme != corev1.URISchemeHTTPS {
			t.Errorf("%s: the kubelet's probes are not over HTTPS", name)
		}
		mounted := false
		for _, v := range tmpl.Spec.Volumes {
			if v.Name != "tls" {
				continue
			}
			mounted = true
			if v.Projected == nil || len(v.Projected.Sources) != 1 || v.Projected.Sources[0].Secret == nil {
				t.Errorf("%s: volume tls is not the one Secret: %+v", name, v)
				continue
			}
			served(v.Projected.Sources[0].Secret.Name, name)
		}
		if !mounted {
			t.Errorf("%s mounts no tls volume", name)
		}
	}
	if len(workloads) != 3 {
		t.Errorf("%d workloads, want the pollers, the host pollers and the controller", len(workloads))
	}
	if len(objs["ServiceMonitor"]) != 3 {
		t.Errorf("%d ServiceMonitors, want 3", len(objs["ServiceMonitor"]))
	}
	for _, sm := range objs["ServiceMonitor"] {
		eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		ep := &unstructured.Unstructured{Object: eps[0].(map[string]any)}
		if str(ep, "scheme") != "https" || str(ep, "bearerTokenFile") == "" {
			t.Errorf("ServiceMonitor %s: scheme %q, bearerTokenFile %q", sm.GetName(), str(ep, "scheme"), str(ep, "bearerTokenFile"))
		}
		if key := str(ep, "tlsConfig", "ca", "secret", "key"); key != "ca.crt" {
			t.Errorf("ServiceMonitor %s verifies with key %q of its Secret, want ca.crt", sm.GetName(), key)
		}
		cert := served(str(ep, "tlsConfig", "ca", "secret", "name"), "ServiceMonitor "+sm.GetName())
		if cert == nil {
			continue
		}
		names, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
		if sn := str(ep, "tlsConfig", "serverName"); !slices.Contains(names, sn) {
			t.Errorf("ServiceMonitor %s expects server name %q, the Certificate carries %q", sm.GetName(), sn, names)
		}
	}
	for _, cm := range objs["ConfigMap"] {
		if cfg := str(cm, "data", "web-config.yaml"); cfg != "" && !strings.Contains(cfg, "cert_file: /etc/zerodown/tls/tls.crt") {
			t.Errorf("the web configuration does not serve the mounted certificate:\n%s", cfg)
		}
	}
}
