package evalmetrics

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	promrules "github.com/prometheus/prometheus/rules"
)

func names(describe func(chan<- *prometheus.Desc)) []string {
	ch := make(chan *prometheus.Desc)
	go func() { describe(ch); close(ch) }()
	var out []string
	for d := range ch {
		out = append(out, d.String())
	}
	slices.Sort(out)
	return out
}

// RuleManager's collectors are every metric the rules manager registers
// itself when given a Registerer (a newer Prometheus may add some).
func TestRuleManagerIsComplete(t *testing.T) {
	reg := prometheus.NewRegistry()
	promrules.NewGroupMetrics(reg)
	want := names(func(ch chan<- *prometheus.Desc) { reg.Describe(ch) })
	_, cs := RuleManager()
	got := names(func(ch chan<- *prometheus.Desc) {
		for _, c := range cs {
			c.Describe(ch)
		}
	})
	if !slices.Equal(got, want) {
		t.Errorf("RuleManager describes\n%q\nthe rules manager registers\n%q", got, want)
	}
	if all := names(Describe); len(all) != len(want)+1 {
		t.Errorf("Describe: %d descriptions, want %d", len(all), len(want)+1)
	}
}
