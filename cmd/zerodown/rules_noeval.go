//go:build noeval

package main

import (
	"fmt"
	"io"
)

// Built with -tags noeval (the in-cluster image): without Prometheus's
// PromQL engine and rules manager, so without zerodown rules.
func runRules(_ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "zerodown rules: this zerodown was built without the rule evaluator (-tags noeval); use the full build")
	return exitUsage
}
