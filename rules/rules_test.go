package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/zerodown/zerodown/rules/rulecheck"
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

// Every alert of the shipped files has a severity, a summary, a
// description and a runbook_url into rules/runbooks/ whose file exists;
// every runbook belongs to an alert.
func TestAlertsHaveRunbooks(t *testing.T) {
	alerts := map[string]bool{}
	for _, r := range shippedRules(t) {
		if r.Alert == "" {
			continue
		}
		name := r.file
		alerts[r.Alert] = true
		switch r.Labels["severity"] {
		case "critical", "warning", "info":
		default:
			t.Errorf("%s: %s: severity %q, want critical, warning or info", name, r.Alert, r.Labels["severity"])
		}
		for _, a := range []string{"summary", "description"} {
			if r.Annotations[a] == "" {
				t.Errorf("%s: %s has no %s", name, r.Alert, a)
			}
		}
		want := "https://github.com/zerodown/zerodown/blob/main/rules/runbooks/" + r.Alert + ".md"
		if r.Annotations["runbook_url"] != want {
			t.Errorf("%s: %s: runbook_url %q, want %q", name, r.Alert, r.Annotations["runbook_url"], want)
		}
		if _, err := os.Stat(filepath.Join("runbooks", r.Alert+".md")); err != nil {
			t.Errorf("%s: %s: no runbook: %v", name, r.Alert, err)
		}
	}
	books, _ := filepath.Glob("runbooks/*.md")
	for _, b := range books {
		if !alerts[strings.TrimSuffix(filepath.Base(b), ".md")] {
			t.Errorf("%s belongs to no alert", b)
		}
	}
	if len(alerts) < 18 {
		t.Errorf("%d alerts in the shipped files", len(alerts))
	}
}

// Every expression of the shipped rules keeps the cluster label, so the
// same rules evaluated over a long-term store holding many clusters
// (Thanos, Mimir, a federated Prometheus; every series labelled cluster)
// never mix two clusters: an aggregation keeps it (by lists it, or
// without does not drop it) and a match on labels lists it (on) or
// keeps it (ignoring does not name it). On a single Prometheus the label
// is absent and "by (cluster)" is no grouping at all. The two-cluster
// behaviour is tested with promtool in tests/fleet.test.yaml.
func TestRulesKeepCluster(t *testing.T) {
	checked := 0
	for _, r := range shippedRules(t) {
		rule := r.file + ": " + r.Record + r.Alert
		expr, err := parser.ParseExpr(r.Expr)
		if err != nil {
			t.Errorf("%s: %v", rule, err)
			continue
		}
		checked++
		for _, p := range rulecheck.LabelLosses(expr, "cluster") {
			t.Errorf("%s: %s", rule, p)
		}
	}
	if checked < 50 {
		t.Errorf("checked %d expressions, want every rule's", checked)
	}
}

// shippedRule is one rule of the shipped files, with its file.
type shippedRule struct {
	file                string
	Record, Alert, Expr string
	Labels, Annotations map[string]string
}

// shippedRules reads every rule of the shipped rule files.
func shippedRules(t *testing.T) []shippedRule {
	t.Helper()
	names, _ := filepath.Glob("*.rules.yaml")
	var out []shippedRule
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var f struct {
			Groups []struct{ Rules []shippedRule }
		}
		if err := yaml.Unmarshal(data, &f); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				r.file = name
				out = append(out, r)
			}
		}
	}
	return out
}
