package fidelity

import (
	"strings"
	"testing"
	"time"
)

func TestCompare(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	windows := []Window{
		{Fault: "refuse", From: at(1000), To: at(2000)},
		{Fault: "http_503", From: at(5000), To: at(5500)},
	}
	outages := []Outage{
		{Series: "web/new", From: at(1030), To: at(2010), Reason: "connect_refused"},   // -20ms
		{Series: "web/reused", From: at(970), To: at(2000), Reason: "connect_refused"}, // +30ms
		{Series: "web/new", From: at(4990), To: at(5520), Reason: "http_status"},       // +30ms
		{Series: "web/new", From: at(8000), To: at(8100), Reason: "reset"},             // spurious
		{Series: "dns/new", From: at(1500), To: at(1600), Reason: "timeout"},           // dns is not affected by refuse: spurious
	}
	affects := func(fault, series string) bool {
		if strings.HasPrefix(series, "dns/") {
			return false
		}
		return fault == "refuse" || series == "web/new"
	}
	rep := Compare(windows, outages, []string{"web/new", "web/reused", "dns/new"}, affects, 200*time.Millisecond)
	type got struct {
		fault, series string
		found         bool
		dur           time.Duration
	}
	var g []got
	for _, m := range rep.Matches {
		g = append(g, got{m.Window.Fault, m.Series, m.Found, m.DurErr})
	}
	want := []got{
		{"refuse", "web/new", true, -20 * time.Millisecond},
		{"refuse", "web/reused", true, 30 * time.Millisecond},
		{"http_503", "web/new", true, 30 * time.Millisecond},
	}
	if len(g) != len(want) {
		t.Fatalf("matches %+v, want %+v", g, want)
	}
	for i := range want {
		if g[i] != want[i] {
			t.Errorf("match %d = %+v, want %+v", i, g[i], want[i])
		}
	}
	if len(rep.Spurious) != 2 {
		t.Errorf("spurious %+v, want the reset at 8 s and the dns timeout", rep.Spurious)
	}
	st := rep.DurationStats(nil)
	if st.N != 3 || st.Missed != 0 || st.Median != 30*time.Millisecond || st.WorstAbs != 30*time.Millisecond || st.MinErr != -20*time.Millisecond {
		t.Errorf("stats %+v", st)
	}
	var b strings.Builder
	rep.Print(&b)
	for _, s := range []string{"refuse", "+30.0ms", "-20.0ms", "spurious outages (outside every fault window): 2"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, b.String())
		}
	}
}

func TestCompareMissed(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	rep := Compare([]Window{{Fault: "hang", From: t0, To: t0.Add(time.Second)}}, nil, []string{"a/new"},
		func(string, string) bool { return true }, 0)
	if len(rep.Matches) != 1 || rep.Matches[0].Found {
		t.Fatalf("matches %+v, want one missed", rep.Matches)
	}
	if st := rep.DurationStats(nil); st.Missed != 1 || st.N != 0 {
		t.Fatalf("stats %+v", st)
	}
}
