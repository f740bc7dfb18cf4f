package kubecli

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zerodown/zerodown/internal/kube"
	"github.com/zerodown/zerodown/internal/sleep"
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
	// Off the evaluator's path, and retried as Alertmanager retries a 5xx:
	// an action that failed in passing (the API server away) is tried
	// again until it is decided or watch stops.
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	hook := func(m notify.Message) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for wait := time.Second; ctx.Err() == nil; wait = min(2*wait, 30*time.Second) {
				actx, cancel := context.WithTimeout(ctx, rollback.DefaultAnswerWithin)
				ds := ex.Submit(actx, &m)
				cancel()
				if !slices.ContainsFunc(ds, func(d rollback.Decision) bool { return rollback.Retry(d.Result) }) || !sleep.For(ctx, wait) {
					return
				}
			}
		}()
	}
	closeHook := func() {
		stop()
		wg.Wait()
		ex.Close()
	}
	return hook, ex, closeHook, nil
}
