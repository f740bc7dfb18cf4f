package probes

import (
	"bytes"
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/intervals"
	"github.com/zerodown/zerodown/testtarget"
)

// gatedWriter blocks every Write until open is closed: a stuck disk.
type gatedWriter struct {
	open chan struct{}
	mu   sync.Mutex
	buf  bytes.Buffer
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.Write(p)
}

// A stuck disk holds up neither the sink's callers nor, through them, a
// series: records wait in the queue, and Close writes them all, in order.
func TestIntervalSinkOffTheProbePath(t *testing.T) {
	disk := &gatedWriter{open: make(chan struct{})}
	k := NewIntervalSink(intervals.NewWriter(disk), nil, nil)
	info := SeriesInfo{Backend: "api", Connection: config.ConnNew, Protocol: "http"}
	t0 := time.Unix(1_800_000_000, 0)
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		for i := range 50 {
			start := t0.Add(time.Duration(i) * time.Second)
			k.OutageBegan(info, Event{Kind: OutageBegan, Start: start, Reason: ReasonReset})
			k.OutageEnded(info, Event{Kind: OutageEnded, Start: start, End: start.Add(100 * time.Millisecond), Reason: ReasonReset, Last: ReasonReset})
		}
	}()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("sink calls blocked behind a stuck disk")
	}
	close(disk.open)
	k.Close()
	ivs, err := intervals.Read(bytes.NewReader(disk.buf.Bytes()), "sink")
	if err != nil {
		t.Fatal(err)
	}
	if len(ivs) != 50 {
		t.Fatalf("%d intervals written, want 50", len(ivs))
	}
	for i, iv := range ivs {
		if iv.Message.Reason != "DisruptionEnded" || iv.Duration() != 100*time.Millisecond || !iv.From.Equal(t0.Add(time.Duration(i)*time.Second)) {
			t.Errorf("interval %d: %+v", i, iv)
		}
	}
}

// recSink's calls never come with the series lock held: a sink that looks
// at the series' status while told of an outage does not deadlock.
type statusSink struct {
	recSink
	s    *series
	seen chan Status
}

func (k *statusSink) OutageBegan(info SeriesInfo, ev Event) {
	k.seen <- k.s.status(time.Now()) // takes the series lock
}

func TestSinkCalledWithoutSeriesLock(t *testing.T) {
	tg := httpTarget("api", "127.0.0.1:9", 100*time.Millisecond)
	e := NewEngine(EngineOptions{})
	s, err := e.newSeries(&tg, config.ConnNew)
	if err != nil {
		t.Fatal(err)
	}
	k := &statusSink{s: s, seen: make(chan Status, 1)}
	s.sink = k
	t0 := time.Now()
	s.pending = append(s.pending, entry{start: t0})
	s.inFlight++
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.complete(0, &Result{Start: t0, Duration: time.Millisecond, Reason: ReasonConnectRefused}, false, false)
	}()
	select {
	case st := <-k.seen:
		if st.Up {
			t.Errorf("status seen by the sink: up, want down")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sink called with the series lock held (deadlock)")
	}
	<-done
}

// Every series leaves a Probing interval from its start to its removal or
// the stop, so readers know which backends were watched, even those that
// never failed.
func TestIntervalSinkProbing(t *testing.T) {
	tt, _ := startTarget(t, testtarget.Options{})
	var buf syncBuffer
	w := intervals.NewWriter(&buf)
	k := NewIntervalSink(w, nil, map[string]string{"node": "n1"})
	e := NewEngine(EngineOptions{Sink: k})
	a := httpTarget("a", tt.HTTPAddr(), 20*time.Millisecond)
	b := httpTarget("b", tt.HTTPAddr(), 20*time.Millisecond)
	if _, _, err := e.Apply([]config.Target{a, b}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.Start(ctx)
	if _, _, err := e.Apply([]config.Target{a}); err != nil {
		t.Fatal(err)
	}
	e.Stop()
	k.Close()
	ivs, err := intervals.Read(bytes.NewReader(buf.Bytes()), "sink")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, iv := range intervals.Filter(ivs, ProbingSource) {
		if iv.Locator.Keys["node"] != "n1" || iv.Locator.Type != ProbingSource {
			t.Errorf("locator %v: want type Probing with node=n1", iv.Locator)
		}
		got[iv.Locator.Keys["backend"]+"/"+iv.Locator.Keys["connection"]] = iv.Message.Annotations["ended"]
	}
	want := map[string]string{"a/new": "stopped", "a/reused": "stopped", "b/new": "removed", "b/reused": "removed"}
	if !maps.Equal(got, want) {
		t.Fatalf("Probing intervals ended %v, want %v", got, want)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and later readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}
