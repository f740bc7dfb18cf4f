package probes

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/testtarget"
)

// The prober against a loopback server in a tight loop, next to the
// plainest Go client doing the same: the ratio of their ns/op is the
// overhead of a probe itself (the scheduler's share is measured by
// bench/zdbench cost).
func BenchmarkHTTPProbe(b *testing.B) {
	tt, err := testtarget.Start(testtarget.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer tt.Close()
	for _, c := range []config.Connection{config.ConnNew, config.ConnReused} {
		b.Run("zerodown/"+string(c), func(b *testing.B) {
			tg := config.Target{Name: "b", HTTP: &config.HTTPProbe{URL: "http://" + tt.HTTPAddr() + "/"}}
			tg = tg.Resolved(config.Schedule{})
			p, err := New(&tg, c)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			b.ReportAllocs()
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				r := Result{Start: time.Now()}
				p.Probe(ctx, &r)
				cancel()
				if !r.OK() {
					b.Fatal(r.Err)
				}
			}
		})
		b.Run("minimal/"+string(c), func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: c == config.ConnNew}, Timeout: time.Second}
			defer client.CloseIdleConnections()
			url := "http://" + tt.HTTPAddr() + "/"
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

func BenchmarkTrackerObserve(b *testing.B) {
	var tr Tracker
	t0 := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := ReasonNone
		if i%10 == 0 {
			r = ReasonReset
		}
		tr.Observe(Sample{Start: t0.Add(time.Duration(i) * time.Millisecond), Reason: r})
		i++
	}
}
