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
		rotated, err := Rotated(path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Cache-Control", "no-store")
		if r.Method == http.MethodHead {
			return
		}
		for _, f := range append(rotated, RotatedFile{Path: path}) {
			if err := copyRecords(w, f.Path, since); err != nil && !errors.Is(err, os.ErrNotExist) {
				// Headers are gone: a torn stream is what the client sees,
				// and its reader skips a torn last line.
				return
			}
		}
	})
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

// copyRecords copies the complete lines of the file as it is now,
// leaving out the records that end before since.
func copyRecords(w io.Writer, path string, since time.Time) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	br := bufio.NewReaderSize(io.LimitReader(f, fi.Size()), 64<<10)
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
