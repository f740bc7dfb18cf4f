package watch

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/zerodown/zerodown/intervals"
	"github.com/zerodown/zerodown/probes"
	"github.com/zerodown/zerodown/rules/alert"
)

// Summary is what a watch run measured, written as summary.json.
type Summary struct {
	Started  time.Time       `json:"started"`
	Ended    time.Time       `json:"ended"`
	Duration float64         `json:"duration_seconds"`
	Series   []SeriesSummary `json:"series"`
	Outages  []OutageSummary `json:"outages"`
	// Alerts lists every alert episode the embedded evaluator saw firing,
	// with its first and last firing time (absent without evaluation).
	Alerts []AlertSummary `json:"alerts,omitempty"`
}

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

// OutageSummary is one outage, from the intervals file.
type OutageSummary struct {
	Backend    string    `json:"backend"`
	Connection string    `json:"connection"`
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	Duration   float64   `json:"duration_seconds"`
	Reason     string    `json:"reason"`
	Message    string    `json:"message"`
}

func newSummary(started, ended time.Time, st []probes.Status) *Summary {
	s := &Summary{Started: started.UTC(), Ended: ended.UTC(), Duration: ended.Sub(started).Seconds(),
		Series: []SeriesSummary{}, Outages: []OutageSummary{}}
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

// addOutages adds the disruption intervals that began at or after since
// (the file may hold earlier runs).
func (s *Summary) addOutages(ivs []intervals.Interval, since time.Time) {
	for _, iv := range ivs {
		if iv.Source != "Disruption" || iv.From.Before(since) {
			continue
		}
		s.Outages = append(s.Outages, OutageSummary{
			Backend: iv.Locator.Keys["backend"], Connection: iv.Locator.Keys["connection"],
			From: iv.From.UTC(), To: iv.To.UTC(), Duration: iv.Duration().Seconds(),
			Reason: iv.Message.Cause, Message: iv.Message.HumanMessage,
		})
	}
}

func (s *Summary) write(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o640); err != nil {
		return fmt.Errorf("writing summary: %w", err)
	}
	return nil
}
