//go:build !nokube

package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/zerodown/zerodown/internal/kube"
	"github.com/zerodown/zerodown/report/collect"
)

// collectFromCluster fetches the interval streams of the pods src selects
// through the API server's pod proxy into src.dir; it returns their files.
func collectFromCluster(src clusterSource, log *slog.Logger) ([]string, []string, error) {
	kube.RouteKlog(log)
	rc, err := kube.RESTConfig(src.kubeconfig, "zerodown-report")
	if err != nil {
		return nil, nil, err
	}
	cs, err := kube.NewClient(rc)
	if err != nil {
		return nil, nil, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	got, warns, err := collect.Collect(ctx, cs, collect.Options{Namespace: src.namespace, Selector: src.selector, Since: src.since, Scheme: src.scheme, Dir: src.dir})
	var paths []string
	for _, f := range got {
		log.Info("fetched intervals", "pod", f.Pod, "bytes", f.Bytes, "file", f.Path)
		paths = append(paths, f.Path)
	}
	if err != nil {
		return paths, warns, fmt.Errorf("--kubeconfig: %w", err)
	}
	return paths, warns, nil
}
