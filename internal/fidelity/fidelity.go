// Package fidelity compares measured outages with the ground truth that
// the loopback test target recorded: the demo, the benchmarks and the
// end-to-end tests all judge zerodown with it.
package fidelity

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Window is a true fault window.
type Window struct {
	Fault    string
	From, To time.Time
}

// Outage is a measured outage of one series.
type Outage struct {
	Series   string // e.g. "http-new"
	From, To time.Time
	Reason   string
}

// Match is one (window, series) pair: what was true and what was measured.
type Match struct {
	Window   Window
	Series   string
	Found    bool
	Measured Outage
	// Errors of the measured edges and duration (measured - true).
	StartErr, EndErr, DurErr time.Duration
}

// Report is the comparison of a whole run.
type Report struct {
	Matches []Match
	// Spurious outages overlap no window of a fault that affects their series.
	Spurious []Outage
}

// Affects says which series a fault should disrupt.
type Affects func(fault, series string) bool

// Compare pairs every window with, for each series it affects, the
// measured outage that overlaps it the most. slack widens windows when
// looking for overlaps (edges are estimated, so a measured outage may start
// a little before the fault).
func Compare(windows []Window, outages []Outage, series []string, affects Affects, slack time.Duration) Report {
	var rep Report
	used := make([]bool, len(outages))
	for _, w := range windows {
		for _, s := range series {
			if !affects(w.Fault, s) {
				continue
			}
			m := Match{Window: w, Series: s}
			best, bestOv := -1, time.Duration(-1)
			for i, o := range outages {
				if o.Series != s || used[i] {
					continue
				}
				ov := overlap(w.From.Add(-slack), w.To.Add(slack), o.From, o.To)
				if ov > bestOv && (ov > 0 || o.From.Equal(o.To) && !o.From.Before(w.From.Add(-slack)) && !o.From.After(w.To.Add(slack))) {
					best, bestOv = i, ov
				}
			}
			if best >= 0 {
				used[best] = true
				o := outages[best]
				m.Found, m.Measured = true, o
				m.StartErr = o.From.Sub(w.From)
				m.EndErr = o.To.Sub(w.To)
				m.DurErr = o.To.Sub(o.From) - w.To.Sub(w.From)
			}
			rep.Matches = append(rep.Matches, m)
		}
	}
	for i, o := range outages {
		if !used[i] {
			rep.Spurious = append(rep.Spurious, o)
		}
	}
	return rep
}

func overlap(a0, a1, b0, b1 time.Time) time.Duration {
	lo, hi := a0, a1
	if b0.After(lo) {
		lo = b0
	}
	if b1.Before(hi) {
		hi = b1
	}
	if hi.Before(lo) {
		return -1
	}
	return hi.Sub(lo)
}

// Stats summarises duration errors.
type Stats struct {
	N, Missed        int
	Median, MinErr   time.Duration
	MaxErr, WorstAbs time.Duration
	MeanAbs          time.Duration
}

// DurationStats computes the statistics of DurErr over matches accepted by keep.
func (r Report) DurationStats(keep func(Match) bool) Stats {
	var errs []time.Duration
	st := Stats{}
	for _, m := range r.Matches {
		if keep != nil && !keep(m) {
			continue
		}
		if !m.Found {
			st.Missed++
			continue
		}
		errs = append(errs, m.DurErr)
	}
	st.N = len(errs)
	if st.N == 0 {
		return st
	}
	slices.Sort(errs)
	st.Median = median(errs)
	st.MinErr, st.MaxErr = errs[0], errs[len(errs)-1]
	var sum float64
	for _, e := range errs {
		a := e.Abs()
		sum += float64(a)
		if a > st.WorstAbs {
			st.WorstAbs = a
		}
	}
	st.MeanAbs = time.Duration(math.Round(sum / float64(st.N)))
	return st
}

func median(sorted []time.Duration) time.Duration {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// Print writes one line per match and a summary per fault.
func (r Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "FAULT\tSERIES\tTRUE\tMEASURED\tERROR\tSTART ERR\tEND ERR\tREASON\t")
	for _, m := range r.Matches {
		if !m.Found {
			fmt.Fprintf(tw, "%s\t%s\t%s\tMISSED\t\t\t\t\t\n", m.Window.Fault, m.Series, ms(m.Window.To.Sub(m.Window.From)))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", m.Window.Fault, m.Series,
			ms(m.Window.To.Sub(m.Window.From)), ms(m.Measured.To.Sub(m.Measured.From)),
			signed(m.DurErr), signed(m.StartErr), signed(m.EndErr), m.Measured.Reason)
	}
	_ = tw.Flush()
	faults := map[string]bool{}
	for _, m := range r.Matches {
		faults[m.Window.Fault] = true
	}
	keys := make([]string, 0, len(faults))
	for f := range faults {
		keys = append(keys, f)
	}
	sort.Strings(keys)
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "FAULT\tN\tMISSED\tMEDIAN ERR\tWORST ERR\tMEAN |ERR|\t")
	for _, f := range append(keys, "all") {
		st := r.DurationStats(func(m Match) bool { return f == "all" || m.Window.Fault == f })
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t\n", f, st.N, st.Missed, signed(st.Median), worst(st), ms(st.MeanAbs))
	}
	_ = tw.Flush()
	if len(r.Spurious) > 0 {
		var b strings.Builder
		for _, o := range r.Spurious {
			fmt.Fprintf(&b, "  %s %s +%s %s\n", o.Series, o.From.UTC().Format("15:04:05.000"), ms(o.To.Sub(o.From)), o.Reason)
		}
		fmt.Fprintf(w, "\nspurious outages (outside every fault window): %d\n%s", len(r.Spurious), b.String())
	}
}

func worst(st Stats) string {
	if st.N == 0 {
		return "-"
	}
	if st.MaxErr.Abs() >= st.MinErr.Abs() {
		return signed(st.MaxErr)
	}
	return signed(st.MinErr)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/1e6) }

func signed(d time.Duration) string { return fmt.Sprintf("%+.1fms", float64(d)/1e6) }
