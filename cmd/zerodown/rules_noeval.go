//go:build noeval

package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/zerodown/zerodown/rules/notify"
	"github.com/zerodown/zerodown/watch"
)

// alertingOf: no embedded evaluator in this build. Rules, Alertmanager or
// a webhook asked for are an error at the start of the run; by default
// nothing is evaluated (Prometheus evaluates the rules in a cluster).
func alertingOf(_ time.Duration, files []string, amURL, webhook, _ string, hook func(notify.Message)) func(watch.AlertingEnv) (watch.Alerting, error) {
	if len(files) == 0 && amURL == "" && webhook == "" && hook == nil {
		return nil
	}
	return func(watch.AlertingEnv) (watch.Alerting, error) {
		return nil, errors.New("this zerodown was built without the rule evaluator (-tags noeval): --rules, --alertmanager.url and --alert.webhook need the full build")
	}
}

// Built with -tags noeval (the in-cluster image): without Prometheus's
// PromQL engine and rules manager, so without zerodown rules.
func runRules(_ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "zerodown rules: this zerodown was built without the rule evaluator (-tags noeval); use the full build")
	return exitUsage
}
