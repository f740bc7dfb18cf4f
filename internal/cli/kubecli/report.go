package kubecli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/zerodown/zerodown/internal/cli"
	"github.com/zerodown/zerodown/internal/kube"
	"github.com/zerodown/zerodown/report/collect"
)

// collectFromCluster fetches the interval streams of the pods src selects
// through the API server's pod proxy into src.Dir; it returns their files.
func collectFromCluster(src cli.ClusterSource, log *slog.Logger) ([]string, []string, error) {
	kube.RouteKlog(log)
	rc, err := kube.RESTConfig(src.Kubeconfig, "zerodown-report")
	if err != nil {
		return nil, nil, err
	}
	cs, err := kube.NewClient(rc)
	if err != nil {
		return nil, nil, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	got, warns, err := collect.Collect(ctx, cs, collect.Options{Namespace: src.Namespace, Selector: src.Selector, Since: src.Since, Scheme: src.Scheme, Dir: src.Dir})
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
