package intervals

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"testing"
	"time"
)

func TestHeartbeatGrowsByOneRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	w, err := Create(path, Options{})
	must(t, err)
	for i := range 1000 {
		begin(t, w, outage(fmt.Sprint("c", i), 0))
	}
	st, err := os.Stat(path)
	must(t, err)
	for i := range 10 {
		must(t, w.Heartbeat(base.Add(time.Duration(i+1)*time.Second)))
	}
	must(t, w.Heartbeat(base.Add(time.Second))) // not later: nothing written
	after, err := os.Stat(path)
	must(t, err)
	line := int64(len(`{"alive":""}`+"\n") + len(timeLayout))
	if grew := after.Size() - st.Size(); grew != 10*line {
		t.Errorf("10 heartbeats with 1000 open intervals grew the file by %d bytes, want %d", grew, 10*line)
	}
	if open := w.Open(); open[0].To.Time != base.Add(10*time.Second) {
		t.Errorf("open interval To = %s after heartbeats, want the last heartbeat", open[0].To)
	}
	// A crash now: the reader ends the open intervals at the last heartbeat.
	ivs, err := ReadFile(path)
	must(t, err)
	if len(ivs) != 1000 || !ivs[0].To.Equal(base.Add(10*time.Second)) {
		t.Errorf("read %d intervals, first %s, want 1000 ending at the last heartbeat", len(ivs), summary(ivs[0]))
	}
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	o := Options{MaxFileBytes: 4 << 10, MaxTotalBytes: 20 << 10}
	w, err := Create(path, o)
	must(t, err)
	long := begin(t, w, outage("long", 0)) // open across every rotation
	var last string
	for i := range 200 {
		p := outage(fmt.Sprint("p", i), time.Duration(i+1)*time.Second)
		must(t, w.Point(p))
		last = p.ID
		must(t, w.Heartbeat(base.Add(time.Duration(i+1)*time.Second)))
	}
	must(t, w.End(long, base.Add(500*time.Second), nil))
	must(t, w.Close(base.Add(501*time.Second)))

	rotated, err := Rotated(path)
	must(t, err)
	if len(rotated) < 2 {
		t.Fatalf("rotated into %d files, want several", len(rotated))
	}
	var total int64
	for i, r := range rotated {
		total += r.Size
		if r.Size > o.MaxFileBytes {
			t.Errorf("%s has %d bytes, over MaxFileBytes %d", r.Path, r.Size, o.MaxFileBytes)
		}
		if i > 0 && r.Seq != rotated[i-1].Seq+1 {
			t.Errorf("rotated files %d and %d are not consecutive", rotated[i-1].Seq, r.Seq)
		}
		st, err := os.Stat(r.Path)
		must(t, err)
		if st.Mode().Perm() != 0o640 {
			t.Errorf("%s mode %v, want 0640", r.Path, st.Mode().Perm())
		}
	}
	st, err := os.Stat(path)
	must(t, err)
	if total+st.Size() > o.MaxTotalBytes {
		t.Errorf("set holds %d bytes, over MaxTotalBytes %d", total+st.Size(), o.MaxTotalBytes)
	}
	if rotated[0].Seq == 1 {
		t.Errorf("oldest rotated file still present: the cap removed nothing")
	}

	ivs, err := ReadFile(path)
	must(t, err)
	byID := map[string]Interval{}
	for _, iv := range ivs {
		byID[iv.ID] = iv
	}
	if iv, ok := byID["long"]; !ok || !iv.From.Equal(base) || !iv.To.Equal(base.Add(500*time.Second)) ||
		iv.Message.Annotations[AnnotationUnclosed] != "" {
		t.Errorf("interval open across rotations read as %+v, want base..+500s, closed", iv)
	}
	if _, ok := byID[last]; !ok {
		t.Errorf("last point %s missing", last)
	}
	if _, ok := byID["p0"]; ok {
		t.Errorf("first point still read: the oldest file was not removed")
	}

	// Glob lists the stream once.
	paths, err := Glob(dir)
	must(t, err)
	if len(paths) != 1 || paths[0] != path {
		t.Errorf("Glob = %v, want [%s]", paths, path)
	}

	// A restart continues the sequence.
	w, err = Create(path, o)
	must(t, err)
	for i := range 100 {
		must(t, w.Point(outage(fmt.Sprint("q", i), 600*time.Second)))
	}
	must(t, w.Close(base.Add(700*time.Second)))
	again, err := Rotated(path)
	must(t, err)
	if again[len(again)-1].Seq <= rotated[len(rotated)-1].Seq {
		t.Errorf("after restart, newest rotated is %d, want after %d", again[len(again)-1].Seq, rotated[len(rotated)-1].Seq)
	}
}

// TestRecoverAcrossRotation: a writer killed between renaming its file and starting the new one
// leaves its open intervals in the newest rotated file only.
func TestRecoverAcrossRotation(t *testing.T) {
	s := time.Second
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	must(t, os.WriteFile(rotatedName(path, 1), []byte(rec("old", StateClosed, 0, s)), 0o640))
	must(t, os.WriteFile(rotatedName(path, 7), []byte(rec("a", StateOpen, 2*s, 2*s)+rec("b", StateOpen, 2*s, 2*s)+
		rec("b", StateClosed, 2*s, 3*s)+`{"alive":"`+ts(base.Add(4*s))+`"}`+"\n"), 0o640))

	// Readers see the set even without its head.
	got, err := ReadFile(path)
	must(t, err)
	diffLines(t, summaries(got), []string{want("old", 0, s), want("b", 2*s, 3*s), want("a", 2*s, 4*s, unclosed)})

	w, err := Create(path, Options{})
	must(t, err)
	begin(t, w, outage("new", 10*s))
	must(t, w.Close(base.Add(11*s)))
	data, err := os.ReadFile(path)
	must(t, err)
	diffLines(t, records(t, data), []string{
		recSummary("a", StateClosed, 2*s, 4*s, "DisruptionBegan/", unclosed),
		recSummary("new", StateOpen, 10*s, 10*s, "DisruptionBegan/"),
		recSummary("new", StateClosed, 10*s, 11*s, "DisruptionBegan/"),
	})
	got, err = ReadFile(path)
	must(t, err)
	diffLines(t, summaries(got), []string{want("old", 0, s), want("b", 2*s, 3*s), want("a", 2*s, 4*s, unclosed), want("new", 10*s, 11*s)})
}

func TestRotatedNames(t *testing.T) {
	for _, tt := range []struct {
		name, head string
		seq        int
		ok         bool
	}{
		{"intervals-000001.jsonl", "intervals.jsonl", 1, true},
		{"intervals-1234567.jsonl", "intervals.jsonl", 1234567, true},
		{"intervals-1.jsonl", "intervals.jsonl", 0, false}, // a user's own file
		{"node-1-000002.jsonl", "node-1.jsonl", 2, true},
		{"intervals-00000x.jsonl", "intervals.jsonl", 0, false},
		{"intervals.jsonl", "intervals.jsonl", 0, false},
	} {
		seq, ok := rotatedSeq(tt.name, tt.head)
		if seq != tt.seq || ok != tt.ok {
			t.Errorf("rotatedSeq(%q, %q) = %d, %v, want %d, %v", tt.name, tt.head, seq, ok, tt.seq, tt.ok)
		}
		if head, ok := rotatedHead(tt.name); ok != tt.ok || (ok && head != tt.head) {
			t.Errorf("rotatedHead(%q) = %q, %v", tt.name, head, ok)
		}
	}
	if got := rotatedName("/x/intervals.jsonl", 3); got != "/x/intervals-000003.jsonl" {
		t.Errorf("rotatedName = %q", got)
	}
}

// BenchmarkRecover measures the memory that Create needs to repair a large file left by a
// crashed writer: the peak of live heap while it runs (sampled, with the GC made eager so the
// heap tracks what is live) is bounded by the open intervals, not by the file's size.
func BenchmarkRecover(b *testing.B) {
	for _, mb := range []int{8, 64} {
		b.Run(fmt.Sprintf("file=%dMB", mb), func(b *testing.B) {
			dir := b.TempDir()
			path := filepath.Join(dir, FileName)
			line := rec("x", StateClosed, 0, time.Second)
			var sb strings.Builder
			sb.WriteString(rec("open", StateOpen, 0, 0))
			for i := 0; sb.Len() < mb<<20; i++ {
				sb.WriteString(strings.Replace(line, `"id":"x"`, fmt.Sprintf(`"id":"x%d"`, i), 1))
			}
			content := []byte(sb.String())
			sb = strings.Builder{}
			defer debug.SetGCPercent(debug.SetGCPercent(5))
			var peak uint64
			for b.Loop() {
				b.StopTimer()
				if err := os.WriteFile(path, content, 0o640); err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				base := liveHeap()
				stop, done := make(chan struct{}), make(chan uint64)
				go func() {
					var top uint64
					for {
						top = max(top, liveHeap())
						select {
						case <-stop:
							done <- top
							return
						case <-time.After(200 * time.Microsecond):
						}
					}
				}()
				b.StartTimer()
				w, err := Create(path, Options{MaxFileBytes: 1 << 30})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				close(stop)
				if top := <-done; top > base {
					peak = max(peak, top-base)
				}
				w.Close(base0)
				b.StartTimer()
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}

var base0 = base

func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
