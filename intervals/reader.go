package intervals

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// ReadFile reads and pairs the records of one file, as Read does; the path names the file in
// errors.
func ReadFile(path string) ([]Interval, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("intervals: %w", err)
	}
	defer f.Close()
	return Read(f, path)
}

// Read reads records from r, pairs them by ID and returns closed intervals sorted by From, then
// Source, then locator. name names the input in errors.
//
// Of the records of one ID, the last closed one wins; without a closed one, the last open one
// does, and it is ended at the latest time found in any record of the input (the greatest From
// or To) and annotated AnnotationUnclosed="true". Records without an ID are intervals of their
// own. A missing "to" means To = From.
//
// Blank lines are skipped. A last line without a trailing newline that does not parse is a write
// torn by a crash: it is skipped without an error. Any other line that is not a JSON object with
// "from" and a "state" of "open" or "closed", or whose "to" is before its "from", is an error
// such as "intervals.jsonl:17: ...". Read reports every bad line (errors.Join) and still returns
// the intervals of the good ones.
func Read(r io.Reader, name string) ([]Interval, error) {
	recs, err := readRecords(r, name)
	closed, unclosed := pair(recs)
	ivs := append(closed, unclosed...)
	sortIntervals(ivs)
	return ivs, err
}

// readRecords returns the valid records of r in file order and the errors of the others.
func readRecords(r io.Reader, name string) ([]Interval, error) {
	var (
		recs []Interval
		errs []error
		line int
	)
	br := bufio.NewReader(r)
	for {
		b, err := br.ReadBytes('\n')
		if len(b) > 0 {
			line++
			whole := b[len(b)-1] == '\n'
			if b = bytes.TrimSpace(b); len(b) > 0 {
				rec, perr := parseRecord(b)
				switch {
				case perr == nil:
					recs = append(recs, rec)
				case whole:
					errs = append(errs, fmt.Errorf("%s:%d: %w", name, line, perr))
				default:
					// A torn last line: skipped, see Read.
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("intervals: read %s: %w", name, err))
			break
		}
	}
	return recs, errors.Join(errs...)
}

// parseRecord decodes and checks one line.
func parseRecord(b []byte) (Interval, error) {
	var rec Interval
	if err := json.Unmarshal(b, &rec); err != nil {
		return Interval{}, fmt.Errorf("invalid record: %w", err)
	}
	if rec.From.IsZero() {
		return Interval{}, errors.New(`invalid record: missing "from"`)
	}
	switch rec.State {
	case StateOpen, StateClosed:
	case "":
		return Interval{}, errors.New(`invalid record: missing "state"`)
	default:
		return Interval{}, fmt.Errorf(`invalid record: "state" is %q, want "open" or "closed"`, rec.State)
	}
	if rec.To.IsZero() {
		rec.To = rec.From
	}
	if rec.To.Before(rec.From.Time) {
		return Interval{}, fmt.Errorf(`invalid record: "to" %s is before "from" %s`,
			rec.To.Format(timeLayout), rec.From.Format(timeLayout))
	}
	return rec, nil
}

// pair pairs records by ID (see Read). It returns the intervals that have a closed record and,
// separately, the ones that have none, already ended and annotated.
func pair(recs []Interval) (closed, unclosed []Interval) {
	type slot struct {
		iv     Interval
		closed bool
	}
	var (
		latest Time
		slots  = make([]slot, 0, len(recs))
		byID   = make(map[string]int, len(recs))
	)
	for _, rec := range recs {
		if rec.From.After(latest.Time) {
			latest = rec.From
		}
		if rec.To.After(latest.Time) {
			latest = rec.To
		}
		isClosed := rec.State == StateClosed
		i, seen := byID[rec.ID]
		if rec.ID == "" || !seen {
			if rec.ID != "" {
				byID[rec.ID] = len(slots)
			}
			slots = append(slots, slot{iv: rec, closed: isClosed})
			continue
		}
		if isClosed || !slots[i].closed {
			slots[i] = slot{iv: rec, closed: isClosed}
		}
	}
	for _, s := range slots {
		if s.closed {
			closed = append(closed, s.iv)
			continue
		}
		iv := s.iv
		iv.State = StateClosed
		if latest.After(iv.To.Time) {
			iv.To = latest
		}
		ann := make(map[string]string, len(iv.Message.Annotations)+1)
		for k, v := range iv.Message.Annotations {
			ann[k] = v
		}
		ann[AnnotationUnclosed] = "true"
		iv.Message.Annotations = ann
		unclosed = append(unclosed, iv)
	}
	return closed, unclosed
}
