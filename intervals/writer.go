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
	"io/fs"
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
// The file grows with changes, not with time: a Heartbeat writes one small record whatever the
// number of open intervals. A Writer from Create rotates its file by size and caps the total
// (see Options).
//
// One file should have one writer at a time. A Writer is safe for concurrent use.
type Writer struct {
	mu     sync.Mutex
	out    io.Writer
	file   *os.File // set by Create: Close syncs and closes it
	path   string   // set by Create: the file rotated by size
	opts   Options
	size   int64     // bytes in file
	seq    int       // sequence number of the next rotated file
	beat   time.Time // the last heartbeat written
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

// File and folder modes: interval files hold internal host names and error text.
const (
	fileMode = 0o640
	dirMode  = 0o750
)

// Create opens path for appending (creating it, mode 0640, and its parent directory, mode 0750)
// and returns a Writer to it that rotates the file as o says.
//
// A file left behind by a crashed writer is made whole first: a torn last line that does not
// parse is cut off (a reader would skip it anyway), and every interval the old writer left open
// is written as closed, at the time a reader would have ended it (the latest time in the file),
// with AnnotationUnclosed="true". So appending after a restart does not stretch the old
// intervals to the new writer's times. The repair streams the file (and the newest rotated
// one): its memory is bounded by the intervals left open, not by the file's size.
func Create(path string, o Options) (*Writer, error) {
	if err := os.MkdirAll(filepath.Dir(path), dirMode); err != nil {
		return nil, fmt.Errorf("intervals: create %s: %w", path, err)
	}
	rotated, err := Rotated(path)
	if err != nil {
		return nil, fmt.Errorf("intervals: create %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, fileMode)
	if err != nil {
		return nil, fmt.Errorf("intervals: create %s: %w", path, err)
	}
	w := newWriter(f, path)
	w.file, w.path, w.opts, w.seq = f, path, o.withDefaults(), 1
	if n := len(rotated); n > 0 {
		w.seq = rotated[n-1].Seq + 1
		rotated = rotated[n-1:]
	}
	if err := w.recover(f, rotated); err != nil {
		f.Close()
		return nil, fmt.Errorf("intervals: create %s: %w", path, err)
	}
	if err := f.Chmod(fileMode); err != nil { // a file from an older version was 0644
		f.Close()
		return nil, fmt.Errorf("intervals: create %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("intervals: create %s: %w", path, err)
	}
	w.size = st.Size()
	return w, nil
}

// recover repairs what a crashed writer left in f, reading the newest rotated file first (a
// crash during a rotation can leave open intervals there only); see Create.
func (w *Writer) recover(f *os.File, rotated []RotatedFile) error {
	var (
		latest Time
		open   = map[string]Interval{}
		order  []string
	)
	track := func(rec Interval) {
		if rec.From.After(latest.Time) {
			latest = rec.From
		}
		if isHeartbeat(rec) {
			return
		}
		if rec.To.After(latest.Time) {
			latest = rec.To
		}
		if rec.ID == "" {
			return // cannot be paired with a new record: the reader ends it on its own
		}
		if rec.State == StateClosed {
			delete(open, rec.ID)
			return
		}
		if _, ok := open[rec.ID]; !ok {
			order = append(order, rec.ID)
		}
		open[rec.ID] = rec
	}
	// Bad lines are the reader's to report; a file that cannot be read is
	// not.
	for _, r := range rotated {
		if _, err := scanFile(r.Path, track); ioFailure(err) && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	t, err := scan(f, w.name, track)
	if ioFailure(err) {
		return err
	}
	if t.unterminated {
		if t.parsed {
			// A whole record that only lacks its newline.
			if _, err := f.Write([]byte{'\n'}); err != nil {
				return err
			}
		} else if err := f.Truncate(t.end); err != nil {
			return err
		}
	}
	for _, id := range order {
		iv, ok := open[id]
		if !ok {
			continue
		}
		iv = seal(iv, latest)
		if err := w.write(&iv); err != nil {
			return err
		}
	}
	return nil
}

// ioFailure reports whether err holds a failure to open or read a file, as
// opposed to bad lines only.
func ioFailure(err error) bool {
	_, ok := errors.AsType[*fs.PathError](err)
	return ok
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

// Heartbeat says the writer is alive at now: it writes one small record, {"alive": now},
// whatever the number of open intervals, and moves the open intervals' To to now in memory (a
// reader ends the intervals a crashed writer left open at the latest time in the file). It
// writes nothing when now is not after the last heartbeat.
func (w *Writer) Heartbeat(now time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.closedErr()
	}
	if !now.After(w.beat) {
		return nil
	}
	w.beat = now
	for _, iv := range w.open {
		if now.After(iv.To.Time) {
			iv.To = Time{now.UTC()}
		}
	}
	w.buf.Reset()
	if w.torn {
		w.buf.WriteByte('\n')
	}
	w.buf.WriteString(`{"alive":"`)
	b, err := Time{now}.appendText(w.buf.AvailableBuffer())
	if err != nil {
		return fmt.Errorf("intervals: %s: heartbeat: %w", w.name, err)
	}
	w.buf.Write(b)
	w.buf.WriteString("\"}\n")
	return w.flush()
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
	return w.flush()
}

// flush writes w.buf with one Write call, rotating the file first when it would grow past
// its limit. w.mu is held.
func (w *Writer) flush() error {
	var rerr error
	if w.file != nil && w.size > 0 && w.size+int64(w.buf.Len()) > w.opts.MaxFileBytes {
		// A failed rotation keeps writing to the current file: records are worth more
		// than the size limit.
		rerr = w.rotate()
	}
	n, err := w.out.Write(w.buf.Bytes())
	w.size += int64(n)
	if err == nil && n < w.buf.Len() {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.torn = w.torn || n > 0
		return errors.Join(rerr, fmt.Errorf("intervals: write %s: %w", w.name, err))
	}
	w.torn = false
	return rerr
}

// rotate renames the file to the next rotated name, starts a new one with the open intervals
// carried over (as open records), and removes the oldest rotated files while the set is over
// its total cap. w.mu is held; w.buf holds the record about to be written and is kept.
func (w *Writer) rotate() error {
	pending := bytes.Clone(w.buf.Bytes())
	defer func() { w.buf.Reset(); w.buf.Write(pending) }()

	dst := rotatedName(w.path, w.seq)
	if err := os.Rename(w.path, dst); err != nil {
		return fmt.Errorf("intervals: rotate %s: %w", w.name, err)
	}
	f, err := os.OpenFile(w.path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		if rerr := os.Rename(dst, w.path); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return fmt.Errorf("intervals: rotate %s: %w", w.name, err)
	}
	w.seq++
	old := w.file
	w.file, w.out, w.size, w.torn = f, f, 0, false
	var errs []error
	if err := old.Sync(); err != nil {
		errs = append(errs, fmt.Errorf("intervals: sync %s: %w", dst, err))
	}
	if err := old.Close(); err != nil {
		errs = append(errs, fmt.Errorf("intervals: close %s: %w", dst, err))
	}
	for _, iv := range w.sortedOpen() {
		w.buf.Reset()
		if err := w.enc.Encode(iv); err != nil {
			errs = append(errs, fmt.Errorf("intervals: %s: encode interval %q: %w", w.name, iv.ID, err))
			continue
		}
		n, err := w.out.Write(w.buf.Bytes())
		w.size += int64(n)
		if err != nil {
			errs = append(errs, fmt.Errorf("intervals: write %s: %w", w.name, err))
		}
	}
	errs = append(errs, w.prune())
	return errors.Join(errs...)
}

// prune removes the oldest rotated files until they leave room for a full current file within
// MaxTotalBytes, so the set as a whole stays under the cap. w.mu is held.
func (w *Writer) prune() error {
	rotated, err := Rotated(w.path)
	if err != nil {
		return err
	}
	total := w.opts.MaxFileBytes
	for _, r := range rotated {
		total += r.Size
	}
	var errs []error
	for _, r := range rotated {
		if total <= w.opts.MaxTotalBytes {
			break
		}
		if err := os.Remove(r.Path); err != nil {
			errs = append(errs, fmt.Errorf("intervals: remove %s: %w", r.Path, err))
			continue
		}
		total -= r.Size
	}
	return errors.Join(errs...)
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
