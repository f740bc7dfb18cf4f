//go:build nokube

package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zerodown/zerodown/rules/notify"
	"github.com/zerodown/zerodown/watch"
)

// Built with -tags nokube (make build-lite): zerodown without the
// in-cluster roles, and so without client-go, for laptops and CI runners
// that only watch. It is a third of the size and takes half the memory.

func runPoller(_ []string, _, stderr io.Writer) int { return withoutKube("poller", stderr) }

func runController(_ []string, _, stderr io.Writer) int { return withoutKube("controller", stderr) }

func runRollback(_ []string, _, stderr io.Writer) int { return withoutKube("rollback", stderr) }

func watchRollback(string, string, string, bool, *slog.Logger) (func(notify.Message), prometheus.Collector, func(), error) {
	return nil, nil, nil, errors.New("--rollback.policy: this zerodown was built without Kubernetes support (-tags nokube); use the full build")
}

func runMark(_ []string, _, stderr io.Writer) int { return withoutKube("mark", stderr) }

// describeRoles: no in-cluster roles, so an incomplete metric contract.
var describeRoles func(chan<- *prometheus.Desc) error

func withoutKube(role string, stderr io.Writer) int {
	fmt.Fprintf(stderr, "zerodown %s: this zerodown was built without Kubernetes support (-tags nokube); use the full build\n", role)
	return exitUsage
}

func collectFromCluster(clusterSource, *slog.Logger) ([]string, []string, error) {
	return nil, nil, errors.New("--kubeconfig: this zerodown was built without Kubernetes support (-tags nokube); use the full build")
}

func newWatchCluster(string, string, []string, *slog.Logger) (watch.Cluster, func(), error) {
	return nil, nil, errors.New("this zerodown was built without Kubernetes support (-tags nokube); use the full build")
}
