package probes

import (
	"context"
	"testing"
	"time"

	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/testtarget"
	"github.com/zerodown/zerodown/testtarget/targettest"
)

func TestStarvationDuring(t *testing.T) {
	var m starvation
	t0 := time.Unix(1_800_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	if got := m.during(at(0), at(100)); got != 0 {
		t.Errorf("no ticks yet: %s", got)
	}
	// Ticks every 5 ms; from 50 to 70 ms each woke 10 ms late.
	for ms := 5; ms <= 200; ms += 5 {
		late := time.Duration(0)
		if ms > 50 && ms <= 70 {
			late = 10 * time.Millisecond
		}
		m.record(at(ms), late)
	}
	for _, tc := range []struct {
		from, to int
		want     time.Duration
	}{
		{0, 40, 0},
		{40, 100, 40 * time.Millisecond},
		{60, 65, 20 * time.Millisecond}, // the tick after the end is counted too
		{100, 200, 0},
	} {
		if got := m.during(at(tc.from), at(tc.to)); got != tc.want {
			t.Errorf("during(%d, %d ms) = %s, want %s", tc.from, tc.to, got, tc.want)
		}
	}
	if m.total.Load() != int64(40*time.Millisecond) {
		t.Errorf("total = %s", time.Duration(m.total.Load()))
	}
}

// A stall the ticker has not woken from yet (or whose end the probe's
// goroutine saw first) counts too: the time since the newest tick.
func TestStarvationDuringPending(t *testing.T) {
	var m starvation
	now := time.Now()
	for ms := 300; ms >= 200; ms -= 5 {
		m.record(now.Add(-time.Duration(ms)*time.Millisecond), 0)
	}
	// The newest tick was 200 ms ago: about 194 ms of it is a stall.
	if got := m.during(now.Add(-250*time.Millisecond), now); got < 150*time.Millisecond || got > 250*time.Millisecond {
		t.Errorf("during a stall not yet seen: %s, want about 194ms", got)
	}
	// Bounded by the request: one that began 50 ms ago.
	if got := m.during(now.Add(-50*time.Millisecond), now); got > 50*time.Millisecond {
		t.Errorf("pending beyond the request: %s", got)
	}
	// A request that ended before the newest tick sees no pending stall.
	if got := m.during(now.Add(-300*time.Millisecond), now.Add(-250*time.Millisecond)); got != 0 {
		t.Errorf("a request before the newest tick: %s", got)
	}
}

// A request that hangs while the process itself is starved of CPU is the
// observer's failure; the same hang with the process running freely is the
// target's timeout.
func TestStarvedProbeIsObserver(t *testing.T) {
	tt := targettest.Start(t, testtarget.Options{})
	tt.Set(testtarget.Hang)
	for _, tc := range []struct {
		name    string
		starved bool
		want    Reason
	}{
		{"running freely", false, ReasonTimeout},
		{"starved", true, ReasonObserver},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := httpTarget("api", tt.HTTPAddr(), 100*time.Millisecond)
			e := NewEngine(EngineOptions{})
			s, err := e.newSeries(&tg, config.ConnNew)
			if err != nil {
				t.Fatal(err)
			}
			defer s.prober.Close()
			s.hist = e.dur.WithLabelValues("api", "http", "new")
			s.pending = append(s.pending, entry{start: time.Now()})
			s.inFlight++
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					late := time.Duration(0)
					if tc.starved {
						late = 10 * time.Millisecond
					}
					e.starved.record(time.Now(), late)
					select {
					case <-stop:
						return
					case <-time.After(starvationTick):
					}
				}
			}()
			s.probe(context.Background(), 0, time.Now())
			close(stop)
			<-done
			if s.requests[tc.want] != 1 {
				t.Errorf("requests by reason %v, want one %s", s.requests, tc.want)
			}
			if got := e.starved.discounted.Load(); (got == 1) != tc.starved {
				t.Errorf("discounted probes = %d", got)
			}
		})
	}
}

// A slow answer ends an outage only if it came at about the usual speed,
// or if this process's own starvation explains its slowness.
func TestStarvedAnswerEndsOutage(t *testing.T) {
	for _, excused := range []bool{false, true} {
		tg := httpTarget("api", "127.0.0.1:9", 100*time.Millisecond)
		e := NewEngine(EngineOptions{})
		s, err := e.newSeries(&tg, config.ConnNew)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		for i, r := range []*Result{
			{Start: t0, Duration: time.Millisecond},
			{Start: t0.Add(100 * time.Millisecond), Duration: time.Millisecond, Reason: ReasonConnectRefused},
			{Start: t0.Add(200 * time.Millisecond), Duration: 80 * time.Millisecond}, // slow: beyond recoverWithin
		} {
			s.pending = append(s.pending, entry{start: r.Start})
			s.inFlight++
			s.complete(uint64(i), r, false, excused && i == 2)
		}
		if down, _ := s.tracker.Down(); down == excused {
			t.Errorf("excused %v: down = %v after a slow answer, want %v", excused, down, !excused)
		}
	}
}
