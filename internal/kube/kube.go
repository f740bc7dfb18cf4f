// Package kube builds Kubernetes client configuration the way kubectl
// does: --kubeconfig, else $KUBECONFIG, else ~/.kube/config, else the
// in-cluster service account. It also routes klog into slog.
package kube

import (
	"fmt"
	"log/slog"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

// RESTConfig returns the client configuration from kubeconfig (empty: the
// usual search), named userAgent.
func RESTConfig(kubeconfig, userAgent string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		if kubeconfig != "" {
			return nil, fmt.Errorf("--kubeconfig %s: %w", kubeconfig, err)
		}
		return nil, fmt.Errorf("no Kubernetes client configuration (not in a cluster, no $KUBECONFIG or ~/.kube/config; set --kubeconfig): %w", err)
	}
	cfg.UserAgent = userAgent
	// Informers of a busy cluster list much; client-go's 5 QPS default
	// throttles the first sync.
	cfg.QPS, cfg.Burst = 50, 100
	return cfg, nil
}

// RouteKlog sends client-go's klog output to log.
func RouteKlog(log *slog.Logger) {
	klog.SetSlogLogger(log)
}

// DiscoveryTimeout bounds each API discovery request: a hung API server
// (accepting connections, never answering) must not hold anything up for
// client-go's 10 s TLS handshake and more; callers retry with backoff.
const DiscoveryTimeout = 5 * time.Second
