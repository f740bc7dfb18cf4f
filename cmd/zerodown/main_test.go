package main

import (
	"bytes"
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
	"github.com/zerodown/zerodown/testtarget"
	"github.com/zerodown/zerodown/testtarget/targettest"
	"github.com/zerodown/zerodown/watch"
)

// runArgs runs the command with args as zerodown does, with every part,
// and returns its exit code, stdout and stderr.
func runArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Run(args, &stdout, &stderr, parts)
	return code, stdout.String(), stderr.String()
}

// zerodown links both parts: the in-cluster roles (client-go) and the
// rule evaluator (PromQL).
func TestImportGraph(t *testing.T) {
	deps := testtool.Deps(t, ".")
	for _, want := range []string{"github.com/zerodown/zerodown/internal/cli/kubecli", "k8s.io/client-go/rest",
		"github.com/zerodown/zerodown/internal/cli/evalcli", "github.com/prometheus/prometheus/promql"} {
		if !deps[want] {
			t.Errorf("zerodown does not link %s", want)
		}
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRunExitCodes covers the commands and flags that end before anything
// is probed. None of them may reach a run: each would listen on the
// default port and write into the working directory.
func TestRunExitCodes(t *testing.T) {
	valid := writeFile(t, "valid.yaml", `
targets:
  - name: web
    http:
      url: http://127.0.0.1:1/
  - name: line
    tcp:
      address: 127.0.0.1:1
`)
	emptyCfg := writeFile(t, "empty.yaml", "defaults:\n  interval: 1s\n")
	missingKubeconfig := filepath.Join(t.TempDir(), "no-kubeconfig")
	// A kubeconfig that parses; nothing here reaches its server.
	kubeconfig := writeFile(t, "kubeconfig", `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`)
	// Rules on the embedded evaluator's own metrics: Prometheus's rules
	// manager's, and the alerts by state.
	evalRules := writeFile(t, "eval.rules.yaml", `groups:
- name: evaluator
  rules:
  - alert: RuleEvaluationFailing
    expr: increase(prometheus_rule_evaluation_failures_total[5m]) > 0 or prometheus_rule_group_last_duration_seconds > 1
    for: 5m
  - record: zerodown:rule_alerts_firing:sum
    expr: sum by (alertname) (zerodown_rule_alerts{alertstate="firing"})
`)
	badTargets := writeFile(t, "bad-targets.yaml", `targets:
  - name: web
    http:
      url: ftp://127.0.0.1/
`)
	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		stdout     []string // substrings
		stderr     []string
		noStdout   bool
		noStderrIn []string // substrings stderr must not contain
		noStdoutIn []string // substrings stdout must not contain
	}{
		{name: "no args", args: nil, code: cli.ExitUsage,
			stderr: []string{"Usage:", "zerodown watch"}, noStdout: true},
		{name: "help", args: []string{"help"}, code: cli.ExitOK,
			stdout: []string{"Usage:", "zerodown watch", "zerodown version"}},
		{name: "version", args: []string{"version"}, code: cli.ExitOK,
			stdout: []string{"zerodown"}},
		{name: "unknown command", args: []string{"wach"}, code: cli.ExitUsage,
			stderr: []string{`unknown command "wach"`, "Usage:"}, noStdout: true},
		{name: "config check valid", args: []string{"watch", "--config.check", "--config", valid}, code: cli.ExitOK,
			stdout: []string{"configuration valid: 2 targets\n"}},
		{name: "config check valid with CLI target", args: []string{"watch", "--config.check", "--config", valid, "tcp://127.0.0.1:2"}, code: cli.ExitOK,
			stdout: []string{"configuration valid: 3 targets\n"}},
		{name: "config file missing", args: []string{"watch", "--config.check", "--config", filepath.Join(t.TempDir(), "nope.yaml")}, code: cli.ExitUsage,
			stderr: []string{"--config:", "nope.yaml"}, noStdout: true},
		{name: "no targets", args: []string{"watch", "--listen", "", "--out", t.TempDir()}, code: cli.ExitUsage,
			stderr: []string{"no targets", "give --config FILE, TARGET arguments or --kubeconfig FILE"}, noStdout: true, noStderrIn: []string{"Usage:"}},
		{name: "empty config refused by the check as by the run", args: []string{"watch", "--config.check", "--config", emptyCfg}, code: cli.ExitUsage,
			stderr: []string{"no targets", "--config.allow-empty"}, noStdout: true},
		{name: "empty config allowed", args: []string{"watch", "--config.check", "--config.allow-empty", "--config", emptyCfg}, code: cli.ExitOK,
			stdout: []string{"configuration valid: 0 targets\n"}},
		{name: "bad CLI target", args: []string{"watch", "--listen", "", "--out", t.TempDir(), "ftp://x"}, code: cli.ExitUsage,
			stderr: []string{`"ftp://x"`}, noStdout: true},
		{name: "bad CLI target among good ones", args: []string{"watch", "--config.check", "http://127.0.0.1:1/", "tcp://127.0.0.1"}, code: cli.ExitUsage,
			stderr: []string{`"tcp://127.0.0.1"`}, noStdout: true, noStderrIn: []string{`"http://127.0.0.1:1/"`}},
		{name: "bad flag", args: []string{"watch", "--no-such-flag", "http://127.0.0.1:1/"}, code: cli.ExitUsage,
			stderr: []string{"no-such-flag"}, noStdout: true},
		{name: "bad duration flag", args: []string{"watch", "--duration", "soon", "http://127.0.0.1:1/"}, code: cli.ExitUsage,
			stderr: []string{"-duration"}, noStdout: true},
		{name: "bad log level", args: []string{"watch", "--log.level", "nope", "--listen", "", "--out", t.TempDir(), "http://127.0.0.1:1/"}, code: cli.ExitUsage,
			stderr: []string{"--log.level"}, noStdout: true},
		{name: "bad log format", args: []string{"watch", "--log.format", "xml", "--listen", "", "--out", t.TempDir(), "http://127.0.0.1:1/"}, code: cli.ExitUsage,
			stderr: []string{"--log.format", `"xml"`}, noStdout: true},
		{name: "bad interval override", args: []string{"watch", "--config.check", "--interval", "1ms", "http://127.0.0.1:1/"}, code: cli.ExitUsage,
			stderr: []string{"--interval must be at least 10ms, got 1ms"}, noStdout: true},
		{name: "negative duration and budget", args: []string{"watch", "--duration", "-1s", "--budget", "-5s", "http://127.0.0.1:1/"}, code: cli.ExitUsage,
			stderr: []string{"--duration must not be negative, got -1s", "--budget must not be negative, got -5s"}, noStdout: true},
		{name: "negative interval", args: []string{"watch", "--config.check", "--interval", "-1s", "http://127.0.0.1:1/"}, code: cli.ExitUsage,
			stderr: []string{"--interval must not be negative, got -1s"}, noStdout: true},
		{name: "negative probe rate", args: []string{"poller", "--kubeconfig", kubeconfig, "--probe.max-rate", "-3"}, code: cli.ExitUsage,
			stderr: []string{"zerodown poller: --probe.max-rate must not be negative, got -3"}, noStdout: true},
		{name: "watch help", args: []string{"watch", "-h"}, code: cli.ExitOK,
			stdout: []string{"Usage: zerodown watch", "SIGHUP", "-config.check", "-budget"}},
		{name: "watch --help", args: []string{"watch", "--help"}, code: cli.ExitOK,
			stdout: []string{"Usage: zerodown watch"}},
		{name: "help watch", args: []string{"help", "watch"}, code: cli.ExitOK,
			stdout: []string{"Usage: zerodown watch", "-config.check"}},
		{name: "bad flag prints the error and the usage to stderr", args: []string{"watch", "--nope"}, code: cli.ExitUsage,
			stderr: []string{"zerodown watch: flag provided but not defined: -nope", "Usage: zerodown watch"}, noStdout: true},
		{name: "flags after a target", args: []string{"watch", "--config.check", "http://127.0.0.1:1/", "--interval", "1ms"}, code: cli.ExitUsage,
			stderr: []string{"zerodown watch: --interval must be at least 10ms, got 1ms"}, noStdout: true, noStderrIn: []string{"expected a URL", "defaults.interval"}},
		{name: "flags after a target, valid", args: []string{"watch", "http://127.0.0.1:1/", "--config.check", "tcp://127.0.0.1:2"}, code: cli.ExitOK,
			stdout: []string{"configuration valid: 2 targets"}},
		{name: "garbage listen address", args: []string{"watch", "--listen", "garbage", "http://127.0.0.1:1/"}, code: cli.ExitUsage,
			stderr: []string{`zerodown watch: --listen "garbage": expected [HOST]:PORT`}, noStdout: true},
		{name: "garbage listen address of the demo", args: []string{"demo", "--listen", "127.0.0.1:http-nope"}, code: cli.ExitUsage,
			stderr: []string{`zerodown demo: --listen "127.0.0.1:http-nope"`}, noStdout: true},
		{name: "garbage listen address of the poller", args: []string{"poller", "--kubeconfig", kubeconfig, "--listen", "9949"}, code: cli.ExitUsage,
			stderr: []string{`zerodown poller: --listen "9949"`}, noStdout: true},
		// The error names the flag as the user gave it: the alias above,
		// Prometheus's name here.
		{name: "garbage --web.listen-address", args: []string{"watch", "--web.listen-address", "garbage", "http://127.0.0.1:1/"}, code: cli.ExitUsage,
			stderr: []string{`zerodown watch: --web.listen-address "garbage": expected [HOST]:PORT`}, noStdout: true, noStderrIn: []string{`--listen "`}},
		{name: "garbage --web.listen-address of the demo", args: []string{"demo", "--web.listen-address", "127.0.0.1:http-nope"}, code: cli.ExitUsage,
			stderr: []string{`zerodown demo: --web.listen-address "127.0.0.1:http-nope"`}, noStdout: true},
		{name: "garbage --web.listen-address of the controller", args: []string{"controller", "--kubeconfig", kubeconfig, "--web.listen-address", "9948"}, code: cli.ExitUsage,
			stderr: []string{`zerodown controller: --web.listen-address "9948"`}, noStdout: true},
		{name: "--listen and --web.listen-address are one value", args: []string{"poller", "--kubeconfig", kubeconfig, "--web.listen-address", ":9949", "--listen", "9949"}, code: cli.ExitUsage,
			stderr: []string{`zerodown poller: --web.listen-address "9949"`}, noStdout: true},
		{name: "rules check of the evaluator's own metrics", args: []string{"rules", "check", evalRules}, code: cli.ExitOK,
			stdout: []string{"SUCCESS: 2 rules found"}},
		{name: "rules test help", args: []string{"rules", "test", "-h"}, code: cli.ExitOK, stdout: []string{"zerodown rules test"}},
		{name: "rules check help", args: []string{"rules", "check", "--help"}, code: cli.ExitOK, stdout: []string{"zerodown rules check"}},
		{name: "budget check help", args: []string{"budget", "check", "-h"}, code: cli.ExitOK, stdout: []string{"zerodown budget check"}},
		{name: "rollback check help", args: []string{"rollback", "check", "-h"}, code: cli.ExitOK, stdout: []string{"zerodown rollback check"}},
		{name: "rollback unknown subcommand", args: []string{"rollback", "nosuch"}, code: cli.ExitUsage,
			stderr: []string{`zerodown rollback: unknown subcommand "nosuch"`}, noStdout: true},
		{name: "help of an unknown command", args: []string{"help", "nosuch"}, code: cli.ExitUsage,
			stderr: []string{`zerodown help: unknown command "nosuch"`}, noStdout: true},
		{name: "version help", args: []string{"version", "-h"}, code: cli.ExitOK, stdout: []string{"Usage: zerodown version"}},
		{name: "mark help", args: []string{"mark", "-h"}, code: cli.ExitOK, stdout: []string{"Usage: zerodown mark start|end NAME", "-version"}},
		{name: "mark without a name", args: []string{"mark", "start"}, code: cli.ExitUsage,
			stderr: []string{"zerodown mark: want start|end NAME"}, noStdout: true},
		{name: "mark of the future", args: []string{"mark", "start", "ingress", "--at", "2999-01-01T00:00:00Z"}, code: cli.ExitUsage,
			stderr: []string{"is in the future"}, noStdout: true},
		{name: "mark of a reserved name", args: []string{"mark", "start", "kubernetes"}, code: cli.ExitUsage,
			stderr: []string{`NAME "kubernetes" is reserved`}, noStdout: true},
		{name: "report has no live view nor profiles", args: []string{"report", "-h"}, code: cli.ExitOK,
			stdout: []string{"-log.level"}, noStdoutIn: []string{"-view", "-debug.pprof"}},
		{name: "budget derive has no live view nor profiles", args: []string{"budget", "derive", "-h"}, code: cli.ExitOK,
			stdout: []string{"-prometheus"}, noStdoutIn: []string{"-view", "-debug.pprof"}},
		{name: "unknown log level", args: []string{"watch", "--log.level", "verbose", "http://127.0.0.1:1/"}, code: cli.ExitUsage,
			stderr: []string{`--log.level: want debug, info, warn or error, got "verbose"`}, noStdout: true, noStderrIn: []string{"slog:"}},
		{name: "missing web config file", args: []string{"watch", "--web.config.file", "/nonexistent/web.yml", "http://127.0.0.1:1/"}, code: cli.ExitUsage,
			stderr: []string{"--web.config.file /nonexistent/web.yml"}, noStdout: true},
		{name: "report of nothing readable", args: []string{"report", "--out", t.TempDir() + "/r", "/nonexistent/intervals.jsonl"}, code: cli.ExitUsage,
			stderr: []string{"/nonexistent/intervals.jsonl", "nothing read, no report written"}, noStdout: true},
		{name: "demo help", args: []string{"demo", "-h"}, code: cli.ExitOK,
			stdout: []string{"Usage: zerodown demo"}},
		{name: "help lists the in-cluster roles", args: []string{"help"}, code: cli.ExitOK,
			stdout: []string{"zerodown poller", "zerodown controller"}},
		{name: "poller help", args: []string{"poller", "-h"}, code: cli.ExitOK,
			stdout: []string{"Usage: zerodown poller", "-node-name", "-router.https-address", "-cluster-dns"}},
		{name: "controller help", args: []string{"controller", "-h"}, code: cli.ExitOK,
			stdout: []string{"Usage: zerodown controller", "-leader-elect", "-workloads.namespaces"}},
		{name: "controller kubeconfig missing", args: []string{"controller", "--kubeconfig", missingKubeconfig}, code: cli.ExitUsage,
			stderr: []string{"zerodown controller: --kubeconfig " + missingKubeconfig}, noStdout: true},
		{name: "poller kubeconfig missing", args: []string{"poller", "--kubeconfig", missingKubeconfig}, code: cli.ExitUsage,
			stderr: []string{"zerodown poller: --kubeconfig " + missingKubeconfig}, noStdout: true},
		{name: "poller without discovery, built-in backends or targets", args: []string{"poller", "--kubeconfig", kubeconfig, "--discovery=false", "--builtin=false"}, code: cli.ExitUsage,
			stderr: []string{"zerodown poller: no targets"}, noStdout: true},
		{name: "poller arguments", args: []string{"poller", "--kubeconfig", kubeconfig, "http://127.0.0.1:1/"}, code: cli.ExitUsage,
			stderr: []string{"zerodown poller: unexpected arguments: http://127.0.0.1:1/"}, noStdout: true},
		{name: "poller invalid config", args: []string{"poller", "--kubeconfig", kubeconfig, "--config", badTargets}, code: cli.ExitUsage,
			stderr: []string{badTargets + ":4: targets[0].http.url: "}, noStdout: true},
		{name: "controller bad selector", args: []string{"controller", "--kubeconfig", kubeconfig, "--workloads.selector", "app in ("}, code: cli.ExitUsage,
			stderr: []string{`zerodown controller: --workloads.selector "app in ("`}, noStdout: true},
		{name: "rules test shipped", args: []string{"rules", "test", "../../rules/tests/alerts.test.yaml"}, code: cli.ExitOK,
			stdout: []string{"Unit Testing:  ../../rules/tests/alerts.test.yaml", "  SUCCESS"}},
		{name: "rules test failing", args: []string{"rules", "test", "../../rules/ruletest/testdata/fail.test.yaml"}, code: cli.ExitFailure,
			stdout: []string{"  FAILED:", "alertname Down, eval_time 1m"}},
		{name: "rules check shipped", args: []string{"rules", "check", "../../rules/alerts.rules.yaml", "../../rules/availability.rules.yaml"}, code: cli.ExitOK,
			stdout: []string{"Checking ../../rules/alerts.rules.yaml", "SUCCESS: 24 rules found"}},
		{name: "rules check unknown metric", args: []string{"rules", "check", "../../rules/rulecheck/testdata/invalid-metrics.rules.yaml"}, code: cli.ExitFailure,
			stdout: []string{"  FAILED:", "zerodown exports no metric zerodown_backend_upp"}},
		{name: "rules without files", args: []string{"rules", "check"}, code: cli.ExitUsage,
			stderr: []string{"give one or more rule files", "zerodown rules test FILE"}, noStdout: true},
		{name: "rules unknown subcommand", args: []string{"rules", "lint"}, code: cli.ExitUsage,
			stderr: []string{`unknown subcommand "lint"`}, noStdout: true},
		{name: "help rules", args: []string{"help", "rules"}, code: cli.ExitOK,
			stdout: []string{"zerodown rules check FILE"}},
		{name: "rollback check valid", args: []string{"rollback", "check", "../../rollback/testdata/valid.yaml"}, code: cli.ExitOK,
			stdout: []string{"policy valid: 4 rules, 5 actions"}},
		{name: "rollback check invalid", args: []string{"rollback", "check", "../../rollback/testdata/invalid-fields.yaml"}, code: cli.ExitUsage,
			stderr: []string{`../../rollback/testdata/invalid-fields.yaml:4: rules[0].cooldwn: unknown field; did you mean "cooldown"?`}, noStdout: true},
		{name: "rollback without check", args: []string{"rollback"}, code: cli.ExitUsage,
			stderr: []string{"zerodown rollback check FILE"}, noStdout: true},
		{name: "controller invalid policy", args: []string{"controller", "--kubeconfig", kubeconfig, "--rollback.policy", "../../rollback/testdata/invalid-fields.yaml"}, code: cli.ExitUsage,
			stderr: []string{"zerodown controller: --rollback.policy: ../../rollback/testdata/invalid-fields.yaml:4:"}, noStdout: true},
		{name: "controller missing token file", args: []string{"controller", "--kubeconfig", kubeconfig, "--rollback.policy", "../../rollback/testdata/valid.yaml",
			"--rollback.token-file", missingKubeconfig}, code: cli.ExitUsage,
			stderr: []string{"zerodown controller: --rollback.token-file:"}, noStdout: true},
		{name: "watch invalid rollback policy", args: []string{"watch", "--listen", "", "--out", t.TempDir(), "--rollback.policy", "../../rollback/testdata/invalid-fields.yaml", "http://127.0.0.1:1/"}, code: cli.ExitUsage,
			stderr: []string{"zerodown watch: --rollback.policy: ../../rollback/testdata/invalid-fields.yaml:4:"}, noStdout: true},
		{name: "watch rollback without evaluation", args: []string{"watch", "--listen", "", "--out", t.TempDir(), "--rules.interval", "0", "--rollback.policy", "../../rollback/testdata/valid.yaml", "http://127.0.0.1:1/"}, code: cli.ExitUsage,
			stderr: []string{"it needs --rules.interval above 0"}, noStdout: true},
		{name: "watch rollback bad record", args: []string{"watch", "--listen", "", "--out", t.TempDir(), "--kubeconfig", kubeconfig, "--rollback.record", "norecord", "--rollback.policy", "../../rollback/testdata/valid.yaml", "http://127.0.0.1:1/"}, code: cli.ExitUsage,
			stderr: []string{`--rollback.record "norecord": expected NAMESPACE/NAME`}, noStdout: true},
		{name: "poller bad selector", args: []string{"poller", "--kubeconfig", kubeconfig, "--discovery.selector", "=x"}, code: cli.ExitUsage,
			stderr: []string{`zerodown poller: --discovery.selector "=x"`}, noStdout: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runArgs(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			for _, w := range tc.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout has no %q:\n%s", w, stdout)
				}
			}
			for _, w := range tc.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr has no %q:\n%s", w, stderr)
				}
			}
			for _, w := range tc.noStderrIn {
				if strings.Contains(stderr, w) {
					t.Errorf("stderr has %q:\n%s", w, stderr)
				}
			}
			for _, w := range tc.noStdoutIn {
				if strings.Contains(stdout, w) {
					t.Errorf("stdout has %q:\n%s", w, stdout)
				}
			}
			if tc.noStdout && stdout != "" {
				t.Errorf("stdout is not empty:\n%s", stdout)
			}
		})
	}
}

// TestConfigCheckInvalid: every problem of a file is reported at once, as
// file:line: path: message, one per line.
func TestConfigCheckInvalid(t *testing.T) {
	path := writeFile(t, "bad.yaml", `defaults:
  interval: 5ms
targets:
  - name: a
    timeout: soon
    http:
      url: http://127.0.0.1:1/
      urll: http://127.0.0.1:2/
  - name: a
    tcp:
      address: 127.0.0.1:1
`)
	code, stdout, stderr := runArgs(t, "watch", "--config.check", "--config", path)
	if code != cli.ExitUsage {
		t.Errorf("exit code %d, want %d", code, cli.ExitUsage)
	}
	if stdout != "" {
		t.Errorf("stdout is not empty:\n%s", stdout)
	}
	want := []string{
		path + ":2: defaults.interval: ",
		path + ":5: targets[0].timeout: ",
		path + ":8: targets[0].http.urll: unknown field",
		path + `:9: targets[1].name: duplicate name "a"`,
	}
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if len(lines) != len(want) {
		t.Errorf("stderr has %d lines, want %d problems, one per line:\n%s", len(lines), len(want), stderr)
	}
	for _, w := range want {
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, w)
		}
		if !found {
			t.Errorf("stderr has no line starting with %q:\n%s", w, stderr)
		}
	}
}

// TestWatch runs the command against a loopback test target: a healthy run
// ends 0 and writes the summary; a run whose disruption exceeds --budget
// ends 3 and says so.
func TestWatch(t *testing.T) {
	tt := targettest.Start(t, testtarget.Options{})
	url := "http://" + tt.HTTPAddr() + "/"
	backend := strings.ReplaceAll(tt.HTTPAddr(), ":", "_")

	t.Run("healthy", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		code, stdout, stderr := runArgs(t, "watch", "--duration", "1s", "--listen", "", "--out", out, "--view", "none", url)
		if code != cli.ExitOK {
			t.Fatalf("exit code %d, want 0\nstderr:\n%s", code, stderr)
		}
		if stdout != "" {
			t.Errorf("--view none wrote to stdout:\n%s", stdout)
		}
		b, err := os.ReadFile(filepath.Join(out, watch.SummaryFile))
		if err != nil {
			t.Fatal(err)
		}
		var sum watch.Summary
		if err := json.Unmarshal(b, &sum); err != nil {
			t.Fatalf("summary.json: %v\n%s", err, b)
		}
		var got []string
		for _, s := range sum.Series {
			got = append(got, fmt.Sprintf("%s/%s", s.Backend, s.Connection))
			if s.Requests == 0 {
				// The first probe of a series is due within one interval of
				// the start (1s by default, staggered over the series).
				t.Errorf("%s/%s: no requests in a 1s watch at the default 1s interval", s.Backend, s.Connection)
			}
		}
		if want := backend + "/new " + backend + "/reused"; strings.Join(got, " ") != want {
			t.Errorf("summary series %v, want %s", got, want)
		}
		if _, err := os.Stat(filepath.Join(out, watch.IntervalsFile)); err != nil {
			t.Error(err)
		}
	})

	t.Run("budget exceeded", func(t *testing.T) {
		out := t.TempDir()
		done := make(chan testtarget.Record, 1)
		go func() {
			time.Sleep(300 * time.Millisecond)
			done <- tt.Window(testtarget.Refuse, 300*time.Millisecond)
		}()
		code, _, stderr := runArgs(t, "watch", "--duration", "1500ms", "--interval", "50ms", "--budget", "1ms",
			"--listen", "", "--out", out, "--view", "none", url)
		rec := <-done
		if code != cli.ExitBudget {
			t.Errorf("exit code %d, want %d (refused for %s)\nstderr:\n%s", code, cli.ExitBudget, rec.Duration(), stderr)
		}
		for _, w := range []string{"budget exceeded: " + backend + " over new connections", "budget exceeded: " + backend + " over reused connections", "over its limit of 0.001s (allowed 0.001s, --budget)"} {
			if !strings.Contains(stderr, w) {
				t.Errorf("stderr has no %q:\n%s", w, stderr)
			}
		}
		for _, f := range []string{report.JUnitFile, report.HTMLFile, report.CSVFile} {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				t.Errorf("no %s after exceeding the budget: %v", f, err)
			}
		}
		if _, err := os.Stat(filepath.Join(out, watch.SummaryFile)); err != nil {
			t.Errorf("no summary after exceeding the budget: %v", err)
		}
	})
}

// Every role that serves takes --web.listen-address, as Prometheus and its
// exporters name it, and --listen as its alias: the same default, and a
// value given to either is the value of both.
func TestListenFlags(t *testing.T) {
	for _, role := range []string{"watch", "demo", "poller", "controller"} {
		fs, err := cli.FlagSet(parts, role)
		if err != nil {
			t.Fatal(err)
		}
		main, alias := fs.Lookup("web.listen-address"), fs.Lookup("listen")
		if main == nil || alias == nil {
			t.Errorf("zerodown %s: --web.listen-address %v, --listen %v: want both", role, main != nil, alias != nil)
			continue
		}
		if main.DefValue == "" || alias.DefValue != main.DefValue {
			t.Errorf("zerodown %s: defaults %q and %q, want one", role, main.DefValue, alias.DefValue)
		}
		if alias.Usage != "alias of --web.listen-address" {
			t.Errorf("zerodown %s: --listen says %q", role, alias.Usage)
		}
		if err := fs.Set("listen", "127.0.0.1:1"); err != nil || main.Value.String() != "127.0.0.1:1" {
			t.Errorf("zerodown %s: --listen 127.0.0.1:1 left --web.listen-address at %q (%v)", role, main.Value, err)
		}
	}
}
