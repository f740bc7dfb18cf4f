package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The committed PrometheusRule manifest is the one the rule files make.
func TestManifestUpToDate(t *testing.T) {
	want, err := PrometheusRule()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", ManifestPath))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s is not what the rule files make: run make rules-manifest", ManifestPath)
	}
	// It holds every group of every file, and parses.
	var m struct {
		Kind string
		Spec struct {
			Groups []struct {
				Name  string
				Rules []map[string]any
			}
		}
	}
	if err := yaml.Unmarshal(got, &m); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range m.Spec.Groups {
		n += len(g.Rules)
		if !strings.HasPrefix(g.Name, "zerodown-") {
			t.Errorf("group %q: want a name starting with zerodown-", g.Name)
		}
	}
	if m.Kind != "PrometheusRule" || len(m.Spec.Groups) < 2 || n < 30 {
		t.Errorf("manifest: kind %q, %d groups, %d rules", m.Kind, len(m.Spec.Groups), n)
	}
}
