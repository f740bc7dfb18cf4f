//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/zerodown/zerodown/rollback"
	"github.com/zerodown/zerodown/rules/notify"
)

// The rollback webhook as an SRE runs it: two controller replicas behind
// one address (a round-robin relay, as their Service), an Alertmanager HA
// pair, and the API server (behind a fault proxy) hanging for 20 s while
// alerts fire. Twenty alerts, each for its own Deployment: every one
// rolled back exactly once, none lost (deliveries that reach the follower
// or find the API server hung are answered 503 and retried), none
// flipped back by a later episode of its alert.
func TestRollbackHA(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	c := newClients(t)
	ns := freshNamespace(t, c, "zd-rollback-ha")
	dir := t.TempDir()
	const n = 20
	name := func(i int) string { return fmt.Sprintf("app-%02d", i) }
	var policy strings.Builder
	policy.WriteString("rules:\n")
	for i := range n {
		if _, err := c.kube.AppsV1().Deployments(ns).Create(ctx, deployment(name(i), "registry.example/app:v1"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&policy, "  - name: %[1]s\n    match: {alertname: ZerodownBackendDisrupted, backend: %[1]s}\n    cooldown: 2s\n    actions:\n      - deployment-undo: {namespace: %[2]s, name: %[1]s}\n", name(i), ns)
	}
	for i := range n {
		rolledOut(ctx, t, c, ns, name(i), "registry.example/app:v1", "1")
		rolledOut(ctx, t, c, ns, name(i), "registry.example/app:v2", "2")
	}
	policyFile := filepath.Join(dir, "policy.yaml")
	writeText(t, policyFile, policy.String())
	tokenFile := filepath.Join(dir, "token")
	writeText(t, tokenFile, "ha-token\n")

	proxy := newAPIProxy(t, c.rest)
	kubeconfig := proxy.kubeconfig(t)
	controller := func(id string) *process {
		return start(t, "controller", "--kubeconfig", kubeconfig, "--workloads.namespaces", ns, "--discovery=false", "--builtin=false",
			"--leader-elect.namespace", ns, "--leader-elect.identity", id,
			"--leader-elect.lease-duration", "4s", "--leader-elect.renew-deadline", "3s", "--leader-elect.retry-period", "500ms",
			"--rollback.policy", policyFile, "--rollback.token-file", tokenFile)
	}
	ctlA, ctlB := controller("ctl-a"), controller("ctl-b")
	var leader, follower *process
	eventually(t, 30*time.Second, "one controller leading", func() (bool, string) {
		for _, p := range []*process{ctlA, ctlB} {
			if v, ok := value(p.samples(t, "zerodown_controller_leader"), "zerodown_controller_leader"); ok && v == "1" {
				leader = p
			}
		}
		return leader != nil, ""
	})
	follower = ctlA
	if leader == ctlA {
		follower = ctlB
	}
	// The relay's first connection goes to the follower.
	svc := newRelay(t, "127.0.0.1:0", leader.addr, follower.addr)

	amConfig := rollbackReceiver(t, dir, "http://"+svc.Addr+rollback.Path, "authorization: {credentials_file: "+tokenFile+"}")
	am1, am2 := alertmanagerPair(t, dir, amConfig)

	labels := func(i int) map[string]string {
		return map[string]string{"alertname": "ZerodownBackendDisrupted", "backend": name(i), "connection": "new", "severity": "critical"}
	}
	var mu sync.Mutex
	took := map[int]time.Duration{}
	fire := func(from, to int, startsAt time.Time) time.Time {
		posted := time.Now()
		for i := from; i < to; i++ {
			postAlert(t, am1, labels(i), startsAt)
			postAlert(t, am2, labels(i), startsAt)
		}
		return posted
	}
	// waitRolledBack waits for each Deployment of [from, to) to run v1
	// again and notes how long after posted it did.
	waitRolledBack := func(from, to int, posted time.Time, within time.Duration) {
		eventually(t, within, fmt.Sprintf("%s to %s rolled back", name(from), name(to-1)), func() (bool, string) {
			var left []string
			for i := from; i < to; i++ {
				mu.Lock()
				_, seen := took[i]
				mu.Unlock()
				if seen {
					continue
				}
				if img, _ := imageOf(ctx, t, c, ns, name(i)); img == "registry.example/app:v1" {
					mu.Lock()
					took[i] = time.Since(posted)
					mu.Unlock()
					continue
				}
				left = append(left, name(i))
			}
			return len(left) == 0, "waiting for " + strings.Join(left, ", ")
		})
	}
	summary := func(from, to int) string {
		var ds []time.Duration
		for i := from; i < to; i++ {
			ds = append(ds, took[i])
		}
		slices.Sort(ds)
		return fmt.Sprintf("median %s, max %s", ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
	}

	// Ten alerts with the API server well.
	startsAt := time.Now().Truncate(time.Second)
	waitRolledBack(0, n/2, fire(0, n/2, startsAt), 60*time.Second)
	t.Logf("alert → rollback, API server well: %s", summary(0, n/2))

	// Ten more while the API server hangs for 20 s.
	proxy.set(proxyHang)
	hung := time.Now()
	posted := fire(n/2, n, startsAt)
	time.Sleep(20*time.Second - time.Since(hung))
	for i := n / 2; i < n; i++ {
		if img, _ := imageOf(ctx, t, c, ns, name(i)); img != "registry.example/app:v2" {
			t.Fatalf("%s changed while the controllers' API server hung: %s", name(i), img)
		}
	}
	proxy.set(proxyPass)
	resumed := time.Now()
	waitRolledBack(n/2, n, posted, 120*time.Second)
	t.Logf("alert → rollback, alerts fired into a 20 s API server hang: %s (the hang ended %s after they were posted)", summary(n/2, n), resumed.Sub(posted).Round(time.Millisecond))

	// A new episode of five of the alerts (another start: a new alert to
	// the record), after their cooldown, sent as Alertmanager would
	// through the Service: an undo again would put v2 back. Refused, for
	// good (200): an undo never rolls forward.
	time.Sleep(3 * time.Second)
	for i := range 5 {
		body, _ := json.Marshal(notify.Message{Version: "4", GroupKey: "episode-2", Status: "firing", Alerts: []notify.WebhookAlert{{
			Status: "firing", Labels: labels(i), StartsAt: time.Now()}}})
		eventually(t, 30*time.Second, name(i)+"'s second episode decided", func() (bool, string) {
			code, a := postWebhook(t, svc.Addr, "ha-token", body)
			if code == 503 {
				return false, fmt.Sprintf("%d %+v", code, a)
			}
			if code != 200 || len(a.Decisions) != 1 || a.Decisions[0].Result != rollback.ResultRefused || !strings.Contains(a.Decisions[0].Detail, "never rolls forward") {
				t.Errorf("%s's second episode: %d %+v, want 200 and %s: never rolls forward", name(i), code, a, rollback.ResultRefused)
			}
			return true, ""
		})
	}

	// Exactly once each: v1 at revision 3 (a second undo would make 4),
	// one rollback Event each.
	for i := range n {
		img, rev := imageOf(ctx, t, c, ns, name(i))
		if img != "registry.example/app:v1" || rev != "3" {
			t.Errorf("%s at %s revision %s, want v1 at revision 3: rolled back once", name(i), img, rev)
		}
		evs, err := c.kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.Set{"involvedObject.name": name(i), "involvedObject.kind": "Deployment", "reason": "ZerodownRollback"}.String()})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs.Items) != 1 {
			t.Errorf("%s has %d rollback Events, want 1", name(i), len(evs.Items))
		}
	}
	// The follower was reached and answered 503 (the relay sent it the
	// first connection): those deliveries were retried, not lost.
	if v, ok := value(follower.samples(t, "zerodown_rollback_actions_total"), `zerodown_rollback_actions_total{action="deployment-undo",result="skipped_follower"}`); !ok || v == "0" {
		t.Errorf("the follower answered no delivery (%q): the test did not try the path it is for", v)
	}
}
