//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	configv1 "github.com/openshift/api/config/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zerodown/zerodown/internal/testtool"
	"github.com/zerodown/zerodown/rules/notify"
	"github.com/zerodown/zerodown/testtarget"
	"github.com/zerodown/zerodown/testtarget/targettest"
)

// freeAddr returns a loopback address with a port free a moment ago (for
// tools that cannot listen on port 0 and say which port they got).
func freeAddr(t *testing.T) string { return testtool.FreeAddr(t) }

// tool runs one of Debian's programs (installed by e2e/run.sh) in the
// background until the test ends.
func tool(t *testing.T, name string, args ...string) {
	t.Helper()
	testtool.Start(t, testtool.Path(t, name, name), args...)
}

// hook is a webhook receiver for Alertmanager: every message decoded, with
// the time it arrived.
type hook struct {
	mu   sync.Mutex
	msgs []received
	srv  *httptest.Server
}

type received struct {
	at  time.Time
	msg notify.Message
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m notify.Message
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			t.Errorf("webhook payload Alertmanager sent does not decode: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.msgs = append(h.msgs, received{time.Now(), m})
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// first returns when an alert matching match was first received with
// status, and the alert.
func (h *hook) first(status string, match func(notify.WebhookAlert) bool) (time.Time, notify.WebhookAlert, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.msgs {
		for _, a := range r.msg.Alerts {
			if a.Status == status && match(a) {
				return r.at, a, true
			}
		}
	}
	return time.Time{}, notify.WebhookAlert{}, false
}

func (h *hook) dump() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for _, r := range h.msgs {
		for _, a := range r.msg.Alerts {
			fmt.Fprintf(&b, "%s %s %v\n", r.at.Format(time.RFC3339Nano), a.Status, a.Labels)
		}
	}
	return b.String()
}

// promQuery runs an instant query against Prometheus's HTTP API, at the
// given times (Unix seconds; none: now).
func promQuery(t *testing.T, addr, expr string, at ...float64) []struct {
	Metric map[string]string
	Value  [2]any
} {
	t.Helper()
	q := "http://" + addr + "/api/v1/query?query=" + url.QueryEscape(expr)
	if len(at) > 0 {
		q += "&time=" + strconv.FormatFloat(at[0], 'f', 3, 64)
	}
	resp, err := http.Get(q)
	if err != nil {
		t.Fatalf("query %s: %v", expr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string
		Error  string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: %v %s", expr, err, body)
	}
	return r.Data.Result
}

func sampleValue(v [2]any) float64 {
	s, _ := v[1].(string)
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

// The shipped rules, twice: a real Prometheus scrapes zerodown watch (the
// loopback test target refuses for a known window) and the controller (a
// ClusterVersion upgrading on the control plane) with the rules loaded,
// and the same watch evaluates them in-process; both send to a real
// Alertmanager, whose webhook reaches this test. The recording rules
// agree with what watch measured; ZerodownBackendDisrupted reaches
// Alertmanager's receiver on both paths, firing then resolved, and
// ZerodownUpgradeDisruptionBudgetExceeded from Prometheus (the upgrade is
// known from the controller only).
func TestAlertsPrometheusAndEmbedded(t *testing.T) {
	ctx := ctxT(t)
	c := newClients(t)
	ns := fixtures(ctx, t, c) // ClusterVersion at 4.16.3, no upgrade running
	dir := t.TempDir()
	tt := targettest.Start(t, testtarget.Options{})
	h := newHook(t)

	amAddr := freeAddr(t)
	amConfig := filepath.Join(dir, "alertmanager.yml")
	writeText(t, amConfig, fmt.Sprintf(`route:
  receiver: test
  group_by: ['...']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
- name: test
  webhook_configs:
  - url: %s
    send_resolved: true
`, h.srv.URL))
	tool(t, "prometheus-alertmanager", "--config.file="+amConfig, "--storage.path="+filepath.Join(dir, "am"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=", "--log.level=warn")
	testtool.WaitReady(t, amAddr)

	cfg := filepath.Join(dir, "targets.yaml")
	writeText(t, cfg, fmt.Sprintf(`defaults:
  interval: 100ms
targets:
  - name: web
    connections: [new]
    http:
      url: http://%s/
`, tt.HTTPAddr()))
	w := start(t, "watch", "--config", cfg, "--out", filepath.Join(dir, "out"), "--view", "none",
		"--alertmanager.url", "http://"+amAddr, "--budget", "5s")
	ctl := start(t, "controller", "--workloads.namespaces", ns, "--leader-elect.namespace", ns,
		"--leader-elect.identity", "e2e-alerting", "--out", filepath.Join(dir, "controller"), "--leader-elect.retry-period", "200ms")
	ctl.waitReady(t)

	promAddr := freeAddr(t)
	rulesDir, err := filepath.Abs("../rules")
	if err != nil {
		t.Fatal(err)
	}
	promConfig := filepath.Join(dir, "prometheus.yml")
	writeText(t, promConfig, fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
  external_labels: {source: prometheus}
rule_files: [%q]
scrape_configs:
- job_name: zerodown-watch
  static_configs: [{targets: [%q]}]
- job_name: zerodown-controller
  static_configs: [{targets: [%q]}]
alerting:
  alertmanagers:
  - static_configs: [{targets: [%q]}]
`, filepath.Join(rulesDir, "*.rules.yaml"), w.addr, ctl.addr, amAddr))
	tool(t, "prometheus", "--config.file="+promConfig, "--storage.tsdb.path="+filepath.Join(dir, "prom"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	testtool.WaitReady(t, promAddr)
	eventually(t, 30*time.Second, "Prometheus scrapes watch", func() (bool, string) {
		r := promQuery(t, promAddr, `zerodown_backend_up{backend="web"}`)
		return len(r) == 1 && sampleValue(r[0].Value) == 1, fmt.Sprint(r)
	})

	// The upgrade to 4.16.4 begins once Prometheus has a baseline.
	eventually(t, 60*time.Second, "Prometheus records the disruption baseline", func() (bool, string) {
		r := promQuery(t, promAddr, `backend_connection_instance:zerodown_disruption_seconds:upgrade_baseline{backend="web"}`)
		return len(r) == 1, fmt.Sprint(r)
	})
	beginUpgrade(ctx, t, c, "4.16.4")
	eventually(t, 30*time.Second, "Prometheus sees the upgrade", func() (bool, string) {
		r := promQuery(t, promAddr, `zerodown_upgrade_in_progress`)
		return len(r) == 1 && sampleValue(r[0].Value) == 1, fmt.Sprint(r)
	})

	// Down for 55 s: long enough for the alert's for: 30s.
	rec := tt.Window(testtarget.Refuse, 55*time.Second)

	fromProm := func(a notify.WebhookAlert) bool {
		return a.Labels["alertname"] == "ZerodownBackendDisrupted" && a.Labels["source"] == "prometheus" && a.Labels["backend"] == "web"
	}
	fromWatch := func(a notify.WebhookAlert) bool {
		return a.Labels["alertname"] == "ZerodownBackendDisrupted" && a.Labels["source"] == "" && a.Labels["backend"] == "web"
	}
	for _, p := range []struct {
		name  string
		match func(notify.WebhookAlert) bool
	}{{"Prometheus", fromProm}, {"embedded evaluator", fromWatch}} {
		at, a, ok := h.first("firing", p.match)
		if !ok {
			t.Errorf("%s: ZerodownBackendDisrupted never reached Alertmanager's webhook while the backend was down 55 s; received:\n%s", p.name, h.dump())
			continue
		}
		t.Logf("%s: outage start → firing at Alertmanager's webhook %s (startsAt %s after the outage began)",
			p.name, at.Sub(rec.From).Round(time.Millisecond), a.StartsAt.Sub(rec.From).Round(time.Millisecond))
		if a.StartsAt.Before(rec.From.Add(30 * time.Second)) {
			t.Errorf("%s: fired at %s, less than its for: 30s after the outage began at %s", p.name, a.StartsAt, rec.From)
		}
	}

	// The budget of 5 s (watch --budget) was spent during the upgrade: the
	// alert fires at the upgrade group's next evaluation (every 30 s).
	budgetFired := func(a notify.WebhookAlert) bool {
		return a.Labels["alertname"] == "ZerodownUpgradeDisruptionBudgetExceeded" && a.Labels["backend"] == "web"
	}
	eventually(t, 45*time.Second, "the budget alert at the webhook", func() (bool, string) {
		_, _, ok := h.first("firing", budgetFired)
		return ok, h.dump()
	})
	if budgetAt, budget, ok := h.first("firing", budgetFired); ok {
		t.Logf("Prometheus: outage start → budget alert at Alertmanager's webhook %s", budgetAt.Sub(rec.From).Round(time.Millisecond))
		if budget.Labels["version"] != "4.16.4" || budget.Labels["zerodown_action"] != "halt-upgrade" || budget.StartsAt.Before(rec.From.Add(5*time.Second)) {
			t.Errorf("budget alert %+v: want version 4.16.4, zerodown_action halt-upgrade, after 5 s of the outage", budget)
		}
	}
	// The whole outage is recorded as the upgrade's within a group
	// interval (30 s).
	eventually(t, 45*time.Second, "the upgrade's disruption recorded", func() (bool, string) {
		r := promQuery(t, promAddr, `backend_connection:zerodown_upgrade_disruption_seconds:min_current{backend="web"}`)
		return len(r) == 1 && sampleValue(r[0].Value) >= 50 && sampleValue(r[0].Value) <= 60, fmt.Sprint(r)
	})

	// The recording rules agree with watch's counters at the time of the
	// recording.
	// The time of the latest recorded sample (a query answers at its own
	// time), then the sample at that time.
	ts := promQuery(t, promAddr, `timestamp(backend_connection_instance:zerodown_unavailability:ratio_5m{backend="web",connection="new"})`)
	if len(ts) != 1 {
		t.Fatalf("timestamp of the recorded ratio: %v", ts)
	}
	recordedAt := sampleValue(ts[0].Value)
	r := promQuery(t, promAddr, `backend_connection_instance:zerodown_unavailability:ratio_5m{backend="web",connection="new"}`, recordedAt)
	if len(r) != 1 {
		t.Fatalf("recorded 5m ratio: %v", r)
	}
	const d, o = `zerodown_disruption_seconds_total{backend="web",connection="new"}`, `zerodown_observed_seconds_total{backend="web",connection="new"}`
	// The counters' growth over the samples of the window (a counter's
	// earliest sample in it is its minimum), as increase() takes it
	// without extrapolating: what watch counted before Prometheus first
	// scraped it is not in the window.
	raw := promQuery(t, promAddr, `sum without (reason) (`+d+` - min_over_time(`+d+`[5m]))
		/ sum without () (`+o+` - min_over_time(`+o+`[5m]))`, recordedAt)
	if len(raw) != 1 {
		t.Fatalf("raw ratio at %v: %v", recordedAt, raw)
	}
	got, want := sampleValue(r[0].Value), sampleValue(raw[0].Value)
	if got < want*0.9 || got > want*1.1 || want < 0.1 {
		var detail []string
		for _, q := range []string{
			`sum without (reason) (zerodown_disruption_seconds_total{backend="web",connection="new"})`,
			`zerodown_observed_seconds_total{backend="web",connection="new"}`,
			`sum without (reason) (increase(zerodown_disruption_seconds_total{backend="web",connection="new"}[5m]))`,
			`increase(zerodown_observed_seconds_total{backend="web",connection="new"}[5m])`,
			`timestamp(zerodown_observed_seconds_total{backend="web",connection="new"} offset 5m)`,
		} {
			detail = append(detail, fmt.Sprintf("%s = %v", q, promQuery(t, promAddr, q, recordedAt)))
		}
		t.Errorf("Prometheus recorded a 5m unavailability ratio of %.3f at %.3f; watch's counters at that time say %.3f:\n%s",
			got, recordedAt, want, strings.Join(detail, "\n"))
	}
	if disrupted := metric(t, w, `zerodown_disruption_seconds_total{backend="web",connection="new",reason="connect_refused"}`); disrupted < 50 || disrupted > 60 {
		t.Errorf("watch measured %.1f s of disruption for a 55 s window", disrupted)
	}

	// Both resolve once the backend is back.
	eventually(t, 60*time.Second, "both alerts resolved at the webhook", func() (bool, string) {
		_, _, p := h.first("resolved", fromProm)
		_, _, e := h.first("resolved", fromWatch)
		return p && e, h.dump()
	})
	for _, p := range []struct {
		name  string
		match func(notify.WebhookAlert) bool
	}{{"Prometheus", fromProm}, {"embedded evaluator", fromWatch}} {
		at, a, _ := h.first("resolved", p.match)
		t.Logf("%s: outage end → resolved at Alertmanager's webhook %s (endsAt %s after)", p.name,
			at.Sub(rec.To).Round(time.Millisecond), a.EndsAt.Sub(rec.To).Round(time.Millisecond))
		if a.EndsAt.Before(rec.To) {
			t.Errorf("%s: resolved at %s, before the outage ended at %s", p.name, a.EndsAt, rec.To)
		}
	}
}

func writeText(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// beginUpgrade makes the ClusterVersion's newest update one to version,
// begun now and not completed, as the cluster-version-operator does when
// an upgrade starts.
func beginUpgrade(ctx context.Context, t *testing.T, c *clients, version string) {
	t.Helper()
	cv, err := c.config.ConfigV1().ClusterVersions().Get(ctx, "version", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	image := "quay.example/ocp-release@sha256:" + version
	cv.Status.Desired = configv1.Release{Version: version, Image: image}
	cv.Status.History = append([]configv1.UpdateHistory{{State: configv1.PartialUpdate, StartedTime: metav1.Now(),
		Version: version, Image: image}}, cv.Status.History...)
	if _, err := c.config.ConfigV1().ClusterVersions().UpdateStatus(ctx, cv, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}
