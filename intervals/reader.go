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

// ReadFile reads and pairs the records of one interval stream, as Read does; the path names the
// file in errors. The stream is the file and the files it was rotated into (see [Rotated]),
// oldest first, read as one: an interval that began before a rotation pairs with its end after
// it. A missing file is an error unless rotated files of it exist.
func ReadFile(path string) ([]Interval, error) {
	ivs, _, err := ReadFileWarn(path)
	return ivs, err
}

// ReadFileWarn reads as ReadFile does, and also says which of the stream's files ended in a torn
// line (a write cut short by a crash, skipped: the file is read up to its last complete
// record), one warning each.
func ReadFileWarn(path string) ([]Interval, []string, error) {
	rotated, err := Rotated(path)
	if err != nil {
		return nil, nil, err
	}
	var (
		p     = newPairer()
		errs  []error
		warns []string
	)
	read := func(file string) error {
		t, err := scanFile(file, p.add)
		if t.unterminated && !t.parsed {
			warns = append(warns, fmt.Sprintf("%s: the last line is torn (a write cut short): read up to the last complete record, at byte %d", file, t.end))
		}
		return err
	}
	for _, r := range rotated {
		if err := read(r.Path); err != nil {
			errs = append(errs, err)
		}
	}
	if err := read(path); err != nil {
		if !errors.Is(err, os.ErrNotExist) || len(rotated) == 0 {
			errs = append(errs, err)
		}
	}
	ivs := p.intervals()
	sortIntervals(ivs)
	return ivs, warns, errors.Join(errs...)
}

func scanFile(path string, fn func(Interval)) (tail, error) {
	f, err := os.Open(path)
	if err != nil {
		return tail{}, fmt.Errorf("intervals: %w", err)
	}
	defer f.Close()
	return scan(f, path, fn)
}

// Read reads records from r, pairs them by ID and returns closed intervals sorted by From, then
// Source, then locator. name names the input in errors.
//
// Of the records of one ID, the last closed one wins; without a closed one, the last open one
// does, and it is ended at the latest time found in any record of the input (the greatest From
// or To, or the time of a heartbeat record) and annotated AnnotationUnclosed="true". Records
// without an ID are intervals of their own. A missing "to" means To = From. A heartbeat record,
// {"alive": TIME}, says only that the writer was alive at TIME.
//
// Blank lines are skipped. A last line without a trailing newline that does not parse is a write
// torn by a crash: it is skipped without an error. Any other line that is not a heartbeat or a
// JSON object with "from" and a "state" of "open" or "closed", or whose "to" is before its
// "from", is an error such as "intervals.jsonl:17: ...". Read reports every bad line
// (errors.Join) and still returns the intervals of the good ones.
func Read(r io.Reader, name string) ([]Interval, error) {
	p := newPairer()
	_, err := scan(r, name, p.add)
	ivs := p.intervals()
	sortIntervals(ivs)
	return ivs, err
}

// tail describes how a stream ended: end is the offset just past its last newline; a last line
// without a newline is unterminated, and parsed when it is nevertheless a whole record.
type tail struct {
	end                  int64
	unterminated, parsed bool
}

// scan calls fn with every valid record of r in file order; a heartbeat is passed as an
// Interval with only From set (and no State). It returns how the stream ended and the errors of
// the bad lines. Memory is bounded by the longest line.
func scan(r io.Reader, name string, fn func(Interval)) (tail, error) {
	var (
		errs []error
		line int
		off  int64
		t    tail
	)
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		b, err := br.ReadBytes('\n')
		if len(b) > 0 {
			line++
			off += int64(len(b))
			complete := b[len(b)-1] == '\n'
			if complete {
				t.end = off
			} else {
				t.unterminated = true
			}
			if b = bytes.TrimSpace(b); len(b) > 0 {
				rec, perr := parseRecord(b)
				switch {
				case perr == nil:
					t.parsed = !complete
					fn(rec)
				case complete:
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
	return t, errors.Join(errs...)
}

// record is one line on disk: an interval record, or a heartbeat with only Alive set.
type record struct {
	Interval
	Alive Time `json:"alive"`
}

// parseRecord decodes and checks one line. A heartbeat comes back as an Interval with only
// From set.
func parseRecord(b []byte) (Interval, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return Interval{}, fmt.Errorf("invalid record: %w", err)
	}
	rec := r.Interval
	if !r.Alive.IsZero() && rec.From.IsZero() && rec.State == "" && rec.ID == "" {
		return Interval{From: r.Alive}, nil
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

// isHeartbeat tells a heartbeat from parseRecord apart from an interval record.
func isHeartbeat(rec Interval) bool { return rec.State == "" }

// pairer pairs records by ID (see Read) as they stream by.
type pairer struct {
	latest Time
	slots  []slot
	byID   map[string]int
}

type slot struct {
	iv     Interval
	closed bool
}

func newPairer() *pairer { return &pairer{byID: map[string]int{}} }

func (p *pairer) add(rec Interval) {
	if rec.From.After(p.latest.Time) {
		p.latest = rec.From
	}
	if isHeartbeat(rec) {
		return
	}
	if rec.To.After(p.latest.Time) {
		p.latest = rec.To
	}
	isClosed := rec.State == StateClosed
	i, seen := p.byID[rec.ID]
	if rec.ID == "" || !seen {
		if rec.ID != "" {
			p.byID[rec.ID] = len(p.slots)
		}
		p.slots = append(p.slots, slot{iv: rec, closed: isClosed})
		return
	}
	if isClosed || !p.slots[i].closed {
		p.slots[i] = slot{iv: rec, closed: isClosed}
	}
}

// intervals returns every interval, the unclosed ones ended at the latest time seen and
// annotated.
func (p *pairer) intervals() []Interval {
	ivs := make([]Interval, 0, len(p.slots))
	for _, s := range p.slots {
		if s.closed {
			ivs = append(ivs, s.iv)
			continue
		}
		ivs = append(ivs, seal(s.iv, p.latest))
	}
	return ivs
}

// seal ends an interval its writer never ended at latest (or its own To, if later) and
// annotates it AnnotationUnclosed.
func seal(iv Interval, latest Time) Interval {
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
	return iv
}
