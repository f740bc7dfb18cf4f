//go:build !noeval

package main

import (
	"fmt"
	"io"
	"time"

	"github.com/zerodown/zerodown/internal/contract"
	"github.com/zerodown/zerodown/rules/eval/evalmetrics"
	"github.com/zerodown/zerodown/rules/notify"
	"github.com/zerodown/zerodown/rules/rulecheck"
	"github.com/zerodown/zerodown/rules/ruletest"
	"github.com/zerodown/zerodown/watch"
	"github.com/zerodown/zerodown/watch/alerting"
)

// alertingOf starts watch's embedded evaluator with these options; nil
// (no rules evaluated) for a step of 0.
func alertingOf(step time.Duration, files []string, amURL, webhook, extURL string, hook func(notify.Message)) func(watch.AlertingEnv) (watch.Alerting, error) {
	if step <= 0 {
		return nil
	}
	o := alerting.Options{Interval: step, RuleFiles: files, AlertmanagerURL: amURL, Webhook: webhook, ExternalURL: extURL, Hook: hook}
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

func runRules(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, rulesUsage)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, rulesUsage)
		return exitOK
	case "test":
		if wantsHelp(args[1:]) {
			fmt.Fprint(stdout, rulesUsage)
			return exitOK
		}
		if len(args) < 2 {
			fmt.Fprint(stderr, "zerodown rules test: give one or more test files\n\n"+rulesUsage)
			return exitUsage
		}
		if !ruletest.Run(stdout, args[1:]...) {
			return exitFailure
		}
		return exitOK
	case "check":
		if wantsHelp(args[1:]) {
			fmt.Fprint(stdout, rulesUsage)
			return exitOK
		}
		if len(args) < 2 {
			fmt.Fprint(stderr, "zerodown rules check: give one or more rule files\n\n"+rulesUsage)
			return exitUsage
		}
		names, complete, err := contract.Metrics(contract.Parts{Roles: describeRoles, Evaluator: evalmetrics.Describe})
		if err != nil {
			fmt.Fprintln(stderr, "zerodown rules check:", err)
			return exitFailure
		}
		res := rulecheck.Check(rulecheck.Options{Exported: func(n string) bool { return contract.Exported(names, n) }, Complete: complete}, args[1:]...)
		if !res.Print(stdout, args[1:]...) {
			return exitFailure
		}
		return exitOK
	}
	fmt.Fprintf(stderr, "zerodown rules: unknown subcommand %q\n\n%s", args[0], rulesUsage)
	return exitUsage
}
