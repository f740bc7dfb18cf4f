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

// Parts are the parts of zerodown a binary may lack, each as the
// description of its metrics: nil where the binary lacks the part. The
// rest (every role's metrics, the probe engine's, the reload gauges, the
// network matrix's, the alert notifications') every binary has.
type Parts struct {
	// Roles describes the in-cluster roles' metrics, the poller's and the
	// controller's (incluster.Describe; they link client-go). Without it
	// the contract is incomplete: zerodown_* names it does not know may
	// still be exported, by another binary.
	Roles func(chan<- *prometheus.Desc) error
	// Evaluator describes the metrics of watch's embedded rule evaluator
	// (evalmetrics.Describe; it links PromQL).
	Evaluator func(chan<- *prometheus.Desc)
}

// Metrics returns the names of the metric families a binary with the
// parts p exports; for histograms and summaries, their _bucket, _sum and
// _count series too. complete is false without p.Roles: then zerodown_*
// names it does not know may still be exported.
func Metrics(p Parts) (names map[string]bool, complete bool, err error) {
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
	if p.Evaluator != nil {
		p.Evaluator(ch)
	}
	(&netmatrix.Collector{}).Describe(ch)
	if p.Roles != nil {
		complete, err = true, p.Roles(ch)
	}
	close(ch)
	<-done
	return names, complete, err
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// Exported reports whether name is one of zerodown's metric names, as
// exposed.
func Exported(names map[string]bool, name string) bool { return names[name] }
