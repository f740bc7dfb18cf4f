//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// withoutCRDs deletes the named CRDs (the cluster becomes plain
// Kubernetes for them) and puts them back, Established, when the test ends.
func withoutCRDs(ctx context.Context, t *testing.T, c *clients, names ...string) {
	t.Helper()
	crds := c.dynamic.Resource(crdResource)
	var saved []*unstructured.Unstructured
	for _, n := range names {
		u, err := crds.Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("CRD %s: %v", n, err)
		}
		saved = append(saved, u)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, u := range saved {
			r := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": u.GetAPIVersion(), "kind": u.GetKind(),
				"metadata": map[string]any{"name": u.GetName()}, "spec": u.Object["spec"],
			}}
			eventually(t, 60*time.Second, "CRD "+u.GetName()+" created again", func() (bool, string) {
				_, err := crds.Create(ctx, r, metav1.CreateOptions{})
				return err == nil || apierrors.IsAlreadyExists(err), fmt.Sprint(err)
			})
			eventually(t, 60*time.Second, "CRD "+u.GetName()+" established", func() (bool, string) {
				got, err := crds.Get(ctx, u.GetName(), metav1.GetOptions{})
				if err != nil {
					return false, err.Error()
				}
				conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
				for _, cd := range conds {
					m, _ := cd.(map[string]any)
					if m["type"] == "Established" && m["status"] == "True" {
						return true, ""
					}
				}
				return false, fmt.Sprint(conds)
			})
		}
	})
	for _, n := range names {
		if err := crds.Delete(ctx, n, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range names {
		eventually(t, 60*time.Second, "CRD "+n+" gone", func() (bool, string) {
			_, err := crds.Get(ctx, n, metav1.GetOptions{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		})
	}
	// Discovery must no longer list them.
	eventually(t, 30*time.Second, "OpenShift APIs gone from discovery", func() (bool, string) {
		for _, gv := range []string{"config.openshift.io/v1", "machineconfiguration.openshift.io/v1", "route.openshift.io/v1"} {
			if rl, err := c.kube.Discovery().ServerResourcesForGroupVersion(gv); err == nil && len(rl.APIResources) > 0 {
				return false, gv + " still served"
			}
		}
		return true, ""
	})
}

// TestPlainKubernetes: without OpenShift's CRDs the OpenShift collectors
// and Route discovery switch themselves off (one log line, a metric), and
// the rest works.
func TestPlainKubernetes(t *testing.T) {
	ctx := ctxT(t)
	c := newClients(t)
	withoutCRDs(ctx, t, c, "clusteroperators.config.openshift.io", "clusterversions.config.openshift.io", "infrastructures.config.openshift.io",
		"machineconfigpools.machineconfiguration.openshift.io", "routes.route.openshift.io")

	p := start(t, "controller", "--leader-elect=false", "--workloads.namespaces", "default")
	p.waitReady(t)
	got := p.samples(t, "zerodown_collector_enabled")
	want := []string{
		`zerodown_collector_enabled{collector="clusteroperator"} 0`,
		`zerodown_collector_enabled{collector="clusterversion"} 0`,
		`zerodown_collector_enabled{collector="machineconfigpool"} 0`,
		`zerodown_collector_enabled{collector="node"} 1`,
		`zerodown_collector_enabled{collector="poddisruptionbudget"} 1`,
		`zerodown_collector_enabled{collector="upgrade"} 1`,
		`zerodown_collector_enabled{collector="workload"} 1`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("collectors enabled:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// No ClusterVersion: the upgrade comes from the versions (none runs).
	eventually(t, 20*time.Second, "the Kubernetes versions' upgrade exported", func() (bool, string) {
		s := p.samples(t, "zerodown_upgrade_in_progress")
		v, ok := value(s, `zerodown_upgrade_in_progress{name="kubernetes"}`)
		return ok && v == "0", strings.Join(s, "\n")
	})
	if n := strings.Count(p.log(), "collector switched off"); n != 3 {
		t.Errorf("%d 'collector switched off' log lines, want 3:\n%s", n, p.log())
	}
	if s := p.samples(t, "zerodown_cluster_operator_condition"); len(s) != 0 {
		t.Errorf("ClusterOperator metrics without the CRD: %v", s)
	}

	// The poller discovers Services without Routes. Its DNS target asks a
	// loopback port where nothing answers: the target exists, and fails.
	ns := freshNamespace(t, c, "zd-plain")
	if _, err := c.kube.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "api", Annotations: map[string]string{"zerodown.io/probe": "dns"}},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	q := start(t, "poller", "--builtin=false", "--discovery.namespaces", ns, "--cluster-dns", "127.0.0.1:9", "--interval", "100ms", "--timeout", "50ms")
	q.waitReady(t)
	if !strings.Contains(q.log(), "route discovery switched off") {
		t.Errorf("poller did not say route discovery is off:\n%s", q.log())
	}
	waitMetric(t, q, `zerodown_poller_targets{source="discovered"}`, "= 1", func(v float64) bool { return v == 1 })
	waitMetric(t, q, `zerodown_probe_requests_total{backend="dns:`+ns+`:api",connection="new",protocol="dns",result="success"}`,
		"exported", func(v float64) bool { return v >= 0 })
}
