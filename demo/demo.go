// Package demo runs zerodown against the loopback test target with a plan
// of outages, then compares what it measured with the ground truth. It is
// what `zerodown demo` (make demo) shows a newcomer, and what the fidelity
// benchmark repeats many times.
package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/internal/fidelity"
	"github.com/zerodown/zerodown/intervals"
	"github.com/zerodown/zerodown/testtarget"
	"github.com/zerodown/zerodown/watch"
)

// DefaultPlan is the demo's outages: one of each kind, 0.5 to 2 s long,
// then a burst of three short refusals (a backend flapping), then the
// faults that drop established connections while new ones work: a
// graceful reload, FIN, RST and a blackhole (long enough for a check and
// its timeout).
func DefaultPlan() []testtarget.Window {
	return []testtarget.Window{
		{Fault: testtarget.Refuse, At: 3 * time.Second, Duration: 1500 * time.Millisecond},
		{Fault: testtarget.HTTP503, At: 7 * time.Second, Duration: 2 * time.Second},
		{Fault: testtarget.Hang, At: 11 * time.Second, Duration: time.Second},
		{Fault: testtarget.Reset, At: 15 * time.Second, Duration: 500 * time.Millisecond},
		{Fault: testtarget.DNSServfail, At: 18 * time.Second, Duration: time.Second},
		{Fault: testtarget.DNSDrop, At: 21 * time.Second, Duration: 2 * time.Second},
		{Fault: testtarget.Refuse, At: 25 * time.Second, Duration: 200 * time.Millisecond},
		{Fault: testtarget.Refuse, At: 25*time.Second + 400*time.Millisecond, Duration: 150 * time.Millisecond},
		{Fault: testtarget.Refuse, At: 25*time.Second + 750*time.Millisecond, Duration: 250 * time.Millisecond},
		{Fault: testtarget.DropGraceful, At: 28 * time.Second, Duration: 300 * time.Millisecond},
		{Fault: testtarget.DropFIN, At: 30 * time.Second, Duration: 300 * time.Millisecond},
		{Fault: testtarget.DropRST, At: 32 * time.Second, Duration: 300 * time.Millisecond},
		{Fault: testtarget.DropBlackhole, At: 34 * time.Second, Duration: 2 * time.Second},
	}
}

// holdCheck is how often the demo's held connections are checked.
const holdCheck = 300 * time.Millisecond

// Options configures a demo run.
type Options struct {
	Plan     []testtarget.Window
	Interval time.Duration // steady probe interval (default 100ms)
	Tail     time.Duration // watching after the last window ends (default 2s)
	OutDir   string
	Listen   string
	View     io.Writer
	Width    func() int       // the terminal's width (see watch.Options)
	Logs     *watch.LogWriter // the logger's writer (see watch.Options)
	TTY      bool
	Logger   *slog.Logger
	// Report receives the truth-versus-measured comparison.
	Report io.Writer
}

// Targets are the demo's series, all on the test target: every protocol,
// over new and reused connections.
//
// The HTTP and TCP targets also hold two long-lived connections each
// (HTTP/1.1, HTTP/2 over TLS, an h2c stream, TCP).
func Targets(tt *testtarget.Server, caFile string) []config.Target {
	hold := func(stream string) *config.Hold {
		return &config.Hold{Connections: 2, Check: config.Duration(holdCheck), Stream: stream}
	}
	return []config.Target{
		{Name: "http", HTTP: &config.HTTPProbe{URL: "http://" + tt.HTTPAddr() + "/"}, Hold: hold("")},
		{Name: "https", HTTP: &config.HTTPProbe{URL: "https://" + tt.HTTPSAddr() + "/", TLS: config.TLS{CAFile: caFile}}, Hold: hold("")},
		{Name: "h2c", HTTP: &config.HTTPProbe{URL: "h2c://" + tt.H2CAddr() + "/"}, Hold: hold("/stream?every=100ms")},
		{Name: "tcp", TCP: &config.TCPProbe{Address: tt.TCPAddr(), Send: "ping\n", Expect: "pong"}, Hold: hold("")},
		{Name: "dns-udp", DNS: &config.DNSProbe{Server: tt.DNSAddr(), Name: "web.test.", Transport: "udp"}},
		{Name: "dns-tcp", Connections: []config.Connection{config.ConnNew, config.ConnReused},
			DNS: &config.DNSProbe{Server: tt.DNSAddr(), Name: "web.test.", Transport: "tcp"}},
	}
}

// Affects says which demo series a fault disrupts. Series are named
// "backend/connection".
func Affects(fault, series string) bool {
	backend, _, _ := strings.Cut(series, "/")
	switch testtarget.Fault(fault) {
	case testtarget.Refuse, testtarget.Reset:
		return backend != "dns-udp"
	case testtarget.Hang:
		return true // over UDP, DNS queries in the window go unanswered
	case testtarget.HTTP503:
		return backend == "http" || backend == "https" || backend == "h2c"
	case testtarget.DNSServfail, testtarget.DNSDrop, testtarget.DNSGarbage:
		return strings.HasPrefix(backend, "dns-")
	}
	return false
}

// Result is what a demo run measured against the truth.
type Result struct {
	// Outages compares the request series' outages with the fault
	// windows (the drop faults left out).
	Outages fidelity.Report
	// Drops compares the drops of held connections with the drop faults.
	Drops   DropReport
	Summary *watch.Summary
}

// Run starts the test target, watches it while the plan runs, and returns
// the comparison of measured outages and drops with the truth.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Plan == nil {
		o.Plan = DefaultPlan()
	}
	if o.Interval <= 0 {
		o.Interval = 100 * time.Millisecond
	}
	if o.Tail <= 0 {
		o.Tail = 2 * time.Second
	}
	if o.OutDir == "" {
		return Result{}, fmt.Errorf("demo needs an output folder")
	}
	if err := os.MkdirAll(o.OutDir, 0o750); err != nil {
		return Result{}, err
	}
	tt, err := testtarget.Start(testtarget.Options{})
	if err != nil {
		return Result{}, fmt.Errorf("starting the test target: %w", err)
	}
	defer tt.Close()
	caFile := filepath.Join(o.OutDir, "testtarget-ca.pem")
	if err := tt.WriteCAFile(caFile); err != nil {
		return Result{}, err
	}

	cfg := &config.Config{
		Defaults: config.Schedule{Interval: config.Duration(o.Interval)},
		Targets:  Targets(tt, caFile),
	}
	cfg = cfg.Resolved()
	if err := cfg.Validate(); err != nil {
		return Result{}, fmt.Errorf("demo targets: %w", err)
	}
	// Faults begin at random points between two probes, as real ones do:
	// a plan on the probes' own grid would show the worst case every time.
	plan := make([]testtarget.Window, len(o.Plan))
	for i, w := range o.Plan {
		w.At += time.Duration(rand.Int64N(int64(o.Interval)))
		plan[i] = w
	}
	// Intervals of earlier runs in the same folder would be compared too.
	_ = os.Remove(filepath.Join(o.OutDir, watch.IntervalsFile))

	planErr := make(chan error, 1)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		// Give the probes a moment to establish their reused connections.
		select {
		case <-time.After(time.Second):
		case <-wctx.Done():
			planErr <- wctx.Err()
			return
		}
		err := tt.Run(wctx, plan)
		if err == nil {
			select {
			case <-time.After(o.Tail):
			case <-wctx.Done():
			}
		}
		planErr <- err
		cancel()
	}()
	sum, werr := watch.Run(wctx, watch.Options{
		Config: cfg, Listen: o.Listen, OutDir: o.OutDir, View: o.View, TTY: o.TTY, Logger: o.Logger,
		Width: o.Width, Logs: o.Logs,
	})
	if werr != nil {
		// Watching failed (its port taken, say): stop the plan at once
		// rather than let it run its course.
		cancel()
		<-planErr
		return Result{Summary: sum}, werr
	}
	perr := <-planErr
	if perr != nil && ctx.Err() == nil {
		return Result{Summary: sum}, fmt.Errorf("running the outage plan: %w", perr)
	}

	ivs, err := intervals.ReadFile(filepath.Join(o.OutDir, watch.IntervalsFile))
	if err != nil {
		return Result{Summary: sum}, err
	}
	res := Result{Outages: Compare(tt.Truth(), ivs, cfg.Targets), Drops: CompareDrops(tt.Truth(), ivs, cfg.Targets), Summary: sum}
	if o.Report != nil {
		fmt.Fprintf(o.Report, "\nTrue outages (from the test target) against measured ones, interval %s:\n\n", o.Interval)
		res.Outages.Print(o.Report)
		if len(res.Drops.Matches) > 0 {
			fmt.Fprintf(o.Report, "\nLong-lived connections cut by the drop faults (new requests kept working), checked every %s:\n\n", holdCheck)
			res.Drops.Print(o.Report)
		}
	}
	return res, nil
}

// Compare matches the truth of a test target with the disruption intervals
// measured for targets.
func Compare(truth []testtarget.Record, ivs []intervals.Interval, targets []config.Target) fidelity.Report {
	windows := make([]fidelity.Window, 0, len(truth))
	var drops []testtarget.Record
	for _, r := range truth {
		if r.Fault.Drops() {
			drops = append(drops, r)
			continue
		}
		windows = append(windows, fidelity.Window{Fault: string(r.Fault), From: r.From, To: r.To})
	}
	var outages []fidelity.Outage
	for _, iv := range intervals.Filter(ivs, "Disruption") {
		// A drop fault may cut the kept-alive connection of a reused
		// series (a blackholed one until its request times out): real,
		// but not what these windows measure.
		if duringAny(drops, iv.From.Time, iv.To.Time, 200*time.Millisecond) {
			continue
		}
		k := iv.Locator.Keys
		outages = append(outages, fidelity.Outage{Series: k["backend"] + "/" + k["connection"],
			From: iv.From.Time, To: iv.To.Time, Reason: iv.Message.Cause})
	}
	var series []string
	for _, t := range targets {
		for _, c := range t.Connections {
			series = append(series, t.Name+"/"+string(c))
		}
	}
	return fidelity.Compare(windows, outages, series, Affects, 200*time.Millisecond)
}

func duringAny(rs []testtarget.Record, from, to time.Time, slack time.Duration) bool {
	for _, r := range rs {
		if !from.After(r.To.Add(slack)) && !to.Before(r.From.Add(-slack)) {
			return true
		}
	}
	return false
}
