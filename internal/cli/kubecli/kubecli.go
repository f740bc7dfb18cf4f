// Package kubecli is the part of zerodown's command line that links
// client-go (cli.Kube): the in-cluster commands (poller, controller,
// rollback, mark) and the hooks by which the core's commands reach a
// cluster (report --kubeconfig, watch --kubeconfig and --rollback.policy).
// cmd/zerodown and cmd/zerodown-cluster link it; cmd/zerodown-lite does
// not.
package kubecli

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"

	"github.com/zerodown/zerodown/internal/cli"
	"github.com/zerodown/zerodown/internal/contract/incluster"
	"github.com/zerodown/zerodown/internal/kube"
)

// Part returns the Kubernetes part of a zerodown binary.
func Part() *cli.Kube {
	return &cli.Kube{
		Poller: runPoller, Controller: runController, Rollback: runRollback, Mark: runMark,
		CollectFromCluster: collectFromCluster, WatchCluster: newWatchCluster, WatchRollback: watchRollback,
		Describe: incluster.Describe,
	}
}

// registerKubeAuth adds --web.kubernetes-auth, for the in-cluster roles.
func registerKubeAuth(fs *flag.FlagSet, on *bool) {
	fs.BoolVar(on, "web.kubernetes-auth", false, "guard /metrics and /debug/pprof/ as kube-rbac-proxy does: a bearer token reviewed by the API server (TokenReview; none or unknown: 401) whose user may get the path as a non-resource URL (SubjectAccessReview; else 403). Answers are cached for 1m, and an allow is kept for up to 1h while the API server cannot answer (its upgrade loses no scrape). Needs create on tokenreviews and subjectaccessreviews (system:auth-delegator)")
}

// parseInCluster parses the flags of an in-cluster role (no arguments
// allowed), routes klog into the logger and builds the client
// configuration from the --kubeconfig flag's value (read after parsing).
func parseInCluster(fs *flag.FlagSet, c *cli.Common, args []string, kubeconfig *string, stdout, stderr io.Writer) (*slog.Logger, *rest.Config, int, bool) {
	log, pos, code, ok := c.Parse(fs, args, stdout, stderr)
	if !ok {
		return nil, nil, code, false
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "zerodown %s: unexpected arguments: %s\n", fs.Name(), strings.Join(pos, " "))
		return nil, nil, cli.ExitUsage, false
	}
	if l := fs.Lookup("web.listen-address"); l != nil && !cli.CheckListen(stderr, fs, l.Value.String()) {
		return nil, nil, cli.ExitUsage, false
	}
	kube.RouteKlog(log)
	rc, err := kube.RESTConfig(*kubeconfig, "zerodown-"+fs.Name())
	if err != nil {
		fmt.Fprintf(stderr, "zerodown %s: %v\n", fs.Name(), err)
		return nil, nil, cli.ExitUsage, false
	}
	return log, rc, cli.ExitOK, true
}

// checkSelectors parses label selector flags, so a bad one is a usage
// error named by its flag.
func checkSelectors(stderr io.Writer, cmd string, flags map[string]string) bool {
	ok := true
	for _, name := range slices.Sorted(maps.Keys(flags)) {
		if _, err := labels.Parse(flags[name]); err != nil {
			fmt.Fprintf(stderr, "zerodown %s: --%s %q: %v\n", cmd, name, flags[name], err)
			ok = false
		}
	}
	return ok
}

// envOr returns the environment variable name, or def when it is unset.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// inCluster says whether this process runs in a pod, where the
// kubernetes Service and the ServiceAccount's files are.
func inCluster() bool {
	if os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
		return false
	}
	_, err := os.Stat("/var/run/secrets/kubernetes.io/serviceaccount/token")
	return err == nil
}
