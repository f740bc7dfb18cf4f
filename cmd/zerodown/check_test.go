package main

import (
	"strings"
	"testing"

	"github.com/zerodown/zerodown/internal/cli"
)

// budget check and rollback check report every problem of a file at once,
// one per line as file:line: field: message, in words (no Go type names,
// no YAML tags), and exit 2.
func TestCheckReportsEveryProblem(t *testing.T) {
	for _, tc := range []struct {
		name, command, file string
		want                []string // the lines of stderr after "FILE:"
	}{
		{name: "budget", command: "budget", file: `default:
  allowed: 2s
budgets:
  - backend: kube-api
    alowed: 1s
  - backend: web
    history: {p50: 0s, p95: 1s, p99: soon}
`, want: []string{
			`5: budgets[0].alowed: unknown field; did you mean "allowed"?`,
			`7: budgets[1].history.p99: expected a duration like "100ms" or "1s", got "soon"`,
		}},
		{name: "budget, decoding and validation", command: "budget", file: `grace:
  factor: 0.5
default:
  allowed: -1s
  alowed: 1s
`, want: []string{
			`2: grace.factor: must be at least 1, got 0.5`,
			`4: default.allowed: must not be negative, got -1s`,
			`5: default.alowed: unknown field; did you mean "allowed"?`,
		}},
		{name: "rollback", command: "rollback", file: `rules:
  - name: storefront
    match: {alertname: ZerodownBackendDisrupted}
    cooldwn: 5m
    dry_run: maybe
    actions:
      - deployment-undo: {namespace: shop, name: storefront}
`, want: []string{
			`4: rules[0].cooldwn: unknown field; did you mean "cooldown"?`,
			`5: rules[0].dry_run: expected a boolean (true or false), got "maybe"`,
		}},
		{name: "rollback, decoding and validation", command: "rollback", file: `defaults:
  cooldown: soon
rules:
  - name: storefront
    match: {backend: shop}
    actions:
      - deployment-undo: {namespace: shop, name: storefront, to_revision: -1}
`, want: []string{
			`2: defaults.cooldown: expected a duration like "10m" or "1h30m", got "soon"`,
			`5: rules[0].match: want at least alertname (a rule for every alert is not a policy)`,
			`7: rules[0].actions[0].deployment-undo.to_revision: must be positive (0: the previous revision)`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "file.yaml", tc.file)
			code, stdout, stderr := runArgs(t, tc.command, "check", path)
			if code != cli.ExitUsage {
				t.Errorf("exit code %d, want %d", code, cli.ExitUsage)
			}
			if stdout != "" {
				t.Errorf("stdout is not empty:\n%s", stdout)
			}
			var want []string
			for _, w := range tc.want {
				want = append(want, path+":"+w)
			}
			if got := strings.TrimRight(stderr, "\n"); got != strings.Join(want, "\n") {
				t.Errorf("stderr:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
			}
		})
	}
}
