package watch

import (
	"time"

	"github.com/zerodown/zerodown/budget"
	"github.com/zerodown/zerodown/probes"
	"github.com/zerodown/zerodown/report"
	"github.com/zerodown/zerodown/rules/alert"
)

// Summary is what a watch run measured, written as summary.json: the
// report's summary (the verdict, per backend totals against budgets,
// every outage) and the run's own counts per series and alerts.
type Summary struct {
	*report.Summary
	Series []SeriesSummary `json:"series"`
	// Alerts lists every alert episode the embedded evaluator saw firing,
	// with its first and last firing time (absent without evaluation).
	Alerts []AlertSummary `json:"alerts,omitempty"`
}

// OutageSummary is one outage, from the intervals file.
type OutageSummary = report.OutageSummary

// AlertSummary is one alert episode.
type AlertSummary struct {
	Name     string            `json:"alertname"`
	Severity string            `json:"severity,omitempty"`
	Labels   map[string]string `json:"labels"`
	Summary  string            `json:"summary,omitempty"`
	// ActiveAt is when its condition began to hold; FiredAt when it began
	// firing; LastFiringAt the last evaluation at which it fired;
	// ResolvedAt when it stopped (absent: still firing at the end).
	ActiveAt     time.Time `json:"active_at"`
	FiredAt      time.Time `json:"fired_at"`
	LastFiringAt time.Time `json:"last_firing_at"`
	ResolvedAt   time.Time `json:"resolved_at,omitzero"`
}

func (s *Summary) addAlerts(fired []alert.Alert) {
	for _, a := range fired {
		s.Alerts = append(s.Alerts, AlertSummary{Name: a.Name, Severity: a.Labels["severity"], Labels: a.Labels,
			Summary: a.Annotations["summary"], ActiveAt: a.ActiveAt.UTC(), FiredAt: a.FiredAt.UTC(),
			LastFiringAt: a.LastFiringAt.UTC(), ResolvedAt: a.ResolvedAt.UTC()})
	}
}

// SeriesSummary is one backend over one connection mode.
type SeriesSummary struct {
	Backend       string  `json:"backend"`
	Connection    string  `json:"connection"`
	Protocol      string  `json:"protocol"`
	Requests      uint64  `json:"requests"`
	Failures      uint64  `json:"failures"`
	Outages       uint64  `json:"outages"`
	Disruption    float64 `json:"disruption_seconds"`
	Observed      float64 `json:"observed_seconds"`
	Availability  float64 `json:"availability"`
	P99Latency    float64 `json:"p99_latency_seconds"`
	SkippedProbes uint64  `json:"skipped_probes"`
	// Removed: the target was removed during the run (a reload); its
	// totals up to then are kept, and count in the verdict.
	Removed bool `json:"removed,omitempty"`
}

func newSummary(started, ended time.Time, st []probes.Status) *Summary {
	s := &Summary{Summary: &report.Summary{Started: started.UTC(), Ended: ended.UTC(), Duration: ended.Sub(started).Seconds(),
		Backends: []report.BackendSummary{}, Outages: []OutageSummary{}}, Series: []SeriesSummary{}}
	// A target removed and added again by reloads is one series: its
	// totals add up.
	index := map[[2]string]int{}
	for _, x := range st {
		ss := SeriesSummary{
			Backend: x.Backend, Connection: string(x.Connection), Protocol: x.Protocol,
			Requests: x.Requests, Failures: x.Failures, Outages: x.Outages,
			Disruption: x.Disruption.Seconds(), Observed: x.Observed.Seconds(),
			P99Latency: x.P99.Seconds(), SkippedProbes: x.Skipped, Removed: x.Removed,
		}
		k := [2]string{ss.Backend, ss.Connection}
		if i, ok := index[k]; ok {
			p := &s.Series[i]
			p.Requests += ss.Requests
			p.Failures += ss.Failures
			p.Outages += ss.Outages
			p.Disruption += ss.Disruption
			p.Observed += ss.Observed
			p.SkippedProbes += ss.SkippedProbes
			p.P99Latency = max(p.P99Latency, ss.P99Latency)
			p.Removed = p.Removed && ss.Removed
			continue
		}
		index[k] = len(s.Series)
		s.Series = append(s.Series, ss)
	}
	for i := range s.Series {
		if ss := &s.Series[i]; ss.Observed > 0 {
			ss.Availability = 1 - ss.Disruption/ss.Observed
		}
	}
	return s
}

// judge fills the verdict from the series' own totals, for a run that
// writes no intervals (and so no report).
func (s *Summary) judge(budgets *budget.File, held []probes.HoldStatus, dropBudgets map[string]int) {
	ms := make([]budget.Measured, len(s.Series))
	for i, x := range s.Series {
		ms[i] = budget.Measured{Backend: x.Backend, Connection: x.Connection, Disruption: time.Duration(x.Disruption * float64(time.Second))}
	}
	res, _ := budget.Judge(budgets, ms)
	s.Backends = s.Backends[:0]
	for _, r := range res {
		s.Backends = append(s.Backends, report.BackendSummary{Result: r})
	}
	s.Verdict = report.VerdictOf(res)
	if budgets != nil {
		s.Budgets = budgets.Name()
	}
	drops := map[string]int{}
	byReason := map[string]map[string]int{}
	for _, h := range held {
		if byReason[h.Backend] == nil {
			byReason[h.Backend] = map[string]int{}
			drops[h.Backend] = 0 // listed even without a drop
		}
		for r, n := range h.Drops {
			byReason[h.Backend][r] += int(n)
			drops[h.Backend] += int(n)
		}
	}
	s.Held = report.JudgeHeld(drops, byReason, dropBudgets)
	s.Verdict = report.HeldVerdict(s.Verdict, s.Held)
}

// fromReport takes the verdict, backends, outages and warnings of the
// report of the run's intervals, keeping the run's own times.
func (s *Summary) fromReport(r *report.Report) {
	own := *s.Summary
	*s.Summary = *r.Summary()
	s.Started, s.Ended, s.Duration = own.Started, own.Ended, own.Duration
}
