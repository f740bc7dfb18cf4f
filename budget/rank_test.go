package budget

import (
	"testing"
	"time"
)

func TestRankOf(t *testing.T) {
	s := func(xs ...float64) []time.Duration {
		var out []time.Duration
		for _, x := range xs {
			out = append(out, time.Duration(x*float64(time.Second)))
		}
		return out
	}
	twelve := s(1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 9)
	for _, c := range []struct {
		d          float64
		past       []time.Duration
		worse, of  int
		percentile float64
		regression bool
		text       string
	}{
		{7, twelve, 11, 12, 11.0 / 12 * 100, true, "worse than 11 of 12 past upgrades (a regression)"},
		{10, twelve, 12, 12, 100, true, "worse than 12 of 12 past upgrades (a regression)"},
		{3, twelve, 4, 12, 5.0 / 12 * 100, false, "worse than 4 of 12 past upgrades"},
		{0.5, twelve, 0, 12, 0, false, "better than or as 12 of 12 past upgrades"},
		{0, s(0, 0, 0, 0, 0), 0, 5, 50, false, "as every one of 5 past upgrades"},
		// Four upgrades are too few to call a regression.
		{10, s(1, 2, 3, 4), 4, 4, 100, false, "worse than 4 of 4 past upgrades"},
		// Ties are not worse: 9 of 10 below, one equal.
		{9, s(1, 1, 1, 1, 1, 1, 1, 1, 1, 9), 9, 10, 95, true, "worse than 9 of 10 past upgrades (a regression)"},
		{9, s(1, 1, 1, 1, 1, 1, 1, 1, 9, 9), 8, 10, 90, false, "worse than 8 of 10 past upgrades"},
	} {
		r := RankOf(time.Duration(c.d*float64(time.Second)), c.past)
		if r.Worse != c.worse || r.Of != c.of || r.Percentile != c.percentile || r.Regression != c.regression || r.String() != c.text {
			t.Errorf("RankOf(%gs, %v) = %+v %q; want worse %d of %d, %.4g %%, regression %v, %q",
				c.d, c.past, *r, r, c.worse, c.of, c.percentile, c.regression, c.text)
		}
	}
	if RankOf(time.Second, nil) != nil {
		t.Error("a rank without history")
	}
}
