// Command genmanifest writes the PrometheusRule manifest made from the
// shipped rule files (make rules-manifest).
package main

import (
	"fmt"
	"os"

	"github.com/zerodown/zerodown/rules"
)

func main() {
	b, err := rules.PrometheusRule()
	if err == nil {
		err = os.WriteFile(rules.ManifestPath, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genmanifest:", err)
		os.Exit(1)
	}
}
