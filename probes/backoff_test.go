package probes

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/testtarget"
	"github.com/zerodown/zerodown/testtarget/targettest"
)

func backoffSeries(interval, fast, fastFor time.Duration) *series {
	return &series{interval: interval, fastStep: fast, fastFor: fastFor, rng: 0x9e3779b97f4a7c15}
}

// While failing, a series is probed every fast step for fastFor, then the
// step doubles, with up to a quarter of jitter below it, up to interval.
func TestReprobeStepBacksOff(t *testing.T) {
	const interval, fast, fastFor = time.Second, 10 * time.Millisecond, 500 * time.Millisecond
	s := backoffSeries(interval, fast, fastFor)
	t0 := time.Unix(1_800_000_000, 0)
	now := t0
	var steps []time.Duration
	for now.Sub(t0) < 20*time.Second {
		d := s.reprobeStepLocked(now)
		steps = append(steps, d)
		now = now.Add(d)
	}
	nfast := 0
	for _, d := range steps {
		if d != fast {
			break
		}
		nfast++
	}
	if want := int(fastFor / fast); nfast != want {
		t.Errorf("%d fast steps, want %d (fast_for / fast_interval)", nfast, want)
	}
	nominal := fast
	for i, d := range steps[nfast:] {
		nominal = min(2*nominal, interval)
		if d > nominal || d < nominal-nominal/4 {
			t.Fatalf("step %d after the fast phase = %s, want within [%s, %s]", i, d, nominal-nominal/4, nominal)
		}
	}
	if last := steps[len(steps)-1]; last < interval*3/4 {
		t.Errorf("step after 20s of outage = %s, want about the interval %s", last, interval)
	}
	// 20 s of outage cost about as much as the fast phase plus steady state.
	if n := len(steps); n > nfast+7+20*4/3+1 {
		t.Errorf("%d probes in 20s of outage, want at most %d", n, nfast+7+20*4/3+1)
	}

	// A sibling's recovery brings the fast phase back.
	if !s.hint(now) {
		t.Error("hint to a series long in its outage: not taken")
	}
	if d := s.reprobeStepLocked(now); d != fast {
		t.Errorf("step after a hint = %s, want the fast step %s", d, fast)
	}
	if s.hint(now.Add(fast)) {
		t.Error("hint during the fast phase taken again")
	}
}

func TestLimiter(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	l := newLimiter(100) // burst 10
	var steady, re int
	for i := range 20 {
		if l.take(t0, i%2 == 1) {
			if i%2 == 1 {
				re++
			} else {
				steady++
			}
		}
	}
	// Steady probes drain the bucket; re-probes stop at half of it.
	if steady != 7 || re != 3 {
		t.Errorf("from a bucket of 10: %d steady and %d re-probes, want 7 and 3", steady, re)
	}
	if l.take(t0, false) {
		t.Error("took a token from an empty bucket")
	}
	if !l.take(t0.Add(10*time.Millisecond), false) {
		t.Error("no token 10ms later at 100/s")
	}
	if l.take(t0.Add(10*time.Millisecond), true) {
		t.Error("re-probe took from a nearly empty bucket")
	}
	if !l.take(t0.Add(time.Second), true) {
		t.Error("re-probe refused with a full bucket")
	}
	if l.denied.Load() == 0 {
		t.Error("denied probes not counted")
	}
	// Over a long run the rate holds.
	l = newLimiter(100)
	n := 0
	for ms := range 10_000 {
		if l.take(t0.Add(time.Duration(ms)*time.Millisecond), false) {
			n++
		}
	}
	if n < 990 || n > 1010 {
		t.Errorf("%d probes in 10s at a ceiling of 100/s", n)
	}
}

// BenchmarkBackoff simulates, with the series' own step function, outages
// of 0.2, 2 and 60 s beginning at random points of a steady 1 s grid
// (fast_interval 10ms, fast_for 2s), and reports the error of the measured
// end edge (mean and worst, ms) and the probes per second during the
// outage: the trade-off of backing off.
func BenchmarkBackoff(b *testing.B) {
	for _, outage := range []time.Duration{200 * time.Millisecond, 2 * time.Second, 60 * time.Second} {
		b.Run(fmt.Sprintf("outage=%s", outage), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			var sumErr, maxErr time.Duration
			var probes, n int
			var spent time.Duration
			for b.Loop() {
				s := backoffSeries(time.Second, 10*time.Millisecond, 2*time.Second)
				s.rng = rng.Uint64() | 1
				start := time.Duration(rng.Int64N(int64(time.Second)))
				end := start + outage
				// Steady grid until a probe lands in the outage.
				at := time.Duration(0)
				for at < start {
					at += time.Second
				}
				if at >= end {
					continue // missed entirely (shorter than the interval)
				}
				t0 := time.Unix(0, 0)
				lastFail := at
				for {
					probes++
					at += s.reprobeStepLocked(t0.Add(at))
					if at >= end {
						break
					}
					lastFail = at
				}
				est := lastFail + (at-lastFail)/2
				e := (est - end).Abs()
				sumErr += e
				maxErr = max(maxErr, e)
				spent += outage
				n++
			}
			if n > 0 {
				b.ReportMetric(float64(sumErr.Microseconds())/float64(n)/1000, "end-err-mean-ms")
				b.ReportMetric(float64(maxErr.Microseconds())/1000, "end-err-max-ms")
				b.ReportMetric(float64(probes)/spent.Seconds(), "probes/s")
			}
		})
	}
}

// A target's reused-connection series runs half an interval after its
// new-connection one, so an outage longer than half the interval is seen
// by one of them; targets spread over the interval in groups.
func TestStaggerHalfInterval(t *testing.T) {
	e := NewEngine(EngineOptions{})
	var targets []config.Target
	for i := range 40 {
		targets = append(targets, httpTarget(fmt.Sprintf("t%02d", i), "127.0.0.1:9", 100*time.Millisecond))
	}
	if _, _, err := e.Apply(targets); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.Start(ctx)
	defer e.Stop()
	phases := map[string]map[config.Connection]time.Duration{}
	offsets := map[time.Duration]int{}
	for _, s := range e.order {
		s.mu.Lock()
		off := s.phase.Sub(e.epoch) % s.interval
		s.mu.Unlock()
		if phases[s.info.Backend] == nil {
			phases[s.info.Backend] = map[config.Connection]time.Duration{}
		}
		phases[s.info.Backend][s.info.Connection] = off
		offsets[off]++
	}
	for b, p := range phases {
		if d := (p[config.ConnReused] - p[config.ConnNew] + 100*time.Millisecond) % (100 * time.Millisecond); d != 50*time.Millisecond {
			t.Errorf("%s: reused runs %s after new, want half the interval (new at %s, reused at %s)", b, d, p[config.ConnNew], p[config.ConnReused])
		}
	}
	for off, n := range offsets {
		if n > 2*staggerBurst {
			t.Errorf("%d series start at offset %s, want at most %d", n, off, 2*staggerBurst)
		}
	}
	if len(offsets) < staggerMinGroups {
		t.Errorf("series start at %d offsets, want at least %d", len(offsets), staggerMinGroups)
	}
}

// The series a target exports per connection mode, in the text format:
// 37 with classic buckets, 23 with the native histogram only (an http://
// target at an IP address, new connections; docs/metrics-guide.md "Series per target").
func TestSeriesPerTarget(t *testing.T) {
	for _, tc := range []struct {
		native bool
		want   int
	}{{false, 37}, {true, 23}} {
		e := NewEngine(EngineOptions{NativeHistogramsOnly: tc.native})
		tg := httpTarget("api", "127.0.0.1:9", time.Second)
		tg.Connections = []config.Connection{config.ConnNew}
		if _, _, err := e.Apply([]config.Target{tg}); err != nil {
			t.Fatal(err)
		}
		s := e.order[0]
		s.hist = e.dur.WithLabelValues("api", "http", "new")
		s.hist.Observe(0.001)
		s.startedAt = time.Now()
		s.haveResult = true
		reg := prometheus.NewRegistry()
		reg.MustRegister(e)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, mf := range mfs {
			if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
				t.Fatal(err)
			}
		}
		n := 0
		for _, l := range strings.Split(b.String(), "\n") {
			if strings.Contains(l, `backend="api"`) {
				n++
			}
		}
		if n != tc.want {
			t.Errorf("native only %v: %d series per target and connection, want %d:\n%s", tc.native, n, tc.want, b.String())
		}
	}
}

func TestInFlightCap(t *testing.T) {
	f := newInFlight(4)
	if !f.start(true) || !f.start(true) {
		t.Fatal("re-probes refused below half the slots")
	}
	if f.start(true) {
		t.Error("re-probe took more than half the slots")
	}
	if !f.start(false) || !f.start(false) {
		t.Fatal("steady probes refused below the cap")
	}
	if f.start(false) {
		t.Error("a fifth request started with a cap of 4")
	}
	if f.skipped.Load() != 2 {
		t.Errorf("skipped %d, want 2", f.skipped.Load())
	}
	f.done()
	if !f.start(false) {
		t.Error("a slot freed but not taken")
	}
}

// Against hung targets the engine keeps at most MaxInFlightTotal requests
// in flight, however many targets hang: the rest are skipped and counted.
func TestEngineInFlightCapAgainstHungTargets(t *testing.T) {
	tt := targettest.Start(t, testtarget.Options{})
	tt.Set(testtarget.Hang)
	e := NewEngine(EngineOptions{MaxInFlightTotal: 16})
	var ts []config.Target
	for i := range 20 {
		tg := httpTarget(fmt.Sprintf("h%02d", i), tt.HTTPAddr(), 100*time.Millisecond)
		tg.Timeout = config.Duration(time.Second)
		ts = append(ts, tg)
	}
	if _, _, err := e.Apply(ts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.Start(ctx)
	defer e.Stop()
	maxSeen := 0
	deadline := time.Now().Add(10 * time.Second)
	for e.load.skipped.Load() < 20 {
		n := 0
		for _, st := range e.Statuses() {
			n += st.InFlight
		}
		maxSeen = max(maxSeen, n)
		if time.Now().After(deadline) {
			t.Fatalf("no probe skipped for the cap within 10s (in flight up to %d)", maxSeen)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if maxSeen > 16 {
		t.Errorf("%d requests in flight with a cap of 16", maxSeen)
	}
}

// Re-probe steps stretch as the engine's slots fill, so that hung targets
// do not spend them all at the start of an outage: the fast step while
// few are taken, twice it at half the re-probes' share, the ceiling once
// it is all taken; never below the step, never above the ceiling.
func TestSpreadReprobes(t *testing.T) {
	const step, ceiling = 10 * time.Millisecond, 100 * time.Millisecond
	f := newInFlight(1024) // re-probes may take 512
	for _, tc := range []struct {
		n    int64
		want time.Duration
	}{{0, step}, {256, 2 * step}, {384, 4 * step}, {500, ceiling}, {512, ceiling}, {600, ceiling}} {
		f.n.Store(tc.n)
		if got := f.spread(step, ceiling); got != tc.want {
			t.Errorf("%d in flight: step %s, want %s", tc.n, got, tc.want)
		}
	}
	var none *inFlight
	if got := none.spread(step, ceiling); got != step {
		t.Errorf("no engine: %s, want %s", got, step)
	}
	if got := f.spread(2*ceiling, ceiling); got != 2*ceiling {
		t.Errorf("a step above the ceiling: %s, want it kept", got)
	}
}
