package watch

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zerodown/zerodown/probes"
)

// view draws the live state: on a terminal a table redrawn in place, else
// a progress line every 10 seconds (outage edges are logged as they happen).
type view struct {
	w        io.Writer
	tty      bool
	started  time.Time
	outDir   string
	lastLine time.Time
}

func newView(w io.Writer, tty bool, started time.Time, outDir string) *view {
	return &view{w: w, tty: tty, started: started, outDir: outDir}
}

func (v *view) draw(st []probes.Status) {
	if v.w == nil {
		return
	}
	now := time.Now()
	if v.tty {
		var b strings.Builder
		b.WriteString("\x1b[H\x1b[2J")
		v.header(&b, st, now)
		table(&b, st)
		_, _ = io.WriteString(v.w, b.String())
		return
	}
	if now.Sub(v.lastLine) < 10*time.Second {
		return
	}
	v.lastLine = now
	down, outages, dis := totals(st)
	fmt.Fprintf(v.w, "%s elapsed=%s series=%d down=%d outages=%d disruption=%s\n",
		now.UTC().Format(time.RFC3339), now.Sub(v.started).Round(time.Second), len(st), down, outages, fmtDur(dis))
}

func (v *view) final(st []probes.Status) {
	if v.w == nil {
		return
	}
	var b strings.Builder
	if v.tty {
		b.WriteString("\x1b[H\x1b[2J")
	}
	v.header(&b, st, time.Now())
	table(&b, st)
	_, _ = io.WriteString(v.w, b.String())
}

func (v *view) header(b *strings.Builder, st []probes.Status, now time.Time) {
	down, outages, dis := totals(st)
	fmt.Fprintf(b, "zerodown watch  %s elapsed  %d series  %d down  %d outages  %s disrupted\n",
		now.Sub(v.started).Round(time.Second), len(st), down, outages, fmtDur(dis))
	if v.outDir != "" {
		fmt.Fprintf(b, "intervals: %s/%s\n", v.outDir, IntervalsFile)
	}
	b.WriteString("\n")
}

func totals(st []probes.Status) (down int, outages uint64, dis time.Duration) {
	for _, s := range st {
		if !s.Up {
			down++
		}
		outages += s.Outages
		dis += s.Disruption
	}
	return down, outages, dis
}

func table(b *strings.Builder, st []probes.Status) {
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKEND\tCONN\tPROTO\tSTATE\tAVAIL\tOUTAGES\tCURRENT\tDISRUPTED\tP99\tREQUESTS")
	for _, s := range st {
		state := "UP"
		switch {
		case !s.HaveResult && s.Up:
			state = "-"
		case !s.Up:
			state = "DOWN"
		}
		cur := "-"
		if s.CurrentOutage > 0 {
			cur = fmtDur(s.CurrentOutage)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%d\n", s.Backend, s.Connection, s.Protocol,
			state, availability(s), s.Outages, cur, fmtDur(s.Disruption), fmtDur(s.P99), s.Requests)
	}
	_ = tw.Flush()
}

func availability(s probes.Status) string {
	if s.Observed <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f%%", 100*(1-s.Disruption.Seconds()/s.Observed.Seconds()))
}

// fmtDur prints durations to the millisecond below a minute, to the second above.
func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Minute:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
