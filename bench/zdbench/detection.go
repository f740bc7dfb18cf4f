package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zerodown/zerodown/demo"
	"github.com/zerodown/zerodown/internal/sleep"
	"github.com/zerodown/zerodown/testtarget"
)

// runDetection measures how long after an outage starts /metrics shows it:
// it gathers the registry (what a scrape reads) every millisecond and
// notes when each series' zerodown_backend_up turns 0.
func runDetection(args []string) error {
	fs := newFlags("detection")
	var (
		rounds   = fs.Int("rounds", 4, "windows per fault kind")
		interval = fs.Duration("interval", 100*time.Millisecond, "steady probe interval")
		seed     = fs.Uint64("seed", 7, "random seed")
		busy     = fs.Int("busy", 0, "CPU-burning processes alongside")
		faults   = fs.String("faults", "refuse,reset,http_503,hang,dns_servfail,dns_drop", "fault kinds")
		verbose  = fs.Bool("v", false, "name the series of every missed window")
	)
	_ = fs.Parse(args)
	stopBurn, err := startBurners(*busy)
	if err != nil {
		return err
	}
	defer stopBurn()
	tt, cfg, e, cleanup, err := demoEngine(*interval, nil)
	if err != nil {
		return err
	}
	defer cleanup()
	reg := prometheus.NewRegistry()
	reg.MustRegister(e)

	kinds, err := parseFaults(*faults)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(*seed, 3))
	var plan []testtarget.Window
	at := time.Second
	for i := range *rounds * len(kinds) {
		at += time.Duration(rng.Int64N(int64(*interval)))
		plan = append(plan, testtarget.Window{Fault: kinds[i%len(kinds)], At: at, Duration: 700 * time.Millisecond})
		at += 700*time.Millisecond + 1200*time.Millisecond
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.Start(ctx)
	var (
		mu    sync.Mutex
		downs = map[string][]time.Time{} // series -> times it turned down
	)
	go func() {
		was := map[string]bool{}
		for ctx.Err() == nil {
			mfs, err := reg.Gather()
			now := time.Now() // when the scrape had it: after the gather
			if err == nil {
				for _, mf := range mfs {
					if mf.GetName() != "zerodown_backend_up" {
						continue
					}
					for _, m := range mf.GetMetric() {
						var b, c string
						for _, l := range m.GetLabel() {
							switch l.GetName() {
							case "backend":
								b = l.GetValue()
							case "connection":
								c = l.GetValue()
							}
						}
						k := b + "/" + c
						down := m.GetGauge().GetValue() == 0
						if down && !was[k] {
							mu.Lock()
							downs[k] = append(downs[k], now)
							mu.Unlock()
						}
						was[k] = down
					}
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()
	if err := tt.Run(ctx, plan); err != nil {
		return err
	}
	sleep.For(ctx, time.Second)
	cancel()
	e.Stop()

	limit := *interval + 20*time.Millisecond
	type key struct{ fault, conn string }
	delays := map[key][]time.Duration{}
	missed := map[key]int{}
	mu.Lock()
	defer mu.Unlock()
	for _, w := range tt.Truth() {
		for _, t := range cfg.Targets {
			for _, c := range t.Connections {
				s := t.Name + "/" + string(c)
				if !demo.Affects(string(w.Fault), s) {
					continue
				}
				k := key{string(w.Fault), string(c)}
				found := false
				for _, d := range downs[s] {
					if !d.Before(w.From) && d.Before(w.To) {
						delays[k] = append(delays[k], d.Sub(w.From))
						found = true
						break
					}
				}
				if !found {
					missed[k]++
					if *verbose {
						fmt.Printf("missed: %s %s window %s..%s, down transitions %v\n", w.Fault, s,
							w.From.Format("15:04:05.000"), w.To.Format("15:04:05.000"), fmtTimes(downs[s]))
					}
				}
			}
		}
	}
	fmt.Printf("detection: %d windows, interval %s, busy=%d; limit interval+20ms = %s\n", len(plan), *interval, *busy, limit)
	fmt.Printf("%-13s %-7s %4s %6s %9s %9s %9s %s\n", "FAULT", "CONN", "N", "MISSED", "MEDIAN", "P90", "MAX", "")
	var keys []key
	for k := range delays {
		keys = append(keys, k)
	}
	for k := range missed {
		if _, ok := delays[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].fault != keys[j].fault {
			return keys[i].fault < keys[j].fault
		}
		return keys[i].conn < keys[j].conn
	})
	overall := "PASS"
	for _, k := range keys {
		d := delays[k]
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		verdict := "ok"
		var med, p90, mx time.Duration
		if len(d) > 0 {
			med, p90, mx = d[len(d)/2], d[(len(d)*9)/10], d[len(d)-1]
		}
		if mx > limit || missed[k] > 0 {
			verdict, overall = "OVER", "FAIL"
		}
		fmt.Printf("%-13s %-7s %4d %6d %8.1fms %8.1fms %8.1fms %s\n", k.fault, k.conn, len(d), missed[k], ms(med), ms(p90), ms(mx), verdict)
	}
	fmt.Printf("overall: %s (every outage visible in /metrics within %s of its start)\n", overall, limit)
	return nil
}

func fmtTimes(ts []time.Time) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Format("15:04:05.000")
	}
	return out
}
