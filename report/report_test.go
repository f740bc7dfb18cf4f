package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zerodown/zerodown/budget"
	"github.com/zerodown/zerodown/intervals"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func at(s float64) intervals.Time {
	return intervals.Time{Time: t0.Add(time.Duration(s * float64(time.Second)))}
}

func outage(backend, conn, node, reason string, from, to float64) intervals.Interval {
	return intervals.Interval{From: at(from), To: at(to), State: intervals.StateClosed, Level: intervals.LevelError, Source: SourceDisruption,
		Locator: intervals.Locator{Type: "Disruption", Keys: map[string]string{"backend": backend, "connection": conn, "protocol": "http", "node": node}},
		Message: intervals.Message{Reason: "DisruptionEnded", Cause: reason, HumanMessage: backend + " down: " + reason}}
}

func probing(backend, conn, node string, from, to float64) intervals.Interval {
	iv := outage(backend, conn, node, "", from, to)
	iv.Source, iv.Locator.Type, iv.Level = SourceProbing, SourceProbing, intervals.LevelInfo
	return iv
}

func cond(kind, name, typ, status string, from, to float64) intervals.Interval {
	return intervals.Interval{From: at(from), To: at(to), State: intervals.StateClosed, Level: intervals.LevelInfo, Source: kind,
		Locator: intervals.Locator{Type: kind, Keys: map[string]string{"kind": kind, "name": name, "condition": typ}},
		Message: intervals.Message{Reason: typ + status, Cause: "SomeReason", HumanMessage: kind + "/" + name + " " + typ + "=" + status,
			Annotations: map[string]string{"condition": typ, "status": strings.ToLower(status)}}} // as the controller writes it
}

// Two pollers, an operator, a node, an alert: the numbers, the JUnit
// cases, the CSV rows and summary.json agree with what was written.
func testReport(t *testing.T, budgets *budget.File) *Report {
	t.Helper()
	n1 := []intervals.Interval{
		probing("api", "new", "n1", 0, 60), probing("api", "reused", "n1", 0, 60), probing("quiet", "new", "n1", 0, 60),
		outage("api", "new", "n1", "reset", 1, 3),
		outage("api", "reused", "n1", "timeout", 10, 10.5),
	}
	observer := outage("api", "new", "n1", "observer", 20, 20.2)
	observer.Source = SourceObserver
	n1 = append(n1, observer)
	n2 := []intervals.Interval{
		probing("api", "new", "n2", 0, 60),
		outage("api", "new", "n2", "timeout", 2, 5),
	}
	ctl := []intervals.Interval{
		cond("ClusterOperator", "ingress", "Degraded", "False", 0, 30), cond("ClusterOperator", "ingress", "Degraded", "True", 30, 40),
		cond("ClusterOperator", "ingress", "Available", "True", 0, 60),
		cond("ClusterOperator", "dns", "Available", "True", 0, 60), cond("ClusterOperator", "dns", "Degraded", "False", 0, 60),
		cond("Node", "worker-1", "Draining", "True", 5, 5+11*60),
		cond("Node", "worker-2", "Draining", "True", 5, 65),
		{From: at(3), To: at(9), State: intervals.StateClosed, Level: intervals.LevelError, Source: SourceAlert,
			Locator: intervals.Locator{Type: "Alert", Keys: map[string]string{"alertname": "ZerodownBackendDisrupted", "backend": "api", "severity": "critical"}},
			Message: intervals.Message{Reason: "AlertFiring", HumanMessage: "api is down"}},
	}
	return Build([]Input{{"n1.jsonl", n1}, {"n2.jsonl", n2}, {"controller.jsonl", ctl}}, Options{Budgets: budgets})
}

func TestBuild(t *testing.T) {
	r := testReport(t, budget.Flat(2500*time.Millisecond))
	if len(r.Backends) != 3 {
		t.Fatalf("%d backends, want api/new, api/reused and quiet/new", len(r.Backends))
	}
	api := r.Backends[0]
	if api.Backend != "api" || api.Connection != "new" || api.Disruption != 3*time.Second || api.SeenByAll != time.Second || api.Outages != 2 {
		t.Fatalf("api/new: disruption %s, seen by all %s, %d outages; want 3s (n2's), 1s (2-3 s) and 2", api.Disruption, api.SeenByAll, api.Outages)
	}
	if api.Result.Verdict != budget.Exceeded || r.Pass || r.Verdict() != budget.Exceeded {
		t.Fatalf("api/new verdict %s, report pass %v: want exceeded (3s > 2.5s)", api.Result.Verdict, r.Pass)
	}
	if q := r.Backends[2]; q.Backend != "quiet" || q.Disruption != 0 || q.Result.Verdict != budget.Pass || q.Pollers[0].Observed != time.Minute {
		t.Fatalf("quiet/new: %+v; want no disruption, pass, observed 60 s", q)
	}
	if len(r.Outages) != 4 {
		t.Fatalf("%d outages, want 4 (the observer one included)", len(r.Outages))
	}
}

func TestOverlapsWarnedAndCountedOnce(t *testing.T) {
	iv := outage("api", "new", "n1", "reset", 1, 3)
	r := Build([]Input{{"a.jsonl", []intervals.Interval{iv}}, {"b.jsonl", []intervals.Interval{iv, outage("api", "new", "n1", "reset", 2, 4)}}}, Options{})
	if b := r.Backends[0]; b.Disruption != 3*time.Second {
		t.Fatalf("disruption %s, want 3s (1-4 s counted once)", b.Disruption)
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "2 outages overlap") {
		t.Fatalf("warnings %q, want one about 2 overlapping outages", r.Warnings)
	}
	if r.Verdict() != budget.Unbudgeted {
		t.Fatalf("verdict %s without budgets, want unbudgeted", r.Verdict())
	}
}

// junitOf writes the report's junit.xml and parses it back.
func junitOf(t *testing.T, r *Report) (junitSuites, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteJUnit(&buf); err != nil {
		t.Fatal(err)
	}
	var got junitSuites
	if err := xml.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("junit.xml does not parse back: %v\n%s", err, buf.String())
	}
	return got, buf.String()
}

func TestJUnit(t *testing.T) {
	r := testReport(t, budget.Flat(2500*time.Millisecond))
	got, xmlText := junitOf(t, r)
	failed := map[string]bool{}
	total, failures := 0, 0
	for _, s := range got.Suites {
		if s.Name == "" || s.Timestamp == "" || s.Tests != len(s.Cases) {
			t.Errorf("suite %q: tests=%d for %d cases, timestamp %q", s.Name, s.Tests, len(s.Cases), s.Timestamp)
		}
		nf := 0
		for _, c := range s.Cases {
			if c.Name == "" || c.Classname != s.Name || c.Time == "" {
				t.Errorf("case %+v: want name, classname %s and time", c, s.Name)
			}
			if c.Failure != nil {
				nf++
				failed[c.Name] = true
				if c.Failure.Message == "" || c.Failure.Text == "" {
					t.Errorf("case %q fails without a message and text", c.Name)
				}
			}
		}
		if nf != s.Failures {
			t.Errorf("suite %s: failures=%d, %d cases failed", s.Name, s.Failures, nf)
		}
		total += s.Tests
		failures += s.Failures
	}
	if got.Tests != total || got.Failures != failures {
		t.Errorf("testsuites tests=%d failures=%d, suites sum to %d and %d", got.Tests, got.Failures, total, failures)
	}
	want := map[string]bool{
		"api over new connections should remain available during the upgrade":    true,
		"api over reused connections should remain available during the upgrade": false,
		"quiet over new connections should remain available during the upgrade":  false,
		"clusteroperator ingress should not go Degraded":                         true,
		"clusteroperator ingress should stay Available":                          false,
		"clusteroperator dns should not go Degraded":                             false,
		"node worker-1 should drain within 10m0s":                                true,
		"node worker-2 should drain within 10m0s":                                false,
	}
	names := map[string]bool{}
	for _, s := range got.Suites {
		for _, c := range s.Cases {
			names[c.Name] = true
		}
	}
	for name, fails := range want {
		if !names[name] {
			t.Errorf("no case %q", name)
		} else if failed[name] != fails {
			t.Errorf("case %q failed=%v, want %v", name, failed[name], fails)
		}
	}
	if !strings.Contains(xmlText, "over its limit of 2.500s") {
		t.Errorf("the failure does not give the limit:\n%s", xmlText)
	}
}

func TestWrite(t *testing.T) {
	r := testReport(t, nil)
	dir := filepath.Join(t.TempDir(), "out")
	if err := r.Write(dir, nil); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, CSVFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) != 5 || rows[0][0] != "backend" {
		t.Fatalf("disruption.csv: %d rows, err %v; want a header and 4 outages", len(rows), err)
	}
	var s Summary
	b, _ := os.ReadFile(filepath.Join(dir, SummaryFile))
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.Verdict != budget.Unbudgeted || len(s.Backends) != 3 || s.Backends[0].SeenByAll != 1 || len(s.Backends[0].Pollers) != 2 {
		t.Fatalf("summary.json: %s", b)
	}
	html, _ := os.ReadFile(filepath.Join(dir, HTMLFile))
	for _, want := range []string{"api · new · n1", "ingress", "worker-1", "ZerodownBackendDisrupted · api"} {
		if !bytes.Contains(html, []byte(want)) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	for _, banned := range []string{"http://", "https://", "src=", "@import"} {
		if i := bytes.Index(html, []byte(banned)); i >= 0 && !bytes.Contains(html[max(i-20, 0):i+len(banned)+20], []byte("w3.org")) {
			t.Errorf("report.html holds %q: it must fetch nothing", html[max(i-40, 0):min(i+40, len(html))])
		}
	}
	for _, name := range []string{JUnitFile, HTMLFile, CSVFile, SummaryFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != 0o640 {
			t.Errorf("%s: %v, mode %v; want 0640", name, err, fi.Mode())
		}
	}
}

// Seen by every poller counts only the pollers probing at each moment,
// also where one starts probing in the middle of another's outage.
func TestSeenByAllFollowsProbing(t *testing.T) {
	r := Build([]Input{
		{"a.jsonl", []intervals.Interval{probing("api", "new", "a", 0, 200), outage("api", "new", "a", "reset", 0, 100)}},
		{"b.jsonl", []intervals.Interval{probing("api", "new", "b", 60, 200)}},
	}, Options{})
	if got := r.Backends[0].SeenByAll; got != 60*time.Second {
		t.Fatalf("seen by all %s, want 60s (before 60 s only a probed)", got)
	}
}

// A budget file listing past upgrades' figures ranks the run among them;
// a regression is named at the top of the page and in the JUnit case,
// though the budget (with its grace) holds.
func TestRankedAgainstHistory(t *testing.T) {
	f, err := budget.Parse([]byte(`budgets:
  - backend: api
    connection: new
    history: {p50: 300ms, p95: 500ms, p99: 500ms, upgrades: 5, past: [100ms, 200ms, 300ms, 400ms, 500ms]}
  - backend: quiet
    history: {p50: 0s, p95: 0s, p99: 0s, upgrades: 5, past: [0s, 0s, 0s, 0s, 0s]}
`), "history.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := testReport(t, f)
	regs := r.Regressions()
	if len(regs) != 1 || regs[0].Backend != "api" || regs[0].Connection != "new" || regs[0].Result.Verdict != budget.Pass {
		t.Fatalf("regressions %v, want api/new alone, within its budget (3s ≤ 6s)", regs)
	}
	const api = "worse than 5 of 5 past upgrades (a regression)"
	var html, junit bytes.Buffer
	if err := r.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJUnit(&junit); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`id="regressions">Worse than history: api over new connections, 3.000s, ` + api, "as every one of 5 past upgrades"} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if !strings.Contains(junit.String(), "against history: "+api+" (percentile rank 100)") {
		t.Errorf("junit.xml lacks the rank of api/new:\n%s", junit.String())
	}
}

// Without budgets nothing is judged, and junit.xml says so where CI shows
// it: every backend's case is skipped, with what was measured.
func TestJUnitUnbudgetedSkipped(t *testing.T) {
	r := testReport(t, nil)
	got, _ := junitOf(t, r)
	dis := got.Suites[0]
	if dis.Name != SuiteDisruption || dis.Skipped != len(r.Backends) || dis.Failures != 0 {
		t.Fatalf("suite %s: %d skipped, %d failures; want %d skipped (every backend), none failed", dis.Name, dis.Skipped, dis.Failures, len(r.Backends))
	}
	if c := dis.Cases[0]; c.Skipped == nil || c.Skipped.Message != "no budget applies: disrupted for 3.000s, not judged (give --budgets, --budget or --prometheus)" {
		t.Errorf("api/new's case: %+v", c.Skipped)
	}
	// Judged, nothing is skipped.
	if _, judged := junitOf(t, testReport(t, budget.Flat(time.Hour))); strings.Contains(judged, "<skipped") {
		t.Errorf("a judged run has skipped cases:\n%s", judged)
	}
}
