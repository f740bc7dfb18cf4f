//go:build e2e

package e2e

import (
	"net/http"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// --web.kubernetes-auth on the real API server: a ServiceAccount allowed
// get on the non-resource URL /metrics scrapes; one without gets 403; a
// token the API server does not know and no token get 401; health and
// readiness stay open to the kubelet.
func TestMetricsKubernetesAuth(t *testing.T) {
	ctx := ctxT(t)
	c := newClients(t)
	ns := freshNamespace(t, c, "zd-auth")
	token := func(sa string) string {
		if _, err := c.kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		tr, err := c.kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	scraper, stranger := token("prometheus"), token("stranger")
	role := "zd-metrics-reader-" + ns
	if _, err := c.kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: role},
		Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: "prometheus"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.kube.RbacV1().ClusterRoleBindings().Delete(ctxT(t), role, metav1.DeleteOptions{})
		_ = c.kube.RbacV1().ClusterRoles().Delete(ctxT(t), role, metav1.DeleteOptions{})
	})

	ctl := start(t, "controller", "--workloads.namespaces", ns, "--leader-elect=false", "--discovery=false", "--builtin=false", "--web.kubernetes-auth")
	get := func(path, bearer string) int {
		req, _ := http.NewRequest("GET", "http://"+ctl.addr+path, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name, path, token string
		code              int
	}{
		{"allowed ServiceAccount", "/metrics", scraper, 200},
		{"ServiceAccount without get on /metrics", "/metrics", stranger, 403},
		{"a token the API server does not know", "/metrics", "not-a-token", 401},
		{"no token", "/metrics", "", 401},
		{"health, for the kubelet", "/healthz", "", 200},
	} {
		if code := get(tc.path, tc.token); code != tc.code {
			t.Errorf("%s: GET %s: %d, want %d", tc.name, tc.path, code, tc.code)
		}
	}
}
