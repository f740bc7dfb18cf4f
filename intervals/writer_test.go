package intervals

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// outage returns an interval about backend api beginning at base + from.
func outage(id string, from time.Duration) Interval {
	return Interval{
		ID: id, From: at(from), Level: LevelError, Source: "Disruption",
		Locator: Locator{Type: "Disruption", Keys: map[string]string{"backend": "api"}},
		Message: Message{Reason: "DisruptionBegan", HumanMessage: "down"},
	}
}

// records parses every line of data strictly: each must be one whole record.
func records(t *testing.T, data []byte) []string {
	t.Helper()
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Errorf("output does not end with a newline: %q", data)
	}
	var out []string
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" && len(data) == 0 {
			break
		}
		if strings.HasPrefix(line, `{"alive":`) {
			rec, err := parseRecord([]byte(line))
			if err != nil || !isHeartbeat(rec) || len(line) != len(`{"alive":""}`)+len(timeLayout) {
				t.Fatalf("line %d %q: not a heartbeat: %v", i+1, line, err)
			}
			out = append(out, "alive "+ts(rec.From.Time))
			continue
		}
		var iv Interval
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&iv); err != nil {
			t.Fatalf("line %d %q: %v", i+1, line, err)
		}
		if _, err := parseRecord([]byte(line)); err != nil {
			t.Fatalf("line %d %q: %v", i+1, line, err)
		}
		out = append(out, summary(iv))
	}
	return out
}

// recSummary is the summary of a record about backend api, in the given state.
func recSummary(id string, state State, from, to time.Duration, reasonCause string, ann ...string) string {
	return fmt.Sprintf("%s %s..%s %s Error Disruption [Disruption backend=api] %s %v",
		id, ts(at(from).Time), ts(at(to).Time), state, reasonCause, ann)
}

func TestWriter(t *testing.T) {
	s := time.Second
	const began = "DisruptionBegan/"
	tests := []struct {
		name        string
		run         func(t *testing.T, w *Writer)
		wantRecords []string
		wantRead    []string
		wantOpen    []string
		wantClose   []string // records written by Close
	}{
		{
			name: "begin update end",
			run: func(t *testing.T, w *Writer) {
				id := begin(t, w, outage("a", 0))
				must(t, w.Update(id, base.Add(s)))
				must(t, w.Update(id, base.Add(s/2))) // not later: nothing written
				must(t, w.End(id, base.Add(2*s+1), nil))
			},
			wantRecords: []string{
				recSummary("a", StateOpen, 0, 0, began),
				recSummary("a", StateOpen, 0, s, began),
				recSummary("a", StateClosed, 0, 2*s+1, began),
			},
			wantRead: []string{want("a", 0, 2*s+1)},
		},
		{
			name: "end replaces the message",
			run: func(t *testing.T, w *Writer) {
				id := begin(t, w, outage("a", 0))
				must(t, w.End(id, base.Add(s), &Message{
					Reason: "DisruptionEnded", Cause: "connection refused", HumanMessage: "back",
					Annotations: map[string]string{"attempts": "3"},
				}))
			},
			wantRecords: []string{
				recSummary("a", StateOpen, 0, 0, began),
				recSummary("a", StateClosed, 0, s, "DisruptionEnded/connection refused", "attempts=3"),
			},
			wantRead: []string{recSummary("a", StateClosed, 0, s, "DisruptionEnded/connection refused", "attempts=3")},
		},
		{
			name: "end before from is clamped to from",
			run: func(t *testing.T, w *Writer) {
				id := begin(t, w, outage("a", 5*s))
				must(t, w.End(id, base.Add(4*s), nil))
			},
			wantRecords: []string{
				recSummary("a", StateOpen, 5*s, 5*s, began),
				recSummary("a", StateClosed, 5*s, 5*s, began),
			},
			wantRead: []string{want("a", 5*s, 5*s)},
		},
		{
			name: "heartbeat writes one record whatever is open; point and close",
			run: func(t *testing.T, w *Writer) {
				begin(t, w, outage("b", s))
				begin(t, w, outage("a", 0))
				must(t, w.Point(outage("p", 2*s)))
				must(t, w.Heartbeat(base.Add(3*s)))
			},
			wantRecords: []string{
				recSummary("b", StateOpen, s, s, began),
				recSummary("a", StateOpen, 0, 0, began),
				recSummary("p", StateClosed, 2*s, 2*s, began),
				"alive " + ts(base.Add(3*s)),
			},
			wantRead: []string{want("a", 0, 3*s, unclosed), want("b", s, 3*s, unclosed), want("p", 2*s, 2*s)},
			wantOpen: []string{recSummary("a", StateOpen, 0, 3*s, began), recSummary("b", StateOpen, s, 3*s, began)},
			wantClose: []string{
				recSummary("a", StateClosed, 0, time.Minute, began),
				recSummary("b", StateClosed, s, time.Minute, began),
			},
		},
		{
			name: "point with an end",
			run: func(t *testing.T, w *Writer) {
				p := outage("p", s)
				p.To = at(4 * s)
				must(t, w.Point(p))
			},
			wantRecords: []string{recSummary("p", StateClosed, s, 4*s, began)},
			wantRead:    []string{want("p", s, 4*s)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewWriter(&buf)
			tt.run(t, w)
			diffLines(t, summaries(w.Open()), tt.wantOpen)
			diffLines(t, records(t, buf.Bytes()), tt.wantRecords)
			got, err := Read(bytes.NewReader(buf.Bytes()), "buf")
			must(t, err)
			diffLines(t, summaries(got), tt.wantRead)

			// Close ends what is still open, at now.
			must(t, w.Close(base.Add(time.Minute)))
			if open := w.Open(); len(open) != 0 {
				t.Errorf("Open after Close = %v", summaries(open))
			}
			diffLines(t, records(t, buf.Bytes())[len(tt.wantRecords):], tt.wantClose)
		})
	}
}

func begin(t *testing.T, w *Writer, iv Interval) string {
	t.Helper()
	id, err := w.Begin(iv)
	must(t, err)
	return id
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestWriterErrors(t *testing.T) {
	w := NewWriter(io.Discard)
	id := begin(t, w, outage("", 0))
	tests := []struct {
		name    string
		err     error
		wantIs  error
		wantErr string
	}{
		{"update unknown", w.Update("nope", base), ErrNotOpen, `intervals: intervals writer: interval "nope": interval not open`},
		{"end unknown", w.End("nope", base, nil), ErrNotOpen, ""},
		{"begin without from", func() error { _, err := w.Begin(Interval{ID: "x"}); return err }(), nil,
			`intervals: intervals writer: interval "x" has no From`},
		{"begin an open ID", func() error { _, err := w.Begin(outage(id, 0)); return err }(), nil,
			fmt.Sprintf("intervals: intervals writer: interval %q is already open", id)},
		{"point an open ID", w.Point(outage(id, 0)), nil, ""},
		{"point ending before it begins", w.Point(Interval{ID: "p", From: at(time.Second), To: at(0)}), nil,
			`intervals: intervals writer: point "p" ends at 2026-11-27T15:00:00.000000000Z, before it begins at 2026-11-27T15:00:01.000000000Z`},
		{"end twice", func() error { must(t, w.End(id, base, nil)); return w.End(id, base, nil) }(), ErrNotOpen, ""},
		{"close", w.Close(base), nil, "ok"},
		{"close twice", w.Close(base), ErrClosed, "intervals: intervals writer: writer closed"},
		{"begin after close", func() error { _, err := w.Begin(outage("", 0)); return err }(), ErrClosed, ""},
		{"heartbeat after close", w.Heartbeat(base), ErrClosed, ""},
		{"update after close", w.Update(id, base), ErrClosed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantErr == "ok" {
				must(t, tt.err)
				return
			}
			if tt.err == nil {
				t.Fatal("no error")
			}
			if tt.wantIs != nil && !errors.Is(tt.err, tt.wantIs) {
				t.Errorf("error %v is not %v", tt.err, tt.wantIs)
			}
			if tt.wantErr != "" && tt.err.Error() != tt.wantErr {
				t.Errorf("error = %q, want %q", tt.err, tt.wantErr)
			}
		})
	}
}

func TestWriterIDs(t *testing.T) {
	w1, w2 := NewWriter(io.Discard), NewWriter(io.Discard)
	seen := map[string]bool{}
	for range 100 {
		for _, w := range []*Writer{w1, w2} {
			id := begin(t, w, outage("", 0))
			if seen[id] {
				t.Fatalf("ID %q assigned twice", id)
			}
			seen[id] = true
			if prefix, n, ok := strings.Cut(id, "-"); !ok || len(prefix) != 8 || n == "" {
				t.Fatalf("ID %q is not <8 hex>-<counter>", id)
			}
		}
	}
}

func TestWriterCopies(t *testing.T) {
	w := NewWriter(io.Discard)
	iv := outage("a", 0)
	iv.Message.Annotations = map[string]string{"k": "v"}
	begin(t, w, iv)
	iv.Locator.Keys["backend"] = "changed"
	iv.Message.Annotations["k"] = "changed"
	open := w.Open()
	open[0].Locator.Keys["backend"] = "changed too"
	got := w.Open()[0]
	if got.Locator.Keys["backend"] != "api" || got.Message.Annotations["k"] != "v" {
		t.Errorf("writer shares maps with its callers: %s", summary(got))
	}
}

// failingWriter writes only part of its first record, then fails; later writes succeed.
type failingWriter struct {
	bytes.Buffer
	calls int
}

func (f *failingWriter) Write(p []byte) (int, error) {
	f.calls++
	if f.calls == 1 {
		n, _ := f.Buffer.Write(p[:10])
		return n, errors.New("no space left on device")
	}
	return f.Buffer.Write(p)
}

func TestWriterTornWrite(t *testing.T) {
	f := &failingWriter{}
	w := NewWriter(f)
	id, err := w.Begin(outage("a", 0))
	if err == nil || !strings.Contains(err.Error(), "intervals: write intervals writer: no space left on device") {
		t.Fatalf("Begin error = %v", err)
	}
	if id != "a" {
		t.Fatalf("Begin ID = %q", id)
	}
	// The interval is still tracked, and its next record is whole, on a line of its own.
	must(t, w.End(id, base.Add(time.Second), nil))
	must(t, w.Point(outage("p", 0)))
	lines := strings.Split(f.String(), "\n")
	if len(lines) != 4 || lines[0] != `{"id":"a",` || lines[3] != "" {
		t.Fatalf("output:\n%s", f.String())
	}
	got, err := Read(strings.NewReader(f.String()), "f")
	checkErr(t, err, []string{"f:1: invalid record: "})
	diffLines(t, summaries(got), []string{want("p", 0, 0), want("a", 0, time.Second)}) // ties on From: To first
}

// writeRecorder checks that every Write call is exactly one whole line.
type writeRecorder struct {
	mu     sync.Mutex
	writes [][]byte
}

func (r *writeRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func TestWriterConcurrent(t *testing.T) {
	const goroutines, each = 8, 50
	rec := &writeRecorder{}
	path := filepath.Join(t.TempDir(), "sub", "dir", "intervals.jsonl")
	fw, err := Create(path, Options{})
	must(t, err)
	writers := []*Writer{fw, NewWriter(rec)}

	var wg sync.WaitGroup
	for _, w := range writers {
		for g := range goroutines {
			wg.Go(func() {
				for i := range each {
					iv := outage("", time.Duration(g*each+i)*time.Millisecond)
					iv.Locator.Keys["poller"] = fmt.Sprint("node-", g)
					iv.Message.Annotations = map[string]string{"i": fmt.Sprint(i)}
					id, err := w.Begin(iv)
					if err != nil {
						t.Error(err)
						return
					}
					if err := w.Update(id, iv.From.Add(time.Millisecond)); err != nil {
						t.Error(err)
					}
					if i%10 == 0 {
						if err := w.Heartbeat(iv.From.Add(2 * time.Millisecond)); err != nil {
							t.Error(err)
						}
					}
					_ = w.Open()
					if i%2 == 0 {
						if err := w.End(id, iv.From.Add(3*time.Millisecond), nil); err != nil {
							t.Error(err)
						}
					}
					if err := w.Point(outage("", 0)); err != nil {
						t.Error(err)
					}
				}
			})
		}
	}
	wg.Wait()
	end := base.Add(time.Hour)
	for _, w := range writers {
		must(t, w.Close(end))
	}

	for i, p := range rec.writes {
		if bytes.Count(p, []byte{'\n'}) != 1 || p[len(p)-1] != '\n' {
			t.Fatalf("write %d is not one line: %q", i, p)
		}
	}
	data, err := os.ReadFile(path)
	must(t, err)
	for name, data := range map[string][]byte{path: data, "recorder": bytes.Join(rec.writes, nil)} {
		records(t, data) // every line whole
		ivs, err := Read(bytes.NewReader(data), name)
		must(t, err)
		if n := len(ivs); n != 2*goroutines*each {
			t.Errorf("%s: read %d intervals, want %d", name, n, 2*goroutines*each)
		}
		ended := 0
		for _, iv := range ivs {
			if iv.Message.Annotations[AnnotationUnclosed] != "" {
				t.Errorf("%s: unclosed: %s", name, summary(iv))
			}
			if iv.To.Equal(end) {
				ended++
			}
		}
		if ended != goroutines*each/2 {
			t.Errorf("%s: %d intervals ended by Close, want %d", name, ended, goroutines*each/2)
		}
	}
}

func TestCreateRecovers(t *testing.T) {
	s := time.Second
	tests := []struct {
		name      string
		existing  string
		wantFile  []string // records after Create, Begin("new" at 100s), Close at 101s
		wantRead  []string
		wantError []string
	}{
		{
			name:     "new file",
			wantFile: []string{recSummary("new", StateOpen, 100*s, 100*s, "DisruptionBegan/"), recSummary("new", StateClosed, 100*s, 101*s, "DisruptionBegan/")},
			wantRead: []string{want("new", 100*s, 101*s)},
		},
		{
			name:     "intervals left open are closed where a reader would end them",
			existing: rec("a", StateOpen, 0, s) + rec("b", StateOpen, 2*s, 2*s) + rec("b", StateClosed, 2*s, 3*s),
			wantFile: []string{
				recSummary("a", StateOpen, 0, s, "DisruptionBegan/"),
				recSummary("b", StateOpen, 2*s, 2*s, "DisruptionBegan/"),
				recSummary("b", StateClosed, 2*s, 3*s, "DisruptionBegan/"),
				recSummary("a", StateClosed, 0, 3*s, "DisruptionBegan/", unclosed),
				recSummary("new", StateOpen, 100*s, 100*s, "DisruptionBegan/"),
				recSummary("new", StateClosed, 100*s, 101*s, "DisruptionBegan/"),
			},
			wantRead: []string{want("a", 0, 3*s, unclosed), want("b", 2*s, 3*s), want("new", 100*s, 101*s)},
		},
		{
			name:     "torn last line cut off",
			existing: rec("a", StateClosed, 0, s) + `{"id":"b","from":"2026-11-27T15:00:0`,
			wantFile: []string{
				recSummary("a", StateClosed, 0, s, "DisruptionBegan/"),
				recSummary("new", StateOpen, 100*s, 100*s, "DisruptionBegan/"),
				recSummary("new", StateClosed, 100*s, 101*s, "DisruptionBegan/"),
			},
			wantRead: []string{want("a", 0, s), want("new", 100*s, 101*s)},
		},
		{
			name:     "whole last line without newline kept",
			existing: strings.TrimSuffix(rec("a", StateClosed, 0, s), "\n"),
			wantFile: []string{
				recSummary("a", StateClosed, 0, s, "DisruptionBegan/"),
				recSummary("new", StateOpen, 100*s, 100*s, "DisruptionBegan/"),
				recSummary("new", StateClosed, 100*s, 101*s, "DisruptionBegan/"),
			},
			wantRead: []string{want("a", 0, s), want("new", 100*s, 101*s)},
		},
		{
			name:     "closed intervals annotated unclosed are not closed again",
			existing: rec("a", StateOpen, 0, s) + rec("c", StateClosed, 0, 2*s),
			wantFile: []string{
				recSummary("a", StateOpen, 0, s, "DisruptionBegan/"),
				recSummary("c", StateClosed, 0, 2*s, "DisruptionBegan/"),
				recSummary("a", StateClosed, 0, 2*s, "DisruptionBegan/", unclosed),
				// Second Create: nothing to seal.
				recSummary("new", StateOpen, 100*s, 100*s, "DisruptionBegan/"),
				recSummary("new", StateClosed, 100*s, 101*s, "DisruptionBegan/"),
			},
			wantRead: []string{want("a", 0, 2*s, unclosed), want("c", 0, 2*s), want("new", 100*s, 101*s)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "new", "intervals.jsonl")
			if tt.existing != "" {
				must(t, os.MkdirAll(filepath.Dir(path), 0o755))
				must(t, os.WriteFile(path, []byte(tt.existing), 0o644))
				// A first restart that writes nothing, then the one that does.
				w, err := Create(path, Options{})
				must(t, err)
				must(t, w.Close(base))
			}
			w, err := Create(path, Options{})
			must(t, err)
			begin(t, w, outage("new", 100*s))
			must(t, w.Close(base.Add(101*s)))

			data, err := os.ReadFile(path)
			must(t, err)
			diffLines(t, records(t, data), tt.wantFile)
			got, err := ReadFile(path)
			must(t, err)
			diffLines(t, summaries(got), tt.wantRead)
			st, err := os.Stat(path)
			must(t, err)
			if st.Mode().Perm() != 0o640 {
				t.Errorf("mode = %v, want 0640", st.Mode().Perm())
			}
			if tt.existing == "" {
				dst, err := os.Stat(filepath.Dir(path))
				must(t, err)
				if dst.Mode().Perm() != 0o750 {
					t.Errorf("folder mode = %v, want 0750", dst.Mode().Perm())
				}
			}
		})
	}
}

func TestCreateError(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	must(t, os.WriteFile(blocker, nil, 0o644))
	path := filepath.Join(blocker, "intervals.jsonl")
	_, err := Create(path, Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "intervals: create "+path+": ") {
		t.Errorf("Create error = %v, want one naming %s", err, path)
	}
}

// TestKilledWriter kills a writer with SIGKILL in the middle of an outage and reads what it left.
func TestKilledWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node-1.jsonl")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperKilledWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), "INTERVALS_HELPER_PATH="+path)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	ready, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || ready != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper said %q: %v", ready, err)
	}
	must(t, cmd.Process.Kill())
	if err := cmd.Wait(); err == nil {
		t.Fatal("helper exited cleanly, want killed")
	}

	s := time.Second
	got, err := ReadFile(path)
	must(t, err)
	diffLines(t, summaries(got), []string{want("a", 0, 4*s, unclosed), want("b", 2*s, 4*s)})

	// The poller restarts and appends to the same file: the old outage keeps its end.
	w, err := Create(path, Options{})
	must(t, err)
	begin(t, w, outage("c", time.Hour))
	must(t, w.Close(base.Add(time.Hour+s)))
	got, err = ReadFile(path)
	must(t, err)
	diffLines(t, summaries(got), []string{want("a", 0, 4*s, unclosed), want("b", 2*s, 4*s), want("c", time.Hour, time.Hour+s)})
}

func TestHelperKilledWriter(t *testing.T) {
	path := os.Getenv("INTERVALS_HELPER_PATH")
	if path == "" {
		t.Skip("helper process for TestKilledWriter")
	}
	s := time.Second
	w, err := Create(path, Options{})
	must(t, err)
	a := begin(t, w, outage("a", 0))
	must(t, w.Update(a, base.Add(s)))
	b := begin(t, w, outage("b", 2*s))
	must(t, w.Heartbeat(base.Add(3*s)))
	must(t, w.End(b, base.Add(4*s), nil))
	fmt.Println("ready")
	time.Sleep(time.Minute) // until killed
	t.Fatal("not killed")
}

func BenchmarkWriterBeginEnd(b *testing.B) {
	iv := outage("", 0)
	iv.Locator.Keys["connection"] = "new"
	iv.Locator.Keys["poller"] = "node-1"
	end := base.Add(time.Second)
	run := func(b *testing.B, w *Writer) {
		b.ReportAllocs()
		for b.Loop() {
			id, err := w.Begin(iv)
			if err != nil {
				b.Fatal(err)
			}
			if err := w.End(id, end, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("discard", func(b *testing.B) { run(b, NewWriter(io.Discard)) })
	b.Run("file", func(b *testing.B) {
		w, err := Create(filepath.Join(b.TempDir(), "intervals.jsonl"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close(end)
		run(b, w)
	})
}
