package demo

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/intervals"
	"github.com/zerodown/zerodown/probes"
	"github.com/zerodown/zerodown/testtarget"
)

// DropMatch is one held connection at one drop fault: the drop zerodown
// counted for it, if any.
type DropMatch struct {
	Fault    testtarget.Fault
	Truth    time.Time // when the fault began
	Backend  string
	Slot     int
	Found    bool
	Protocol string
	Reason   string
	Seen     time.Duration // when the drop was seen, after Truth
}

// DropReport compares the drops of held connections with the drop faults.
type DropReport struct {
	Matches []DropMatch
}

// CompareDrops pairs every drop fault of the truth with, for every held
// connection of targets, the first drop of that connection seen from the
// fault's start to its end plus a check and a timeout (a silent
// connection is found at its next check).
func CompareDrops(truth []testtarget.Record, ivs []intervals.Interval, targets []config.Target) DropReport {
	type key struct {
		backend string
		slot    int
	}
	seen := map[key][]intervals.Interval{}
	for _, iv := range intervals.Filter(ivs, probes.ConnectionDropSource) {
		slot, _ := strconv.Atoi(iv.Locator.Keys["slot"])
		k := key{iv.Locator.Keys["backend"], slot}
		seen[k] = append(seen[k], iv)
	}
	var rep DropReport
	for _, r := range truth {
		if !r.Fault.Drops() {
			continue
		}
		for _, t := range targets {
			if t.Hold == nil {
				continue
			}
			limit := r.To.Add(time.Duration(t.Hold.Check) + time.Duration(t.Timeout))
			for slot := range t.Hold.Connections {
				m := DropMatch{Fault: r.Fault, Truth: r.From, Backend: t.Name, Slot: slot}
				for _, iv := range seen[key{t.Name, slot}] {
					if at := iv.To.Time; !at.Before(r.From) && !at.After(limit) {
						m.Found, m.Protocol, m.Reason, m.Seen = true, iv.Locator.Keys["protocol"], iv.Message.Cause, at.Sub(r.From)
						break
					}
				}
				rep.Matches = append(rep.Matches, m)
			}
		}
	}
	return rep
}

// Missed counts the held connections a drop fault cut that were not
// counted.
func (r DropReport) Missed() int {
	n := 0
	for _, m := range r.Matches {
		if !m.Found {
			n++
		}
	}
	return n
}

// Print writes a table of the drops, one line per fault, backend and
// reason, and a summary.
func (r DropReport) Print(w io.Writer) {
	type row struct {
		fault                  testtarget.Fault
		backend, proto, reason string
		n                      int
		fastest, slowest       time.Duration
	}
	var rows []*row
	index := map[string]*row{}
	var all []time.Duration
	for _, m := range r.Matches {
		reason := m.Reason
		if !m.Found {
			reason = "MISSED"
		}
		k := string(m.Fault) + "|" + m.Backend + "|" + reason
		x := index[k]
		if x == nil {
			x = &row{fault: m.Fault, backend: m.Backend, proto: m.Protocol, reason: reason, fastest: m.Seen, slowest: m.Seen}
			index[k] = x
			rows = append(rows, x)
		}
		x.n++
		x.fastest, x.slowest = min(x.fastest, m.Seen), max(x.slowest, m.Seen)
		if m.Found {
			all = append(all, m.Seen)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "FAULT\tBACKEND\tPROTOCOL\tDROPPED\tREASON\tSEEN AFTER\t")
	for _, x := range rows {
		seen := "-"
		if x.reason != "MISSED" {
			seen = fmt.Sprintf("%.1f-%.1fms", ms(x.fastest), ms(x.slowest))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t\n", x.fault, x.backend, x.proto, x.n, x.reason, seen)
	}
	tw.Flush()
	slices.Sort(all)
	fmt.Fprintf(w, "%d of %d held connections counted dropped", len(all), len(r.Matches))
	if len(all) > 0 {
		fmt.Fprintf(w, "; seen %.1fms after the fault (median), at worst %.1fms", ms(all[len(all)/2]), ms(all[len(all)-1]))
	}
	fmt.Fprintln(w, ".")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
