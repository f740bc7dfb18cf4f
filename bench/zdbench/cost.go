package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"golang.org/x/sys/unix"

	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/internal/role"
	"github.com/zerodown/zerodown/internal/sleep"
	"github.com/zerodown/zerodown/probes"
	"github.com/zerodown/zerodown/rules/eval"
	"github.com/zerodown/zerodown/testtarget"
)

// childResult is what a measuring child prints as its last line.
type childResult struct {
	Probes     uint64  `json:"probes"`
	Failures   uint64  `json:"failures"`
	Observer   uint64  `json:"observer_failures"` // of Failures, put down to the engine's own starvation
	CPUSeconds float64 `json:"cpu_seconds"`
	MaxRSSMiB  float64 `json:"max_rss_mib"`
	LagP99     float64 `json:"lag_p99_seconds"` // upper bound from the histogram's buckets
	LagMax     float64 `json:"lag_max_bucket_seconds"`
	Skipped    uint64  `json:"skipped"`
}

func cpuNow() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func maxRSSMiB() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) / 1024 // KiB on Linux
}

func pin(cpu int) {
	if cpu < 0 {
		return
	}
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		fmt.Fprintln(os.Stderr, "pinning:", err)
	}
}

// childServe runs the test target's servers until stdin closes or a signal.
func childServe(args []string) error {
	fs := newFlags("serve")
	cpu := fs.Int("cpu", -1, "pin to this CPU")
	_ = fs.Parse(args)
	pin(*cpu)
	tt, err := testtarget.Start(testtarget.Options{})
	if err != nil {
		return err
	}
	defer tt.Close()
	fmt.Println(tt.HTTPAddr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(done) }()
	select {
	case <-sig:
	case <-done:
	}
	return nil
}

// childMinimal is the yardstick: the plainest Go client, one request after
// another as fast as it goes, reading each body. With -targets it goes
// round the same targets zerodown probes, each with its own client (and
// so its own kept-alive connection), as zerodown has.
func childMinimal(args []string) error {
	fs := newFlags("minimal")
	var (
		addr    = fs.String("addr", "", "server address")
		mode    = fs.String("mode", "new", "new or reused connections")
		n       = fs.Int("n", 20000, "requests")
		targets = fs.Int("targets", 1, "targets to go round, each with its own client")
		cpu     = fs.Int("cpu", -1, "pin to this CPU")
	)
	_ = fs.Parse(args)
	pin(*cpu)
	clients := make([]*http.Client, *targets)
	urls := make([]string, *targets)
	for i := range clients {
		clients[i] = &http.Client{Transport: &http.Transport{DisableKeepAlives: *mode == "new", Proxy: nil}, Timeout: time.Second}
		urls[i] = "http://" + *addr + "/t/" + strconv.Itoa(i)
	}
	var res childResult
	c0 := cpuNow()
	for i := range *n {
		client, url := clients[i%len(clients)], urls[i%len(urls)]
		resp, err := client.Get(url)
		res.Probes++
		if err != nil {
			res.Failures++
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			res.Failures++
		}
	}
	res.CPUSeconds = cpuNow() - c0
	res.MaxRSSMiB = maxRSSMiB()
	return json.NewEncoder(os.Stdout).Encode(res)
}

// childEngine runs zerodown's engine on targets many HTTP targets for a
// while and reports its CPU time, probes, RSS and scheduling lag.
func childEngine(args []string) error {
	fs := newFlags("engine")
	var (
		addr     = fs.String("addr", "", "server address")
		mode     = fs.String("mode", "new", "new, reused or both")
		targets  = fs.Int("targets", 100, "targets")
		interval = fs.Duration("interval", 100*time.Millisecond, "probe interval")
		duration = fs.Duration("duration", 10*time.Second, "measured time")
		warmup   = fs.Duration("warmup", 2*time.Second, "time before measuring")
		cpu      = fs.Int("cpu", -1, "pin to this CPU")
		prof     = fs.String("cpuprofile", "", "write a CPU profile of the measured time")
		memprof  = fs.String("memprofile", "", "write a heap profile at the end")
		scrape   = fs.Duration("scrape", 0, "gather the registry in the text format this often, as Prometheus would (0: never)")
		rules    = fs.Duration("rules", 0, "evaluate the shipped rules in-process this often, as watch does (0: never)")
	)
	_ = fs.Parse(args)
	pin(*cpu)
	var conns []config.Connection
	switch *mode {
	case "both":
		conns = []config.Connection{config.ConnNew, config.ConnReused}
	default:
		conns = []config.Connection{config.Connection(*mode)}
	}
	var ts []config.Target
	for i := range *targets {
		t := config.Target{Name: "t" + strconv.Itoa(i), Connections: conns,
			Schedule: config.Schedule{Interval: config.Duration(*interval)},
			HTTP:     &config.HTTPProbe{URL: "http://" + *addr + "/t/" + strconv.Itoa(i)}}
		ts = append(ts, t.Resolved(config.Schedule{}))
	}
	e := probes.NewEngine(probes.EngineOptions{})
	if _, _, err := e.Apply(ts); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(e)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.Start(ctx)
	if *rules > 0 {
		// As watch has it: the process's collectors next to the engine's.
		reg.MustRegister(role.Collectors()...)
		ev, err := eval.New(eval.Options{Gatherer: reg, Interval: *rules})
		if err != nil {
			return err
		}
		defer ev.Close()
		go ev.Run(ctx)
	}
	var scrapes atomic.Int64
	if *scrape > 0 {
		go func() {
			t := time.NewTicker(*scrape)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				mfs, err := reg.Gather()
				if err != nil {
					continue
				}
				var b bytes.Buffer
				for _, mf := range mfs {
					_, _ = expfmt.MetricFamilyToText(&b, mf)
				}
				scrapes.Add(1)
			}
		}()
	}
	sleep.For(ctx, *warmup)
	p0, f0, s0, o0 := totals(e)
	c0 := cpuNow()
	lag0 := lagBuckets(reg)
	if *prof != "" {
		f, err := os.Create(*prof)
		if err != nil {
			return err
		}
		_ = pprof.StartCPUProfile(f)
		defer f.Close()
	}
	sleep.For(ctx, *duration)
	if *prof != "" {
		pprof.StopCPUProfile()
	}
	if *memprof != "" {
		f, err := os.Create(*memprof)
		if err != nil {
			return err
		}
		runtime.GC()
		_ = pprof.WriteHeapProfile(f)
		f.Close()
	}
	c1 := cpuNow()
	p1, f1, s1, o1 := totals(e)
	lag1 := lagBuckets(reg)
	e.Stop()
	res := childResult{Probes: p1 - p0, Failures: f1 - f0, Observer: o1 - o0, Skipped: s1 - s0, CPUSeconds: c1 - c0, MaxRSSMiB: maxRSSMiB()}
	res.LagP99, res.LagMax = lagQuantile(lag0, lag1, 0.99)
	return json.NewEncoder(os.Stdout).Encode(res)
}

func totals(e *probes.Engine) (probesN, failures, skipped, observer uint64) {
	for _, s := range e.Statuses() {
		probesN += s.Requests
		failures += s.Failures
		skipped += s.Skipped
		observer += s.ObserverFailures
	}
	return
}

type bucket struct {
	le    float64
	count uint64
}

func lagBuckets(reg *prometheus.Registry) []bucket {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "zerodown_scheduler_lag_seconds" {
			continue
		}
		var bs []bucket
		h := mf.GetMetric()[0].GetHistogram()
		for _, b := range h.GetBucket() {
			bs = append(bs, bucket{b.GetUpperBound(), b.GetCumulativeCount()})
		}
		return append(bs, bucket{le: inf, count: h.GetSampleCount()})
	}
	return nil
}

var inf = float64(1 << 62)

// lagQuantile returns the upper bound of the bucket holding quantile q of
// the observations between two snapshots, and the highest non-empty bucket.
func lagQuantile(a, b []bucket, q float64) (float64, float64) {
	if len(a) != len(b) || len(b) == 0 {
		return 0, 0
	}
	total := b[len(b)-1].count - a[len(a)-1].count
	if total == 0 {
		return 0, 0
	}
	p, mx := 0.0, 0.0
	found := false
	for i := range b {
		c := b[i].count - a[i].count
		if !found && float64(c) >= q*float64(total) {
			p, found = b[i].le, true
		}
		prev := uint64(0)
		if i > 0 {
			prev = b[i-1].count - a[i-1].count
		}
		if c > prev {
			mx = b[i].le
		}
	}
	return p, mx
}

// child runs this binary with args and decodes its JSON result.
func child(args ...string) (childResult, error) {
	self, err := os.Executable()
	if err != nil {
		return childResult{}, err
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1") // pinned to one CPU
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return childResult{}, fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	var r childResult
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		return r, fmt.Errorf("%s: %w in %q", strings.Join(args, " "), err, out)
	}
	return r, nil
}

// startServer starts the test target in a child process pinned to cpu.
func startServer(cpu int) (addr string, stop func(), err error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(self, "serve", "-cpu", strconv.Itoa(cpu))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		return "", nil, fmt.Errorf("server did not start: %w", err)
	}
	return strings.TrimSpace(line), func() { in.Close(); _ = cmd.Wait() }, nil
}

func runCost(args []string) error {
	fs := newFlags("cost")
	var (
		rounds   = fs.Int("rounds", 3, "rounds (each measures both clients in both modes)")
		targets  = fs.Int("targets", 100, "HTTP targets")
		interval = fs.Duration("interval", 100*time.Millisecond, "probe interval per target")
		duration = fs.Duration("duration", 10*time.Second, "measured time of zerodown per round and mode")
		n        = fs.Int("n", 20000, "requests of the minimal client per round and mode")
	)
	_ = fs.Parse(args)
	if runtime.NumCPU() < 2 {
		return fmt.Errorf("cost needs two CPUs: client and server are pinned apart")
	}
	addr, stop, err := startServer(1)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Printf("cost: %d HTTP targets x %s interval (%.0f probes/s), client on CPU 0, server on CPU 1, %d rounds\n",
		*targets, *interval, float64(*targets)*float64(time.Second)/float64(*interval), *rounds)
	fmt.Printf("Yardsticks: a minimal Go client in a tight loop over one target (one connection), and over the same %d targets (a client, and so a connection, each, as zerodown has).\n", *targets)
	fmt.Printf("%-7s %5s %11s %11s %11s %8s %8s %9s %9s %7s\n", "MODE", "ROUND", "MIN-1", "MIN-SAME", "ZERODOWN", "RATIO-1", "RATIO-S", "RSS", "PROBES/S", "FAILED")
	for _, mode := range []string{"new", "reused"} {
		var r1, rs []float64
		for r := range *rounds {
			m1, err := child("minimal", "-addr", addr, "-mode", mode, "-n", strconv.Itoa(*n), "-targets", "1", "-cpu", "0")
			if err != nil {
				return err
			}
			ms, err := child("minimal", "-addr", addr, "-mode", mode, "-n", strconv.Itoa(*n),
				"-targets", strconv.Itoa(*targets), "-cpu", "0")
			if err != nil {
				return err
			}
			z, err := child("engine", "-addr", addr, "-mode", mode, "-targets", strconv.Itoa(*targets),
				"-interval", interval.String(), "-duration", duration.String(), "-cpu", "0")
			if err != nil {
				return err
			}
			u1 := m1.CPUSeconds / float64(m1.Probes) * 1e6
			us := ms.CPUSeconds / float64(ms.Probes) * 1e6
			zu := z.CPUSeconds / float64(z.Probes) * 1e6
			r1, rs = append(r1, zu/u1), append(rs, zu/us)
			fmt.Printf("%-7s %5d %9.1fµs %9.1fµs %9.1fµs %8.2f %8.2f %6.1fMiB %9.0f %7d\n", mode, r+1, u1, us, zu, zu/u1, zu/us,
				z.MaxRSSMiB, float64(z.Probes)/duration.Seconds(), z.Failures)
		}
		sort.Float64s(r1)
		sort.Float64s(rs)
		fmt.Printf("%-7s median ratio %.2f to one connection, %.2f to the same targets (target <= 1.10)\n", mode, r1[len(r1)/2], rs[len(rs)/2])
	}
	return nil
}

// runEval measures what the embedded evaluator adds to a watch of 100
// targets: the engine alone and with the shipped rules evaluated every
// second, in alternating rounds.
func runEval(args []string) error {
	fs := newFlags("eval")
	var (
		rounds   = fs.Int("rounds", 3, "rounds (each measures without and with evaluation)")
		targets  = fs.Int("targets", 100, "HTTP targets, each over new and reused connections")
		interval = fs.Duration("interval", time.Second, "probe interval per target")
		step     = fs.Duration("step", time.Second, "evaluation step (watch's --rules.interval)")
		duration = fs.Duration("duration", 30*time.Second, "measured time per round and variant")
	)
	_ = fs.Parse(args)
	if runtime.NumCPU() < 2 {
		return fmt.Errorf("eval needs two CPUs: prober and server are pinned apart")
	}
	addr, stop, err := startServer(1)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Printf("eval: %d HTTP targets x 2 connection modes x %s, shipped rules every %s, %d rounds of %s; prober on CPU 0, server on CPU 1\n",
		*targets, *interval, *step, *rounds, *duration)
	fmt.Printf("%-6s %5s %9s %9s %10s %10s %9s\n", "RULES", "ROUND", "CPU", "RSS", "LAG-P99", "LAG-MAX", "FAILED")
	for r := range *rounds {
		for _, on := range []bool{false, true} {
			args := []string{"engine", "-addr", addr, "-mode", "both", "-targets", strconv.Itoa(*targets),
				"-interval", interval.String(), "-duration", duration.String(), "-warmup", "5s", "-cpu", "0"}
			name := "off"
			if on {
				args, name = append(args, "-rules", step.String()), "on"
			}
			z, err := child(args...)
			if err != nil {
				return err
			}
			fmt.Printf("%-6s %5d %8.2f%% %6.1fMiB %8.1fms %8.1fms %9d\n", name, r+1, 100*z.CPUSeconds/duration.Seconds(),
				z.MaxRSSMiB, z.LagP99*1e3, z.LagMax*1e3, z.Failures)
		}
	}
	return nil
}

func runScale(args []string) error {
	fs := newFlags("scale")
	var (
		targets  = fs.Int("targets", 2000, "HTTP targets")
		interval = fs.Duration("interval", time.Second, "probe interval per target")
		duration = fs.Duration("duration", 20*time.Second, "measured time")
		mode     = fs.String("mode", "new", "connections: new, reused or both")
		scrape   = fs.Duration("scrape", 0, "gather the engine's metrics in the text format this often meanwhile, as Prometheus would (0: never)")
		prof     = fs.String("cpuprofile", "", "write a CPU profile of the engine's measured time")
	)
	_ = fs.Parse(args)
	addr, stop, err := startServer(1)
	if err != nil {
		return err
	}
	defer stop()
	z, err := child("engine", "-addr", addr, "-mode", *mode, "-targets", strconv.Itoa(*targets),
		"-interval", interval.String(), "-duration", duration.String(), "-warmup", "3s", "-cpu", "0", "-scrape", scrape.String(),
		"-cpuprofile", *prof)
	if err != nil {
		return err
	}
	verdict := "PASS"
	if z.LagP99 >= 0.010 {
		verdict = "FAIL"
	}
	fmt.Printf("scale: %d targets (%s connections) x %s on one core: %.0f probes/s, CPU %.0f%% of the core, RSS %.1f MiB, skipped %d, failed %d (of them %d the observer's own starvation: %d against the healthy target)\n",
		*targets, *mode, *interval, float64(z.Probes)/duration.Seconds(), 100*z.CPUSeconds/duration.Seconds(), z.MaxRSSMiB, z.Skipped,
		z.Failures, z.Observer, z.Failures-z.Observer)
	if *scrape > 0 {
		fmt.Printf("  (the metrics were gathered in the text format every %s meanwhile)\n", *scrape)
	}
	fmt.Printf("scheduling lag p99 <= %.1fms (bucket bound), highest bucket %.1fms (target p99 < 10ms) %s\n", z.LagP99*1e3, z.LagMax*1e3, verdict)
	return nil
}
