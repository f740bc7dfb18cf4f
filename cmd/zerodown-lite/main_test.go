package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zerodown/zerodown/internal/cli"
	"github.com/zerodown/zerodown/internal/testtool"
)

// zerodown-lite links the rule evaluator and no Kubernetes client: none
// of zerodown's in-cluster packages, and of client-go only the two leaf
// packages Prometheus's rules manager itself pulls in (through its service
// discovery: a work queue and the metrics hooks it registers into), not
// its clients, configuration loading or informers.
func TestImportGraph(t *testing.T) {
	deps := testtool.Deps(t, ".")
	for _, want := range []string{"github.com/zerodown/zerodown/internal/cli/evalcli", "github.com/prometheus/prometheus/promql"} {
		if !deps[want] {
			t.Errorf("zerodown-lite does not link %s", want)
		}
	}
	allowed := map[string]bool{"k8s.io/client-go/util/workqueue": true, "k8s.io/client-go/tools/metrics": true}
	for d := range deps {
		if strings.HasPrefix(d, "k8s.io/client-go/") && !allowed[d] {
			t.Errorf("zerodown-lite links %s", d)
		}
	}
	for _, p := range []string{"k8s.io/client-go/rest", "k8s.io/client-go/tools/clientcmd",
		"github.com/zerodown/zerodown/internal/cli/kubecli", "github.com/zerodown/zerodown/internal/kube",
		"github.com/zerodown/zerodown/collectors", "github.com/zerodown/zerodown/poller", "github.com/zerodown/zerodown/controller",
		"github.com/zerodown/zerodown/rollback"} {
		if deps[p] {
			t.Errorf("zerodown-lite links %s", p)
		}
	}
}

func runArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Run(args, &stdout, &stderr, parts)
	return code, stdout.String(), stderr.String()
}

// What needs Kubernetes says so, and which binary has it; the rest works.
func TestWithoutKubernetes(t *testing.T) {
	const without = "this zerodown was built without Kubernetes support; use zerodown or zerodown-cluster"
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // a substring; "": none at all
		stderr string
	}{
		{name: "poller", args: []string{"poller"}, code: cli.ExitUsage, stderr: "zerodown poller: " + without + "\n"},
		{name: "poller help", args: []string{"poller", "-h"}, code: cli.ExitUsage, stderr: "zerodown poller: " + without + "\n"},
		{name: "help poller", args: []string{"help", "poller"}, code: cli.ExitUsage, stderr: "zerodown poller: " + without + "\n"},
		{name: "controller", args: []string{"controller", "--kubeconfig", kubeconfig}, code: cli.ExitUsage, stderr: "zerodown controller: " + without + "\n"},
		{name: "rollback check", args: []string{"rollback", "check", "../../rollback/testdata/valid.yaml"}, code: cli.ExitUsage,
			stderr: "zerodown rollback: " + without + "\n"},
		{name: "mark", args: []string{"mark", "start", "ingress"}, code: cli.ExitUsage, stderr: "zerodown mark: " + without + "\n"},
		{name: "watch --kubeconfig", args: []string{"watch", "--listen", "", "--out", t.TempDir(), "--kubeconfig", kubeconfig}, code: cli.ExitUsage,
			stderr: "zerodown watch: --kubeconfig: " + without + "\n"},
		{name: "watch --rollback.policy", args: []string{"watch", "--listen", "", "--out", t.TempDir(), "--rollback.policy", "../../rollback/testdata/valid.yaml",
			"http://127.0.0.1:1/"}, code: cli.ExitUsage, stderr: "zerodown watch: --rollback.policy: " + without + "\n"},
		// Nothing else to report on: a runtime error, as a cluster that cannot be reached.
		{name: "report --kubeconfig", args: []string{"report", "--out", filepath.Join(t.TempDir(), "r"), "--kubeconfig", kubeconfig}, code: cli.ExitFailure,
			stderr: "zerodown report: --kubeconfig: " + without + "\n"},
		{name: "help lists every command", args: []string{"help"}, code: cli.ExitOK, stdout: "zerodown poller"},
		{name: "watch help", args: []string{"watch", "-h"}, code: cli.ExitOK, stdout: "-kubeconfig"},
		{name: "rules check, the shipped rules", args: []string{"rules", "check", "../../rules/alerts.rules.yaml", "../../rules/availability.rules.yaml"}, code: cli.ExitOK,
			stdout: "SUCCESS: 24 rules found"},
		// Without the in-cluster roles' metrics an unknown zerodown_* name
		// is a warning, not a failure.
		{name: "rules check, an unknown metric", args: []string{"rules", "check", "../../rules/rulecheck/testdata/invalid-metrics.rules.yaml"}, code: cli.ExitFailure,
			stdout: "zerodown_backend_upp is not a metric this build knows"},
		{name: "rules test", args: []string{"rules", "test", "../../rules/ruletest/testdata/pass.test.yaml"}, code: cli.ExitOK, stdout: "  SUCCESS"},
		{name: "version", args: []string{"version"}, code: cli.ExitOK, stdout: "zerodown, version"},
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
