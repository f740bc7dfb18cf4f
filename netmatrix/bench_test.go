package netmatrix

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/probes"
)

// seriesPerPath counts the series one network path exports: the engine's
// series of its target (new connections, classic buckets unless
// nativeOnly) and the matrix's two.
func seriesPerPath(b *testing.B, nativeOnly bool) int {
	e := probes.NewEngine(probes.EngineOptions{NativeHistogramsOnly: nativeOnly})
	ts := Targets([]Peer{{Node: "node-b", Addr: "127.0.0.1"}}, TargetOptions{Path: PathPod, Port: 1})
	r := ts[0].Resolved(config.Schedule{Interval: config.Duration(time.Hour)})
	if _, _, err := e.Apply([]config.Target{r}); err != nil {
		b.Fatal(err)
	}
	e.Start(context.Background())
	defer e.Stop()
	// One probe (refused) so the histogram and up exist.
	deadline := time.Now().Add(10 * time.Second)
	for e.Statuses()[0].Requests == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(e, &Collector{Self: "node-a", Statuses: e.Statuses})
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if h := m.GetHistogram(); h != nil {
				n += len(h.GetBucket()) + 3 // buckets, +Inf, _sum, _count
				continue
			}
			n++
		}
	}
	return n
}

// BenchmarkSelect: the cost of choosing peers, and the series the matrix
// makes at 100 and 1,000 nodes with 3 peers each (rotating every 30
// minutes): pairs probed at any time, pairs a Prometheus sees in a day,
// and series at any time.
//
//	go test -run '^$' -bench Select ./netmatrix/
func BenchmarkSelect(b *testing.B) {
	perPath := seriesPerPath(b, false)
	perPathNative := seriesPerPath(b, true)
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			ns := nodes(n)
			o := SelectOptions{Peers: 3}
			for i := range b.N {
				_ = Select(ns[i%n], ns, uint64(i), o)
			}
			b.StopTimer()
			active, day := 0, map[[2]string]bool{}
			for r := range uint64(48) {
				for _, self := range ns {
					ps := Select(self, ns, r, o)
					if r == 0 {
						active += len(ps)
					}
					for _, p := range ps {
						day[[2]string{self, p}] = true
					}
				}
			}
			b.ReportMetric(float64(active), "pairs")
			b.ReportMetric(float64(len(day)), "pairs/day")
			b.ReportMetric(float64(active*perPath), "series")
			b.ReportMetric(float64(active*perPathNative), "series-native")
			b.ReportMetric(float64(n*(n-1)*perPath), "series-full-mesh")
		})
	}
}
