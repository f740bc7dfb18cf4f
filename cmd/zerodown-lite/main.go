// Command zerodown-lite is zerodown for laptops and CI runners that only
// watch: watch, demo, report, budget and rules, with the embedded rule
// evaluator, without the in-cluster roles and so without client-go. Its
// command line is package internal/cli; this file chooses its parts.
package main

import (
	"os"

	"github.com/zerodown/zerodown/internal/cli"
	"github.com/zerodown/zerodown/internal/cli/evalcli"
)

// parts are what zerodown-lite links beyond the core: the rule evaluator.
var parts = cli.Parts{Eval: evalcli.Part()}

func main() { os.Exit(cli.Main(parts)) }
