package dashboards

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/zerodown/zerodown/internal/contract"
	"github.com/zerodown/zerodown/internal/contract/incluster"
	"github.com/zerodown/zerodown/rules"
	"github.com/zerodown/zerodown/rules/eval/evalmetrics"
	"github.com/zerodown/zerodown/rules/rulecheck"
)

// What is committed is what the code makes: make dashboards after a change.
func TestGeneratedFilesUpToDate(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range files {
		got, err := os.ReadFile(filepath.Join("..", path))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is not what the dashboards make (%v): run make dashboards", path, err)
		}
	}
	committed, _ := filepath.Glob(filepath.Join("..", JSONDir, "*.json"))
	if len(committed) != len(All()) {
		t.Errorf("%s holds %d files, the code makes %d: remove the stale ones", JSONDir, len(committed), len(All()))
	}
}

// Substitute replaces the template variables of a query with values that
// select everything, as Grafana does with All selected: for the checks
// here and for running the queries in the e2e test.
func Substitute(expr, rateInterval, rangeDur string) string {
	return strings.NewReplacer("$__rate_interval", rateInterval, "$__range", rangeDur,
		"$cluster", ".*", "$namespace", ".*", "$backend", ".*", "$connection", ".*").Replace(expr)
}

func recorded(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	names, _ := rules.Files.ReadDir(".")
	for _, n := range names {
		data, err := rules.Files.ReadFile(n.Name())
		if err != nil {
			t.Fatal(err)
		}
		var f struct {
			Groups []struct {
				Rules []struct {
					Record string `yaml:"record"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		}
		if err := yaml.Unmarshal(data, &f); err != nil {
			t.Fatal(err)
		}
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					out[r.Record] = true
				}
			}
		}
	}
	return out
}

// Every query parses, names only metrics that zerodown exports, its rules
// record or Prometheus makes (ALERTS), lets Grafana choose its range
// ($__rate_interval, $__range) rather than hard-coding one, and uses the
// dashboard's variables. Every panel says how to read it and has a unit.
func TestQueries(t *testing.T) {
	exported, complete, err := contract.Metrics(contract.Parts{Roles: incluster.Describe, Evaluator: evalmetrics.Describe})
	if err != nil || !complete {
		t.Fatalf("the metric contract: complete %v, %v", complete, err)
	}
	rec := recorded(t)
	fixedRange := regexp.MustCompile(`\[[0-9]+[smhdw]\]`)
	uids := map[string]bool{}
	for _, d := range All() {
		if uids[d.UID] {
			t.Errorf("UID %s used twice", d.UID)
		}
		uids[d.UID] = true
		queries := []string{}
		for _, a := range d.Annotations {
			queries = append(queries, a.Expr)
		}
		for _, v := range d.Vars {
			if v.Query != "" {
				// label_values(SELECTOR, label): the selector must parse.
				inner := strings.TrimSuffix(strings.TrimPrefix(v.Query, "label_values("), ")")
				queries = append(queries, inner[:strings.LastIndex(inner, ",")])
			}
		}
		for _, p := range d.Panels() {
			if p.Description == "" || p.Unit == "" || len(p.Queries) == 0 || p.Width == 0 || p.Height == 0 {
				t.Errorf("%s / %s: want a description, a unit, queries and a size", d.UID, p.Title)
			}
			for _, q := range p.Queries {
				queries = append(queries, q.Expr)
				if fixedRange.MatchString(q.Expr) {
					t.Errorf("%s / %s: a fixed range in %s: use $__rate_interval or $__range", d.UID, p.Title, q.Expr)
				}
				if strings.Contains(q.Expr, "backend") && strings.Contains(q.Expr, "zerodown_") && !strings.Contains(q.Expr, `backend=~"$backend"`) &&
					!strings.Contains(q.Expr, "ALERTS") {
					t.Errorf("%s / %s: a backend query that ignores $backend: %s", d.UID, p.Title, q.Expr)
				}
				if !strings.Contains(q.Expr, `cluster=~"$cluster"`) {
					t.Errorf("%s / %s: ignores $cluster: %s", d.UID, p.Title, q.Expr)
				}
			}
		}
		for _, q := range queries {
			expr, err := parser.ParseExpr(Substitute(q, "1m", "1h"))
			if err != nil {
				t.Errorf("%s: %s: %v", d.UID, q, err)
				continue
			}
			names, byPattern := rulecheck.Selections(expr)
			if byPattern {
				t.Errorf("%s: %s selects metrics by a name pattern", d.UID, q)
			}
			for name := range names {
				if !contract.Exported(exported, name) && !rec[name] && !rulecheck.DefaultExternal.MatchString(name) && !strings.HasPrefix(name, "process_") {
					t.Errorf("%s: %s names %s, which neither zerodown exports nor its rules record", d.UID, q, name)
				}
			}
		}
	}
	for _, want := range []string{"zerodown-upgrade-disruption", "zerodown-slo", "zerodown-self"} {
		if !uids[want] {
			t.Errorf("no dashboard with the UID %s (UIDs are links people keep: never change them)", want)
		}
	}
}

// Every query that ships (the annotations and panels of the Grafana JSON
// and of the console variant) keeps the cluster label through every
// aggregation and vector match, as the rules do: with cluster=All over a
// store that holds many clusters (Thanos, Mimir, a federating
// Prometheus), no panel mixes them. A heatmap keeps cluster in its series
// yet draws every series of a query as one histogram: it repeats per
// cluster.
func TestQueriesKeepCluster(t *testing.T) {
	const label = "cluster"
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	type targets []struct{ Expr string }
	checked, want := 0, 0
	check := func(where, q string) {
		expr, err := parser.ParseExpr(Substitute(q, "1m", "1h"))
		if err != nil {
			t.Errorf("%s: %s: %v", where, q, err)
			return
		}
		checked++
		for _, p := range rulecheck.LabelLosses(expr, label) {
			t.Errorf("%s: %s", where, p)
		}
	}
	for _, d := range All() {
		want += len(d.Annotations)
		for _, p := range d.Panels() {
			want += len(p.Queries)
			if p.Console {
				want += len(p.Queries)
			}
			if p.Kind == Heatmap && p.Repeat != label {
				t.Errorf("%s / %s: a heatmap that does not repeat per %s draws the buckets of all of them as one", d.UID, p.Title, label)
			}
		}
		var g struct {
			Annotations struct {
				List []struct{ Name, Expr string } `json:"list"`
			} `json:"annotations"`
			Panels []struct {
				Title   string
				Targets targets
			} `json:"panels"`
		}
		if err := json.Unmarshal(files[JSONDir+"/"+d.File+".json"], &g); err != nil {
			t.Fatal(err)
		}
		for _, a := range g.Annotations.List {
			if a.Expr != "" { // Grafana's built-in annotations query no Prometheus
				check(d.UID+" / annotation "+a.Name, a.Expr)
			}
		}
		for _, p := range g.Panels {
			for _, tg := range p.Targets {
				check(d.UID+" / "+p.Title, tg.Expr)
			}
		}
		c, err := d.ConsoleJSON()
		if err != nil {
			t.Fatal(err)
		}
		var cv struct {
			Rows []struct {
				Panels []struct {
					Title   string
					Targets targets
				}
			}
		}
		if err := json.Unmarshal(c, &cv); err != nil {
			t.Fatal(err)
		}
		for _, r := range cv.Rows {
			for _, p := range r.Panels {
				for _, tg := range p.Targets {
					check(d.UID+" console / "+p.Title, tg.Expr)
				}
			}
		}
	}
	if checked != want {
		t.Errorf("checked %d queries, want every one of the %d that ship", checked, want)
	}
}

// The Grafana JSON has the datasource variable first, every query on it,
// and unique panel ids; the console variant has only the panel types the
// console renders, and no variable it cannot fill.
func TestRendered(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range All() {
		var g struct {
			Templating struct {
				List []struct {
					Name, Type string
				} `json:"list"`
			} `json:"templating"`
			Panels []struct {
				ID         int `json:"id"`
				Type       string
				Datasource struct{ UID string } `json:"datasource"`
				Targets    []struct {
					Datasource struct{ UID string } `json:"datasource"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(files[JSONDir+"/"+d.File+".json"], &g); err != nil {
			t.Fatal(err)
		}
		if len(g.Templating.List) == 0 || g.Templating.List[0].Name != "datasource" || g.Templating.List[0].Type != "datasource" {
			t.Errorf("%s: the first variable is not the datasource", d.UID)
		}
		ids := map[int]bool{}
		for _, p := range g.Panels {
			if ids[p.ID] || p.ID == 0 {
				t.Errorf("%s: panel id %d missing or used twice", d.UID, p.ID)
			}
			ids[p.ID] = true
			for _, tg := range p.Targets {
				if tg.Datasource.UID != "${datasource}" {
					t.Errorf("%s: a %s panel queries %q, not ${datasource}", d.UID, p.Type, tg.Datasource.UID)
				}
			}
		}
		c, err := d.ConsoleJSON()
		if err != nil || c == nil {
			t.Fatalf("%s: console variant: %v", d.UID, err)
		}
		var cv struct {
			Rows []struct {
				Panels []struct {
					Type    string
					Span    int
					Targets []struct{ Expr string }
				}
			}
		}
		if err := json.Unmarshal(c, &cv); err != nil {
			t.Fatal(err)
		}
		for _, r := range cv.Rows {
			for _, p := range r.Panels {
				if !slices.Contains([]string{"graph", "singlestat", "gauge", "table", "grafana-piechart-panel"}, p.Type) || p.Span < 1 || p.Span > 12 {
					t.Errorf("%s console: a %s panel of span %d, which the console does not render", d.UID, p.Type, p.Span)
				}
				for _, tg := range p.Targets {
					if strings.Contains(tg.Expr, "$__") || strings.Contains(tg.Expr, "$datasource") {
						t.Errorf("%s console: %s uses a variable the console does not fill", d.UID, tg.Expr)
					}
				}
			}
		}
	}
}
