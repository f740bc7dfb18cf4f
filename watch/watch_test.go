package watch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/internal/testwait"
	"github.com/zerodown/zerodown/intervals"
	"github.com/zerodown/zerodown/probes"
	"github.com/zerodown/zerodown/testtarget"
	"github.com/zerodown/zerodown/testtarget/targettest"
	"github.com/zerodown/zerodown/watch/alerting"
)

// httpConfig is a configuration of HTTP targets named names, all probing
// url every 50ms over the given connections (both when none).
func httpConfig(t *testing.T, url string, conns []string, names ...string) *config.Config {
	t.Helper()
	var b strings.Builder
	b.WriteString("defaults:\n  interval: 50ms\n  timeout: 500ms\ntargets:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  - name: %s\n", n)
		if len(conns) > 0 {
			fmt.Fprintf(&b, "    connections: [%s]\n", strings.Join(conns, ", "))
		}
		fmt.Fprintf(&b, "    http:\n      url: %s\n", url)
	}
	cfg, err := config.Parse([]byte(b.String()), "test.yaml")
	if err != nil {
		t.Fatalf("config:\n%s\n%v", b.String(), err)
	}
	return cfg
}

type runResult struct {
	sum *Summary
	err error
}

// startRun runs Run in the background and returns the metrics address
// once it is bound, and a channel that gets Run's result.
func startRun(t *testing.T, ctx context.Context, o Options) (string, <-chan runResult) {
	t.Helper()
	addrc := make(chan string, 1)
	o.OnListen = func(a string) { addrc <- a }
	done := make(chan runResult, 1)
	go func() {
		sum, err := Run(ctx, o)
		done <- runResult{sum, err}
	}()
	select {
	case a := <-addrc:
		return a, done
	case r := <-done:
		t.Fatalf("Run returned before listening: %v", r.err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not listen within 10s")
	}
	return "", nil
}

func waitRun(t *testing.T, done <-chan runResult) runResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return within 20s")
	}
	return runResult{}
}

// scrape gets /metrics with the given Accept header ("" for none) and
// returns the response's Content-Type and body.
func scrape(t *testing.T, addr, accept string) (string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: status %s\n%s", resp.Status, body)
	}
	return resp.Header.Get("Content-Type"), string(body)
}

// metrics scrapes /metrics in the Prometheus text format and parses it.
func metrics(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	_, body := scrape(t, addr, "")
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, body)
	}
	return mfs
}

// value is the value of the sample of family name whose labels include
// labels.
func value(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	mf, ok := mfs[name]
	if !ok {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, lp := range m.GetLabel() {
		if v, ok := want[lp.GetName()]; ok {
			if v != lp.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}

// familiesWithBackend lists the families that have a sample with backend=name.
func familiesWithBackend(mfs map[string]*dto.MetricFamily, name string) []string {
	var out []string
	for fam, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if hasLabels(m, map[string]string{"backend": name}) {
				out = append(out, fam)
				break
			}
		}
	}
	return out
}

func within(at, ref time.Time, tol time.Duration) bool {
	d := at.Sub(ref)
	return d >= -tol && d <= tol
}

// TestRunRefuseWindow watches a target that refuses connections for 300ms
// and checks the metrics served meanwhile, the summary and the intervals.
func TestRunRefuseWindow(t *testing.T) {
	tt := targettest.Start(t, testtarget.Options{})
	out := t.TempDir()
	o := Options{
		Config: httpConfig(t, "http://"+tt.HTTPAddr()+"/", nil, "web"),
		Listen: "127.0.0.1:0",
		OutDir: out,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done := startRun(t, ctx, o)
	upIs := func(v float64) func() bool {
		return func() bool {
			mfs := metrics(t, addr)
			for _, c := range []string{"new", "reused"} {
				if up, ok := value(mfs, "zerodown_backend_up", map[string]string{"backend": "web", "connection": c}); !ok || up != v {
					return false
				}
			}
			return true
		}
	}
	// Both modes answered (the reused connection is established), then
	// the target refuses for 300 ms.
	testwait.Until(t, "both modes up", upIs(1))
	window := make(chan testtarget.Record, 1)
	go func() { window <- tt.Window(testtarget.Refuse, 300*time.Millisecond) }()

	// Scrape while the run goes on, in the middle of the window.
	testwait.Until(t, "both modes down in the window", upIs(0))
	ct, _ := scrape(t, addr, "")
	if !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type without Accept = %q, want text/plain", ct)
	}
	mfs := metrics(t, addr)
	for _, name := range []string{"zerodown_probe_requests_total", "zerodown_backend_up", "zerodown_build_info"} {
		if _, ok := mfs[name]; !ok {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if _, ok := value(mfs, "zerodown_probe_requests_total", map[string]string{"backend": "web", "connection": "new", "result": "success"}); !ok {
		t.Errorf("/metrics has no zerodown_probe_requests_total{backend=\"web\",connection=\"new\",result=\"success\"}")
	}
	ct, body := scrape(t, addr, "application/openmetrics-text; version=1.0.0")
	if !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Errorf("Content-Type for OpenMetrics = %q, want application/openmetrics-text", ct)
	}
	if !strings.HasSuffix(body, "# EOF\n") {
		t.Errorf("OpenMetrics body does not end with \"# EOF\\n\"; ends with %q", body[max(0, len(body)-40):])
	}
	if !strings.Contains(body, "zerodown_probe_requests_total{") {
		t.Errorf("OpenMetrics body has no zerodown_probe_requests_total sample")
	}

	rec := <-window
	testwait.Until(t, "both modes up after the window", upIs(1))
	cancel()
	r := waitRun(t, done)
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}

	// The summary on disk.
	b, err := os.ReadFile(filepath.Join(out, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var sum Summary
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatalf("summary.json: %v\n%s", err, b)
	}
	if !reflect.DeepEqual(sum.Series, r.sum.Series) {
		t.Errorf("summary.json series differ from the returned ones:\nfile:     %+v\nreturned: %+v", sum.Series, r.sum.Series)
	}
	if sum.Duration < rec.Duration().Seconds() || !sum.Ended.After(rec.To) || !sum.Started.Before(rec.From) {
		t.Errorf("summary: %.3fs from %s to %s, want it around the window %s..%s", sum.Duration, sum.Started, sum.Ended, rec.From, rec.To)
	}
	t.Logf("window %s..%s (%s); series %+v", rec.From.Format(time.StampMilli), rec.To.Format(time.StampMilli), rec.Duration(), sum.Series)
	var got []string
	for _, s := range sum.Series {
		got = append(got, s.Backend+"/"+s.Connection)
		if s.Outages < 1 {
			t.Errorf("%s/%s: outages = %d, want >= 1", s.Backend, s.Connection, s.Outages)
		}
		if s.Disruption < 0.15 || s.Disruption > 0.6 {
			t.Errorf("%s/%s: disruption = %.3fs, want about %.3fs (0.15..0.6)", s.Backend, s.Connection, s.Disruption, rec.Duration().Seconds())
		}
		if s.Requests == 0 || s.Failures == 0 || s.Failures >= s.Requests {
			t.Errorf("%s/%s: %d requests, %d failures; want some of each", s.Backend, s.Connection, s.Requests, s.Failures)
		}
		if s.Availability <= 0 || s.Availability >= 1 {
			t.Errorf("%s/%s: availability = %v, want between 0 and 1", s.Backend, s.Connection, s.Availability)
		}
	}
	if want := []string{"web/new", "web/reused"}; !reflect.DeepEqual(got, want) {
		t.Errorf("summary series = %v, want %v", got, want)
	}
	conns := map[string]bool{}
	for _, o := range sum.Outages {
		if o.Backend != "web" {
			t.Errorf("summary outage of backend %q, want web", o.Backend)
		}
		if o.Reason == "" || o.Duration <= 0 {
			t.Errorf("summary outage %+v: want a reason and a duration", o)
		}
		conns[o.Connection] = true
	}
	if !conns["new"] || !conns["reused"] {
		t.Errorf("summary outages %+v: want outages over new and reused connections", sum.Outages)
	}

	// The intervals on disk: every outage ended inside the run, around the window.
	ivs, err := intervals.ReadFile(filepath.Join(out, IntervalsFile))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, iv := range ivs {
		if iv.Source != "Disruption" {
			continue
		}
		n++
		t.Logf("interval %s %s..%s", iv.Locator, iv.From.Format(time.StampMilli), iv.To.Format(time.StampMilli))
		if iv.Message.Annotations[intervals.AnnotationUnclosed] != "" {
			t.Errorf("interval %s is unclosed", iv.Locator)
		}
		if iv.Locator.Keys["backend"] != "web" {
			t.Errorf("interval %s: want backend=web", iv.Locator)
		}
		const tol = 150 * time.Millisecond
		if !within(iv.From.Time, rec.From, tol) {
			t.Errorf("interval %s from %s, want within %s of the window's start %s",
				iv.Locator, iv.From.Format(time.RFC3339Nano), tol, rec.From.Format(time.RFC3339Nano))
		}
		if !within(iv.To.Time, rec.To, tol) {
			t.Errorf("interval %s to %s, want within %s of the window's end %s",
				iv.Locator, iv.To.Format(time.RFC3339Nano), tol, rec.To.Format(time.RFC3339Nano))
		}
	}
	if n == 0 {
		t.Errorf("intervals.jsonl has no Disruption intervals; window %s..%s", rec.From, rec.To)
	}
	if n != len(sum.Outages) {
		t.Errorf("intervals.jsonl has %d Disruption intervals, summary %d outages", n, len(sum.Outages))
	}
}

// TestRunReload reloads a running watch: unchanged targets keep their
// counters, removed ones disappear, new ones appear; a failed reload keeps
// the running targets and sets the reload gauge to 0.
func TestRunReload(t *testing.T) {
	tt := targettest.Start(t, testtarget.Options{})
	url := "http://" + tt.HTTPAddr() + "/"
	newOnly := []string{"new"}
	next := httpConfig(t, url, newOnly, "a", "c")

	var mu sync.Mutex
	reloadErr := error(nil)
	reloads := make(chan struct{})
	o := Options{
		Config:         httpConfig(t, url, newOnly, "a", "b"),
		ReloadRequests: reloads,
		Reload: func() (*config.Config, error) {
			mu.Lock()
			defer mu.Unlock()
			if reloadErr != nil {
				return nil, reloadErr
			}
			return next, nil
		},
		Listen: "127.0.0.1:0",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done := startRun(t, ctx, o)
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			waitRun(t, done)
		}
	}()

	aSuccess := map[string]string{"backend": "a", "connection": "new", "result": "success"}
	reloadOK := func(mfs map[string]*dto.MetricFamily) float64 {
		t.Helper()
		v, ok := value(mfs, "zerodown_config_last_reload_successful", nil)
		if !ok {
			t.Fatal("/metrics has no zerodown_config_last_reload_successful")
		}
		return v
	}
	reload := func() {
		t.Helper()
		select {
		case reloads <- struct{}{}:
		case <-time.After(5 * time.Second):
			t.Fatal("reload request not taken within 5s")
		}
	}
	// poll scrapes until cond holds, for up to 20s.
	poll := func(what string, cond func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			mfs := metrics(t, addr)
			if cond(mfs) {
				return mfs
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 20s: %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	mfs := poll("a and b probed", func(mfs map[string]*dto.MetricFamily) bool {
		v, _ := value(mfs, "zerodown_probe_requests_total", aSuccess)
		return v >= 1 && len(familiesWithBackend(mfs, "b")) > 0
	})
	before, ok := value(mfs, "zerodown_probe_requests_total", aSuccess)
	if !ok || before < 1 {
		t.Fatalf("before reload: a's successes = %v (present %v), want >= 1", before, ok)
	}
	if got := familiesWithBackend(mfs, "b"); len(got) == 0 {
		t.Fatal("before reload: no series of b")
	}
	if v := reloadOK(mfs); v != 1 {
		t.Errorf("before reload: zerodown_config_last_reload_successful = %v, want 1", v)
	}

	reload()
	mfs = poll("c's series did not appear, or a was not probed again", func(mfs map[string]*dto.MetricFamily) bool {
		_, ok := value(mfs, "zerodown_probe_requests_total", map[string]string{"backend": "c"})
		v, _ := value(mfs, "zerodown_probe_requests_total", aSuccess)
		return ok && v > before
	})
	after, _ := value(mfs, "zerodown_probe_requests_total", aSuccess)
	if after <= before {
		t.Errorf("after reload: a's successes = %v, want more than %v before (not reset, still probed)", after, before)
	}
	if got := familiesWithBackend(mfs, "b"); len(got) != 0 {
		t.Errorf("after reload: b, which was removed, still has series in %v", got)
	}
	if v := reloadOK(mfs); v != 1 {
		t.Errorf("after reload: zerodown_config_last_reload_successful = %v, want 1", v)
	}

	mu.Lock()
	reloadErr = errors.New("broken config")
	mu.Unlock()
	reload()
	mfs = poll("zerodown_config_last_reload_successful did not become 0", func(mfs map[string]*dto.MetricFamily) bool {
		return reloadOK(mfs) == 0
	})
	last, _ := value(mfs, "zerodown_probe_requests_total", aSuccess)
	poll("a is not probed after a failed reload", func(mfs map[string]*dto.MetricFamily) bool {
		v, _ := value(mfs, "zerodown_probe_requests_total", aSuccess)
		return v > last
	})
	mfs = metrics(t, addr)
	if _, ok := value(mfs, "zerodown_probe_requests_total", map[string]string{"backend": "c"}); !ok {
		t.Error("after a failed reload: c is gone, want the running targets kept")
	}

	cancel()
	stopped = true
	if r := waitRun(t, done); r.err != nil {
		t.Errorf("Run: %v", r.err)
	}
}

// TestRunView checks the live view and the final table: on a terminal
// redrawn in place (the cursor moved back over the last frame, never a
// screen clear that fills the scrollback), cut to the terminal's width;
// as lines otherwise.
func TestRunView(t *testing.T) {
	const clearScreen = "\x1b[2J"
	tt := targettest.Start(t, testtarget.Options{})
	cfg := httpConfig(t, "http://"+tt.HTTPAddr()+"/", []string{"new"}, "viewed")
	for _, tc := range []struct {
		name      string
		tty       bool
		width     int
		wantMoves int // at least
		want      []string
	}{
		{"lines", false, 0, 0, []string{"elapsed=", "series=1 down=", "zerodown watch", "BACKEND", "REASON", "viewed"}},
		{"table", true, 0, 2, []string{"zerodown watch", "BACKEND", "REASON", "viewed"}},
		{"narrow table", true, 40, 2, []string{"zerodown watch", "BACKEND", "viewed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			o := Options{Config: cfg, Duration: 500 * time.Millisecond, View: &buf, TTY: tc.tty, Refresh: 20 * time.Millisecond}
			if tc.width > 0 {
				o.Width = func() int { return tc.width }
			}
			if _, err := Run(context.Background(), o); err != nil {
				t.Fatalf("Run: %v", err)
			}
			s := buf.String()
			for _, w := range tc.want {
				if !strings.Contains(s, w) {
					t.Errorf("view has no %q:\n%s", w, s)
				}
			}
			if strings.Contains(s, clearScreen) {
				t.Errorf("view clears the screen:\n%q", s)
			}
			moves := strings.Count(s, "A\r")
			switch {
			case tc.wantMoves == 0 && strings.Contains(s, "\x1b["):
				t.Errorf("view without a terminal has ANSI sequences:\n%q", s)
			case moves < tc.wantMoves:
				t.Errorf("view on a terminal moved back %d times, want at least %d (redraws and the final table):\n%q", moves, tc.wantMoves, s)
			}
			if tc.width > 0 {
				for _, l := range strings.Split(s, "\n") {
					l = strings.TrimPrefix(l, "\x1b[2K")
					if i := strings.LastIndex(l, "\r"); i >= 0 {
						l = l[i+1:]
					}
					l = strings.TrimPrefix(strings.TrimPrefix(l, "\x1b[J"), "\x1b[2K")
					if n := utf8.RuneCountInString(l); n > tc.width-1 {
						t.Errorf("line of %d characters on a %d-column terminal: %q", n, tc.width, l)
					}
				}
				if !strings.Contains(s, "…") {
					t.Error("no line was cut on a narrow terminal")
				}
			}
			// The final table is last, after its header.
			if i, j := strings.LastIndex(s, "zerodown watch"), strings.LastIndex(s, "BACKEND"); i < 0 || j < i {
				t.Errorf("view does not end with the final table:\n%s", s)
			}
		})
	}
}

// A backend down when the run ends is DOWN in the final table, as the
// files say (it once showed UP: stopping ended its outage first); down
// from the start, it never was up (it once showed 10 % availability).
func TestRunViewEndsDown(t *testing.T) {
	tt := targettest.Start(t, testtarget.Options{})
	cfg := httpConfig(t, "http://"+tt.HTTPAddr()+"/", []string{"new"}, "ends-down")
	tt.Set(testtarget.Refuse)
	defer tt.Set(testtarget.Healthy)
	var buf bytes.Buffer
	o := Options{Config: cfg, Duration: 600 * time.Millisecond, View: &buf, Refresh: 20 * time.Millisecond}
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatalf("Run: %v", err)
	}
	s := buf.String()
	final := s[strings.LastIndex(s, "zerodown watch"):]
	var row string
	for _, l := range strings.Split(final, "\n") {
		if strings.Contains(l, "ends-down") {
			row = l
		}
	}
	if !strings.Contains(row, "DOWN") || strings.Contains(row, " UP ") {
		t.Errorf("final row %q: want DOWN; final table:\n%s", row, final)
	}
	// Down from its first probe: it never was up, and the time before
	// the first answer is no availability.
	if !strings.Contains(row, "never up") || strings.Contains(row, "%") {
		t.Errorf("final row %q: want its availability as never up", row)
	}
}

// Log lines written while the live table is on screen go above it: the
// table is erased, the log line written, the table drawn again below.
func TestLogLinesAboveTheTable(t *testing.T) {
	var term bytes.Buffer // the view and the logs share one terminal
	v := newView(&term, true, nil, time.Now(), "")
	lw := NewLogWriter(&term)
	lw.attach(v)
	st := []probes.Status{{SeriesInfo: probes.SeriesInfo{Backend: "api", Connection: "new", Protocol: "http"}, Up: true, HaveResult: true}}
	v.draw(st)
	frame := term.String()
	n := strings.Count(frame, "\n")
	term.Reset()
	if _, err := lw.Write([]byte("level=INFO msg=\"outage began\"\n")); err != nil {
		t.Fatal(err)
	}
	got := term.String()
	want := fmt.Sprintf("\x1b[%dA\r\x1b[J", n) + "level=INFO msg=\"outage began\"\n" + frame
	if got != want {
		t.Errorf("log line over the table wrote\n%q\nwant\n%q", got, want)
	}
	// Without a live view, straight through.
	lw.attach(nil)
	term.Reset()
	lw.Write([]byte("x\n"))
	if term.String() != "x\n" {
		t.Errorf("without a view: %q", term.String())
	}
}

// TestRunListenInUse: an address in use fails the run with an error about
// --web.listen-address and leaves the output folder usable by the next run.
func TestRunListenInUse(t *testing.T) {
	tt := targettest.Start(t, testtarget.Options{})
	cfg := httpConfig(t, "http://"+tt.HTTPAddr()+"/", []string{"new"}, "web")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	out := t.TempDir()

	_, err = Run(context.Background(), Options{Config: cfg, Duration: time.Second, Listen: busy.Addr().String(), OutDir: out})
	if err == nil || !strings.Contains(err.Error(), "--web.listen-address") {
		t.Fatalf("Run with %s in use: err = %v, want an error about --web.listen-address", busy.Addr(), err)
	}
	if _, err := os.Stat(filepath.Join(out, IntervalsFile)); err == nil {
		if _, err := intervals.ReadFile(filepath.Join(out, IntervalsFile)); err != nil {
			t.Errorf("intervals left by the failed run: %v", err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(out, SummaryFile)); err == nil {
		if err := json.Unmarshal(b, &Summary{}); err != nil {
			t.Errorf("summary left by the failed run: %v", err)
		}
	}

	// The next run into the same folder works.
	sum, err := Run(context.Background(), Options{Config: cfg, Duration: 300 * time.Millisecond, OutDir: out})
	if err != nil {
		t.Fatalf("next run: %v", err)
	}
	if len(sum.Series) != 1 || sum.Series[0].Requests == 0 {
		t.Errorf("next run: series %+v, want web probed", sum.Series)
	}
	b, err := os.ReadFile(filepath.Join(out, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk Summary
	if err := json.Unmarshal(b, &onDisk); err != nil {
		t.Fatalf("summary.json: %v", err)
	}
	if !reflect.DeepEqual(onDisk.Series, sum.Series) {
		t.Errorf("summary.json series %+v, want %+v", onDisk.Series, sum.Series)
	}
	if _, err := intervals.ReadFile(filepath.Join(out, IntervalsFile)); err != nil {
		t.Errorf("intervals after the next run: %v", err)
	}
}

// TestRunReloadRemovesFailingTarget: a reload that removes a target in
// the middle of its outage ends the outage at the removal (annotated, with
// its cause and duration) and keeps the target's totals in the summary.
func TestRunReloadRemovesFailingTarget(t *testing.T) {
	tt := targettest.Start(t, testtarget.Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/"
	l.Close() // refused from now on
	cfg := httpConfig(t, "http://"+tt.HTTPAddr()+"/", []string{"new"}, "a")
	down := httpConfig(t, closed, []string{"new"}, "down")
	cfg.Targets = append(cfg.Targets, down.Targets...)
	next := httpConfig(t, "http://"+tt.HTTPAddr()+"/", []string{"new"}, "a")

	reloads := make(chan struct{})
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done := startRun(t, ctx, Options{
		Config: cfg, ReloadRequests: reloads, Listen: "127.0.0.1:0", OutDir: out,
		Reload: func() (*config.Config, error) { return next, nil },
	})
	// Wait until the failing target has been down a while.
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, ok := value(metrics(t, addr), "zerodown_disruption_seconds_total", map[string]string{"backend": "down", "reason": "connect_refused"})
		if ok && v >= 0.2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("target down not disrupted 0.2s within 10s (last %v)", v)
		}
		time.Sleep(20 * time.Millisecond)
	}
	reloadAt := time.Now()
	reloads <- struct{}{}
	for {
		if _, ok := value(metrics(t, addr), "zerodown_backend_up", map[string]string{"backend": "down"}); !ok {
			break
		}
		if time.Since(reloadAt) > 5*time.Second {
			t.Fatal("down still exported 5s after the reload")
		}
		time.Sleep(10 * time.Millisecond)
	}
	removedAt := time.Now()
	// The run goes on without it: a is probed some more.
	aOK := map[string]string{"backend": "a", "result": "success"}
	n0, _ := value(metrics(t, addr), "zerodown_probe_requests_total", aOK)
	testwait.Until(t, "a probed after the removal", func() bool {
		n, _ := value(metrics(t, addr), "zerodown_probe_requests_total", aOK)
		return n >= n0+3
	})
	cancel()
	r := waitRun(t, done)
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}

	i := slices.IndexFunc(r.sum.Series, func(s SeriesSummary) bool { return s.Backend == "down" })
	if i < 0 {
		t.Fatalf("summary forgot the removed target: %+v", r.sum.Series)
	}
	got := &r.sum.Series[i]
	if !got.Removed || got.Outages < 1 || got.Disruption < 0.2 || got.Availability >= 1 {
		t.Errorf("removed target in the summary: %+v, want removed, >= 1 outage, >= 0.2s disrupted", *got)
	}
	j := slices.IndexFunc(r.sum.Outages, func(o OutageSummary) bool { return o.Backend == "down" })
	if j < 0 {
		t.Fatalf("summary has no outage of the removed target: %+v", r.sum.Outages)
	}
	outage := &r.sum.Outages[j]
	if outage.Reason != "connect_refused" || outage.To.Before(reloadAt) || outage.To.After(removedAt) {
		t.Errorf("outage %+v: want cause connect_refused, ended at the removal (between %s and %s)", *outage, reloadAt, removedAt)
	}
	if d := outage.To.Sub(outage.From).Seconds(); d < got.Disruption-0.001 || d > got.Disruption+0.001 {
		t.Errorf("outage lasted %.3fs, series disrupted %.3fs: want the same", d, got.Disruption)
	}
	ivs, err := intervals.ReadFile(filepath.Join(out, IntervalsFile))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, iv := range ivs {
		if iv.Locator.Keys["backend"] != "down" || iv.Source != "Disruption" {
			continue
		}
		found = true
		ann := iv.Message.Annotations
		if ann["ended"] != "removed" || ann["duration_seconds"] == "" || ann["seconds_connect_refused"] == "" ||
			ann[intervals.AnnotationUnclosed] != "" || iv.Message.Cause != "connect_refused" {
			t.Errorf("closing record of the removed target: %+v", iv.Message)
		}
	}
	if !found {
		t.Error("no interval for the removed target")
	}
}

// --debug.pprof serves Go's profiles next to /metrics; without it they are
// not served.
func TestRunPprof(t *testing.T) {
	tt := targettest.Start(t, testtarget.Options{})
	for _, on := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		addr, done := startRun(t, ctx, Options{
			Config: httpConfig(t, "http://"+tt.HTTPAddr()+"/", []string{"new"}, "web"),
			Listen: "127.0.0.1:0", Pprof: on,
		})
		resp, err := http.Get("http://" + addr + "/debug/pprof/heap?debug=1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{false: 404, true: 200}[on]; resp.StatusCode != want {
			t.Errorf("pprof %v: /debug/pprof/heap answered %d, want %d", on, resp.StatusCode, want)
		}
		cancel()
		waitRun(t, done)
	}
}

// The embedded evaluator: an alert on the run's own metrics fires during
// a refuse window and resolves after it; the webhook gets both, the
// intervals and the summary hold the episode; one still firing at exit is
// resolved then.
func TestRunAlerts(t *testing.T) {
	tt := targettest.Start(t, testtarget.Options{})
	out := t.TempDir()
	rulesFile := filepath.Join(t.TempDir(), "test.rules.yaml")
	if err := os.WriteFile(rulesFile, []byte(`groups:
- name: test
  rules:
  - alert: WebDown
    expr: zerodown_backend_up{backend="web"} == 0
    for: 200ms
    labels: {severity: critical}
    annotations: {summary: 'web over {{ $labels.connection }} connections is down'}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var msgs []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		msgs = append(msgs, m)
		mu.Unlock()
	}))
	defer hook.Close()
	// An Alertmanager too: both senders at once (they once registered
	// their metric twice and watch panicked).
	am := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer am.Close()
	statuses := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var s []string
		for _, m := range msgs {
			a := m["alerts"].([]any)[0].(map[string]any)
			s = append(s, fmt.Sprintf("%s/%s", m["status"], a["labels"].(map[string]any)["connection"]))
		}
		slices.Sort(s)
		return s
	}
	o := Options{
		Config: httpConfig(t, "http://"+tt.HTTPAddr()+"/", []string{"new"}, "web"),
		Listen: "127.0.0.1:0", OutDir: out,
		Alerting: func(env AlertingEnv) (Alerting, error) {
			return alerting.Start(alerting.Options{Interval: 50 * time.Millisecond, RuleFiles: []string{rulesFile}, Webhook: hook.URL, AlertmanagerURL: am.URL,
				Cause: env.Cause}, env.Registry, env.Intervals, env.Logger)
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done := startRun(t, ctx, o)
	testwait.Until(t, "web up", func() bool {
		up, ok := value(metrics(t, addr), "zerodown_backend_up", map[string]string{"backend": "web"})
		return ok && up == 1
	})
	rec := tt.Window(testtarget.Refuse, 1500*time.Millisecond)
	testwait.Until(t, "the alert fired and resolved", func() bool {
		return slices.Equal(statuses(), []string{"firing/new", "resolved/new"})
	})
	for _, r := range []string{"alertmanager", "webhook"} {
		if _, ok := value(metrics(t, addr), "zerodown_alert_notifications_total", map[string]string{"receiver": r, "result": "sent"}); !ok {
			t.Errorf("no zerodown_alert_notifications_total of receiver %s", r)
		}
	}
	// Down again, and still firing when the run ends.
	go tt.Window(testtarget.Refuse, 10*time.Second)
	testwait.Until(t, "the alert fired again", func() bool { return len(statuses()) == 3 })
	// The evaluator's own metrics, as a Prometheus exports its rule
	// manager's, and the alerts by state.
	group := map[string]string{"rule_group": rulesFile + ";test"}
	testwait.Until(t, "zerodown_rule_alerts says WebDown fires", func() bool {
		n, ok := value(metrics(t, addr), "zerodown_rule_alerts", map[string]string{"rule_group": group["rule_group"], "alertname": "WebDown", "alertstate": "firing"})
		return ok && n == 1
	})
	mfs := metrics(t, addr)
	if n, ok := value(mfs, "prometheus_rule_evaluations_total", group); !ok || n == 0 {
		t.Errorf("prometheus_rule_evaluations_total%v = %v (%v), want evaluations", group, n, ok)
	}
	if n, ok := value(mfs, "prometheus_rule_evaluation_failures_total", group); !ok || n != 0 {
		t.Errorf("prometheus_rule_evaluation_failures_total%v = %v (%v), want 0", group, n, ok)
	}
	if _, ok := value(mfs, "prometheus_rule_group_last_duration_seconds", group); !ok {
		t.Errorf("/metrics has no prometheus_rule_group_last_duration_seconds%v", group)
	}
	cancel()
	res := waitRun(t, done)
	if res.err != nil {
		t.Fatal(res.err)
	}
	if got := statuses(); !slices.Equal(got, []string{"firing/new", "firing/new", "resolved/new", "resolved/new"}) {
		t.Errorf("webhook messages %v: want the second episode resolved at exit", got)
	}
	if n := len(res.sum.Alerts); n != 2 {
		t.Fatalf("summary alerts: %+v, want two episodes", res.sum.Alerts)
	}
	first := res.sum.Alerts[0]
	if first.Name != "WebDown" || first.Summary != "web over new connections is down" || first.Severity != "critical" {
		t.Errorf("summary alert %+v", first)
	}
	// It fired 200 ms (its for) into the window, give or take the steps of
	// probing and evaluation; it resolved after the window.
	if d := first.FiredAt.Sub(rec.From); d < 200*time.Millisecond || d > 1200*time.Millisecond {
		t.Errorf("fired %s after the window began, want 200 ms plus up to a second of steps", d)
	}
	if first.ResolvedAt.Before(rec.To) {
		t.Errorf("resolved at %s, before the window ended at %s", first.ResolvedAt, rec.To)
	}
	ivs, err := intervals.ReadFile(filepath.Join(out, IntervalsFile))
	if err != nil {
		t.Fatal(err)
	}
	alerts := intervals.Filter(ivs, alerting.AlertSource)
	if len(alerts) != 2 || alerts[0].Locator.Keys["alertname"] != "WebDown" || alerts[0].Level != intervals.LevelError ||
		!alerts[0].From.Equal(first.FiredAt) || !alerts[0].To.Equal(first.ResolvedAt) {
		t.Errorf("alert intervals %+v, want two, the first from %s to %s", alerts, first.FiredAt, first.ResolvedAt)
	}
	// Each alert carries the cause of web's outage as the report gives it:
	// nothing of a cluster is recorded here, so unknown, and said so.
	const unknown = "unknown: no recorded change in reach"
	for _, iv := range alerts {
		if c := iv.Message.Annotations[alerting.CauseAnnotation]; c != unknown {
			t.Errorf("alert interval's cause %q, want %q", c, unknown)
		}
	}
	mu.Lock()
	for _, m := range msgs {
		a := m["alerts"].([]any)[0].(map[string]any)
		if c := a["annotations"].(map[string]any)[alerting.CauseAnnotation]; c != unknown {
			t.Errorf("webhook message %v: cause %v, want %q", m["status"], c, unknown)
		}
	}
	mu.Unlock()
}

// The cause of an alert is the report's cause of the latest outage of
// the backend (and connection) its labels name, from the run's stream so
// far; nothing without a backend label or before the run.
func TestCauseSoFar(t *testing.T) {
	path := filepath.Join(t.TempDir(), IntervalsFile)
	var lines bytes.Buffer
	start := time.Now().Add(-2 * time.Minute).Truncate(time.Millisecond)
	at := func(s float64) intervals.Time {
		return intervals.Time{Time: start.Add(time.Duration(s * float64(time.Second)))}
	}
	for _, iv := range []intervals.Interval{
		{From: at(1), To: at(30), State: intervals.StateClosed, Level: intervals.LevelInfo, Source: "Deployment",
			Locator: intervals.Locator{Type: "Deployment", Keys: map[string]string{"kind": "Deployment", "namespace": "shop", "name": "web", "condition": "RolloutComplete"}},
			Message: intervals.Message{Reason: "RolloutCompleteFalse", Annotations: map[string]string{"condition": "RolloutComplete", "status": "false"}}},
		{From: at(10), To: at(12), State: intervals.StateClosed, Level: intervals.LevelError, Source: "Disruption",
			Locator: intervals.Locator{Type: "Disruption", Keys: map[string]string{"backend": "service:shop:web:http", "connection": "new"}},
			Message: intervals.Message{Reason: "DisruptionBegan", Cause: "connect_refused"}},
		{From: at(65), To: at(66), State: intervals.StateClosed, Level: intervals.LevelError, Source: "Disruption",
			Locator: intervals.Locator{Type: "Disruption", Keys: map[string]string{"backend": "service:shop:web:http", "connection": "reused"}},
			Message: intervals.Message{Reason: "DisruptionBegan", Cause: "reset"}},
	} {
		iv.ID = fmt.Sprint(lines.Len())
		b, err := json.Marshal(iv)
		if err != nil {
			t.Fatal(err)
		}
		lines.Write(append(b, '\n'))
	}
	if err := os.WriteFile(path, lines.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		labels map[string]string
		since  time.Time
		want   string
	}{
		{map[string]string{"backend": "service:shop:web:http", "connection": "new"}, start, "Deployment/shop/web rolling out, since 9s before"},
		{map[string]string{"backend": "service:shop:web:http"}, start, "unknown: no recorded change in reach"}, // the latest: 35 s after the rollout
		{map[string]string{"alertname": "ZerodownConfigReloadFailed"}, start, ""},
		{map[string]string{"backend": "service:shop:web:http", "connection": "new"}, time.Now(), ""}, // an earlier run's
	} {
		if got := causeSoFar(path, c.since, c.labels); got != c.want {
			t.Errorf("causeSoFar(%v) = %q, want %q", c.labels, got, c.want)
		}
	}
}

// With --kubeconfig the live table lists what in the cluster is not
// healthy under the backends.
func TestViewClusterLines(t *testing.T) {
	v := newView(io.Discard, true, nil, time.Now(), "")
	held := heldLines([]probes.HoldStatus{{Backend: "router", Protocol: "h2", Wanted: 2, Open: 1, Drops: map[string]uint64{"goaway": 2, "reset": 1}}})
	got := strings.Join(v.lines(nil, nil, []section{{"HELD CONNECTIONS", held}, {"CLUSTER", []string{"node worker-1 NotReady", "operator ingress Degraded"}}}, false, time.Now()), "\n")
	for _, want := range []string{"CLUSTER", "  node worker-1 NotReady", "  operator ingress Degraded",
		"HELD CONNECTIONS", "1/2 open  3 dropped (reset 1, goaway 2)"} {
		if !strings.Contains(got, want) {
			t.Errorf("live view lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(strings.Join(v.lines(nil, nil, []section{{"CLUSTER", nil}}, false, time.Now()), "\n"), "CLUSTER") {
		t.Error("a CLUSTER section without a cluster")
	}
}

// A run with held connections: a reload of the target's servers drops
// them; the drops show in /metrics, summary.json, junit.xml and the
// verdict against hold.budget, apart from request disruption.
func TestRunHeldConnections(t *testing.T) {
	tt := targettest.Start(t, testtarget.Options{})
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
defaults: {interval: 50ms, timeout: 500ms}
targets:
  - name: router
    http: {url: "h2c://%s/"}
    hold: {connections: 2, check: 100ms, budget: 1}
`, tt.H2CAddr())), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done := startRun(t, ctx, Options{Config: cfg, Listen: "127.0.0.1:0", OutDir: out})
	open := func(want float64) func() bool {
		return func() bool {
			v, ok := value(metrics(t, addr), "zerodown_connections_open", map[string]string{"backend": "router", "protocol": "h2c"})
			return ok && v == want
		}
	}
	testwait.Until(t, "two connections held", open(2))
	tt.Window(testtarget.DropGraceful, 50*time.Millisecond)
	testwait.Until(t, "two goaway drops", func() bool {
		v, _ := value(metrics(t, addr), "zerodown_connection_drops_total", map[string]string{"backend": "router", "reason": "goaway"})
		return v == 2
	})
	testwait.Until(t, "replacements held", open(2))
	cancel()
	r := waitRun(t, done)
	if r.err != nil {
		t.Fatal(r.err)
	}
	s := r.sum
	if len(s.Held) != 1 || s.Held[0].Drops != 2 || s.Held[0].ByReason["goaway"] != 2 || !s.Held[0].Exceeded {
		t.Fatalf("held %+v, want router with 2 goaway drops, over its budget of 1", s.Held)
	}
	if s.Verdict != "exceeded" || len(s.ConnectionDrops) != 2 {
		t.Errorf("verdict %s with %d drops listed, want exceeded and 2", s.Verdict, len(s.ConnectionDrops))
	}
	for _, b := range s.Backends {
		if b.Disruption > 0 {
			t.Errorf("%s over %s: %.3fs of request disruption, want none (new requests worked throughout)", b.Backend, b.Connection, b.Disruption)
		}
	}
	junit, err := os.ReadFile(filepath.Join(out, "junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(junit), `router should keep its long-lived connections during the upgrade`) ||
		!strings.Contains(string(junit), "ConnectionDropBudgetExceeded") {
		t.Errorf("junit.xml lacks the failing case of router's held connections:\n%s", junit)
	}
}
