package rulecheck

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zerodown/zerodown/internal/contract"
	"github.com/zerodown/zerodown/internal/contract/incluster"
	"github.com/zerodown/zerodown/rules/eval/evalmetrics"
)

func options(t *testing.T) Options {
	names, complete, err := contract.Metrics(contract.Parts{Roles: incluster.Describe, Evaluator: evalmetrics.Describe})
	if err != nil {
		t.Fatal(err)
	}
	return Options{Exported: func(n string) bool { return contract.Exported(names, n) }, Complete: complete}
}

// The shipped rules select only what zerodown exports or records.
func TestShippedRules(t *testing.T) {
	files, _ := filepath.Glob("../*.rules.yaml")
	if len(files) == 0 {
		t.Fatal("no shipped rule files")
	}
	res := Check(options(t), files...)
	var out bytes.Buffer
	if !res.Print(&out, files...) || len(res.Warnings) > 0 {
		t.Fatalf("shipped rules do not check clean:\n%s", out.String())
	}
}

func TestInvalid(t *testing.T) {
	for file, want := range map[string]string{
		"invalid-metrics.rules.yaml": `
testdata/invalid-metrics.rules.yaml:7: group "g", rule "Typo": for 10s is shorter than the group's interval 30s: the alert fires at its first evaluation
testdata/invalid-metrics.rules.yaml:7: group "g", rule "Typo": zerodown exports no metric zerodown_backend_upp
testdata/invalid-metrics.rules.yaml:10: group "g", rule "NotRecorded": backend:zerodown_up:max is not recorded by any rule of the checked files
testdata/invalid-metrics.rules.yaml:13: group "g", rule "Foreign": node_load1 is neither a zerodown metric, nor recorded, nor an allowed external metric (^(up|ALERTS|ALERTS_FOR_STATE|scrape_.+|kube_.+)$)`,
		"invalid-template.rules.yaml": `
testdata/invalid-template.rules.yaml:4: group "g", rule 1, "BadTemplate": annotation "summary": template: __alert_BadTemplate:1: unclosed action`,
		"invalid-field.rules.yaml": `
testdata/invalid-field.rules.yaml:6: groups[0].rules[0].fore: unknown field; did you mean "for"?
testdata/invalid-field.rules.yaml:7: groups[0].rules[0].labels: expected a mapping, got a list`,
		"missing.rules.yaml": `
testdata/missing.rules.yaml: open testdata/missing.rules.yaml: no such file or directory`,
	} {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join("testdata", file)
			res := Check(options(t), path)
			var got []string
			for _, e := range res.Errors {
				got = append(got, e.Error())
			}
			if g := strings.Join(got, "\n"); g != strings.TrimSpace(want) {
				t.Errorf("errors:\n%s\nwant:\n%s", g, strings.TrimSpace(want))
			}
			var out bytes.Buffer
			if res.Print(&out, path) || !strings.Contains(out.String(), "  FAILED:") {
				t.Errorf("Print passed an invalid file:\n%s", out.String())
			}
		})
	}
}

// Without the poller and controller (zerodown-lite) an unknown zerodown_*
// name is a warning; recorded names still count across files.
func TestIncompleteContractWarns(t *testing.T) {
	res := Check(Options{Exported: func(string) bool { return false }}, "testdata/invalid-metrics.rules.yaml")
	var warned bool
	for _, w := range res.Warnings {
		warned = warned || strings.Contains(w, "zerodown_backend_upp is not a metric this build knows")
	}
	if !warned {
		t.Errorf("no warning for an unknown zerodown_* name: %q", res.Warnings)
	}
	for _, e := range res.Errors {
		if strings.Contains(e.Error(), "zerodown_backend_up") {
			t.Errorf("an error for a zerodown_* name in an incomplete build: %v", e)
		}
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), `rule "unconventional": a recorded series is named level:metric:operations`) {
		t.Errorf("no warning for a recording rule without colons: %q", res.Warnings)
	}
}
