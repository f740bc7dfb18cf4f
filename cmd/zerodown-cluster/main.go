// Command zerodown-cluster is zerodown for a cluster, its container
// image's binary: every command and in-cluster role, without the embedded
// rule evaluator (in a cluster Prometheus evaluates the rules), and so
// without Prometheus's PromQL engine and rules manager. Its command line
// is package internal/cli; this file chooses its parts.
package main

import (
	"os"

	"github.com/zerodown/zerodown/internal/cli"
	"github.com/zerodown/zerodown/internal/cli/kubecli"
)

// parts are what zerodown-cluster links beyond the core: the in-cluster
// commands and hooks.
var parts = cli.Parts{Kube: kubecli.Part()}

func main() { os.Exit(cli.Main(parts)) }
