package report

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/zerodown/zerodown/budget"
	"github.com/zerodown/zerodown/internal/testtool"
	"github.com/zerodown/zerodown/intervals"
)

// tab is a headless browser tab that records console errors, uncaught
// exceptions and every request the tab makes.
type tab struct {
	ctx      context.Context
	mu       sync.Mutex
	errors   []string
	requests []string
}

func newTab(tb testing.TB) *tab {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(testtool.Path(tb, "chromium", "chromium", "chromium-browser", "google-chrome")), chromedp.NoSandbox,
		chromedp.WindowSize(1400, 1000), chromedp.Flag("allow-file-access-from-files", false))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	tb.Cleanup(func() { cancel(); cancelAlloc() })
	p := &tab{ctx: ctx}
	if err := chromedp.Listen(ctx, func(ev any) {
		p.mu.Lock()
		defer p.mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				p.errors = append(p.errors, fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			p.errors = append(p.errors, fmt.Sprintf("exception: %s at line %d", e.ExceptionDetails.Text, e.ExceptionDetails.LineNumber))
		case *network.EventRequestWillBeSent:
			p.requests = append(p.requests, e.Request.URL)
		}
	}); err != nil {
		tb.Fatal(err)
	}
	return p
}

// open loads a report and waits until its timeline is drawn; it returns
// the milliseconds from navigation to the end of the first drawing.
func (p *tab) open(tb testing.TB, path string) float64 {
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+path), chromedp.WaitVisible(chromedp.CSS("#timeline svg"))); err != nil {
		tb.Fatalf("opening %s: %v", path, err)
	}
	rendered := evalJS[string](tb, p, `document.body.dataset.rendered`)
	var ms float64
	if _, err := fmt.Sscan(rendered, &ms); err != nil {
		tb.Fatalf("body data-rendered = %q: %v", rendered, err)
	}
	return ms
}

func evalJS[T any](tb testing.TB, p *tab, js string) T {
	tb.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		tb.Fatalf("%s: %v", js, err)
	}
	return v
}

func (p *tab) do(tb testing.TB, steps ...chromedp.Action[chromedp.Void]) {
	tb.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		tb.Fatal(err)
	}
}

// The report in a real browser: no console errors, no request beyond the
// file itself, the expected lanes and outages in the DOM, details on
// hover, zoom and filter working.
func TestReportInBrowser(t *testing.T) {
	p := newTab(t)
	dir := t.TempDir()
	r := testReport(t, budget.Flat(2500*time.Millisecond))
	if err := r.Write(dir, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, HTMLFile)
	p.open(t, path)

	labelsJS := `[...document.querySelectorAll("#timeline text.lbl")].map(e => e.firstChild.textContent)`
	labels := evalJS[[]string](t, p, labelsJS)
	want := []string{"api · new · n1", "api · new · n2", "api · reused · n1", "quiet · new · n1", "ingress", "worker-1", "worker-2", "ZerodownBackendDisrupted · api"}
	if strings.Join(labels, "|") != strings.Join(want, "|") {
		t.Errorf("lanes %q, want %q", labels, want)
	}
	items := evalJS[int](t, p, `document.querySelectorAll("#timeline rect.item").length`)
	// 3 outages, 1 observer outage, ingress Degraded, 2 drains, 1 alert.
	if items != 8 {
		t.Errorf("%d items drawn, want 8", items)
	}
	verdict := evalJS[string](t, p, `document.getElementById("verdict").textContent`)
	if verdict != "1 of 3 over budget" {
		t.Errorf("verdict %q", verdict)
	}

	// Hover the reset outage of api/new on n1: its details show.
	box := evalJS[[]float64](t, p, `(() => { const d = ZD.details.findIndex(s => s.includes("poller n1") && s.includes("reset"));
		const r = document.querySelector('#timeline rect[data-d="' + d + '"]').getBoundingClientRect();
		return [r.left + r.width / 2, r.top + r.height / 2, r.width]; })()`)
	p.do(t, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, box[0], box[1]))
	type tooltip struct {
		Hidden bool   `json:"hidden"`
		Text   string `json:"text"`
	}
	tip := evalJS[tooltip](t, p, `({hidden: document.getElementById("tooltip").hidden, text: document.getElementById("tooltip").textContent})`)
	for _, w := range []string{"api over new connections, poller n1", "2026-11-27T10:00:01.000Z to 2026-11-27T10:00:03.000Z", "2.000s, reset", "api down: reset"} {
		if tip.Hidden || !strings.Contains(tip.Text, w) {
			t.Errorf("tooltip (hidden %v) %q lacks %q", tip.Hidden, tip.Text, w)
		}
	}

	// Hover the outage of api/new on n2, attributed to worker-1's drain:
	// worker-1's lane is highlighted, and the tooltip says why. Leaving
	// the timeline clears it.
	highlighted := `[...document.querySelectorAll("#timeline text.lbl.cause")].map(e => e.firstChild.textContent)`
	caused := evalJS[[]float64](t, p, `(() => { const d = ZD.details.findIndex(s => s.includes("poller n2"));
		const r = document.querySelector('#timeline rect[data-d="' + d + '"]').getBoundingClientRect();
		return [r.left + r.width / 2, r.top + r.height / 2]; })()`)
	p.do(t, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, caused[0], caused[1]))
	if got := evalJS[[]string](t, p, highlighted); strings.Join(got, "|") != "worker-1" {
		t.Errorf("lanes highlighted when hovering the outage caused by worker-1's drain: %q, want worker-1", got)
	}
	if tip := evalJS[string](t, p, `document.getElementById("tooltip").textContent`); !strings.Contains(tip, "cause: Node/worker-1 draining") {
		t.Errorf("tooltip %q lacks the cause", tip)
	}
	p.do(t, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, box[0], box[1]))
	if got := evalJS[[]string](t, p, highlighted); len(got) != 0 {
		t.Errorf("lanes highlighted when hovering an outage of unknown cause: %q", got)
	}

	// The wheel over an outage zooms in around it (100 px of wheel by a
	// sixth): the outage stays under the cursor and the visible window
	// shrinks to 1.0015^-600 of the whole. Dragging pans by as much time
	// as the pixels dragged stand for.
	type window struct{ T0, T1 float64 }
	view := `({T0: zerodownView.t0, T1: zerodownView.t1})`
	under := `(x, y) => document.elementFromPoint(x, y).getAttribute("data-d")`
	d0 := evalJS[string](t, p, fmt.Sprintf("(%s)(%f, %f)", under, box[0], box[1]))
	whole := evalJS[window](t, p, view)
	// The protocol wants deltaX too, which cdproto leaves out when zero.
	wheel := func(p *input.DispatchMouseEventParams) { p.DeltaX, p.DeltaY = 1e-9, -100 }
	for range 6 {
		p.do(t, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseWheel, box[0], box[1], wheel))
	}
	zoomed := evalJS[window](t, p, view)
	ratio := (zoomed.T1 - zoomed.T0) / (whole.T1 - whole.T0)
	if want := math.Pow(1.0015, -600); math.Abs(ratio-want) > 0.01 {
		t.Errorf("visible window %.3f of the whole after 6 wheel steps in, want %.3f", ratio, want)
	}
	if d := evalJS[string](t, p, fmt.Sprintf("(%s)(%f, %f)", under, box[0], box[1])); d != d0 || d0 == "" {
		t.Errorf("under the cursor: item %q before zooming, %q after", d0, d)
	}
	p.do(t, chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, box[0], box[1], chromedp.Button("left")),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, box[0]+100, box[1], chromedp.Button("left")),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, box[0]+100, box[1], chromedp.Button("left")))
	panned := evalJS[window](t, p, view)
	plot := evalJS[float64](t, p, `Math.max(document.getElementById("timeline").clientWidth, 600) - 312`)
	if want := -100 / plot * (zoomed.T1 - zoomed.T0); math.Abs(panned.T0-zoomed.T0-want) > 1 {
		t.Errorf("dragging 100 px right moved the window by %.1f ms, want %.1f", panned.T0-zoomed.T0, want)
	}

	// The filter keeps the matching lanes.
	p.do(t, chromedp.SendKeys(chromedp.ID("lane-filter"), "worker"))
	labels = evalJS[[]string](t, p, labelsJS)
	if strings.Join(labels, "|") != "worker-1|worker-2" {
		t.Errorf("lanes after filtering for worker: %q", labels)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.errors) > 0 {
		t.Errorf("console errors: %q", p.errors)
	}
	for _, u := range p.requests {
		if u != "file://"+path {
			t.Errorf("the tab requested %s: it must fetch nothing", u)
		}
	}
}

// bigReport is a report of n outages over 40 backend series x 5 pollers,
// with operator, node and alert lanes, over an hour.
func bigReport(n int) *Report {
	rng := rand.New(rand.NewPCG(1, 2))
	var inputs []Input
	const pollers, backends = 5, 20
	per := max(n/(pollers*backends*2), 1)
	for p := range pollers {
		node := fmt.Sprintf("worker-%d", p)
		var ivs []intervals.Interval
		for b := range backends {
			for _, conn := range []string{"new", "reused"} {
				name := fmt.Sprintf("backend-%02d", b)
				ivs = append(ivs, probing(name, conn, node, 0, 3600))
				for i := range per {
					from := float64(i)*3600/float64(per) + rng.Float64()*10
					ivs = append(ivs, outage(name, conn, node, []string{"reset", "timeout", "connect_refused", "http_status"}[rng.IntN(4)], from, from+rng.Float64()*5))
				}
			}
		}
		ivs = append(ivs, cond("Node", node, "Draining", "True", float64(600*p), float64(600*p+300)))
		inputs = append(inputs, Input{Path: node + ".jsonl", Intervals: ivs})
	}
	var ctl []intervals.Interval
	for o := range 30 {
		ctl = append(ctl, cond("ClusterOperator", fmt.Sprintf("operator-%02d", o), "Progressing", "True", float64(60*o), float64(60*o+120)))
	}
	inputs = append(inputs, Input{Path: "controller.jsonl", Intervals: ctl})
	return Build(inputs, Options{Budgets: budget.Flat(time.Minute)})
}

// BenchmarkOpenReport10k opens a report of 10,000 outages in headless
// chromium: ms-to-render is from navigation to the end of the first
// drawing, as the tab itself measures it.
func BenchmarkOpenReport10k(b *testing.B) {
	p := newTab(b)
	dir := b.TempDir()
	r := bigReport(10_000)
	if err := r.Write(dir, nil); err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(dir, HTMLFile))
	var total float64
	b.ResetTimer()
	for b.Loop() {
		total += p.open(b, filepath.Join(dir, HTMLFile))
	}
	b.ReportMetric(total/float64(b.N), "ms-to-render")
	b.ReportMetric(float64(len(r.Outages)), "outages")
	b.ReportMetric(float64(fi.Size())/(1<<20), "MiB-html")
}
