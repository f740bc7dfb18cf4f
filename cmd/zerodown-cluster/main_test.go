package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zerodown/zerodown/internal/cli"
	"github.com/zerodown/zerodown/internal/testtool"
)

// zerodown-cluster links the in-cluster roles and none of Prometheus's
// PromQL engine and rules manager.
func TestImportGraph(t *testing.T) {
	deps := testtool.Deps(t, ".")
	for _, want := range []string{"github.com/zerodown/zerodown/internal/cli/kubecli", "k8s.io/client-go/rest"} {
		if !deps[want] {
			t.Errorf("zerodown-cluster does not link %s", want)
		}
	}
	for d := range deps {
		if strings.HasPrefix(d, "github.com/prometheus/prometheus/promql") || strings.HasPrefix(d, "github.com/prometheus/prometheus/rules") ||
			d == "github.com/zerodown/zerodown/internal/cli/evalcli" || strings.HasPrefix(d, "github.com/zerodown/zerodown/rules/eval") {
			t.Errorf("zerodown-cluster links %s", d)
		}
	}
}

func runArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Run(args, &stdout, &stderr, parts)
	return code, stdout.String(), stderr.String()
}

// What needs the rule evaluator says so, and which binary has it; by
// default watch evaluates nothing (in a cluster Prometheus evaluates the
// rules); the rest works.
func TestWithoutEvaluator(t *testing.T) {
	const without = "this zerodown was built without the rule evaluator"
	const need = "zerodown watch: invalid setup: " + without + ": --rules, --alertmanager.url and --alert.webhook need zerodown or zerodown-lite\n"
	watch := func(args ...string) []string {
		return append([]string{"watch", "--listen", "", "--view", "none", "--out", t.TempDir()}, append(args, "http://127.0.0.1:1/")...)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // a substring; "": none at all
		stderr string // the whole of it; "": not checked
	}{
		{name: "rules test", args: []string{"rules", "test", "../../rules/tests/alerts.test.yaml"}, code: cli.ExitUsage,
			stderr: "zerodown rules: " + without + "; use zerodown or zerodown-lite\n"},
		{name: "rules check", args: []string{"rules", "check", "../../rules/alerts.rules.yaml"}, code: cli.ExitUsage,
			stderr: "zerodown rules: " + without + "; use zerodown or zerodown-lite\n"},
		{name: "help rules", args: []string{"help", "rules"}, code: cli.ExitUsage,
			stderr: "zerodown rules: " + without + "; use zerodown or zerodown-lite\n"},
		{name: "watch --rules", args: watch("--rules", "x.yaml"), code: cli.ExitUsage, stderr: need},
		{name: "watch --alertmanager.url", args: watch("--alertmanager.url", "http://127.0.0.1:9093"), code: cli.ExitUsage, stderr: need},
		{name: "watch --alert.webhook", args: watch("--alert.webhook", "http://127.0.0.1:9/hook"), code: cli.ExitUsage, stderr: need},
		{name: "watch evaluates nothing by default", args: watch("--duration", "200ms"), code: cli.ExitOK},
		{name: "watch config check with --rules", args: []string{"watch", "--config.check", "--rules", "x.yaml", "http://127.0.0.1:1/"}, code: cli.ExitOK,
			stdout: "configuration valid: 1 target"},
		{name: "poller help", args: []string{"poller", "-h"}, code: cli.ExitOK, stdout: "Usage: zerodown poller"},
		{name: "rollback check", args: []string{"rollback", "check", "../../rollback/testdata/valid.yaml"}, code: cli.ExitOK, stdout: "policy valid: 4 rules, 5 actions"},
		{name: "mark help", args: []string{"mark", "-h"}, code: cli.ExitOK, stdout: "Usage: zerodown mark start|end NAME"},
		{name: "report", args: []string{"report", "--out", filepath.Join(t.TempDir(), "r"), "/nonexistent/intervals.jsonl"}, code: cli.ExitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runArgs(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			if tc.stdout == "" && stdout != "" || !strings.Contains(stdout, tc.stdout) {
				t.Errorf("stdout:\n%s\nwant %q", stdout, tc.stdout)
			}
			if tc.stderr != "" && stderr != tc.stderr {
				t.Errorf("stderr:\n%s\nwant:\n%s", stderr, tc.stderr)
			}
		})
	}
}
