package watch

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/zerodown/zerodown/probes"
	"github.com/zerodown/zerodown/rules/alert"
)

// view draws the live state: on a terminal a table redrawn in place (the
// cursor moves back over the last frame: nothing piles up in the
// scrollback), else a progress line every 10 seconds (outage edges are
// logged as they happen). Lines are cut to the terminal's width, never
// wrapped.
type view struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	width    func() int // columns; nil or <= 0: no limit
	started  time.Time
	outDir   string
	lastLine time.Time
	frame    []string // the lines on screen (tty), for redraws after a log line
	// alerts, when set, returns the alerts pending or firing now.
	alerts func() []alert.Alert
	// cluster, when set, says what in the cluster is not healthy now
	// (watch --kubeconfig).
	cluster func() []string
	// held gives the held connections (nil: none).
	held func() []probes.HoldStatus
}

func newView(w io.Writer, tty bool, width func() int, started time.Time, outDir string) *view {
	return &view{w: w, tty: tty, width: width, started: started, outDir: outDir}
}

func (v *view) draw(st []probes.Status) {
	if v.w == nil {
		return
	}
	// Asked before taking the view's lock: the evaluator logs (through
	// the view) while it holds its own.
	var alerts []alert.Alert
	if v.tty && v.alerts != nil {
		alerts = v.alerts()
	}
	var extra []section
	if v.tty && v.held != nil {
		extra = append(extra, section{"HELD CONNECTIONS", heldLines(v.held())})
	}
	if v.tty && v.cluster != nil {
		extra = append(extra, section{"CLUSTER", v.cluster()})
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	now := time.Now()
	if v.tty {
		v.redrawLocked(v.lines(st, alerts, extra, false, now))
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

// final draws the last table and the alerts that fired; on a terminal it
// replaces the live one and stays.
func (v *view) final(st []probes.Status, fired []alert.Alert) {
	if v.w == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	var held []section
	if v.held != nil {
		held = append(held, section{"HELD CONNECTIONS", heldLines(v.held())})
	}
	lines := v.lines(st, fired, held, true, time.Now())
	if v.tty {
		v.redrawLocked(lines)
		v.frame = nil // stays on screen: later output goes below it
		return
	}
	_, _ = io.WriteString(v.w, strings.Join(lines, "\n")+"\n")
}

// redrawLocked moves the cursor back over the frame on screen and writes
// lines over it, each line erased first, then erases what the old frame
// had below.
func (v *view) redrawLocked(lines []string) {
	var b strings.Builder
	v.eraseLocked(&b, false)
	for _, l := range lines {
		b.WriteString("\x1b[2K")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	b.WriteString("\x1b[J")
	_, _ = io.WriteString(v.w, b.String())
	v.frame = lines
}

// eraseLocked moves the cursor to the first line of the frame on screen,
// clearing from there down when clear is set.
func (v *view) eraseLocked(b *strings.Builder, clear bool) {
	if len(v.frame) > 0 {
		fmt.Fprintf(b, "\x1b[%dA\r", len(v.frame))
		if clear {
			b.WriteString("\x1b[J")
		}
	}
}

// above writes p (log lines) above the live table: the table is erased,
// p written through out, and the table drawn again below it.
func (v *view) above(out io.Writer, p []byte) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.tty || v.w == nil || len(v.frame) == 0 {
		return out.Write(p)
	}
	var b strings.Builder
	v.eraseLocked(&b, true)
	_, _ = io.WriteString(v.w, b.String())
	n, err := out.Write(p)
	frame := v.frame
	v.frame = nil
	v.redrawLocked(frame)
	return n, err
}

// lines renders the header, the table and the alerts (active ones live,
// those that fired at the end), cut to the terminal's width.
// section is a titled block of lines under the table; one without lines
// is left out.
type section struct {
	title string
	lines []string
}

func (v *view) lines(st []probes.Status, alerts []alert.Alert, extra []section, final bool, now time.Time) []string {
	var b strings.Builder
	down, outages, worst := totals(st)
	fmt.Fprintf(&b, "zerodown watch  %s elapsed  %d series  %d down  %d outages  %s worst disruption\n",
		now.Sub(v.started).Round(time.Second), len(st), down, outages, fmtDur(worst))
	if v.outDir != "" {
		fmt.Fprintf(&b, "intervals: %s/%s\n", v.outDir, IntervalsFile)
	}
	b.WriteString("\n")
	table(&b, st)
	for _, sec := range extra {
		if len(sec.lines) == 0 {
			continue
		}
		b.WriteString("\n" + sec.title + "\n")
		for _, l := range sec.lines {
			b.WriteString("  " + l + "\n")
		}
	}
	alertTable(&b, alerts, final, now)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	width := 0
	if v.width != nil {
		width = v.width()
	}
	if width > 0 {
		for i, l := range lines {
			lines[i] = cut(l, width-1) // the last column would wrap on some terminals
		}
	}
	return lines
}

// cut shortens s to at most n characters, ending in "…" when cut.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n || n < 1 {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// LogWriter is where a watch run's logger should write when the live view
// is drawn on the same terminal: log lines then appear above the table and
// are never drawn over. Without a live view it writes straight through.
type LogWriter struct {
	out io.Writer
	mu  sync.Mutex
	v   *view
}

// NewLogWriter returns a LogWriter writing to out.
func NewLogWriter(out io.Writer) *LogWriter { return &LogWriter{out: out} }

func (l *LogWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	v := l.v
	l.mu.Unlock()
	if v == nil {
		return l.out.Write(p)
	}
	return v.above(l.out, p)
}

func (l *LogWriter) attach(v *view) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.v = v
	l.mu.Unlock()
}

// totals are the header's figures: series down, outages, and the most
// disruption of one series (a sum over series would add the new and
// reused connections' views of one outage).
func totals(st []probes.Status) (down int, outages uint64, worst time.Duration) {
	for _, s := range st {
		if !s.Up {
			down++
		}
		outages += s.Outages
		worst = max(worst, s.Disruption)
	}
	return down, outages, worst
}

func table(b *strings.Builder, st []probes.Status) {
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKEND\tCONN\tPROTO\tSTATE\tREASON\tAVAIL\tOUTAGES\tCURRENT\tDISRUPTED\tP99\tREQUESTS")
	for _, s := range st {
		state := "UP"
		switch {
		case s.Removed:
			state = "REMOVED"
		case !s.HaveResult && s.Up:
			state = "-"
		case !s.Up:
			state = "DOWN"
		}
		// The current outage's cause while down; the last one's after.
		reason := "-"
		if s.Cause != probes.ReasonNone {
			reason = s.Cause.String()
		}
		cur := "-"
		if s.CurrentOutage > 0 {
			cur = fmtDur(s.CurrentOutage)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%d\n", s.Backend, s.Connection, s.Protocol,
			state, reason, availability(s), s.Outages, cur, fmtDur(s.Disruption), fmtDur(s.P99), s.Requests)
	}
	_ = tw.Flush()
}

// alertTable lists alerts: live, the pending and firing ones with how long
// they have been so; at the end, every episode that fired.
func alertTable(b *strings.Builder, alerts []alert.Alert, final bool, now time.Time) {
	if len(alerts) == 0 {
		return
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	if final {
		fmt.Fprintln(tw, "ALERTS FIRED\tSEVERITY\tFIRED\tFOR\tLABELS\tSUMMARY")
	} else {
		fmt.Fprintln(tw, "ALERT\tSEVERITY\tSTATE\tSINCE\tLABELS\tSUMMARY")
	}
	for _, a := range alerts {
		var extra []string
		for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
			if k != "alertname" && k != "severity" {
				extra = append(extra, k+"="+a.Labels[k])
			}
		}
		if final {
			end := a.ResolvedAt
			if end.IsZero() {
				end = a.LastFiringAt
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.Name, a.Labels["severity"], a.FiredAt.UTC().Format("15:04:05"),
				fmtDur(end.Sub(a.FiredAt)), strings.Join(extra, ","), a.Annotations["summary"])
			continue
		}
		since := a.ActiveAt
		if a.State == alert.StateFiring {
			since = a.FiredAt
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.Name, a.Labels["severity"], strings.ToUpper(a.State),
			fmtDur(now.Sub(since).Round(time.Second)), strings.Join(extra, ","), a.Annotations["summary"])
	}
	_ = tw.Flush()
}

func availability(s probes.Status) string {
	switch {
	case s.Observed <= 0:
		return "-"
	case s.Requests > 0 && s.Failures == s.Requests:
		// Not a percentage: the time before the first answer came is
		// not availability, and a target that never answered must say so.
		return "never up"
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

// heldLines are the live view's lines of held connections.
func heldLines(hs []probes.HoldStatus) []string {
	var out []string
	for _, h := range hs {
		var drops uint64
		var parts []string
		for _, r := range probes.AllDropReasons() {
			if n := h.Drops[r.String()]; n > 0 {
				drops += n
				parts = append(parts, fmt.Sprintf("%s %d", r, n))
			}
		}
		line := fmt.Sprintf("%-24s %-5s %d/%d open  %d dropped", h.Backend, h.Protocol, h.Open, h.Wanted, drops)
		if len(parts) > 0 {
			line += " (" + strings.Join(parts, ", ") + ")"
		}
		out = append(out, line)
	}
	return out
}
