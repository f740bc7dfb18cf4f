// Package contract knows zerodown's metric contract from the code: the
// names of every metric family its roles export, taken from the
// descriptions of their collectors, not from a hand-kept list.
package contract

import (
	"regexp"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zerodown/zerodown/internal/role"
	"github.com/zerodown/zerodown/internal/serve"
	"github.com/zerodown/zerodown/netmatrix"
	"github.com/zerodown/zerodown/probes"
	"github.com/zerodown/zerodown/rules/notify"
)

// Metrics returns the names of the metric families zerodown exports; for
// histograms and summaries, their _bucket, _sum and _count series too.
// complete is false in a build that lacks some roles (nokube): then
// zerodown_* names it does not know may still be exported.
func Metrics() (names map[string]bool, complete bool, err error) {
	ch := make(chan *prometheus.Desc, 64)
	done := make(chan struct{})
	names = map[string]bool{}
	go func() {
		defer close(done)
		for d := range ch {
			if m := fqName.FindStringSubmatch(d.String()); m != nil {
				for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
					names[m[1]+suffix] = true
				}
			}
		}
	}()
	for _, c := range role.Collectors() {
		c.Describe(ch)
	}
	serve.NewReloadGauges().Describe(ch)
	e := probes.NewEngine(probes.EngineOptions{})
	e.Describe(ch)
	notify.Describe(ch)
	describeEvaluator(ch)
	(&netmatrix.Collector{}).Describe(ch)
	complete, err = describeRoles(ch)
	close(ch)
	<-done
	return names, complete, err
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// Exported reports whether name is one of zerodown's metric names, as
// exposed.
func Exported(names map[string]bool, name string) bool { return names[name] }
