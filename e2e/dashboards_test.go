//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zerodown/zerodown/internal/testtool"
	"github.com/zerodown/zerodown/testtarget"
	"github.com/zerodown/zerodown/testtarget/targettest"
)

// noData lists the panels that the scenario below cannot fill, and why.
// Every other panel (and variable and annotation) must return data.
var noData = map[string]string{
	"zerodown-upgrade-disruption/Rollback actions":           "no rollback policy in this scenario (the rollback e2e tests cover the webhook)",
	"zerodown-upgrade-disruption/Network matrix: disruption": "one poller, no peers in this scenario (TestNetworkMatrix runs the matrix on a testbed of nodes)",
}

// fastRules copies the shipped rule files with every group evaluated every
// 2 s instead of 30 s to 2 min: the same rules, a scenario of minutes.
func fastRules(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob("../rules/*.rules.yaml")
	if len(files) == 0 {
		t.Fatal("no rule files in ../rules")
	}
	interval := regexp.MustCompile(`(?m)^(\s+)interval: \S+$`)
	out := filepath.Join(dir, "rules")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		writeText(t, filepath.Join(out, filepath.Base(f)), interval.ReplaceAllString(string(b), "${1}interval: 2s"))
	}
	return filepath.Join(out, "*.rules.yaml")
}

// promData runs a query (instant, or over [start, end] every step) and
// says how many series with how many samples came back.
func promData(t *testing.T, addr, expr string, instant bool, start, end time.Time) (series, samples int, err error) {
	v := url.Values{"query": {expr}}
	path := "/api/v1/query"
	if instant {
		v.Set("time", strconv.FormatInt(end.Unix(), 10))
	} else {
		path = "/api/v1/query_range"
		v.Set("start", strconv.FormatInt(start.Unix(), 10))
		v.Set("end", strconv.FormatInt(end.Unix(), 10))
		v.Set("step", "2")
	}
	resp, err := http.Get("http://" + addr + path + "?" + v.Encode())
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status, Error string
		Data          struct {
			Result []struct {
				Value  []any   `json:"value"`
				Values [][]any `json:"values"`
			}
		}
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
		return 0, 0, fmt.Errorf("%v: %s", err, body)
	}
	for _, s := range r.Data.Result {
		samples += len(s.Values)
		if s.Value != nil {
			samples++
		}
	}
	return len(r.Data.Result), samples, nil
}

// shipped is what a committed dashboard holds that runs a query.
type shipped struct {
	UID         string `json:"uid"`
	Annotations struct {
		List []struct {
			Name, Expr string
		} `json:"list"`
	} `json:"annotations"`
	Templating struct {
		List []struct {
			Name, Type string
			Query      any
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title, Type string
		Targets     []struct {
			Expr    string
			Instant bool
		}
	} `json:"panels"`
}

// TestDashboardsOnRealData: Debian's Prometheus, with the shipped rules,
// scrapes zerodown watch (a loopback test target down for known windows,
// during a simulated upgrade), a poller and the controller (the fixtures'
// operators, nodes, pool and workloads); then every query of every
// committed dashboard (variables set to All, as Grafana sends them) must
// return data, but for the panels noData lists.
func TestDashboardsOnRealData(t *testing.T) {
	ctx := ctxT(t)
	c := newClients(t)
	ns := fixtures(ctx, t, c)
	dir := t.TempDir()
	tt := targettest.Start(t, testtarget.Options{Split: map[string]int{"blue": 1, "green": 1}})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }))
	t.Cleanup(hook.Close)

	cfg := filepath.Join(dir, "targets.yaml")
	writeText(t, cfg, fmt.Sprintf(`defaults:
  interval: 100ms
  budget: 1s
targets:
  - name: web
    http:
      url: http://%s/
      served_by: {header: X-Served-By, values: [blue, green]}
    hold: {connections: 2, check: 200ms, budget: 1}
`, tt.HTTPAddr()))
	w := start(t, "watch", "--config", cfg, "--out", filepath.Join(dir, "out"), "--view", "none", "--alert.webhook", hook.URL)
	p := start(t, "poller", "--builtin=false", "--config", cfg, "--discovery=false", "--node-name", "node-a", "--probe.max-rate", "10000")
	ctl := start(t, "controller", "--workloads.namespaces", ns, "--leader-elect.namespace", ns,
		"--leader-elect.identity", "e2e-dashboards", "--leader-elect.retry-period", "200ms")
	ctl.waitReady(t)

	promAddr := freeAddr(t)
	promConfig := filepath.Join(dir, "prometheus.yml")
	// The poller's job adds node, as the shipped ServiceMonitor does.
	writeText(t, promConfig, fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
- job_name: zerodown-watch
  static_configs: [{targets: [%q]}]
- job_name: zerodown-poller
  static_configs: [{targets: [%q], labels: {node: node-a}}]
- job_name: zerodown-controller
  static_configs: [{targets: [%q]}]
`, fastRules(t, dir), w.addr, p.addr, ctl.addr))
	tool(t, "prometheus", "--config.file="+promConfig, "--storage.tsdb.path="+filepath.Join(dir, "prom"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	began := time.Now()
	testtool.WaitReady(t, promAddr)
	eventually(t, 60*time.Second, "Prometheus records the disruption baseline", func() (bool, string) {
		r := promQuery(t, promAddr, `backend_connection_instance:zerodown_disruption_seconds:upgrade_baseline{backend="web"}`)
		return len(r) > 0, fmt.Sprint(r)
	})

	// An upgrade to 4.16.4 begins; the backend is refused, then answers 503.
	beginUpgrade(ctx, t, c, "4.16.4")
	eventually(t, 30*time.Second, "Prometheus sees the upgrade", func() (bool, string) {
		r := promQuery(t, promAddr, `zerodown_upgrade_in_progress`)
		return len(r) == 1 && sampleValue(r[0].Value) == 1, fmt.Sprint(r)
	})
	tt.Window(testtarget.Refuse, 3*time.Second)
	tt.Window(testtarget.HTTP503, 2*time.Second)
	// The held connections are reset (2 on each of watch and the poller),
	// over their budget of 1.
	eventually(t, 30*time.Second, "held connections open again after the refusal", func() (bool, string) {
		r := promQuery(t, promAddr, `sum(zerodown_connections_open{backend="web"})`)
		return len(r) == 1 && sampleValue(r[0].Value) == 4, fmt.Sprint(r)
	})
	tt.Window(testtarget.DropRST, 100*time.Millisecond)
	eventually(t, 60*time.Second, "the connection drop budget alert firing in Prometheus", func() (bool, string) {
		r := promQuery(t, promAddr, `ALERTS{alertname="ZerodownUpgradeConnectionDropsExceeded", alertstate="firing"}`)
		return len(r) > 0, fmt.Sprint(r)
	})
	// The budget (1 s) is spent during the upgrade: its alert fires, and
	// every group has run since.
	eventually(t, 60*time.Second, "the budget alert firing in Prometheus", func() (bool, string) {
		r := promQuery(t, promAddr, `ALERTS{alertname="ZerodownUpgradeDisruptionBudgetExceeded", alertstate="firing"}`)
		return len(r) > 0, fmt.Sprint(r)
	})
	time.Sleep(5 * time.Second)

	files, _ := filepath.Glob("../dashboards/json/*.json")
	if len(files) < 3 {
		t.Fatalf("dashboards: %v", files)
	}
	end := time.Now()
	sub := strings.NewReplacer("$__rate_interval", "10s", "$__range", fmt.Sprintf("%ds", int(end.Sub(began).Seconds())+60),
		"$cluster", ".*", "$namespace", ".*", "$backend", ".*", "$connection", ".*")
	run := func(what, expr string, instant bool) {
		key := what
		series, samples, err := promData(t, promAddr, sub.Replace(expr), instant, began, end)
		switch {
		case err != nil:
			t.Errorf("%s: %s: %v", key, expr, err)
		case samples == 0 && noData[key] == "":
			t.Errorf("%s: no data from %s", key, sub.Replace(expr))
		case samples > 0 && noData[key] != "":
			t.Logf("%s: has data (%d series), though listed as without: %s", key, series, noData[key])
		case samples == 0:
			t.Logf("%s: no data, as expected: %s", key, noData[key])
		}
	}
	queries := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d shipped
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		for _, a := range d.Annotations.List {
			run(d.UID+"/annotation "+a.Name, a.Expr, false)
			queries++
		}
		for _, v := range d.Templating.List {
			q, _ := v.Query.(string)
			if v.Type != "query" || !strings.HasPrefix(q, "label_values(") {
				continue
			}
			inner := strings.TrimSuffix(strings.TrimPrefix(q, "label_values("), ")")
			run(d.UID+"/variable "+v.Name, inner[:strings.LastIndex(inner, ",")], true)
			queries++
		}
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				run(d.UID+"/"+p.Title, tg.Expr, tg.Instant)
				queries++
			}
		}
	}
	t.Logf("%d queries of %d dashboards run against Prometheus", queries, len(files))

	// The latency panels again, on a Prometheus that ingests native
	// histograms (which then drops the classic buckets): the heatmap gets
	// native histograms, the p95 a value.
	native := freeAddr(t)
	nativeConfig := filepath.Join(dir, "native.yml")
	writeText(t, nativeConfig, fmt.Sprintf("global: {scrape_interval: 1s}\nscrape_configs:\n- job_name: zerodown-watch\n  static_configs: [{targets: [%q]}]\n", w.addr))
	tool(t, "prometheus", "--config.file="+nativeConfig, "--storage.tsdb.path="+filepath.Join(dir, "native"),
		"--web.listen-address="+native, "--log.level=warn", "--enable-feature=native-histograms")
	var latency map[string]string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		var d shipped
		_ = json.Unmarshal(b, &d)
		for _, p := range d.Panels {
			if p.Title == "Probe latency" || p.Title == "Latency p95" {
				if latency == nil {
					latency = map[string]string{}
				}
				latency[p.Title] = p.Targets[0].Expr
			}
		}
	}
	if len(latency) != 2 {
		t.Fatalf("latency panels: %v", latency)
	}
	nativeSince := time.Now()
	eventually(t, 60*time.Second, "native histograms in the latency heatmap", func() (bool, string) {
		resp, err := http.Get("http://" + native + "/api/v1/query_range?" + url.Values{"query": {sub.Replace(latency["Probe latency"])},
			"start": {strconv.FormatInt(nativeSince.Unix(), 10)}, "end": {strconv.FormatInt(time.Now().Unix(), 10)}, "step": {"2"}}.Encode())
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(body), `"histograms":`) && !strings.Contains(string(body), `"le":`), string(body)
	})
	if _, samples, err := promData(t, native, sub.Replace(latency["Latency p95"]), false, nativeSince, time.Now()); err != nil || samples == 0 {
		t.Errorf("Latency p95 on native histograms: %d samples, %v", samples, err)
	}
}
