package probes

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/zerodown/zerodown/config"

	"github.com/zerodown/zerodown/internal/testwait"
	"github.com/zerodown/zerodown/testtarget"
)

// BenchmarkDropDetection: every iteration drops the held connections of
// every kind (HTTP/1.1, HTTPS, HTTP/2 over TLS, h2c, h2c and HTTP/1.1
// streams, TCP; two each) with one drop fault of the test target, in
// turn, and measures how long after the fault's start each drop was seen
// and whether it was counted once with the expected reason. Reported:
// detection delay p50 and max for FIN/RST/GOAWAY and for blackholes
// (check 100 ms, timeout 400 ms), and the connections missed or
// misclassified.
//
//	go test -run '^$' -bench DropDetection -benchtime 20x ./probes/
func BenchmarkDropDetection(b *testing.B) {
	tt, ca := startTarget(b, testtarget.Options{})
	holders := map[string]*holder{}
	recs := map[string]*dropRecorder{}
	for name, tg := range holdTargets(tt, ca) {
		recs[name] = &dropRecorder{}
		holders[name], _ = startHolder(b, tg, name, recs[name])
	}
	faults := []testtarget.Fault{testtarget.DropGraceful, testtarget.DropFIN, testtarget.DropRST, testtarget.DropBlackhole}
	expect := map[testtarget.Fault][]DropReason{
		testtarget.DropGraceful:  {DropGoAway, DropEOF, DropClose},
		testtarget.DropFIN:       {DropEOF, DropReset},
		testtarget.DropRST:       {DropReset},
		testtarget.DropBlackhole: {DropTimeout},
	}
	var instant, silent []time.Duration
	bad := 0
	b.ResetTimer()
	for i := range b.N {
		fault := faults[i%len(faults)]
		for name, h := range holders {
			testwait.Until(b, name+": connections open", func() bool { open, _ := openConns(h); return open == holdConns })
		}
		before := map[string]int{}
		for name, r := range recs {
			before[name] = len(r.all())
		}
		rec := tt.Window(fault, 2*holdTimeout)
		for name := range holders {
			testwait.Until(b, name+": dropped", func() bool { return len(recs[name].all()) >= before[name]+holdConns })
			for _, d := range recs[name].all()[before[name]:] {
				if !slices.Contains(expect[fault], d.Reason) || d.At.Before(rec.From) {
					bad++
					continue
				}
				switch {
				case fault == testtarget.DropBlackhole:
					silent = append(silent, d.At.Sub(rec.From))
				case fault == testtarget.DropGraceful && name == "http-stream":
					// An HTTP/1.1 request in progress outlives a graceful
					// reload until the hard stop at the window's end.
				default:
					instant = append(instant, d.At.Sub(rec.From))
				}
			}
		}
	}
	b.StopTimer()
	report := func(ds []time.Duration, name string) {
		if len(ds) == 0 {
			return
		}
		slices.Sort(ds)
		b.ReportMetric(float64(ds[len(ds)/2])/1e6, name+"-p50-ms")
		b.ReportMetric(float64(ds[len(ds)-1])/1e6, name+"-max-ms")
	}
	report(instant, "fin-rst-goaway")
	report(silent, "blackhole")
	b.ReportMetric(float64(bad), "wrong-or-missed")
	b.ReportMetric(float64(len(instant)+len(silent)), "drops")
}

// BenchmarkHoldFootprint: the heap and goroutines one held connection
// costs, for 512 held connections of each kind (8 targets x 64), checked
// every second, measured once all are open (the test target's server
// shares the process: its side is included).
//
//	go test -run '^$' -bench HoldFootprint -benchtime 1x ./probes/
func BenchmarkHoldFootprint(b *testing.B) {
	tt, ca := startTarget(b, testtarget.Options{})
	for _, kind := range []string{"http", "h2", "h2c-stream", "tcp"} {
		b.Run(kind, func(b *testing.B) {
			for range b.N {
				runtime.GC()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				g0 := runtime.NumGoroutine()
				var hs []*holder
				for i := range 8 {
					tg := holdTargets(tt, ca)[kind]
					tg.Hold.Connections, tg.Hold.Check = 64, config.Duration(time.Second)
					h, _ := startHolder(b, tg, fmt.Sprintf("%s-%d", kind, i), &dropRecorder{})
					hs = append(hs, h)
				}
				for _, h := range hs {
					testwait.Until(b, "all open", func() bool { open, _ := openConns(h); return open == 64 })
				}
				time.Sleep(2 * time.Second) // every connection checked
				runtime.GC()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				n := float64(8 * 64)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/conn")
				b.ReportMetric(float64(runtime.NumGoroutine()-g0)/n, "goroutines/conn")
				for _, h := range hs {
					h.stop()
				}
			}
		})
	}
}
