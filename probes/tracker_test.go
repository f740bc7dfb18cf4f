package probes

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// ms builds a sample stream: each entry is a start offset in milliseconds
// and a reason (ReasonNone for success).
type smp struct {
	at     int
	reason Reason
}

func TestTrackerOutages(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type outage struct{ from, to int } // ms; to -1 = still open
	tests := []struct {
		name       string
		samples    []smp
		want       []outage
		disruption map[Reason]time.Duration
		outages    uint64
		down       bool
	}{
		{
			name:    "all success",
			samples: []smp{{0, 0}, {100, 0}, {200, 0}},
			outages: 0,
		},
		{
			name:       "one outage, midpoints on both edges",
			samples:    []smp{{0, 0}, {100, 0}, {200, ReasonConnectRefused}, {210, ReasonConnectRefused}, {220, 0}},
			want:       []outage{{150, 215}},
			disruption: map[Reason]time.Duration{ReasonConnectRefused: 65 * time.Millisecond},
			outages:    1,
		},
		{
			name:       "reasons split by the failures that saw them",
			samples:    []smp{{0, 0}, {100, ReasonReset}, {110, ReasonConnectRefused}, {120, ReasonConnectRefused}, {130, 0}},
			want:       []outage{{50, 125}},
			disruption: map[Reason]time.Duration{ReasonReset: 55 * time.Millisecond, ReasonConnectRefused: 20 * time.Millisecond},
			outages:    1,
		},
		{
			name:       "failure first: the outage starts at the first sample",
			samples:    []smp{{0, ReasonTimeout}, {10, ReasonTimeout}, {20, 0}},
			want:       []outage{{0, 15}},
			disruption: map[Reason]time.Duration{ReasonTimeout: 15 * time.Millisecond},
			outages:    1,
		},
		{
			name:       "ongoing outage counted up to the latest failure",
			samples:    []smp{{0, 0}, {100, ReasonHTTPStatus}, {110, ReasonHTTPStatus}, {120, ReasonHTTPStatus}},
			want:       []outage{{50, -1}},
			disruption: map[Reason]time.Duration{ReasonHTTPStatus: 70 * time.Millisecond},
			outages:    1,
			down:       true,
		},
		{
			name: "two outages",
			samples: []smp{{0, 0}, {100, ReasonDNSRcode}, {110, 0}, {210, 0}, {310, ReasonTimeout},
				{320, ReasonTimeout}, {330, 0}},
			want:       []outage{{50, 105}, {260, 325}},
			disruption: map[Reason]time.Duration{ReasonDNSRcode: 55 * time.Millisecond, ReasonTimeout: 65 * time.Millisecond},
			outages:    2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tr Tracker
			var got []outage
			for _, s := range tc.samples {
				ev, ok := tr.Observe(Sample{Start: at(s.at), Reason: s.reason})
				if !ok {
					continue
				}
				ms := func(x time.Time) int { return int(x.Sub(t0) / time.Millisecond) }
				switch ev.Kind {
				case OutageBegan:
					got = append(got, outage{ms(ev.Start), -1})
				case OutageEnded:
					if len(got) == 0 || got[len(got)-1].to != -1 || got[len(got)-1].from != ms(ev.Start) {
						t.Fatalf("end %v without a matching beginning in %v", ev, got)
					}
					got[len(got)-1].to = ms(ev.End)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("outages = %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("outage %d = %v, want %v", i, got[i], tc.want[i])
				}
			}
			for r := ReasonDNS; r < numReasons; r++ {
				if g, w := tr.Disruption(r), tc.disruption[r]; g != w {
					t.Errorf("disruption[%s] = %v, want %v", r, g, w)
				}
			}
			if tr.Outages() != tc.outages {
				t.Errorf("outages = %d, want %d", tr.Outages(), tc.outages)
			}
			if down, _ := tr.Down(); down != tc.down {
				t.Errorf("down = %v, want %v", down, tc.down)
			}
		})
	}
}

// The counted disruption never decreases, and once an outage closes it
// equals the outage's length exactly, for any interleaving of reasons.
func TestTrackerMonotonicAndExact(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	var tr Tracker
	prev := time.Duration(0)
	var openedAt time.Time
	var closedSum time.Duration
	reasons := AllReasons()
	for i := 0; i < 5000; i++ {
		// A deterministic pseudo-random stream with runs of failures.
		x := uint32(i*2654435761) >> 7
		r := ReasonNone
		if x%7 < 3 {
			r = reasons[int(x)%len(reasons)]
		}
		ev, ok := tr.Observe(Sample{Start: t0.Add(time.Duration(i*10+int(x%5)) * time.Millisecond), Reason: r})
		if ok && ev.Kind == OutageBegan {
			openedAt = ev.Start
		}
		if ok && ev.Kind == OutageEnded {
			if !ev.Start.Equal(openedAt) {
				t.Fatalf("ended outage starts %v, began %v", ev.Start, openedAt)
			}
			closedSum += ev.End.Sub(ev.Start)
			if got := tr.TotalDisruption(); got != closedSum {
				t.Fatalf("after closing: total %v, sum of closed outages %v", got, closedSum)
			}
		}
		cur := tr.TotalDisruption()
		if cur < prev {
			t.Fatalf("disruption went down: %v -> %v", prev, cur)
		}
		prev = cur
	}
	if tr.Outages() == 0 {
		t.Fatal("stream produced no outages; the test is not testing anything")
	}
}

func TestReasonNames(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range AllReasons() {
		n := r.String()
		if n == "" || seen[n] {
			t.Fatalf("reason %d has empty or duplicate name %q", r, n)
		}
		seen[n] = true
		if back, ok := ParseReason(n); !ok || back != r {
			t.Errorf("ParseReason(%q) = %v, %v", n, back, ok)
		}
	}
	if _, ok := ParseReason(""); ok {
		t.Error(`ParseReason("") succeeded`)
	}
}

// An outage that begins as the observer's and goes on as the target's is
// the target's outage from its first own failure; its observer part stays
// apart.
func TestTrackerObserverThenTarget(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	var tr Tracker
	tr.Observe(Sample{Start: at(0)})
	tr.Observe(Sample{Start: at(100), Reason: ReasonObserver})
	tr.Observe(Sample{Start: at(200), Reason: ReasonObserver})
	if tr.Outages() != 0 || tr.ObserverOutages() != 1 {
		t.Fatalf("after observer failures: outages %d, observer outages %d; want 0 and 1", tr.Outages(), tr.ObserverOutages())
	}
	tr.Observe(Sample{Start: at(300), Reason: ReasonConnectRefused})
	tr.Observe(Sample{Start: at(400), Reason: ReasonConnectRefused})
	tr.Observe(Sample{Start: at(500)})
	if tr.Outages() != 1 || tr.ObserverOutages() != 1 {
		t.Errorf("outages %d, observer outages %d; want 1 and 1", tr.Outages(), tr.ObserverOutages())
	}
	// 50..200 is the observer's, 200..450 the target's.
	if got, want := tr.Disruption(ReasonObserver), 150*time.Millisecond; got != want {
		t.Errorf("observer disruption %s, want %s", got, want)
	}
	if got, want := tr.Disruption(ReasonConnectRefused), 250*time.Millisecond; got != want {
		t.Errorf("connect_refused disruption %s, want %s", got, want)
	}
	if got, want := tr.TotalDisruption(), 250*time.Millisecond; got != want {
		t.Errorf("total disruption %s, want %s (observer left out)", got, want)
	}
}

// The cause of an outage is the reason that saw most of its time, not the
// last failure's; the split is kept; End closes an outage without a success.
func TestTrackerCauseAndEnd(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ms := time.Millisecond
	tests := []struct {
		name      string
		samples   []smp
		endAt     int // End at this offset when > 0
		wantCause Reason
		wantLast  Reason
		wantSplit map[Reason]time.Duration
		wantEnd   int
		wantEnded string
	}{
		{
			// A hang (timeout) released by a reset at the end.
			name:      "hang ended by a reset",
			samples:   []smp{{0, 0}, {100, ReasonTimeout}, {600, ReasonTimeout}, {1100, ReasonTimeout}, {1500, ReasonReset}, {1600, 0}},
			wantCause: ReasonTimeout, wantLast: ReasonReset,
			wantSplit: map[Reason]time.Duration{ReasonTimeout: 1250 * ms, ReasonReset: 250 * ms},
			wantEnd:   1550,
		},
		{
			name:      "one failure: its own reason",
			samples:   []smp{{0, 0}, {100, ReasonHTTPStatus}, {200, 0}},
			wantCause: ReasonHTTPStatus, wantLast: ReasonHTTPStatus,
			wantSplit: map[Reason]time.Duration{ReasonHTTPStatus: 100 * ms},
			wantEnd:   150,
		},
		{
			name:      "observer time never the cause of the target's outage",
			samples:   []smp{{0, 0}, {100, ReasonObserver}, {1000, ReasonObserver}, {1050, ReasonConnectRefused}, {1100, 0}},
			wantCause: ReasonConnectRefused, wantLast: ReasonConnectRefused,
			wantSplit: map[Reason]time.Duration{ReasonObserver: 950 * ms, ReasonConnectRefused: 75 * ms},
			wantEnd:   1075,
		},
		{
			name:      "removed mid-outage: ends at the removal",
			samples:   []smp{{0, 0}, {100, ReasonConnectRefused}, {200, ReasonConnectRefused}},
			endAt:     900,
			wantCause: ReasonConnectRefused, wantLast: ReasonConnectRefused,
			wantSplit: map[Reason]time.Duration{ReasonConnectRefused: 850 * ms},
			wantEnd:   900, wantEnded: "removed",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tr Tracker
			var got Event
			var ended bool
			for _, s := range tc.samples {
				if ev, ok := tr.Observe(Sample{Start: at(s.at), Reason: s.reason}); ok && ev.Kind == OutageEnded {
					got, ended = ev, true
				}
			}
			if tc.endAt > 0 {
				got, ended = tr.End(at(tc.endAt), "removed")
				if _, again := tr.End(at(tc.endAt+1), "removed"); again {
					t.Error("End twice ended twice")
				}
			}
			if !ended {
				t.Fatal("no outage ended")
			}
			if got.Reason != tc.wantCause || got.Last != tc.wantLast || got.Ended != tc.wantEnded || !got.End.Equal(at(tc.wantEnd)) {
				t.Errorf("ended %s..%s cause %s last %s ended %q, want end %d ms cause %s last %s ended %q",
					got.Start, got.End, got.Reason, got.Last, got.Ended, tc.wantEnd, tc.wantCause, tc.wantLast, tc.wantEnded)
			}
			var sum time.Duration
			for r, d := range got.Split {
				sum += d
				if d != tc.wantSplit[Reason(r)] {
					t.Errorf("split[%s] = %v, want %v", Reason(r), d, tc.wantSplit[Reason(r)])
				}
			}
			if sum != got.Duration() {
				t.Errorf("split sums to %v, outage lasted %v", sum, got.Duration())
			}
			if down, _ := tr.Down(); down {
				t.Error("still down after the end")
			}
		})
	}
}

// A failure's share of time does not shrink because of the re-probes its
// own failure brought: a success inside that share leaves the end pending,
// a failure inside it continues the outage, and the first sample past it
// ends the outage there.
func TestTrackerFailureKeepsItsShare(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ms := func(x time.Time) int { return int(x.Sub(t0) / time.Millisecond) }
	type s struct {
		at, gap int
		reason  Reason
	}
	tests := []struct {
		name    string
		samples []s
		want    [][2]int // outages, from and to in ms
		total   time.Duration
		outages uint64
	}{
		{
			name: "an isolated failure weighs its interval though its re-probe succeeded",
			// Steady every 50 ms; the failure at 100 brings re-probes
			// every 10 ms, the first of which succeeds.
			samples: []s{{50, 50, 0}, {100, 50, ReasonConnectRefused}, {110, 10, 0}, {120, 10, 0}, {130, 10, 0}, {150, 50, 0}},
			want:    [][2]int{{75, 125}},
			total:   50 * time.Millisecond,
			outages: 1,
		},
		{
			name: "a total outage ends where its re-probes say",
			samples: []s{{50, 50, 0}, {100, 50, ReasonConnectRefused}, {110, 10, ReasonConnectRefused},
				{120, 10, ReasonConnectRefused}, {130, 10, ReasonConnectRefused}, {140, 10, 0}, {150, 10, 0}},
			want:    [][2]int{{75, 135}},
			total:   60 * time.Millisecond,
			outages: 1,
		},
		{
			name: "a failure within the share continues the outage",
			samples: []s{{50, 50, 0}, {100, 50, ReasonReset}, {110, 10, 0}, {120, 10, ReasonReset},
				{130, 10, 0}, {140, 10, 0}},
			want:    [][2]int{{75, 125}},
			total:   50 * time.Millisecond,
			outages: 1,
		},
		{
			name: "the next outage begins no earlier than the last one ended",
			samples: []s{{50, 50, 0}, {100, 50, ReasonReset}, {110, 10, 0}, {120, 10, 0}, {130, 10, ReasonReset},
				{140, 10, 0}, {150, 10, 0}},
			want:    [][2]int{{75, 125}, {125, 135}},
			total:   60 * time.Millisecond,
			outages: 2,
		},
		{
			name:    "unknown gaps: midpoints as before",
			samples: []s{{50, 0, 0}, {100, 0, ReasonReset}, {110, 0, 0}},
			want:    [][2]int{{75, 105}},
			total:   30 * time.Millisecond,
			outages: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tr Tracker
			var got [][2]int
			take := func(ev Event, ok bool) {
				switch {
				case !ok:
				case ev.Kind == OutageBegan:
					got = append(got, [2]int{ms(ev.Start), -1})
				case len(got) == 0 || got[len(got)-1][1] != -1:
					t.Fatalf("end %v without a beginning in %v", ev, got)
				default:
					got[len(got)-1][1] = ms(ev.End)
				}
			}
			for _, x := range tc.samples {
				smp := Sample{Start: at(x.at), Reason: x.reason, Gap: time.Duration(x.gap) * time.Millisecond}
				take(tr.Flush(smp.Start))
				take(tr.Observe(smp))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("outages %v, want %v", got, tc.want)
			}
			if tr.TotalDisruption() != tc.total || tr.Outages() != tc.outages {
				t.Errorf("disruption %v in %d outages, want %v in %d", tr.TotalDisruption(), tr.Outages(), tc.total, tc.outages)
			}
		})
	}
}

// reprobed is the series' schedule as a pure function of outcomes: steady
// every interval, every fast step while failing and for one interval after
// a recovery. fails says whether a request started at a time fails. It
// returns the tracker fed with everything until end.
func reprobed(interval, fast, end time.Duration, fails func(at time.Duration) bool) *Tracker {
	var tr Tracker
	t0 := time.Unix(1_800_000_000, 0)
	var now, watchUntil time.Duration
	failing := false
	for now < end {
		f := fails(now)
		next := (now/interval + 1) * interval
		switch {
		case failing || now < watchUntil:
			next = now + fast
		}
		// The gap is fixed at launch, before the outcome is known.
		smp := Sample{Start: t0.Add(now), Gap: next - now}
		if f {
			smp.Reason = ReasonConnectRefused
		}
		tr.Flush(smp.Start)
		tr.Observe(smp)
		if f && !failing {
			next = now + fast // the failure brings re-probes
		}
		if !f && failing {
			watchUntil = now + interval
		}
		failing = f
		now = next
	}
	tr.End(t0.Add(end), "stopped")
	return &tr
}

// In a partial outage (each request fails at random, one in twenty, as new
// connections do when one endpoint in four is dying) the disruption counted
// is the time a request would have failed, unbiased: before the failure
// kept its share it came out about 40 % short.
func TestTrackerPartialOutageUnbiased(t *testing.T) {
	const interval, fast, span = 50 * time.Millisecond, 10 * time.Millisecond, 2000 * time.Second
	for _, p := range []float64{0.05, 0.2} {
		rng := rand.New(rand.NewPCG(1, uint64(p*100)))
		tr := reprobed(interval, fast, span, func(time.Duration) bool { return rng.Float64() < p })
		want := time.Duration(p * float64(span))
		got := tr.TotalDisruption()
		ratio := float64(got) / float64(want)
		t.Logf("failure rate %.2f: counted %.3f of the expected disruption", p, ratio)
		if ratio < 0.9 || ratio > 1.1 {
			t.Errorf("failure rate %.2f over %s: disruption %s, want about %s (ratio %.2f)", p, span, got.Round(time.Millisecond), want, ratio)
		}
	}
}

// Total outages of known windows: each measured within half an interval
// at its beginning and a fast step at its end, and without bias overall.
func TestTrackerTotalOutagesExact(t *testing.T) {
	const interval, fast = 50 * time.Millisecond, 10 * time.Millisecond
	rng := rand.New(rand.NewPCG(2, 2))
	var windows [][2]time.Duration
	var truth time.Duration
	for at := time.Second; at < 1000*time.Second; {
		d := time.Duration(20+rng.IntN(2000)) * time.Millisecond
		windows = append(windows, [2]time.Duration{at, at + d})
		truth += d
		at += d + time.Duration(1000+rng.IntN(4000))*time.Millisecond
	}
	tr := reprobed(interval, fast, 1001*time.Second, func(at time.Duration) bool {
		i, _ := slices.BinarySearchFunc(windows, at, func(w [2]time.Duration, at time.Duration) int { return cmp.Compare(w[1], at) })
		return i < len(windows) && windows[i][0] <= at && at < windows[i][1]
	})
	if got := tr.Outages(); got != uint64(len(windows)) {
		t.Fatalf("%d outages, want %d", got, len(windows))
	}
	bias := (tr.TotalDisruption() - truth) / time.Duration(len(windows))
	t.Logf("%d outages: mean error %s per outage", len(windows), bias)
	if bias.Abs() > 3*time.Millisecond {
		t.Errorf("mean error per outage %s over %d outages (truth %s, counted %s), want within 3ms", bias, len(windows), truth, tr.TotalDisruption())
	}
}

// A probe brought early by something else than the failure itself (the
// sibling's recovery) shortens the failure's share: the end is pinned
// down by it, as before shares.
func TestTrackerRescheduleShortensShare(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	var tr Tracker
	tr.Observe(Sample{Start: at(0), Gap: time.Second})
	tr.Observe(Sample{Start: at(1000), Reason: ReasonConnectRefused, Gap: time.Second})
	tr.Reschedule(at(1300))
	ev, ok := tr.Observe(Sample{Start: at(1300), Gap: 10 * time.Millisecond})
	if !ok || ev.Kind != OutageEnded || !ev.End.Equal(at(1150)) {
		t.Fatalf("got %+v %v, want the outage ended at 1150 ms", ev, ok)
	}
	// Without the reschedule, the end waits for the failure's share.
	var tr2 Tracker
	tr2.Observe(Sample{Start: at(0), Gap: time.Second})
	tr2.Observe(Sample{Start: at(1000), Reason: ReasonConnectRefused, Gap: time.Second})
	if _, ok := tr2.Observe(Sample{Start: at(1300), Gap: 10 * time.Millisecond}); ok {
		t.Fatal("ended before the failure's share")
	}
	if ev, ok := tr2.Flush(at(1500)); !ok || !ev.End.Equal(at(1500)) {
		t.Fatalf("flush: %+v %v, want the end at 1500 ms", ev, ok)
	}
}

// Stopped while an end is pending: the outage ends at the stop if that
// comes first, never after it.
func TestTrackerEndWhilePending(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	for _, tc := range []struct{ stop, want int }{{115, 115}, {200, 150}} {
		var tr Tracker
		tr.Observe(Sample{Start: at(0), Gap: 100 * time.Millisecond})
		tr.Observe(Sample{Start: at(100), Reason: ReasonReset, Gap: 100 * time.Millisecond})
		tr.Observe(Sample{Start: at(110), Gap: 10 * time.Millisecond})
		ev, ok := tr.End(at(tc.stop), "stopped")
		if !ok || !ev.End.Equal(at(tc.want)) || ev.Ended != "" {
			t.Errorf("stopped at %d ms: %+v %v, want an outage ended by its success at %d ms", tc.stop, ev, ok, tc.want)
		}
	}
}
