//go:build e2e

package e2e

import (
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubectl runs the control plane's kubectl (first in PATH after sourcing
// the cluster's env.sh, as e2e/run.sh does).
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not in PATH: run through `make e2e` (or source the cluster's env.sh)")
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// saKubeconfig writes a kubeconfig that authenticates as a ServiceAccount
// with a fresh token from the TokenRequest API.
func saKubeconfig(t *testing.T, c *clients, ns, name string) string {
	t.Helper()
	ctx := ctxT(t)
	exp := int64(3600)
	tr, err := c.kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", ns, name, err)
	}
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    token: %s
contexts:
- name: e2e
  context: {cluster: e2e, user: %s}
current-context: e2e
`, c.rest.Host, base64.StdEncoding.EncodeToString(c.rest.CAData), name, tr.Status.Token, name)
	path := filepath.Join(t.TempDir(), name+".kubeconfig")
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// applyOpenShift applies an OpenShift overlay by server-side apply, as
// docs/cluster.md says, after creating openshift-config-managed, which an
// OpenShift cluster has and this control plane does not.
func applyOpenShift(t *testing.T, c *clients, dir string) {
	t.Helper()
	_, err := c.kube.CoreV1().Namespaces().Create(ctxT(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "openshift-config-managed"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	kubectl(t, "apply", "--server-side", "--field-manager=zerodown-e2e", "-k", dir)
}

// TestDeployManifests applies deploy/overlays/openshift to the API server
// and runs both roles as the ServiceAccounts it creates: they sync every
// informer (their RBAC grants what they read) and the controller takes
// its Lease; and the RBAC grants nothing that writes, beyond that Lease.
func TestDeployManifests(t *testing.T) {
	c := newClients(t)
	ctx := ctxT(t)
	applyOpenShift(t, c, "../deploy/overlays/openshift")
	// The dashboards: for Grafana's sidecar in zerodown, for the console
	// in openshift-config-managed.
	for _, cm := range []struct{ ns, label string }{{"zerodown", "grafana_dashboard=1"}, {"openshift-config-managed", "console.openshift.io/dashboard=true"}} {
		names := kubectl(t, "get", "configmap", "-n", cm.ns, "-l", cm.label, "-o", "jsonpath={.items[*].metadata.name}")
		for _, want := range []string{"zerodown-upgrade-disruption", "zerodown-slo", "zerodown-self"} {
			if !strings.Contains(names, want) {
				t.Errorf("ConfigMaps %s in %s: %q, want %s among them", cm.label, cm.ns, names, want)
			}
		}
	}
	// The shipped rules, as a PrometheusRule the API server accepted.
	groups := kubectl(t, "get", "prometheusrule", "zerodown", "-n", "zerodown", "-o", "jsonpath={.spec.groups[*].name}")
	for _, g := range []string{"zerodown-availability", "zerodown-slo", "zerodown-backends", "zerodown-cluster", "zerodown-self"} {
		if !strings.Contains(groups, g) {
			t.Errorf("PrometheusRule zerodown has groups %q, want %s among them", groups, g)
		}
	}

	ctrl := start(t, "controller", "--kubeconfig", saKubeconfig(t, c, "zerodown", "zerodown-controller"),
		"--leader-elect.namespace", "zerodown", "--leader-elect.identity", "as-sa")
	poll := start(t, "poller", "--kubeconfig", saKubeconfig(t, c, "zerodown", "zerodown-poller"),
		"--node-name", "node-a", "--cluster-dns", "127.0.0.1:1",
		// As the manifest runs it: the network matrix's reads too.
		"--network.peers-service", "zerodown-poller", "--network.service", "zerodown-poller-service", "--network.namespace", "zerodown")
	ctrl.waitReady(t)
	poll.waitReady(t)
	waitMetric(t, ctrl, "zerodown_controller_leader", "= 1 (Lease taken as the ServiceAccount)", func(v float64) bool { return v == 1 })
	for _, l := range []string{ctrl.log(), poll.log()} {
		if strings.Contains(l, "forbidden") {
			t.Errorf("a role was refused something:\n%s", l)
		}
	}

	// Least privilege: what the roles may do (so the review is asked
	// right), and what they must not.
	for _, tc := range []struct {
		sa    string
		attr  authzv1.ResourceAttributes
		allow bool
	}{
		{"zerodown-controller", authzv1.ResourceAttributes{Verb: "watch", Group: "config.openshift.io", Resource: "clusteroperators"}, true},
		{"zerodown-controller", authzv1.ResourceAttributes{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: "zerodown", Name: "zerodown-controller"}, true},
		{"zerodown-poller", authzv1.ResourceAttributes{Verb: "watch", Group: "route.openshift.io", Resource: "routes", Namespace: "shop"}, true},
		{"zerodown-controller", authzv1.ResourceAttributes{Verb: "update", Group: "apps", Resource: "deployments", Namespace: "default"}, false},
		{"zerodown-controller", authzv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: "zerodown"}, false},
		{"zerodown-controller", authzv1.ResourceAttributes{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: "kube-system", Name: "kube-controller-manager"}, false},
		{"zerodown-controller", authzv1.ResourceAttributes{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: "zerodown", Name: "someone-else"}, false},
		{"zerodown-controller", authzv1.ResourceAttributes{Verb: "patch", Resource: "nodes"}, false},
		{"zerodown-controller", authzv1.ResourceAttributes{Verb: "get", Resource: "pods", Namespace: "shop"}, true},
		{"zerodown-controller", authzv1.ResourceAttributes{Verb: "list", Resource: "pods"}, false},
		{"zerodown-controller", authzv1.ResourceAttributes{Verb: "watch", Resource: "pods"}, false},
		{"zerodown-poller", authzv1.ResourceAttributes{Verb: "list", Resource: "pods"}, false},
		{"zerodown-poller", authzv1.ResourceAttributes{Verb: "update", Resource: "nodes"}, false},
		{"zerodown-poller", authzv1.ResourceAttributes{Verb: "list", Resource: "secrets"}, false},
		{"zerodown-poller", authzv1.ResourceAttributes{Verb: "list", Group: "config.openshift.io", Resource: "clusteroperators"}, false},
		// The built-in backends: the default namespace and the Infrastructure, nothing else.
		{"zerodown-poller", authzv1.ResourceAttributes{Verb: "get", Resource: "namespaces", Name: "default"}, true},
		{"zerodown-poller", authzv1.ResourceAttributes{Verb: "get", Resource: "namespaces", Name: "kube-system"}, false},
		{"zerodown-poller", authzv1.ResourceAttributes{Verb: "list", Resource: "namespaces"}, false},
		{"zerodown-poller", authzv1.ResourceAttributes{Verb: "get", Group: "config.openshift.io", Resource: "infrastructures", Name: "cluster"}, true},
		// The secure component: the roles ask who a scraper is and what it may do.
		{"zerodown-poller", authzv1.ResourceAttributes{Verb: "create", Group: "authentication.k8s.io", Resource: "tokenreviews"}, true},
		{"zerodown-controller", authzv1.ResourceAttributes{Verb: "create", Group: "authorization.k8s.io", Resource: "subjectaccessreviews"}, true},
		{"zerodown-poller", authzv1.ResourceAttributes{Verb: "create", Group: "certificates.k8s.io", Resource: "certificatesigningrequests"}, false},
		// zerodown report --kubeconfig: the pod proxy of this namespace only.
		{"zerodown-report", authzv1.ResourceAttributes{Verb: "list", Resource: "pods", Namespace: "zerodown"}, true},
		{"zerodown-report", authzv1.ResourceAttributes{Verb: "get", Resource: "pods", Subresource: "proxy", Namespace: "zerodown", Name: "zerodown-poller-x"}, true},
		{"zerodown-report", authzv1.ResourceAttributes{Verb: "get", Resource: "pods", Subresource: "proxy", Namespace: "default"}, false},
		{"zerodown-report", authzv1.ResourceAttributes{Verb: "create", Resource: "pods", Subresource: "proxy", Namespace: "zerodown"}, false},
		{"zerodown-report", authzv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: "zerodown"}, false},
	} {
		attr := tc.attr
		sar, err := c.kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{
			Spec: authzv1.SubjectAccessReviewSpec{User: "system:serviceaccount:zerodown:" + tc.sa, ResourceAttributes: &attr},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case sar.Status.Allowed && !tc.allow:
			t.Errorf("%s may %s %s/%s %q in %q: more than it needs", tc.sa, attr.Verb, attr.Group, attr.Resource, attr.Name, attr.Namespace)
		case !sar.Status.Allowed && tc.allow:
			t.Errorf("%s may not %s %s/%s %q in %q: %s", tc.sa, attr.Verb, attr.Group, attr.Resource, attr.Name, attr.Namespace, sar.Status.Reason)
		}
	}
}
