package budget

import (
	"fmt"
	"time"
)

// Rank places one upgrade's disruption among past upgrades' (a budget's
// history.past): how many saw less, of how many.
type Rank struct {
	// Worse is how many past upgrades saw less disruption; Ties how many
	// saw the same; Of how many there were.
	Worse int `json:"worse_than"`
	Ties  int `json:"ties"`
	Of    int `json:"of"`
	// Percentile is the percentile rank: the share of past upgrades that
	// saw less, ties counted half, in percent.
	Percentile float64 `json:"percentile"`
	// Regression: worse than RegressionShare of at least
	// RegressionHistory past upgrades.
	Regression bool `json:"regression"`
}

// A regression is a disruption worse than 90 % of past upgrades, given
// at least 5 of them: fewer say too little.
const (
	RegressionShare   = 0.9
	RegressionHistory = 5
)

// RankOf ranks d among past disruptions; nil without history.
func RankOf(d time.Duration, past []time.Duration) *Rank {
	if len(past) == 0 {
		return nil
	}
	r := &Rank{Of: len(past)}
	for _, p := range past {
		switch {
		case p < d:
			r.Worse++
		case p == d:
			r.Ties++
		}
	}
	r.Percentile = 100 * (float64(r.Worse) + float64(r.Ties)/2) / float64(r.Of)
	r.Regression = r.Of >= RegressionHistory && float64(r.Worse) >= RegressionShare*float64(r.Of)
	return r
}

// String says it as a person reads it: "worse than 11 of 12 past
// upgrades (a regression)".
func (r *Rank) String() string {
	s := fmt.Sprintf("worse than %d of %d past upgrades", r.Worse, r.Of)
	switch {
	case r.Worse == 0 && r.Ties == r.Of:
		s = fmt.Sprintf("as every one of %d past upgrades", r.Of)
	case r.Worse == 0:
		s = fmt.Sprintf("better than or as %d of %d past upgrades", r.Of, r.Of)
	}
	if r.Regression {
		s += " (a regression)"
	}
	return s
}
