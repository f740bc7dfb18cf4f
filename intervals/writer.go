package intervals

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

var (
	// ErrNotOpen is returned for an ID that is not an open interval of the writer.
	ErrNotOpen = errors.New("interval not open")
	// ErrClosed is returned by a writer after Close.
	ErrClosed = errors.New("writer closed")
)

// Writer appends interval records to a file, one JSON object per line, each with a single Write
// call and no buffering: whatever it has written survives the process being killed.
//
// One file should have one writer at a time. A Writer is safe for concurrent use.
type Writer struct {
	mu     sync.Mutex
	out    io.Writer
	file   *os.File // set by Create: Close syncs and closes it
	name   string
	buf    bytes.Buffer
	enc    *json.Encoder
	open   map[string]*Interval
	torn   bool // the last write was cut short: start the next record on a new line
	closed bool
}

// FileName is the name every zerodown role gives its interval stream in
// its output folder.
const FileName = "intervals.jsonl"

// Create opens path for appending (creating it, mode 0644, and its parent directory) and
// returns a Writer to it.
//
// A file left behind by a crashed writer is made whole first: a torn last line that does not
// parse is cut off (a reader would skip it anyway), and every interval the old writer left open
// is written as closed, at the time a reader would have ended it (the latest time in the file),
// with AnnotationUnclosed="true". So appending after a restart does not stretch the old
// intervals to the new writer's times.
func Create(path string) (*Writer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("intervals: create %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("intervals: create %s: %w", path, err)
	}
	w := newWriter(f, path)
	w.file = f
	if err := w.recover(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("intervals: create %s: %w", path, err)
	}
	return w, nil
}

// recover repairs what a crashed writer left in f; see Create.
func (w *Writer) recover(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() == 0 {
		return nil
	}
	data, err := io.ReadAll(io.NewSectionReader(f, 0, st.Size()))
	if err != nil {
		return err
	}
	if data[len(data)-1] != '\n' {
		end := bytes.LastIndexByte(data, '\n') + 1
		tail := bytes.TrimSpace(data[end:])
		if _, perr := parseRecord(tail); len(tail) > 0 && perr == nil {
			// A whole record that only lacks its newline.
			if _, err := f.Write([]byte{'\n'}); err != nil {
				return err
			}
		} else {
			if err := f.Truncate(int64(end)); err != nil {
				return err
			}
			data = data[:end]
		}
	}
	recs, _ := readRecords(bytes.NewReader(data), w.name) // bad lines are the reader's to report
	_, unclosed := pair(recs)
	for i := range unclosed {
		if unclosed[i].ID == "" {
			continue // cannot be paired with a new record: the reader ends it on its own
		}
		if err := w.write(&unclosed[i]); err != nil {
			return err
		}
	}
	return nil
}

// NewWriter returns a Writer that writes records to out, one Write call per record. Close does
// not close out.
func NewWriter(out io.Writer) *Writer {
	name := "intervals writer"
	if n, ok := out.(interface{ Name() string }); ok {
		name = n.Name()
	}
	return newWriter(out, name)
}

func newWriter(out io.Writer, name string) *Writer {
	w := &Writer{out: out, name: name, open: make(map[string]*Interval)}
	w.enc = json.NewEncoder(&w.buf)
	w.enc.SetEscapeHTML(false)
	return w
}

// Begin writes iv as an open interval with To = From and remembers it until End. It assigns an
// ID, unique within the process, when iv.ID is empty, and returns the ID. From must be set.
//
// When the write fails, the interval is still remembered, so a later End records it.
func (w *Writer) Begin(iv Interval) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.check(iv); err != nil {
		return "", err
	}
	iv = w.prepare(iv)
	iv.State = StateOpen
	iv.To = iv.From
	w.open[iv.ID] = &iv
	return iv.ID, w.write(&iv)
}

// Update writes the open interval id again with To = to, the last time it was seen still going.
// A to that is not after the current To writes nothing.
func (w *Writer) Update(id string, to time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	iv, err := w.lookup(id)
	if err != nil {
		return err
	}
	return w.advance(iv, to)
}

// End writes the open interval id as closed with To = to (or From, if to is before it) and
// forgets it. A non-nil msg replaces the message, e.g. to add a cause learned at the end.
func (w *Writer) End(id string, to time.Time, msg *Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	iv, err := w.lookup(id)
	if err != nil {
		return err
	}
	if msg != nil {
		iv.Message = *msg
		iv.Message.Annotations = maps.Clone(msg.Annotations)
	}
	return w.end(iv, to)
}

// Point writes iv as a closed interval at once. From must be set; a zero To means To = From. It
// assigns an ID when iv.ID is empty.
func (w *Writer) Point(iv Interval) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.check(iv); err != nil {
		return err
	}
	if iv.To.IsZero() {
		iv.To = iv.From
	}
	if iv.To.Before(iv.From.Time) {
		return fmt.Errorf("intervals: %s: point %q ends at %s, before it begins at %s",
			w.name, iv.ID, iv.To.UTC().Format(timeLayout), iv.From.UTC().Format(timeLayout))
	}
	iv = w.prepare(iv)
	iv.State = StateClosed
	return w.write(&iv)
}

// Heartbeat updates every open interval to now, as Update does. It reports every failed write.
func (w *Writer) Heartbeat(now time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.closedErr()
	}
	var errs []error
	for _, iv := range w.sortedOpen() {
		if err := w.advance(iv, now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Open returns copies of the open intervals, sorted by From, then ID.
func (w *Writer) Open() []Interval {
	w.mu.Lock()
	defer w.mu.Unlock()
	ivs := make([]Interval, 0, len(w.open))
	for _, iv := range w.sortedOpen() {
		ivs = append(ivs, clone(*iv))
	}
	return ivs
}

// Close ends every open interval at now, then, for a writer from Create, syncs and closes the
// file. It reports every error. Calls after the first return ErrClosed.
func (w *Writer) Close(now time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.closedErr()
	}
	var errs []error
	for _, iv := range w.sortedOpen() {
		if err := w.end(iv, now); err != nil {
			errs = append(errs, err)
		}
	}
	w.closed = true
	if w.file != nil {
		if err := w.file.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("intervals: sync %s: %w", w.name, err))
		}
		if err := w.file.Close(); err != nil {
			errs = append(errs, fmt.Errorf("intervals: close %s: %w", w.name, err))
		}
	}
	return errors.Join(errs...)
}

// check validates a new interval. w.mu is held.
func (w *Writer) check(iv Interval) error {
	if w.closed {
		return w.closedErr()
	}
	if iv.From.IsZero() {
		return fmt.Errorf("intervals: %s: interval %q has no From", w.name, iv.ID)
	}
	if _, dup := w.open[iv.ID]; dup && iv.ID != "" {
		return fmt.Errorf("intervals: %s: interval %q is already open", w.name, iv.ID)
	}
	return nil
}

// prepare gives iv an ID, its own maps and wall-clock UTC times. w.mu is held.
func (w *Writer) prepare(iv Interval) Interval {
	iv = clone(iv)
	if iv.ID == "" {
		iv.ID = newID()
	}
	if iv.Locator.Keys == nil {
		iv.Locator.Keys = map[string]string{}
	}
	iv.From = Time{iv.From.UTC()}
	iv.To = Time{iv.To.UTC()}
	return iv
}

func (w *Writer) lookup(id string) (*Interval, error) {
	if w.closed {
		return nil, w.closedErr()
	}
	iv, ok := w.open[id]
	if !ok {
		return nil, fmt.Errorf("intervals: %s: interval %q: %w", w.name, id, ErrNotOpen)
	}
	return iv, nil
}

// advance moves the open interval's To forward to to and writes it. w.mu is held.
func (w *Writer) advance(iv *Interval, to time.Time) error {
	if !to.After(iv.To.Time) {
		return nil
	}
	iv.To = Time{to.UTC()}
	return w.write(iv)
}

// end writes the open interval as closed and forgets it. w.mu is held.
func (w *Writer) end(iv *Interval, to time.Time) error {
	if to.Before(iv.From.Time) {
		to = iv.From.Time
	}
	iv.To = Time{to.UTC()}
	iv.State = StateClosed
	delete(w.open, iv.ID)
	return w.write(iv)
}

func (w *Writer) sortedOpen() []*Interval {
	ivs := make([]*Interval, 0, len(w.open))
	for _, iv := range w.open {
		ivs = append(ivs, iv)
	}
	slices.SortFunc(ivs, func(a, b *Interval) int {
		if c := a.From.Compare(b.From.Time); c != 0 {
			return c
		}
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return ivs
}

func (w *Writer) closedErr() error {
	return fmt.Errorf("intervals: %s: %w", w.name, ErrClosed)
}

// write encodes iv as one line and writes it with a single Write call. After a write that was
// cut short, the next record starts with a newline, so that it stays whole on a line of its own.
// w.mu is held.
func (w *Writer) write(iv *Interval) error {
	w.buf.Reset()
	if w.torn {
		w.buf.WriteByte('\n')
	}
	if err := w.enc.Encode(iv); err != nil {
		return fmt.Errorf("intervals: %s: encode interval %q: %w", w.name, iv.ID, err)
	}
	n, err := w.out.Write(w.buf.Bytes())
	if err == nil && n < w.buf.Len() {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.torn = w.torn || n > 0
		return fmt.Errorf("intervals: write %s: %w", w.name, err)
	}
	w.torn = false
	return nil
}

var (
	idPrefix = sync.OnceValue(func() string {
		var b [4]byte
		rand.Read(b[:]) // never fails, see crypto/rand.Read
		return hex.EncodeToString(b[:]) + "-"
	})
	idCounter atomic.Uint64
)

// newID returns an ID unique within the process and, with high probability, among the
// processes that append to one file: a random prefix chosen once per process and a counter.
func newID() string {
	return idPrefix() + strconv.FormatUint(idCounter.Add(1), 10)
}

// KeepBeating calls Heartbeat every period until ctx ends, so a crash loses
// at most a period of the open intervals' progress. Errors go to onErr.
func (w *Writer) KeepBeating(ctx context.Context, period time.Duration, onErr func(error)) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := w.Heartbeat(now); err != nil && onErr != nil {
				onErr(err)
			}
		}
	}
}
