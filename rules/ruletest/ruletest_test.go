package ruletest

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// The shipped rules pass their own tests on the embedded engine (rules/test.sh
// runs the same files through promtool).
func TestShippedRules(t *testing.T) {
	files, err := filepath.Glob("../tests/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files under rules/tests: %v", err)
	}
	var out bytes.Buffer
	if !Run(&out, files...) {
		t.Fatalf("shipped rule tests failed:\n%s", out.String())
	}
	if n := strings.Count(out.String(), "SUCCESS"); n != len(files) {
		t.Errorf("%d SUCCESS lines for %d files:\n%s", n, len(files), out.String())
	}
}

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		file string
		ok   bool
		want []string // in the report, in this order
	}{
		{"pass.test.yaml", true, []string{"Unit Testing:  testdata/pass.test.yaml", "  SUCCESS"}},
		{"fail.test.yaml", false, []string{
			"  FAILED:",
			`testdata/fail.test.yaml:4: test wrong expectations: line 16: alertname Down, eval_time 1m:`,
			`want: {alertname="Down", instance="x", job="a", severity="page"} annotations {}`,
			"got:  none",
			`testdata/fail.test.yaml:4: test wrong expectations: line 10: expr "job:up:sum", eval_time 1m:`,
			`want: {__name__="job:up:sum", job="a"} 1`,
			`got:  {__name__="job:up:sum", job="a"} 0`,
		}},
		{"invalid-field.test.yaml", false, []string{`testdata/invalid-field.test.yaml:4: tests[0].input_serie: unknown field; did you mean "input_series"?`}},
		{"invalid-alertname.test.yaml", false, []string{"testdata/invalid-alertname.test.yaml:8: tests[0].alert_rule_test[0].alertname: required"}},
		{"invalid-rulefile.test.yaml", false, []string{"testdata/invalid-rulefile.test.yaml:1: rule_files[0]: no file matches testdata/missing.yaml"}},
		{"invalid-rules.test.yaml", false, []string{`testdata/badrules.yaml: 5:11: group "t", rule 1, "job:up:sum": could not parse expression`}},
		{"missing.test.yaml", false, []string{"open testdata/missing.test.yaml: no such file or directory"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var out bytes.Buffer
			ok := Run(&out, filepath.Join("testdata", tc.file))
			if ok != tc.ok {
				t.Errorf("ok = %v, want %v", ok, tc.ok)
			}
			rest := out.String()
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("report lacks %q (in order):\n%s", w, out.String())
				}
				rest = rest[i+len(w):]
			}
		})
	}
}
