// Command zerodown measures service disruption during cluster upgrades:
// every command, the in-cluster roles and the embedded rule evaluator.
// Its command line is package internal/cli; this file chooses its parts.
package main

import (
	"os"

	"github.com/zerodown/zerodown/internal/cli"
	"github.com/zerodown/zerodown/internal/cli/evalcli"
	"github.com/zerodown/zerodown/internal/cli/kubecli"
)

// parts are what zerodown links beyond the core: everything.
var parts = cli.Parts{Kube: kubecli.Part(), Eval: evalcli.Part()}

func main() { os.Exit(cli.Main(parts)) }
