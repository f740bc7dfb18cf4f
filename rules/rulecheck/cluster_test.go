package rulecheck

import (
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

// The check finds what it must, and passes what it must.
func TestLabelLosses(t *testing.T) {
	for expr, want := range map[string]int{
		`max(x)`:                                1,
		`max by (backend) (x)`:                  1,
		`max by (cluster, backend) (x)`:         0,
		`max without (instance) (x)`:            0,
		`max without (cluster) (x)`:             1,
		`x and on () (y == 1)`:                  1,
		`x and on (cluster) (y == 1)`:           0,
		`x / ignoring (cluster) y`:              1,
		`x / ignoring (reason) y`:               0,
		`x / y`:                                 0,
		`x > 0.5`:                               0,
		`topk(1, max by (cluster, v) (x))`:      1,
		`topk by (cluster) (1, max by (v) (x))`: 1,
		`x * on (backend) group_left () max by (cluster, backend) (y)`: 1,
	} {
		e, err := parser.ParseExpr(expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := LabelLosses(e, "cluster"); len(got) != want {
			t.Errorf("%s: %d losses %q, want %d", expr, len(got), got, want)
		}
	}
}
