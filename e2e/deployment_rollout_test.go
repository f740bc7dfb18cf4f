//go:build e2e

package e2e

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// TestDeploymentRevisions: with kube-controller-manager running, a
// Deployment whose image changes twice gets three ReplicaSets with
// revisions 1, 2 and 3 (what a rollback goes back through), and the
// controller shows the rollout as not complete, never observed behind.
func TestDeploymentRevisions(t *testing.T) {
	ctx := ctxT(t)
	c := newClients(t)
	rolloutNS := freshNamespace(t, c, "zd-rollout")
	p := start(t, "controller", "--leader-elect=false", "--workloads.namespaces", rolloutNS)
	p.waitReady(t)
	if _, err := c.kube.AppsV1().Deployments(rolloutNS).Create(ctx, deployment("shop", "registry.invalid/shop:1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, image := range []string{"registry.invalid/shop:2", "registry.invalid/shop:3"} {
		// Wait for the controller to act on the previous spec first, so
		// every image gets its own ReplicaSet.
		eventually(t, 30*time.Second, "deployment observed", func() (bool, string) {
			d, err := c.kube.AppsV1().Deployments(rolloutNS).Get(ctx, "shop", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return d.Status.ObservedGeneration == d.Generation, fmt.Sprintf("%+v", d.Status)
		})
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			d, err := c.kube.AppsV1().Deployments(rolloutNS).Get(ctx, "shop", metav1.GetOptions{})
			if err != nil {
				return err
			}
			d.Spec.Template.Spec.Containers[0].Image = image
			_, err = c.kube.AppsV1().Deployments(rolloutNS).Update(ctx, d, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, "three ReplicaSets with revisions 1, 2, 3", func() (bool, string) {
		rss, err := c.kube.AppsV1().ReplicaSets(rolloutNS).List(ctx, metav1.ListOptions{LabelSelector: "app=shop"})
		if err != nil {
			return false, err.Error()
		}
		var got []string
		for _, rs := range rss.Items {
			got = append(got, rs.Annotations["deployment.kubernetes.io/revision"]+"="+rs.Spec.Template.Spec.Containers[0].Image)
		}
		sort.Strings(got)
		want := "1=registry.invalid/shop:1 2=registry.invalid/shop:2 3=registry.invalid/shop:3"
		d, err := c.kube.AppsV1().Deployments(rolloutNS).Get(ctx, "shop", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return strings.Join(got, " ") == want, fmt.Sprintf("ReplicaSets %s\nDeployment generation %d, status %+v",
			strings.Join(got, " "), d.Generation, d.Status)
	})
	waitMetric(t, p, `zerodown_workload_condition{condition="RolloutComplete",kind="Deployment",name="shop",namespace="`+rolloutNS+`",status="false"}`,
		"= 1 (pods never run here)", func(v float64) bool { return v == 1 })
	waitMetric(t, p, `zerodown_workload_generation_lag{kind="Deployment",name="shop",namespace="`+rolloutNS+`"}`,
		"= 0", func(v float64) bool { return v == 0 })
	waitMetric(t, p, `zerodown_workload_replicas{kind="Deployment",name="shop",namespace="`+rolloutNS+`",state="desired"}`,
		"= 2", func(v float64) bool { return v == 2 })
}
