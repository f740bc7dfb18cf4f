package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zerodown/zerodown/internal/cli"
	"github.com/zerodown/zerodown/internal/testtool"
	"github.com/zerodown/zerodown/report"
)

// rec is one closed interval record of a poller's file.
func rec(id, source, backend, conn, node, cause string, from, to string) string {
	return `{"id":"` + id + `","from":"2026-11-27T10:00:` + from + `Z","to":"2026-11-27T10:00:` + to + `Z","state":"closed","level":"Error","source":"` + source +
		`","locator":{"type":"` + source + `","keys":{"backend":"` + backend + `","connection":"` + conn + `","node":"` + node + `"}},` +
		`"message":{"reason":"x","cause":"` + cause + `","humanMessage":"` + backend + ` down"}}` + "\n"
}

func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	n1 := rec("1", "Probing", "api", "new", "n1", "", "00", "59") + rec("2", "Disruption", "api", "new", "n1", "reset", "01", "04.5")
	n2 := rec("1", "Probing", "api", "new", "n2", "", "00", "59") + rec("2", "Disruption", "api", "new", "n2", "timeout", "02", "03") +
		`{"id":"3","from":"2026-11-27T10:00:3` // torn by a crash
	if err := os.WriteFile(filepath.Join(dir, "n1.jsonl"), []byte(n1), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "n2.jsonl"), []byte(n2), 0o600); err != nil {
		t.Fatal(err)
	}
	budgets := writeFile(t, "budgets.yaml", "budgets:\n  - backend: api\n    history: {p50: 0s, p95: 1s, p99: 2s, upgrades: 5, past: [0s, 0s, 500ms, 1s, 2s]}\n    grace: {add: 1s, factor: 1}\n")
	out := filepath.Join(t.TempDir(), "report")

	code, stdout, stderr := runArgs(t, "report", "--budgets", budgets, "--out", out, dir)
	if code != cli.ExitBudget {
		t.Fatalf("exit %d, want %d (3.5s over a limit of 3s)\nstdout:\n%s\nstderr:\n%s", code, cli.ExitBudget, stdout, stderr)
	}
	// The regression against history first, then the budget.
	const regression = "worse than history: api over new connections was disrupted for 3.500s, worse than 5 of 5 past upgrades (a regression)\nbudget exceeded: "
	if !strings.Contains(stderr, regression) {
		t.Errorf("stderr lacks the regression before the budget:\n%s", stderr)
	}
	for _, want := range []string{"budget exceeded: api over new connections was disrupted for 3.500s, over its limit of 3.000s (allowed 2.000s, " + budgets + ":2)",
		"n2.jsonl: the last line is torn"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	var s report.Summary
	b, err := os.ReadFile(filepath.Join(out, report.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &s); err != nil || s.Verdict != "exceeded" || len(s.Backends) != 1 || s.Backends[0].SeenByAll != 1 || len(s.Warnings) != 1 ||
		s.Backends[0].Rank == nil || s.Backends[0].Rank.Percentile != 100 {
		t.Fatalf("summary.json (err %v):\n%s", err, b)
	}

	// A passing budget: exit 0.
	if code, _, stderr := runArgs(t, "report", "--budget", "4s", "--out", out, filepath.Join(dir, "n1.jsonl"), filepath.Join(dir, "n2.jsonl")); code != cli.ExitOK {
		t.Fatalf("exit %d with a 4 s budget, want 0\n%s", code, stderr)
	}
}

func TestReportBadInput(t *testing.T) {
	dir := t.TempDir()
	good := rec("2", "Disruption", "api", "new", "n1", "reset", "01", "02")
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte(good+`{"id":"4","state":"closed"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "report")
	code, _, stderr := runArgs(t, "report", "--out", out, bad)
	if code != cli.ExitUsage || !strings.Contains(stderr, bad+`:2: invalid record: missing "from"`) {
		t.Fatalf("exit %d, stderr:\n%s\nwant 2 and the file, line and field", code, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(out, report.CSVFile)); err != nil || !strings.Contains(string(b), "api,new,n1") {
		t.Fatalf("the good record was not reported: %v\n%s", err, b)
	}
	budgets := writeFile(t, "budgets.yaml", "default:\n  allowed: 5\n")
	code, _, stderr = runArgs(t, "report", "--budgets", budgets, "--out", out, bad)
	if code != cli.ExitUsage || !strings.Contains(stderr, budgets+`:2: default.allowed: expected a duration with a unit, like "5ms" or "5s", got "5"`) {
		t.Fatalf("exit %d, stderr:\n%s\nwant 2 and the budget file's line", code, stderr)
	}
	for _, args := range [][]string{{"report"}, {"report", "--out", out, "--budget", "1s", "--budgets", budgets, bad},
		{"report", "--out", out, "--budget", "-1s", bad}, {"report", "--out", out, filepath.Join(dir, "missing.jsonl")}} {
		if code, _, _ := runArgs(t, args...); code != cli.ExitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, cli.ExitUsage)
		}
	}
}

func TestBudgetCommand(t *testing.T) {
	if code, stdout, _ := runArgs(t, "budget", "check", "../../budget/testdata/example.yaml"); code != cli.ExitOK || !strings.Contains(stdout, "2 budgets, a default") {
		t.Errorf("budget check of the example: exit %d, %q", code, stdout)
	}
	bad := writeFile(t, "b.yaml", "budgets:\n  - backend: a\n")
	if code, _, stderr := runArgs(t, "budget", "check", bad); code != cli.ExitUsage || !strings.Contains(stderr, bad+":2: budgets[0]: expected allowed") {
		t.Errorf("budget check of a bad file: exit %d, %q", code, stderr)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"budget", "derive"}, "--prometheus is required"},
		{[]string{"budget", "derive", "--prometheus", "http://127.0.0.1:9", "--since", "-1d"}, "--since: expected a positive duration"},
		{[]string{"budget", "derive", "--prometheus", "http://127.0.0.1:9", "--until", "yesterday"}, "--until: expected an RFC 3339 time"},
		{[]string{"budget", "derive", "--prometheus", "http://127.0.0.1:9", "--cluster-labels", "cluster,region", "--cluster", "east"}, `a cluster is named by 2 labels (cluster, region): expected a value for each, got "east"`},
		{[]string{"budget", "derive", "--prometheus", "http://127.0.0.1:9", "--cluster-labels", "k8s-cluster"}, `cluster label "k8s-cluster" is not a label name`},
		{[]string{"budget", "frobnicate"}, `unknown subcommand "frobnicate"`},
	} {
		if code, _, stderr := runArgs(t, c.args...); code != cli.ExitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
	// Prometheus down: a runtime error, saying which query failed where.
	if code, _, stderr := runArgs(t, "budget", "derive", "--prometheus", "http://127.0.0.1:9", "--since", "1d"); code != cli.ExitFailure || !strings.Contains(stderr, "querying http://127.0.0.1:9") {
		t.Errorf("Prometheus down: exit %d, stderr %q", code, stderr)
	}
}

// Two watch runs (two CI runners, --node-name) merge in one report as two
// pollers, not one poller named after the file with "two writers".
func TestReportOfTwoWatchRuns(t *testing.T) {
	dir := t.TempDir()
	for _, runner := range []string{"runner-a", "runner-b"} {
		// A refused target: an outage in each run.
		code, _, stderr := runArgs(t, "watch", "--node-name", runner, "--duration", "700ms", "--listen", "", "--view", "none",
			"--interval", "100ms", "--out", filepath.Join(dir, runner), "http://127.0.0.1:1/")
		if code != cli.ExitOK {
			t.Fatalf("watch on %s: exit %d\n%s", runner, code, stderr)
		}
	}
	out := filepath.Join(t.TempDir(), "report")
	code, _, stderr := runArgs(t, "report", "--out", out,
		filepath.Join(dir, "runner-a", "intervals.jsonl"), filepath.Join(dir, "runner-b", "intervals.jsonl"))
	if code != cli.ExitOK || strings.Contains(stderr, "two writers") {
		t.Fatalf("report: exit %d\n%s", code, stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, report.CSVFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, runner := range []string{"runner-a", "runner-b"} {
		if !strings.Contains(string(b), ","+runner+",") {
			t.Errorf("no rows of poller %s in the report:\n%s", runner, b)
		}
	}
}

// A second run into the same --out says that it appends.
func TestWatchSaysItAppends(t *testing.T) {
	out := t.TempDir()
	args := []string{"watch", "--duration", "300ms", "--listen", "", "--view", "none", "--out", out, "http://127.0.0.1:1/"}
	if code, _, stderr := runArgs(t, args...); code != cli.ExitOK || strings.Contains(stderr, "earlier run") {
		t.Fatalf("first run: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runArgs(t, args...); code != cli.ExitOK || !strings.Contains(stderr, "holds the intervals of an earlier run") {
		t.Fatalf("second run: exit %d, want a warning that it appends\n%s", code, stderr)
	}
}

// report --prometheus judges against the history there: budgets derived
// from five past upgrades of api (0.1 s to 0.5 s), backfilled into
// Debian's Prometheus; 3.5 s is within the budget's grace and a
// regression.
func TestReportAgainstPrometheus(t *testing.T) {
	var om strings.Builder
	now := time.Now().Truncate(time.Minute)
	om.WriteString("# TYPE backend_connection:zerodown_upgrade_disruption_seconds:last gauge\n")
	for i := range 5 {
		at := now.Add(-time.Duration(5-i) * 12 * time.Hour)
		for j := range 3 {
			fmt.Fprintf(&om, "backend_connection:zerodown_upgrade_disruption_seconds:last{backend=\"api\",connection=\"new\",version=\"4.16.%d\"} %g %d\n",
				i+1, 0.1*float64(i+1), at.Add(time.Duration(j)*time.Minute).Unix())
		}
	}
	om.WriteString("# EOF\n")
	url := testtool.BackfilledPrometheus(t, om.String())

	dir := t.TempDir()
	n1 := rec("1", "Probing", "api", "new", "n1", "", "00", "59") + rec("2", "Disruption", "api", "new", "n1", "reset", "01", "04.5")
	if err := os.WriteFile(filepath.Join(dir, "n1.jsonl"), []byte(n1), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "report")
	code, _, stderr := runArgs(t, "report", "--prometheus", url, "--out", out, dir)
	if code != cli.ExitOK {
		t.Fatalf("exit %d, want 0 (3.5s within max(1s + 5s, 1.2s))\n%s", code, stderr)
	}
	if want := "worse than history: api over new connections was disrupted for 3.500s, worse than 5 of 5 past upgrades (a regression)"; !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
	var s report.Summary
	b, err := os.ReadFile(filepath.Join(out, report.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &s); err != nil || len(s.Backends) != 1 || s.Backends[0].Rank == nil || s.Backends[0].History == nil ||
		s.Backends[0].History.Upgrades != 5 || !strings.HasPrefix(s.Backends[0].Source, "the history in "+url) {
		t.Fatalf("summary.json (err %v):\n%s", err, b)
	}
	if code, _, stderr := runArgs(t, "report", "--prometheus", url, "--budget", "1s", "--out", out, dir); code != cli.ExitUsage ||
		!strings.Contains(stderr, "give one of --budgets, --budget and --prometheus") {
		t.Errorf("--prometheus and --budget: exit %d\n%s", code, stderr)
	}
}
