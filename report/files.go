package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/zerodown/zerodown/budget"
	"github.com/zerodown/zerodown/intervals"
)

// Names of the files Write writes.
const (
	JUnitFile   = "junit.xml"
	HTMLFile    = "report.html"
	CSVFile     = "disruption.csv"
	SummaryFile = "summary.json"
)

// Summary is summary.json: the verdict, per backend totals, the budgets
// used and every outage.
type Summary struct {
	Started  time.Time `json:"started"`
	Ended    time.Time `json:"ended"`
	Duration float64   `json:"duration_seconds"`
	// Verdict is pass, exceeded, or unbudgeted (no budget applied).
	Verdict  string           `json:"verdict"`
	Budgets  string           `json:"budgets,omitempty"`
	Backends []BackendSummary `json:"backends"`
	Outages  []OutageSummary  `json:"outages"`
	// Held are the backends with held connections (or a drop budget);
	// ConnectionDrops every drop.
	Held            []Held        `json:"held_connections,omitempty"`
	ConnectionDrops []DropSummary `json:"connection_drops,omitempty"`
	Warnings        []string      `json:"warnings,omitempty"`
}

// DropSummary is one dropped held connection.
type DropSummary struct {
	Backend  string    `json:"backend"`
	Protocol string    `json:"protocol"`
	Poller   string    `json:"poller"`
	Slot     string    `json:"slot"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Reason   string    `json:"reason"`
	Lifetime float64   `json:"lifetime_seconds"`
	Message  string    `json:"message"`
}

// BackendSummary is one backend over one connection mode: the verdict
// (budget.Result: disruption_seconds is the most one poller saw) and
// what each poller saw.
type BackendSummary struct {
	budget.Result
	Protocol  string  `json:"protocol,omitempty"`
	SeenByAll float64 `json:"seen_by_all_pollers_seconds"`
	Outages   int     `json:"outages"`
	// Cause is the change most of its disruption is attributed to.
	Cause   string          `json:"cause,omitempty"`
	Pollers []PollerSummary `json:"pollers"`
}

// PollerSummary is one poller's view of a backend.
type PollerSummary struct {
	Poller     string  `json:"poller"`
	Disruption float64 `json:"disruption_seconds"`
	Observed   float64 `json:"observed_seconds"`
	Outages    int     `json:"outages"`
}

// OutageSummary is one outage.
type OutageSummary struct {
	Backend    string    `json:"backend"`
	Connection string    `json:"connection"`
	Poller     string    `json:"poller"`
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	Duration   float64   `json:"duration_seconds"`
	Reason     string    `json:"reason"`
	// Observer: the observer's own trouble, not counted as disruption.
	Observer bool   `json:"observer,omitempty"`
	Ended    string `json:"ended,omitempty"`
	Message  string `json:"message"`
	// Cause is the change the outage is attributed to, in one line;
	// CauseObject and CauseRank name it (absent when unknown).
	Cause       string `json:"cause,omitempty"`
	CauseObject string `json:"cause_object,omitempty"`
	CauseRank   int    `json:"cause_rank,omitempty"`
	// CauseDuring names the node whose drain (or NotReady) the cause came
	// with: "Node/worker-2".
	CauseDuring string `json:"cause_during,omitempty"`
}

// Summary returns what summary.json holds.
func (r *Report) Summary() *Summary {
	s := &Summary{Started: r.Started.UTC(), Ended: r.Ended.UTC(), Duration: r.Ended.Sub(r.Started).Seconds(),
		Verdict: r.Verdict(), Budgets: r.BudgetsFrom, Backends: []BackendSummary{}, Outages: []OutageSummary{}, Warnings: r.Warnings}
	for _, b := range r.Backends {
		bs := BackendSummary{Result: b.Result, Protocol: b.Protocol, SeenByAll: b.SeenByAll.Seconds(), Outages: b.Outages, Cause: b.Cause}
		for _, p := range b.Pollers {
			bs.Pollers = append(bs.Pollers, PollerSummary{Poller: p.Poller, Disruption: p.Disruption.Seconds(),
				Observed: p.Observed.Seconds(), Outages: p.Outages})
		}
		s.Backends = append(s.Backends, bs)
	}
	for _, o := range r.Outages {
		s.Outages = append(s.Outages, OutageSummary{Backend: o.Backend, Connection: o.Connection, Poller: o.Poller,
			From: o.From.UTC(), To: o.To.UTC(), Duration: o.Duration().Seconds(), Reason: o.Reason,
			Observer: o.Observer, Ended: o.Ended, Message: o.Message, Cause: o.CauseText()})
		if c := o.Cause; c != nil {
			last := &s.Outages[len(s.Outages)-1]
			last.CauseObject, last.CauseRank, last.CauseDuring = c.Object, c.Rank, c.DuringObject
		}
	}
	s.Held = r.Held
	for _, d := range r.Drops {
		s.ConnectionDrops = append(s.ConnectionDrops, DropSummary{Backend: d.Backend, Protocol: d.Protocol, Poller: d.Poller, Slot: d.Slot,
			From: d.From.UTC(), To: d.To.UTC(), Reason: d.Reason, Lifetime: d.Lifetime.Seconds(), Message: d.Message})
	}
	return s
}

// WriteCSV writes disruption.csv: a header, then one row per outage.
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"backend", "connection", "poller", "from", "to", "duration_seconds", "reason", "observer", "ended", "message", "cause"})
	for _, o := range r.Outages {
		_ = cw.Write([]string{o.Backend, o.Connection, o.Poller, stamp9(o.From), stamp9(o.To),
			strconv.FormatFloat(o.Duration().Seconds(), 'f', 6, 64), o.Reason, strconv.FormatBool(o.Observer), o.Ended, o.Message, o.CauseText()})
	}
	cw.Flush()
	return cw.Error()
}

func stamp9(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

// Write writes junit.xml, report.html, disruption.csv and summary.json
// into dir (made if missing, 0750; files 0640: they hold internal host
// names and error text). summary is what summary.json holds: nil for
// r.Summary(), or a value that extends it.
func (r *Report) Write(dir string, summary any) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if summary == nil {
		summary = r.Summary()
	}
	var errs []error
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{JUnitFile, r.WriteJUnit},
		{HTMLFile, r.WriteHTML},
		{CSVFile, r.WriteCSV},
		{SummaryFile, func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(summary)
		}},
	} {
		var buf bytes.Buffer
		if err := f.write(&buf); err != nil {
			errs = append(errs, fmt.Errorf("report: %s: %w", f.name, err))
			continue
		}
		if err := writeFile(filepath.Join(dir, f.name), buf.Bytes()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// writeFile replaces path atomically: a reader never sees half a report.
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o640); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// Load reads interval files as inputs of a report. A folder stands for
// the interval streams in it (intervals.Glob). Warnings say which files
// ended in a torn line; the error joins every unreadable file and bad
// line ("file:line: ..."), and the inputs still hold every good record.
func Load(paths ...string) ([]Input, []string, error) {
	var (
		inputs []Input
		warns  []string
		errs   []error
	)
	for _, p := range paths {
		files := []string{p}
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			files, err = intervals.Glob(p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if len(files) == 0 {
				errs = append(errs, fmt.Errorf("%s: no interval files (*.jsonl) in this folder", p))
			}
		}
		for _, f := range files {
			ivs, w, err := intervals.ReadFileWarn(f)
			warns = append(warns, w...)
			if err != nil {
				errs = append(errs, err)
			}
			inputs = append(inputs, Input{Path: f, Intervals: ivs})
		}
	}
	return inputs, warns, errors.Join(errs...)
}
