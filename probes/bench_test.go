package probes

import (
	"context"
	"fmt"
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

// BenchmarkApplyUnchanged measures what a discovery change costs the
// engine when 1,000 targets (2,000 series) stay as they are: the poller
// applies the whole set on every change. The engine is not started, so
// nothing is probed.
func BenchmarkApplyUnchanged(b *testing.B) {
	targets := make([]config.Target, 1000)
	for i := range targets {
		t := config.Target{Name: fmt.Sprintf("service:shop:web-%04d:http", i),
			TCP: &config.TCPProbe{Address: fmt.Sprintf("127.0.0.1:%d", 20000+i)}}
		targets[i] = t.Resolved(config.Schedule{})
	}
	e := NewEngine(EngineOptions{})
	if _, _, err := e.Apply(targets); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if added, removed, failed := e.ApplyEach(targets); added != 0 || removed != 0 || len(failed) != 0 {
			b.Fatalf("added %d removed %d failed %v", added, removed, failed)
		}
	}
}
