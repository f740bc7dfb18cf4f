package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/demo"
	"github.com/zerodown/zerodown/internal/fidelity"
	"github.com/zerodown/zerodown/internal/sleep"
	"github.com/zerodown/zerodown/probes"
	"github.com/zerodown/zerodown/testtarget"
)

// outageSink collects measured outages in memory.
type outageSink struct {
	mu      sync.Mutex
	outages []fidelity.Outage
	began   map[string]time.Time
	onBegan func(series string, at time.Time)
}

func (s *outageSink) OutageBegan(si probes.SeriesInfo, ev probes.Event) {
	start := ev.Start
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.began == nil {
		s.began = map[string]time.Time{}
	}
	s.began[si.Backend+"/"+string(si.Connection)] = start
}

func (s *outageSink) OutageEnded(si probes.SeriesInfo, ev probes.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outages = append(s.outages, fidelity.Outage{Series: si.Backend + "/" + string(si.Connection), From: ev.Start, To: ev.End, Reason: ev.Reason.String()})
}

func (s *outageSink) CertChanged(probes.SeriesInfo, time.Time, *probes.Cert, *probes.Cert) {}

// randomPlan draws n windows, cycling through the fault kinds, each 0.2-5 s
// long, separated by 0.7-1.5 s of health, starting at random sub-interval
// offsets so edges fall anywhere between probes.
func randomPlan(rng *rand.Rand, n int, kinds []testtarget.Fault) []testtarget.Window {
	var plan []testtarget.Window
	at := time.Second + time.Duration(rng.Int64N(int64(100*time.Millisecond)))
	for i := range n {
		d := 200*time.Millisecond + time.Duration(rng.Int64N(int64(4800*time.Millisecond)))
		plan = append(plan, testtarget.Window{Fault: kinds[i%len(kinds)], At: at, Duration: d})
		at += d + 700*time.Millisecond + time.Duration(rng.Int64N(int64(800*time.Millisecond)))
	}
	return plan
}

// burstPlan draws n bursts of five short outages (100-200 ms, the same
// fault), separated within a burst by 100-250 ms of health and between
// bursts by 1-1.5 s: a backend flapping, as a router does while it reloads.
func burstPlan(rng *rand.Rand, n int, kinds []testtarget.Fault) []testtarget.Window {
	var plan []testtarget.Window
	at := time.Second + time.Duration(rng.Int64N(int64(100*time.Millisecond)))
	for i := range n {
		for range 5 {
			d := 100*time.Millisecond + time.Duration(rng.Int64N(int64(100*time.Millisecond)))
			plan = append(plan, testtarget.Window{Fault: kinds[i%len(kinds)], At: at, Duration: d})
			at += d + 100*time.Millisecond + time.Duration(rng.Int64N(int64(150*time.Millisecond)))
		}
		at += time.Second + time.Duration(rng.Int64N(int64(500*time.Millisecond)))
	}
	return plan
}

// blipPlan draws n outages of 0.6 x interval, each followed by 1-1.5 s of
// health: shorter than the interval, so a series sees one only if a probe
// lands in it.
func blipPlan(rng *rand.Rand, n int, kinds []testtarget.Fault, interval time.Duration) []testtarget.Window {
	var plan []testtarget.Window
	at := time.Second + time.Duration(rng.Int64N(int64(interval)))
	for i := range n {
		d := interval * 6 / 10
		plan = append(plan, testtarget.Window{Fault: kinds[i%len(kinds)], At: at, Duration: d})
		at += d + time.Second + time.Duration(rng.Int64N(int64(500*time.Millisecond)))
	}
	return plan
}

func runFidelity(args []string) error {
	fs := newFlags("fidelity")
	var (
		windows  = fs.Int("windows", 24, "number of fault windows (cycling through the kinds)")
		interval = fs.Duration("interval", 100*time.Millisecond, "steady probe interval")
		seed     = fs.Uint64("seed", 1, "random seed of the plan")
		busy     = fs.Int("busy", 0, "CPU-burning processes to run alongside (0 = quiet machine)")
		faults   = fs.String("faults", "refuse,reset,http_503,hang,dns_servfail,dns_drop", "fault kinds")
		verbose  = fs.Bool("v", false, "print every window")
		shape    = fs.String("plan", "random", "random (0.2-5 s outages), burst (bursts of five 100-200 ms outages) or blip (outages of 0.6 x interval)")
	)
	_ = fs.Parse(args)
	kinds, err := parseFaults(*faults)
	if err != nil {
		return err
	}
	stopBurn, err := startBurners(*busy)
	if err != nil {
		return err
	}
	defer stopBurn()

	sink := &outageSink{}
	tt, cfg, e, cleanup, err := demoEngine(*interval, sink)
	if err != nil {
		return err
	}
	defer cleanup()
	rng := rand.New(rand.NewPCG(*seed, 42))
	var plan []testtarget.Window
	switch *shape {
	case "random":
		plan = randomPlan(rng, *windows, kinds)
	case "burst":
		plan = burstPlan(rng, (*windows+4)/5, kinds)
	case "blip":
		plan = blipPlan(rng, *windows, kinds, *interval)
	default:
		return fmt.Errorf("-plan: want random, burst or blip, got %q", *shape)
	}
	total := plan[len(plan)-1].At + plan[len(plan)-1].Duration
	fmt.Printf("fidelity: %s plan, %d windows over %s, interval %s, %d series, busy=%d, seed=%d\n",
		*shape, len(plan), total.Round(time.Second), *interval, 2*len(cfg.Targets)-1, *busy, *seed)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.Start(ctx)
	if err := tt.Run(ctx, plan); err != nil {
		return err
	}
	sleep.For(ctx, 1500*time.Millisecond)
	e.Stop()

	var series []string
	for _, t := range cfg.Targets {
		for _, c := range t.Connections {
			series = append(series, t.Name+"/"+string(c))
		}
	}
	var windowsT []fidelity.Window
	for _, r := range tt.Truth() {
		windowsT = append(windowsT, fidelity.Window{Fault: string(r.Fault), From: r.From, To: r.To})
	}
	sink.mu.Lock()
	rep := fidelity.Compare(windowsT, sink.outages, series, demo.Affects, 200*time.Millisecond)
	sink.mu.Unlock()
	if *verbose {
		rep.Print(os.Stdout)
	} else {
		printFidelitySummary(rep)
	}
	if *shape == "blip" {
		printBlips(rep)
		return nil
	}
	all := rep.DurationStats(nil)
	verdict := "PASS"
	if all.Median.Abs() > 10*time.Millisecond || all.WorstAbs > 60*time.Millisecond || all.Missed > 0 {
		verdict = "FAIL"
	}
	fmt.Printf("overall: n=%d missed=%d median=%+.1fms worst=%.1fms spurious=%d  (target: |median| <= 10ms, worst <= 60ms) %s\n",
		all.N, all.Missed, ms(all.Median), ms(all.WorstAbs), len(rep.Spurious), verdict)
	return nil
}

func printFidelitySummary(rep fidelity.Report) {
	kinds := []string{"refuse", "reset", "http_503", "hang", "dns_servfail", "dns_drop", "dns_garbage"}
	fmt.Printf("%-13s %-7s %4s %6s %10s %10s %10s\n", "FAULT", "CONN", "N", "MISSED", "MEDIAN", "WORST", "MEAN|ERR|")
	for _, k := range kinds {
		for _, c := range []string{"new", "reused"} {
			st := rep.DurationStats(func(m fidelity.Match) bool {
				return m.Window.Fault == k && strings.HasSuffix(m.Series, "/"+c)
			})
			if st.N+st.Missed == 0 {
				continue
			}
			fmt.Printf("%-13s %-7s %4d %6d %+9.1fms %9.1fms %9.1fms\n", k, c, st.N, st.Missed, ms(st.Median), ms(st.WorstAbs), ms(st.MeanAbs))
		}
	}
}

// printBlips says, per target, how many blips its new-connection series
// saw and how many at least one of its connection modes saw.
func printBlips(rep fidelity.Report) {
	type key struct {
		backend string
		from    time.Time
	}
	total := map[string]int{}
	seenNew := map[string]int{}
	seenAny := map[key]bool{}
	for _, m := range rep.Matches {
		backend, conn, _ := strings.Cut(m.Series, "/")
		if conn == "new" {
			total[backend]++
			if m.Found {
				seenNew[backend]++
			}
		}
		if m.Found {
			seenAny[key{backend, m.Window.From}] = true
		}
	}
	fmt.Printf("%-10s %6s %10s %10s\n", "TARGET", "BLIPS", "SEEN NEW", "SEEN ANY")
	var n, anyN int
	for _, b := range []string{"http", "https", "h2c", "tcp", "dns-tcp"} {
		a := 0
		for k := range seenAny {
			if k.backend == b {
				a++
			}
		}
		fmt.Printf("%-10s %6d %10d %10d\n", b, total[b], seenNew[b], a)
		n += total[b]
		anyN += a
	}
	fmt.Printf("blips of 0.6 x interval seen by at least one connection mode: %d of %d (%.0f%%)\n", anyN, n, 100*float64(anyN)/float64(max(n, 1)))
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// startBurners starts n processes that each spin one CPU.
func startBurners(n int) (func(), error) {
	var cmds []*exec.Cmd
	stop := func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}
	self, err := os.Executable()
	if err != nil {
		return stop, err
	}
	for range n {
		c := exec.Command(self, "burn")
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the benchmark
		if err := c.Start(); err != nil {
			stop()
			return func() {}, err
		}
		cmds = append(cmds, c)
	}
	return stop, nil
}

func childBurn() {
	x := 0
	for {
		x++
		if x < 0 {
			fmt.Println(x)
		}
	}
}

// demoEngine starts a test target and an engine (not yet started) probing
// the demo's targets on it at interval.
func demoEngine(interval time.Duration, sink probes.Sink) (*testtarget.Server, *config.Config, *probes.Engine, func(), error) {
	tt, err := testtarget.Start(testtarget.Options{})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	dir, err := os.MkdirTemp("", "zdbench")
	cleanup := func() { tt.Close(); os.RemoveAll(dir) }
	if err != nil {
		tt.Close()
		return nil, nil, nil, nil, err
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := tt.WriteCAFile(ca); err != nil {
		cleanup()
		return nil, nil, nil, nil, err
	}
	cfg := (&config.Config{Defaults: config.Schedule{Interval: config.Duration(interval)},
		Targets: demo.Targets(tt, ca)}).Resolved()
	if err := cfg.Validate(); err != nil {
		cleanup()
		return nil, nil, nil, nil, err
	}
	e := probes.NewEngine(probes.EngineOptions{Sink: sink})
	if _, _, err := e.Apply(cfg.Targets); err != nil {
		cleanup()
		return nil, nil, nil, nil, err
	}
	return tt, cfg, e, cleanup, nil
}

// parseFaults parses a comma-separated list of fault kinds.
func parseFaults(list string) ([]testtarget.Fault, error) {
	var kinds []testtarget.Fault
	for _, f := range strings.Split(list, ",") {
		k, err := testtarget.ParseFault(f)
		if err != nil {
			return nil, err
		}
		kinds = append(kinds, k)
	}
	return kinds, nil
}
