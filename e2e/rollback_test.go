//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	configv1 "github.com/openshift/api/config/v1"
	mcfgv1 "github.com/openshift/api/machineconfiguration/v1"
	routev1 "github.com/openshift/api/route/v1"
	authzv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/util/retry"

	"github.com/zerodown/zerodown/internal/testpki"
	"github.com/zerodown/zerodown/internal/testtool"
	"github.com/zerodown/zerodown/rollback"
	"github.com/zerodown/zerodown/rules/notify"
	"github.com/zerodown/zerodown/testtarget"
	"github.com/zerodown/zerodown/testtarget/targettest"
)

// rolledOut updates the Deployment's image and waits until
// kube-controller-manager has made its ReplicaSet revision rev.
func rolledOut(ctx context.Context, t *testing.T, c *clients, ns, name, image string, rev string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := c.kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Spec.Template.Spec.Containers[0].Image = image
		_, err = c.kube.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, name+" at revision "+rev, func() (bool, string) {
		d, err := c.kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return d.Annotations["deployment.kubernetes.io/revision"] == rev, fmt.Sprint(d.Annotations)
	})
}

func imageOf(ctx context.Context, t *testing.T, c *clients, ns, name string) (string, string) {
	t.Helper()
	d, err := c.kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0].Image, d.Annotations["deployment.kubernetes.io/revision"]
}

// postAlert posts one alert to an Alertmanager's v2 API, as Prometheus
// does.
func postAlert(t *testing.T, amAddr string, labels map[string]string, startsAt time.Time) {
	t.Helper()
	body, _ := json.Marshal([]notify.Alert{{Labels: labels, StartsAt: startsAt, EndsAt: startsAt.Add(time.Hour)}})
	resp, err := http.Post("http://"+amAddr+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("posting an alert to Alertmanager %s: %s", amAddr, resp.Status)
	}
}

// rollbackReceiver writes an Alertmanager configuration that sends every
// alert to the rollback webhook at url (group_wait 1s), with one line of
// http_config (the token, or a client certificate); it returns its path.
func rollbackReceiver(t *testing.T, dir, url, httpConfig string) string {
	t.Helper()
	path := filepath.Join(dir, "alertmanager.yml")
	writeText(t, path, fmt.Sprintf(`route:
  receiver: zerodown
  group_by: ['...']
  group_wait: 1s
  group_interval: 5s
  repeat_interval: 1h
receivers:
- name: zerodown
  webhook_configs:
  - url: %s
    send_resolved: false
    http_config:
      %s
`, url, httpConfig))
	return path
}

// alertmanagerPair starts an Alertmanager HA pair with config (state
// under dir), waits until both are ready with their cluster settled
// (until then an Alertmanager holds its notifications back), and returns
// their addresses.
func alertmanagerPair(t *testing.T, dir, config string) (string, string) {
	t.Helper()
	am1, am2 := freeAddr(t), freeAddr(t)
	peer1, peer2 := freeAddr(t), freeAddr(t)
	tool(t, "prometheus-alertmanager", "--config.file="+config, "--storage.path="+filepath.Join(dir, "am1"),
		"--web.listen-address="+am1, "--cluster.listen-address="+peer1, "--cluster.peer="+peer2, "--log.level=warn")
	tool(t, "prometheus-alertmanager", "--config.file="+config, "--storage.path="+filepath.Join(dir, "am2"),
		"--web.listen-address="+am2, "--cluster.listen-address="+peer2, "--cluster.peer="+peer1, "--log.level=warn")
	for _, a := range []string{am1, am2} {
		eventually(t, 90*time.Second, "Alertmanager "+a+" ready with its cluster settled", func() (bool, string) {
			resp, err := http.Get("http://" + a + "/api/v2/status")
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			var st struct {
				Cluster struct {
					Status string
					Peers  []any
				}
			}
			_ = json.NewDecoder(resp.Body).Decode(&st)
			return st.Cluster.Status == "ready" && len(st.Cluster.Peers) == 2, fmt.Sprintf("%+v", st.Cluster)
		})
	}
	return am1, am2
}

// postWebhook posts a webhook message straight to the controller (a
// replay, or an attacker) and returns the status and the answer.
func postWebhook(t *testing.T, addr, token string, body []byte) (int, rollback.Answer) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+addr+rollback.Path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a rollback.Answer
	_ = json.NewDecoder(resp.Body).Decode(&a)
	return resp.StatusCode, a
}

// The rollback webhook on the real control plane, fed by a real
// Alertmanager HA pair: an alert rolls a Deployment back to its previous
// revision once (both Alertmanagers deliver, a replay, a controller
// restart), pauses a MachineConfigPool, leaves a dry-run rule's
// Deployment alone; unauthenticated, oversized and malformed requests and
// a follower never act.
func TestRollbackWebhook(t *testing.T) {
	ctx := ctxT(t)
	c := newClients(t)
	ns := freshNamespace(t, c, "zd-rollback")
	dir := t.TempDir()
	for _, name := range []string{"storefront", "cart"} {
		if _, err := c.kube.AppsV1().Deployments(ns).Create(ctx, deployment(name, "registry.example/"+name+":v1"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		rolledOut(ctx, t, c, ns, name, "registry.example/"+name+":v1", "1")
		rolledOut(ctx, t, c, ns, name, "registry.example/"+name+":v2", "2")
	}
	// A Route in the middle of a blue/green switch: 80 % green.
	blue, green := int32(20), int32(80)
	if _, err := c.route.RouteV1().Routes(ns).Create(ctx, &routev1.Route{
		ObjectMeta: metav1.ObjectMeta{Name: "storefront"},
		Spec: routev1.RouteSpec{Host: "storefront.apps.example", To: routev1.RouteTargetReference{Kind: "Service", Name: "storefront-green", Weight: &green},
			AlternateBackends: []routev1.RouteTargetReference{{Kind: "Service", Name: "storefront-blue", Weight: &blue}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	requestUpdate(ctx, t, c, "4.16.9") // asked for, not begun
	pool := "zd-rollback-" + ns[len(ns)-5:]
	if _, err := c.mcfg.MachineconfigurationV1().MachineConfigPools().Create(ctx, &mcfgv1.MachineConfigPool{
		ObjectMeta: metav1.ObjectMeta{Name: pool}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.mcfg.MachineconfigurationV1().MachineConfigPools().Delete(context.Background(), pool, metav1.DeleteOptions{})
	})

	policy := filepath.Join(dir, "policy.yaml")
	writeText(t, policy, fmt.Sprintf(`allow_clusterversion_abort: true
rules:
  - name: stuck
    match: {alertname: ZerodownUpgradeStuck}
    actions:
      - clusterversion-abort: {}
  - name: storefront
    match: {alertname: ZerodownBackendDisrupted, backend: storefront}
    actions:
      - deployment-undo: {namespace: %[1]s, name: storefront}
  - name: cart
    match: {alertname: ZerodownBackendDisrupted, backend: cart}
    dry_run: true
    actions:
      - deployment-undo: {namespace: %[1]s, name: cart}
  - name: storefront-route
    match: {alertname: ZerodownProbeErrorsHigh, backend: storefront}
    actions:
      - route-switch: {namespace: %[1]s, name: storefront, to: storefront-blue}
  - name: upgrade
    match: {alertname: ZerodownUpgradeDisruptionBudgetExceeded}
    actions:
      - mcp-pause: {name: %[2]s}
`, ns, pool))
	tokenFile := filepath.Join(dir, "token")
	writeText(t, tokenFile, "e2e-token\n")
	ctlArgs := []string{"controller", "--workloads.namespaces", ns, "--leader-elect.namespace", ns, "--leader-elect.identity", "e2e-leader",
		"--leader-elect.retry-period", "200ms", "--rollback.policy", policy, "--rollback.token-file", tokenFile, "--discovery=false"}
	ctl := start(t, ctlArgs...)
	waitMetric(t, ctl, "zerodown_controller_leader", "= 1", func(v float64) bool { return v == 1 })

	// An Alertmanager HA pair, both sending to the controller with the token.
	amConfig := rollbackReceiver(t, dir, "http://"+ctl.addr+rollback.Path, "authorization: {credentials_file: "+tokenFile+"}")
	am1, am2 := alertmanagerPair(t, dir, amConfig)

	// Refused before anything acts: no token, a wrong one, malformed,
	// oversized.
	replay, _ := json.Marshal(notify.Message{Version: "4", GroupKey: "replay", Status: "firing", Alerts: []notify.WebhookAlert{{
		Status: "firing", Labels: map[string]string{"alertname": "ZerodownBackendDisrupted", "backend": "storefront"}, StartsAt: time.Now()}}})
	for _, tc := range []struct {
		name, token string
		body        []byte
		code        int
	}{
		{"no token", "", replay, 401},
		{"wrong token", "guess", replay, 401},
		{"malformed", "e2e-token", []byte(`{"alerts": [`), 400},
		{"oversized", "e2e-token", bytes.Repeat([]byte(" "), rollback.MaxBody+1), 413},
	} {
		if code, a := postWebhook(t, ctl.addr, tc.token, tc.body); code != tc.code {
			t.Errorf("%s: %d %+v, want %d", tc.name, code, a, tc.code)
		}
	}

	// The alert, to both Alertmanagers (as Prometheus sends to all).
	labels := map[string]string{"alertname": "ZerodownBackendDisrupted", "backend": "storefront", "connection": "new", "severity": "critical", "zerodown_action": "rollback"}
	startsAt := time.Now().Truncate(time.Second)
	posted := time.Now()
	postAlert(t, am1, labels, startsAt)
	postAlert(t, am2, labels, startsAt)
	eventually(t, 30*time.Second, "storefront rolled back to v1", func() (bool, string) {
		img, rev := imageOf(ctx, t, c, ns, "storefront")
		return img == "registry.example/storefront:v1", img + " revision " + rev
	})
	t.Logf("alert POST to Alertmanager → Deployment rolled back: %s (group_wait 1s)", time.Since(posted).Round(time.Millisecond))

	// The dry-run rule and the MachineConfigPool.
	postAlert(t, am1, map[string]string{"alertname": "ZerodownBackendDisrupted", "backend": "cart", "connection": "new"}, startsAt)
	postAlert(t, am1, map[string]string{"alertname": "ZerodownUpgradeDisruptionBudgetExceeded", "backend": "storefront", "version": "4.16.4"}, startsAt)
	postAlert(t, am1, map[string]string{"alertname": "ZerodownProbeErrorsHigh", "backend": "storefront", "connection": "new"}, startsAt)
	eventually(t, 30*time.Second, "route storefront switched back to blue", func() (bool, string) {
		rt, err := c.route.RouteV1().Routes(ns).Get(ctx, "storefront", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return rt.Spec.To.Name == "storefront-blue" && len(rt.Spec.AlternateBackends) == 0, fmt.Sprintf("%+v", rt.Spec)
	})
	rt, err := c.route.RouteV1().Routes(ns).Get(ctx, "storefront", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if was := rt.Annotations[rollback.ReplacedBackendsAnnotation]; !strings.Contains(was, `"name":"storefront-green","weight":80`) || !strings.Contains(was, `"name":"storefront-blue","weight":20`) {
		t.Errorf("the switched Route keeps %q in %s, want the green 80 / blue 20 it replaced", was, rollback.ReplacedBackendsAnnotation)
	}
	eventually(t, 30*time.Second, "pool "+pool+" paused", func() (bool, string) {
		p, err := c.mcfg.MachineconfigurationV1().MachineConfigPools().Get(ctx, pool, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return p.Spec.Paused, fmt.Sprint(p.Spec)
	})
	waitMetric(t, ctl, `zerodown_rollback_actions_total{action="deployment-undo",result="dry_run"}`, "= 1 (cart's rule)", func(v float64) bool { return v == 1 })
	// The update asked for but not begun is cleared.
	postAlert(t, am1, map[string]string{"alertname": "ZerodownUpgradeStuck", "version": "4.16.9"}, startsAt)
	eventually(t, 30*time.Second, "the ClusterVersion's update request cleared", func() (bool, string) {
		cv, err := c.config.ConfigV1().ClusterVersions().Get(ctx, "version", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return cv.Spec.DesiredUpdate == nil, fmt.Sprintf("%+v", cv.Spec.DesiredUpdate)
	})

	// Replays of the same alert, to the controller straight and after a
	// restart of it, act never again.
	second := append([]string(nil), ctlArgs...)
	second[6] = "e2e-second"         // --leader-elect.identity
	restarted := start(t, second...) // a second replica: a follower while the first leads
	followerBody, _ := json.Marshal(notify.Message{Version: "4", GroupKey: "direct", Status: "firing", Alerts: []notify.WebhookAlert{{
		Status: "firing", Labels: labels, StartsAt: startsAt.Add(time.Minute)}}})
	// A follower never takes a delivery: 503, and Alertmanager retries.
	if code, a := postWebhook(t, restarted.addr, "e2e-token", followerBody); code != 503 || len(a.Decisions) != 1 || a.Decisions[0].Result != rollback.ResultFollower {
		t.Errorf("a follower answered %d %+v, want 503 and %s", code, a, rollback.ResultFollower)
	}
	ctl.stop(t) // the leader goes; the follower takes the Lease
	waitMetric(t, restarted, "zerodown_controller_leader", "= 1 after the leader stopped", func(v float64) bool { return v == 1 })
	for range 2 { // a replayed delivery, twice
		postAlert(t, am2, labels, startsAt)
	}
	// Straight to the controller, in another group: the target's
	// cooldown holds it.
	if code, a := postWebhook(t, restarted.addr, "e2e-token", followerBody); code != 200 || len(a.Decisions) != 1 || a.Decisions[0].Result != rollback.ResultCooldown {
		t.Errorf("the new leader answered %d %+v, want %s", code, a, rollback.ResultCooldown)
	}
	time.Sleep(2 * time.Second)
	if img, rev := imageOf(ctx, t, c, ns, "storefront"); img != "registry.example/storefront:v1" || rev != "3" {
		t.Errorf("storefront at %s revision %s after the replays: want v1 at revision 3 (rolled back once)", img, rev)
	}
	if img, _ := imageOf(ctx, t, c, ns, "cart"); img != "registry.example/cart:v2" {
		t.Errorf("cart at %s: the dry-run rule changed it", img)
	}

	// The audit: an Event on the Deployment, the record ConfigMap.
	evs, err := c.kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.Set{"involvedObject.name": "storefront", "involvedObject.kind": "Deployment"}.String()})
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, e := range evs.Items {
		if strings.HasPrefix(e.Reason, "ZerodownRollback") {
			reasons = append(reasons, e.Reason+": "+e.Message)
		}
	}
	if len(reasons) != 1 || !strings.Contains(reasons[0], "from revision 2 to revision 1") {
		t.Errorf("rollback Events on storefront: %q, want one, from revision 2 to revision 1", reasons)
	}
	cm, err := c.kube.CoreV1().ConfigMaps(ns).Get(ctx, "zerodown-rollback", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n, dry := countPrefix(cm.Data, "alert."), countPrefix(cm.Data, "dry."); n != 4 || dry != 1 {
		t.Errorf("the record holds %d alert keys and %d of dry runs, want 4 (storefront, the route, the pool, the cluster version) and 1 (cart): %v", n, dry, cm.Data)
	}

	// The kill switch in the cluster: nothing acts while it is on.
	cm.Data[rollback.KillSwitchKey] = "true"
	if _, err := c.kube.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	p2, _ := c.mcfg.MachineconfigurationV1().MachineConfigPools().Get(ctx, pool, metav1.GetOptions{})
	p2.Spec.Paused = false
	if _, err := c.mcfg.MachineconfigurationV1().MachineConfigPools().Update(ctx, p2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	killed, _ := json.Marshal(notify.Message{Version: "4", GroupKey: "killed", Status: "firing", Alerts: []notify.WebhookAlert{{
		Status: "firing", Labels: map[string]string{"alertname": "ZerodownUpgradeDisruptionBudgetExceeded"}, StartsAt: time.Now()}}})
	if code, a := postWebhook(t, restarted.addr, "e2e-token", killed); code != 200 || len(a.Decisions) != 1 || a.Decisions[0].Result != rollback.ResultKilled {
		t.Errorf("with the kill switch on: %d %+v, want %s", code, a, rollback.ResultKilled)
	}
	time.Sleep(time.Second)
	if p, _ := c.mcfg.MachineconfigurationV1().MachineConfigPools().Get(ctx, pool, metav1.GetOptions{}); p.Spec.Paused {
		t.Error("the pool was paused with the kill switch on")
	}
}

func countPrefix(m map[string]string, p string) int {
	n := 0
	for k := range m {
		if strings.HasPrefix(k, p) {
			n++
		}
	}
	return n
}

// The rollback component's RBAC: what the actions need, nothing more.
func TestRollbackRBAC(t *testing.T) {
	c := newClients(t)
	ctx := ctxT(t)
	applyOpenShift(t, c, "testdata/rollback-overlay")
	for _, tc := range []struct {
		attr  authzv1.ResourceAttributes
		allow bool
	}{
		{authzv1.ResourceAttributes{Verb: "patch", Group: "apps", Resource: "deployments", Namespace: "shop"}, true},
		{authzv1.ResourceAttributes{Verb: "list", Group: "apps", Resource: "replicasets", Namespace: "shop"}, true},
		{authzv1.ResourceAttributes{Verb: "patch", Group: "machineconfiguration.openshift.io", Resource: "machineconfigpools", Name: "worker"}, true},
		{authzv1.ResourceAttributes{Verb: "create", Resource: "events", Namespace: "shop"}, true},
		{authzv1.ResourceAttributes{Verb: "patch", Group: "route.openshift.io", Resource: "routes", Namespace: "shop"}, true},
		{authzv1.ResourceAttributes{Verb: "delete", Group: "route.openshift.io", Resource: "routes", Namespace: "shop"}, false},
		{authzv1.ResourceAttributes{Verb: "update", Resource: "configmaps", Namespace: "zerodown", Name: "zerodown-rollback"}, true},
		{authzv1.ResourceAttributes{Verb: "update", Resource: "configmaps", Namespace: "zerodown", Name: "zerodown-rollback-policy"}, false},
		{authzv1.ResourceAttributes{Verb: "update", Resource: "configmaps", Namespace: "shop", Name: "zerodown-rollback"}, false},
		{authzv1.ResourceAttributes{Verb: "delete", Group: "apps", Resource: "deployments", Namespace: "shop"}, false},
		{authzv1.ResourceAttributes{Verb: "patch", Group: "apps", Resource: "daemonsets", Namespace: "shop"}, false},
		{authzv1.ResourceAttributes{Verb: "delete", Group: "apps", Resource: "replicasets", Namespace: "shop"}, false},
		{authzv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: "zerodown"}, false},
		{authzv1.ResourceAttributes{Verb: "patch", Group: "config.openshift.io", Resource: "clusterversions", Name: "version"}, true},
		{authzv1.ResourceAttributes{Verb: "delete", Group: "config.openshift.io", Resource: "clusterversions", Name: "version"}, false},
		{authzv1.ResourceAttributes{Verb: "patch", Group: "config.openshift.io", Resource: "clusteroperators", Name: "dns"}, false},
	} {
		attr := tc.attr
		sar, err := c.kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{
			Spec: authzv1.SubjectAccessReviewSpec{User: "system:serviceaccount:zerodown:zerodown-controller", ResourceAttributes: &attr},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sar.Status.Allowed != tc.allow {
			t.Errorf("controller with the rollback component: %s %s/%s %q in %q allowed=%v, want %v", attr.Verb, attr.Group, attr.Resource,
				attr.Name, attr.Namespace, sar.Status.Allowed, tc.allow)
		}
	}
}

// zerodown watch alone, as a CI job wrapping an upgrade runs it: its
// embedded evaluator fires ZerodownBackendDisrupted (the shipped rule,
// for: 30s) while the loopback test target refuses, and its rollback
// receiver rolls a Deployment on the control plane back.
func TestWatchRollsBack(t *testing.T) {
	ctx := ctxT(t)
	c := newClients(t)
	ns := freshNamespace(t, c, "zd-watch-rb")
	if _, err := c.kube.AppsV1().Deployments(ns).Create(ctx, deployment("web", "registry.example/web:v1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rolledOut(ctx, t, c, ns, "web", "registry.example/web:v1", "1")
	rolledOut(ctx, t, c, ns, "web", "registry.example/web:v2", "2")

	dir := t.TempDir()
	tt := targettest.Start(t, testtarget.Options{})
	cfg := filepath.Join(dir, "targets.yaml")
	writeText(t, cfg, fmt.Sprintf("defaults:\n  interval: 100ms\ntargets:\n  - name: web\n    connections: [new]\n    http:\n      url: http://%s/\n", tt.HTTPAddr()))
	policy := filepath.Join(dir, "policy.yaml")
	writeText(t, policy, fmt.Sprintf(`rules:
  - name: web
    match: {alertname: ZerodownBackendDisrupted, backend: web}
    actions:
      - deployment-undo: {namespace: %s, name: web}
`, ns))
	w := start(t, "watch", "--config", cfg, "--out", filepath.Join(dir, "out"), "--view", "none",
		"--rollback.policy", policy, "--rollback.record", ns+"/zerodown-rollback")
	waitMetric(t, w, `zerodown_backend_up{backend="web",connection="new"}`, "= 1", func(v float64) bool { return v == 1 })

	go tt.Window(testtarget.Refuse, 50*time.Second)
	began := time.Now()
	eventually(t, 60*time.Second, "web rolled back to v1", func() (bool, string) {
		img, rev := imageOf(ctx, t, c, ns, "web")
		return img == "registry.example/web:v1", img + " revision " + rev
	})
	t.Logf("outage start → Deployment rolled back by watch's embedded evaluator and receiver: %s (the alert's for: 30s)", time.Since(began).Round(time.Millisecond))
	if d := time.Since(began); d < 30*time.Second {
		t.Errorf("rolled back %s after the outage began: before the alert's for: 30s", d)
	}
	waitMetric(t, w, `zerodown_rollback_actions_total{action="deployment-undo",result="done"}`, "= 1", func(v float64) bool { return v == 1 })
}

// requestUpdate makes the ClusterVersion "version" (created when missing)
// ask for an update to version that has not begun: 4.16.3 completed,
// nothing Progressing.
func requestUpdate(ctx context.Context, t *testing.T, c *clients, version string) {
	t.Helper()
	cvs := c.config.ConfigV1().ClusterVersions()
	cv, err := cvs.Get(ctx, "version", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cv, err = cvs.Create(ctx, &configv1.ClusterVersion{ObjectMeta: metav1.ObjectMeta{Name: "version"},
			Spec: configv1.ClusterVersionSpec{ClusterID: "6f2e3c1a-0d3b-4a4e-9a52-2f1f0c9f5e11"}}, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
	cv.Spec.DesiredUpdate = &configv1.Update{Version: version, Image: "quay.example/ocp-release@" + version}
	if cv, err = cvs.Update(ctx, cv, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	done := metav1.Now()
	cv.Status = configv1.ClusterVersionStatus{
		Desired: configv1.Release{Version: "4.16.3", Image: "quay.example/ocp-release@4.16.3"},
		History: []configv1.UpdateHistory{{State: configv1.CompletedUpdate, StartedTime: done, CompletionTime: &done,
			Version: "4.16.3", Image: "quay.example/ocp-release@4.16.3"}},
		VersionHash: "h1",
		Conditions:  []configv1.ClusterOperatorStatusCondition{cond("Progressing", "False", done.Time, "Done")},
	}
	if _, err := cvs.UpdateStatus(ctx, cv, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// The rollback webhook behind mTLS (--web.config.file with a client CA): a
// real Alertmanager that presents its client certificate reaches it and
// the Deployment is rolled back; a client without a certificate, or over
// plain HTTP, never reaches the webhook.
func TestRollbackWebhookMTLS(t *testing.T) {
	ctx := ctxT(t)
	c := newClients(t)
	ns := freshNamespace(t, c, "zd-mtls")
	dir := t.TempDir()
	if _, err := c.kube.AppsV1().Deployments(ns).Create(ctx, deployment("web", "registry.example/web:v1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rolledOut(ctx, t, c, ns, "web", "registry.example/web:v1", "1")
	rolledOut(ctx, t, c, ns, "web", "registry.example/web:v2", "2")

	ca := testpki.New(t)
	srvCert, srvKey := ca.Issue(t, "controller", true)
	amCert, amKey := ca.Issue(t, "alertmanager", false)
	webConfig := filepath.Join(dir, "web.yml")
	writeText(t, webConfig, fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n  client_ca_file: %s\n  client_auth_type: RequireAndVerifyClientCert\n",
		srvCert, srvKey, ca.CAFile))
	policy := filepath.Join(dir, "policy.yaml")
	writeText(t, policy, fmt.Sprintf(`rules:
  - name: web
    match: {alertname: ZerodownBackendDisrupted, backend: web}
    actions:
      - deployment-undo: {namespace: %s, name: web}
`, ns))
	ctl := start(t, "controller", "--workloads.namespaces", ns, "--leader-elect.namespace", ns, "--leader-elect.identity", "e2e-mtls",
		"--leader-elect.retry-period", "200ms", "--rollback.policy", policy, "--discovery=false", "--web.config.file", webConfig)

	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(ca.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(caPEM)
	pair, err := tls.LoadX509KeyPair(amCert, amKey)
	if err != nil {
		t.Fatal(err)
	}
	withCert := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}}}
	eventually(t, 30*time.Second, "the controller leads (its /metrics over mTLS)", func() (bool, string) {
		resp, err := withCert.Get("https://" + ctl.addr + "/metrics")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "\nzerodown_controller_leader 1\n"), resp.Status
	})
	body, _ := json.Marshal(notify.Message{Version: "4", GroupKey: "stranger", Status: "firing", Alerts: []notify.WebhookAlert{{
		Status: "firing", Labels: map[string]string{"alertname": "ZerodownBackendDisrupted", "backend": "web"}, StartsAt: time.Now()}}})
	noCert := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if resp, err := noCert.Post("https://"+ctl.addr+rollback.Path, "application/json", bytes.NewReader(body)); err == nil {
		resp.Body.Close()
		t.Errorf("a client without a certificate reached the webhook: %s", resp.Status)
	}
	if resp, err := http.Post("http://"+ctl.addr+rollback.Path, "application/json", bytes.NewReader(body)); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP reached the webhook: %s", resp.Status)
		}
	}
	if img, _ := imageOf(ctx, t, c, ns, "web"); img != "registry.example/web:v2" {
		t.Fatalf("web at %s before Alertmanager posted: a refused request acted", img)
	}

	amConfig := rollbackReceiver(t, dir, "https://"+ctl.addr+rollback.Path,
		fmt.Sprintf("tls_config: {ca_file: %s, cert_file: %s, key_file: %s}", ca.CAFile, amCert, amKey))
	am := freeAddr(t)
	tool(t, "prometheus-alertmanager", "--config.file="+amConfig, "--storage.path="+filepath.Join(dir, "am"),
		"--web.listen-address="+am, "--cluster.listen-address=", "--log.level=warn")
	testtool.WaitReady(t, am)
	posted := time.Now()
	postAlert(t, am, map[string]string{"alertname": "ZerodownBackendDisrupted", "backend": "web", "severity": "critical"}, posted)
	eventually(t, 30*time.Second, "web rolled back to v1", func() (bool, string) {
		img, rev := imageOf(ctx, t, c, ns, "web")
		return img == "registry.example/web:v1", img + " revision " + rev
	})
	t.Logf("alert posted to Alertmanager → Deployment rolled back over mTLS in %s", time.Since(posted).Round(10*time.Millisecond))
}
