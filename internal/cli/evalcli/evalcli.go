// Package evalcli is the part of zerodown's command line that links
// Prometheus's rule evaluator (cli.Eval): the rules command and watch's
// embedded evaluator. cmd/zerodown and cmd/zerodown-lite link it;
// cmd/zerodown-cluster does not (in a cluster Prometheus evaluates the
// rules).
package evalcli

import (
	"fmt"
	"io"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zerodown/zerodown/internal/cli"
	"github.com/zerodown/zerodown/internal/contract"
	"github.com/zerodown/zerodown/rules/eval/evalmetrics"
	"github.com/zerodown/zerodown/rules/rulecheck"
	"github.com/zerodown/zerodown/rules/ruletest"
	"github.com/zerodown/zerodown/watch"
	"github.com/zerodown/zerodown/watch/alerting"
)

// Part returns the evaluator's part of a zerodown binary.
func Part() *cli.Eval { return &cli.Eval{Rules: runRules, Alerting: alertingOf} }

// alertingOf starts watch's embedded evaluator with these options; nil
// (no rules evaluated) for an interval of 0.
func alertingOf(c cli.AlertingOptions) func(watch.AlertingEnv) (watch.Alerting, error) {
	if c.Interval <= 0 {
		return nil
	}
	o := alerting.Options{Interval: c.Interval, RuleFiles: c.RuleFiles, AlertmanagerURL: c.AlertmanagerURL, Webhook: c.Webhook,
		ExternalURL: c.ExternalURL, Hook: c.Hook}
	return func(env watch.AlertingEnv) (watch.Alerting, error) {
		o.Cause = env.Cause
		return alerting.Start(o, env.Registry, env.Intervals, env.Logger)
	}
}

const rulesUsage = `Usage:
  zerodown rules test FILE...    run rule unit tests in promtool's format (promtool test rules), in-process
  zerodown rules check FILE...   check rule files: syntax, names, labels, for, templates and the metrics they use

Exit codes: 0 passed, 1 a test or check failed, 2 bad usage.
`

// runRules runs "zerodown rules"; roles describes the in-cluster roles'
// metrics, nil in a binary without them (its metric contract is then
// incomplete: rules check only warns of zerodown_* names it does not
// know).
func runRules(args []string, stdout, stderr io.Writer, roles func(chan<- *prometheus.Desc) error) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, rulesUsage)
		return cli.ExitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, rulesUsage)
		return cli.ExitOK
	case "test":
		if cli.WantsHelp(args[1:]) {
			fmt.Fprint(stdout, rulesUsage)
			return cli.ExitOK
		}
		if len(args) < 2 {
			fmt.Fprint(stderr, "zerodown rules test: give one or more test files\n\n"+rulesUsage)
			return cli.ExitUsage
		}
		if !ruletest.Run(stdout, args[1:]...) {
			return cli.ExitFailure
		}
		return cli.ExitOK
	case "check":
		if cli.WantsHelp(args[1:]) {
			fmt.Fprint(stdout, rulesUsage)
			return cli.ExitOK
		}
		if len(args) < 2 {
			fmt.Fprint(stderr, "zerodown rules check: give one or more rule files\n\n"+rulesUsage)
			return cli.ExitUsage
		}
		names, complete, err := contract.Metrics(contract.Parts{Roles: roles, Evaluator: evalmetrics.Describe})
		if err != nil {
			fmt.Fprintln(stderr, "zerodown rules check:", err)
			return cli.ExitFailure
		}
		res := rulecheck.Check(rulecheck.Options{Exported: func(n string) bool { return contract.Exported(names, n) }, Complete: complete}, args[1:]...)
		if !res.Print(stdout, args[1:]...) {
			return cli.ExitFailure
		}
		return cli.ExitOK
	}
	fmt.Fprintf(stderr, "zerodown rules: unknown subcommand %q\n\n%s", args[0], rulesUsage)
	return cli.ExitUsage
}
