package intervals

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// /intervals serves the stream, rotated files included, as the reader
// reads it; since leaves out what ended before it; a line being written
// is left out; bad requests are 4xx.
func TestHandler(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	w, err := Create(path, Options{MaxFileBytes: 600, MaxTotalBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		iv := outage("", time.Duration(i)*time.Minute)
		iv.To = at(time.Duration(i)*time.Minute + 10*time.Second)
		if err := w.Point(iv); err != nil {
			t.Fatal(err)
		}
	}
	longID, err := w.Begin(outage("", 2*time.Minute)) // open across the since below
	if err != nil {
		t.Fatal(err)
	}
	if err := w.End(longID, at(10*time.Minute).Time, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(at(11 * time.Minute).Time); err != nil {
		t.Fatal(err)
	}
	if r, _ := Rotated(path); len(r) == 0 {
		t.Fatal("no rotation: the test wants the stream to span files")
	}
	// A write in progress: a line without its newline yet.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// An outage still going when its writer was killed: only its open
	// record is on disk, from before the since below.
	_, _ = f.WriteString(`{"id":"crashed","from":"2026-11-27T15:03:30Z","to":"2026-11-27T15:03:30Z","state":"open","level":"Error","source":"Disruption","locator":{"type":"Disruption","keys":{"backend":"api"}},"message":{"reason":"DisruptionBegan","humanMessage":"down"}}` + "\n")
	_, _ = f.WriteString(`{"id":"x","from":"2026-11-27T15:20:00Z",`)
	f.Close()

	srv := httptest.NewServer(Handler(path))
	defer srv.Close()
	get := func(query string) (int, []Interval) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/intervals" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return resp.StatusCode, nil
		}
		if ct := resp.Header.Get("Content-Type"); ct != ContentType {
			t.Errorf("Content-Type %q", ct)
		}
		if len(body) > 0 && body[len(body)-1] != '\n' {
			t.Errorf("the stream ends in a partial line: %q", body[max(len(body)-60, 0):])
		}
		ivs, err := Read(bytes.NewReader(body), "served")
		if err != nil {
			t.Fatalf("the served stream does not read: %v", err)
		}
		return resp.StatusCode, ivs
	}
	want, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, all := get(""); len(all) != len(want) || len(all) != 8 {
		t.Fatalf("served %d intervals, the files hold %d (want 8)", len(all), len(want))
	}
	// Since minute 4: the points of minutes 4 and 5, the long one, and
	// the one still open.
	_, recent := get("?since=" + at(4*time.Minute).Format(time.RFC3339))
	if len(recent) != 4 {
		t.Fatalf("since minute 4: %d intervals, want 4: %+v", len(recent), recent)
	}
	for _, q := range []string{"?since=yesterday", "?since=-5m"} {
		if code, _ := get(q); code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", q, code)
		}
	}
	resp, err := http.Post(srv.URL+"/intervals", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", resp.StatusCode)
	}
}

// A rotation while /intervals lists and opens the files loses nothing:
// the served stream is a snapshot of one moment, every record written
// before the request in it (here the rotation comes between the listing
// and the opening, where it once moved the file to a name never listed).
func TestHandlerSnapshotAcrossRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	w, err := Create(path, Options{MaxFileBytes: 1000, MaxTotalBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(at(time.Hour).Time)
	n := 0
	write := func(k int) {
		for range k {
			iv := outage(fmt.Sprint("p", n), time.Duration(n)*time.Second)
			if err := w.Point(iv); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	write(30)
	before, _ := Rotated(path)
	rotations := 0
	afterList = func() {
		if rotations == 0 { // once: the retried snapshot sees a quiet stream
			write(5)
			if now, _ := Rotated(path); len(now) == len(before) {
				t.Fatal("writing did not rotate the file")
			}
		}
		rotations++
	}
	defer func() { afterList = func() {} }()
	srv := httptest.NewServer(Handler(path))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/intervals")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	ivs, err := Read(bytes.NewReader(body), "served")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, iv := range ivs {
		seen[iv.ID] = true
	}
	var missing []string
	for i := range n {
		if id := fmt.Sprint("p", i); !seen[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d records missing from the served stream: %v", len(missing), n, missing)
	}
	if rotations < 2 {
		t.Errorf("the snapshot was taken %d times, want it taken again after the rotation", rotations)
	}
}
