//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	configv1 "github.com/openshift/api/config/v1"
	routev1 "github.com/openshift/api/route/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zerodown/zerodown/testtarget"
	"github.com/zerodown/zerodown/testtarget/targettest"
)

// restart kills a control plane process and starts it again after down.
func restart(t *testing.T, name string, down time.Duration) {
	t.Helper()
	cmd := exec.Command("controlplane/restart.sh", name, fmt.Sprintf("%.1f", down.Seconds()))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("restarting %s: %v", name, err)
	}
}

func annotatedRoute(name, host string) *routev1.Route {
	return &routev1.Route{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"zerodown.io/probe": "true"}},
		Spec:       routev1.RouteSpec{Host: host, To: routev1.RouteTargetReference{Kind: "Service", Name: name}},
	}
}

// TestSurvivesAPIServerRestart takes kube-apiserver away and brings it
// back: the poller keeps probing its last known targets meanwhile and both
// roles pick up changes made afterwards, without a restart of their own.
func TestSurvivesAPIServerRestart(t *testing.T) {
	ctx := ctxT(t)
	c := newClients(t)
	tt := targettest.Start(t, testtarget.Options{})
	_ = c.config.ConfigV1().ClusterOperators().Delete(ctx, "restart-co", metav1.DeleteOptions{})
	restartNS := freshNamespace(t, c, "zd-restart")
	if _, err := c.route.RouteV1().Routes(restartNS).Create(ctx, annotatedRoute("before", "before.apps.test"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	poller := start(t, "poller", "--builtin=false", "--discovery.namespaces", restartNS, "--router.http-address", tt.HTTPAddr(), "--interval", "50ms")
	controller := start(t, "controller", "--workloads.namespaces", restartNS, "--leader-elect.namespace", restartNS,
		"--leader-elect.identity", "restart-test", "--leader-elect.lease-duration", "4s",
		"--leader-elect.renew-deadline", "3s", "--leader-elect.retry-period", "500ms")
	poller.waitReady(t)
	controller.waitReady(t)
	beforeOK := `zerodown_probe_requests_total{backend="route:` + restartNS + `:before",connection="new",protocol="http",result="success"}`
	waitMetric(t, poller, beforeOK, "> 3", func(v float64) bool { return v > 3 })
	waitMetric(t, controller, "zerodown_controller_leader", "= 1", func(v float64) bool { return v == 1 })

	n0 := metric(t, poller, beforeOK)
	start := time.Now()
	restart(t, "kube-apiserver", 3*time.Second)
	away := time.Since(start)
	n1 := metric(t, poller, beforeOK)
	// The poller probed all along (every 50ms: some 60 probes were due);
	// how many exactly depends on the machine's load, so only "it went on"
	// is checked.
	if n1-n0 < 10 {
		t.Errorf("the poller ran %v probes in the %s the API server was away: it stalled", n1-n0, away.Round(time.Millisecond))
	}
	for _, p := range []*process{poller, controller} {
		select {
		case <-p.done:
			t.Fatalf("a role exited while the API server was away:\n%s", p.log())
		default:
		}
	}

	// Changes made after the API server came back reach both roles.
	if _, err := c.route.RouteV1().Routes(restartNS).Create(ctx, annotatedRoute("after", "after.apps.test"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	afterOK := `zerodown_probe_requests_total{backend="route:` + restartNS + `:after",connection="new",protocol="http",result="success"}`
	waitMetric(t, poller, afterOK, "> 0 (route created after the restart)", func(v float64) bool { return v > 0 })

	co, err := c.config.ConfigV1().ClusterOperators().Create(ctx, &configv1.ClusterOperator{ObjectMeta: metav1.ObjectMeta{Name: "restart-co"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	co.Status.Conditions = []configv1.ClusterOperatorStatusCondition{cond("Available", "False", time.Now(), "Restarting")}
	if _, err := c.config.ConfigV1().ClusterOperators().UpdateStatus(ctx, co, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, controller, `zerodown_cluster_operator_condition{condition="Available",name="restart-co",status="false"}`,
		"= 1 (operator created after the restart)", func(v float64) bool { return v == 1 })
	waitMetric(t, controller, "zerodown_controller_leader", "= 1 again", func(v float64) bool { return v == 1 })
	if err := c.config.ConfigV1().ClusterOperators().Delete(ctx, "restart-co", metav1.DeleteOptions{}); err != nil {
		t.Error(err)
	}
	// Leave the control plane as found for the tests after this one.
	// kube-controller-manager itself takes 60-90 s to act again after its
	// API server was killed (seen here): restart it too, and check that it
	// creates ReplicaSets.
	restart(t, "kube-controller-manager", 0)
	if _, err := c.kube.AppsV1().Deployments(restartNS).Create(ctx, deployment("after", "registry.invalid/after:1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "kube-controller-manager creating ReplicaSets again", func() (bool, string) {
		rss, err := c.kube.AppsV1().ReplicaSets(restartNS).List(ctx, metav1.ListOptions{LabelSelector: "app=after"})
		if err != nil {
			return false, err.Error()
		}
		return len(rss.Items) == 1, fmt.Sprintf("%d ReplicaSets", len(rss.Items))
	})
}
