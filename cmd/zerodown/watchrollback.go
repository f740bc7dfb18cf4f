//go:build !nokube

package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zerodown/zerodown/internal/kube"
	"github.com/zerodown/zerodown/rollback"
	"github.com/zerodown/zerodown/rules/notify"
)

// watchRollback builds the rollback receiver of watch --rollback.policy:
// the embedded evaluator's alerts go straight to it (no HTTP), and it acts
// on the cluster of kubeconfig as the controller's leader would.
func watchRollback(policyFile, kubeconfig, record string, disabled bool, log *slog.Logger) (func(notify.Message), prometheus.Collector, func(), error) {
	p, err := rollback.LoadPolicy(policyFile)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--rollback.policy: %w", err)
	}
	ns, name, ok := strings.Cut(record, "/")
	if !ok || ns == "" || name == "" {
		return nil, nil, nil, fmt.Errorf("--rollback.record %q: expected NAMESPACE/NAME", record)
	}
	kube.RouteKlog(log)
	rc, err := kube.RESTConfig(kubeconfig, "zerodown-watch")
	if err != nil {
		return nil, nil, nil, err
	}
	kc, err := kube.NewClient(rc)
	if err != nil {
		return nil, nil, nil, err
	}
	rlog := log.With("component", "rollback")
	ex := rollback.NewExecutor(rollback.Options{Policy: p, Disabled: disabled, Logger: rlog,
		Cluster: &rollback.Kube{Client: kc, Namespace: ns, Name: name, Component: "zerodown-watch"}})
	rlog.Info("rollback on the evaluator's alerts", "rules", len(p.Rules), "record", record, "disabled", disabled)
	hook := func(m notify.Message) { ex.Submit(context.Background(), &m) }
	return hook, ex, ex.Close, nil
}
