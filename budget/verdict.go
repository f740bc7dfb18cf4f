package budget

import (
	"cmp"
	"slices"
	"time"
)

// Measured is the disruption of one backend over one connection mode.
type Measured struct {
	Backend, Connection string
	Disruption          time.Duration
}

// Verdicts of one backend and connection mode.
const (
	Pass       = "pass"
	Exceeded   = "exceeded"
	Unbudgeted = "unbudgeted" // no budget applies: reported, not judged
)

// Result is the verdict on one backend over one connection mode.
type Result struct {
	Backend    string  `json:"backend"`
	Connection string  `json:"connection"`
	Disruption float64 `json:"disruption_seconds"`
	// Allowed and Limit (allowed plus grace), and where the budget came
	// from; absent when no budget applies.
	Allowed *float64     `json:"allowed_seconds,omitempty"`
	Limit   *float64     `json:"limit_seconds,omitempty"`
	Source  string       `json:"budget_source,omitempty"`
	History *HistoryJSON `json:"history,omitempty"`
	// Rank places the disruption among the past upgrades' of the
	// budget's history, where it lists them (history.past).
	Rank    *Rank  `json:"history_rank,omitempty"`
	Verdict string `json:"verdict"`
}

// HistoryJSON is History in seconds.
type HistoryJSON struct {
	P50      float64 `json:"p50_seconds"`
	P95      float64 `json:"p95_seconds"`
	P99      float64 `json:"p99_seconds"`
	Upgrades int     `json:"upgrades"`
}

// Judge returns the verdict on each measurement, sorted by backend and
// connection, and whether every budget held. f may be nil: nothing is
// judged.
func Judge(f *File, ms []Measured) ([]Result, bool) {
	out := make([]Result, 0, len(ms))
	ok := true
	for _, m := range ms {
		r := Result{Backend: m.Backend, Connection: m.Connection, Disruption: m.Disruption.Seconds(), Verdict: Unbudgeted}
		if b, found := f.For(m.Backend, m.Connection); found {
			allowed, limit := b.Allowed.Seconds(), b.Limit.Seconds()
			r.Allowed, r.Limit, r.Source = &allowed, &limit, b.Source
			if h := b.History; h != nil {
				r.History = &HistoryJSON{P50: time.Duration(h.P50).Seconds(), P95: time.Duration(h.P95).Seconds(),
					P99: time.Duration(h.P99).Seconds(), Upgrades: h.Upgrades}
				past := make([]time.Duration, len(h.Past))
				for i, p := range h.Past {
					past[i] = time.Duration(p)
				}
				r.Rank = RankOf(m.Disruption, past)
			}
			r.Verdict = Pass
			if m.Disruption > b.Limit {
				r.Verdict, ok = Exceeded, false
			}
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Result) int {
		return cmp.Or(cmp.Compare(a.Backend, b.Backend), cmp.Compare(a.Connection, b.Connection))
	})
	return out, ok
}
