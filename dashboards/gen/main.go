// Command gen writes the dashboards' JSON and manifests (make dashboards),
// from the module's root.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/zerodown/zerodown/dashboards"
)

func main() {
	files, err := dashboards.Files()
	if err == nil {
		for path, data := range files {
			if err = os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				break
			}
			if err = os.WriteFile(path, data, 0o644); err != nil {
				break
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashboards/gen:", err)
		os.Exit(1)
	}
}
