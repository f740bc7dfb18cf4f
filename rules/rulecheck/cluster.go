package rulecheck

import (
	"fmt"
	"slices"

	"github.com/prometheus/prometheus/promql/parser"
)

// LabelLosses lists the parts of an expression that drop a label or match
// series across its values: an aggregation whose by does not list it (or
// whose without does), a vector match whose on does not list it (or whose
// ignoring does). Rules and dashboards over a store holding many clusters
// must keep the cluster label this way, or they mix clusters.
func LabelLosses(e parser.Expr, label string) []string {
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.AggregateExpr:
			if n.Without == slices.Contains(n.Grouping, label) {
				out = append(out, fmt.Sprintf("%s drops %s: %s", n.Op, label, n))
			}
		case *parser.BinaryExpr:
			if m := n.VectorMatching; m != nil && n.LHS.Type() == parser.ValueTypeVector && n.RHS.Type() == parser.ValueTypeVector &&
				m.On == !slices.Contains(m.MatchingLabels, label) {
				out = append(out, fmt.Sprintf("%s matches across %s: %s", n.Op, label, n))
			}
		}
		return nil
	})
	return out
}
