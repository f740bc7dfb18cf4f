package intervals

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// ContentType is the media type of an interval stream served over HTTP.
const ContentType = "application/jsonl; charset=utf-8"

// Handler serves the interval stream at path (its rotated files first,
// then the file itself) read-only, as JSON Lines, for GET /intervals.
// With ?since=TIME (RFC 3339) or ?since=DURATION (e.g. 2h, back from now)
// only the records that reach it are sent: intervals that ended before it
// are left out, and one still open then comes as its later records. A
// line still being written is left out.
func Handler(path string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "only GET", http.StatusMethodNotAllowed)
			return
		}
		var since time.Time
		if s := r.URL.Query().Get("since"); s != "" {
			t, err := parseSince(s, time.Now())
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			since = t
		}
		files, err := snapshot(path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer func() {
			for _, f := range files {
				f.f.Close()
			}
		}()
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Cache-Control", "no-store")
		if r.Method == http.MethodHead {
			return
		}
		for _, f := range files {
			if err := copyRecords(w, f.f, f.size, since); err != nil {
				// Headers are gone: a torn stream is what the client sees,
				// and its reader skips a torn last line.
				return
			}
		}
	})
}

// snapFile is one file of a snapshot: open, and its size then.
type snapFile struct {
	f    *os.File
	size int64
}

// afterList is called between a snapshot's listing and its opening
// (tests make a rotation happen there).
var afterList = func() {}

// snapshot opens the files of the stream at path as they are at one
// moment, oldest first: the rotated files, then the file itself, each
// with its size then. A rotation (or a removal by the size cap) while
// they are opened shows as another list of rotated files or another file
// at path, and the snapshot is taken again: once open, a file's records
// stay readable whatever it is renamed to, so none rotated during a
// request is lost.
func snapshot(path string) ([]snapFile, error) {
	for range 20 {
		before, err := Rotated(path)
		if err != nil {
			return nil, err
		}
		afterList()
		files, ok, err := openAll(path, before)
		if err != nil {
			return nil, err
		}
		if ok {
			return files, nil
		}
		for _, f := range files {
			f.f.Close()
		}
	}
	return nil, fmt.Errorf("intervals: %s kept rotating while being read: try again", path)
}

// openAll opens the rotated files listed and the file at path; ok says
// nothing moved meanwhile (the same rotated files, the same file at path).
func openAll(path string, rotated []RotatedFile) (files []snapFile, ok bool, err error) {
	for _, rf := range append(rotated, RotatedFile{Path: path}) {
		f, err := os.Open(rf.Path)
		if errors.Is(err, os.ErrNotExist) {
			if rf.Path == path {
				continue // not written yet
			}
			return files, false, nil // removed meanwhile
		}
		if err != nil {
			return files, false, err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return files, false, err
		}
		files = append(files, snapFile{f, fi.Size()})
	}
	after, err := Rotated(path)
	if err != nil || len(after) != len(rotated) {
		return files, false, err
	}
	for i := range after {
		if after[i].Path != rotated[i].Path {
			return files, false, nil
		}
	}
	now, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return files, len(files) == len(rotated), nil
	case err != nil:
		return files, false, err
	case len(files) == len(rotated): // created meanwhile
		return files, false, nil
	}
	head, err := files[len(files)-1].f.Stat()
	if err != nil {
		return files, false, err
	}
	return files, os.SameFile(head, now), nil
}

// parseSince reads an RFC 3339 time or a duration back from now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("since: expected an RFC 3339 time (2026-12-01T10:00:00Z) or a duration back from now (2h), got %q", s)
}

// copyRecords copies the complete lines of the file's first size bytes,
// leaving out the records that end before since.
func copyRecords(w io.Writer, f *os.File, size int64, since time.Time) error {
	br := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 64<<10)
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' && keep(line, since) {
			if _, werr := bw.Write(line); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// keep says whether a record reaches since: it is an open record, or its
// "to" (or a heartbeat's "alive", or "from" without "to") is not before
// it. Lines that do not parse are kept, for the reader to report.
func keep(line []byte, since time.Time) bool {
	if since.IsZero() || len(bytes.TrimSpace(line)) == 0 {
		return true
	}
	var r struct {
		From, To, Alive Time
		State           State
	}
	if err := json.Unmarshal(line, &r); err != nil {
		return true
	}
	if r.State == StateOpen {
		// An interval's open record is written once, when it begins: it
		// is how a reader learns of one still going on.
		return true
	}
	end := r.To
	if end.IsZero() {
		end = r.From
	}
	if end.IsZero() {
		end = r.Alive
	}
	return !end.Before(since)
}
