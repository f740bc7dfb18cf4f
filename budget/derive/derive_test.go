package derive

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zerodown/zerodown/budget"
	"github.com/zerodown/zerodown/internal/testtool"
)

// history is the exposition (OpenMetrics, with timestamps) of five
// completed upgrades and one still running, as Prometheus would have
// scraped it from the controller and two pollers every 5 minutes, and the
// per-upgrade rule for backend web only.
type history struct {
	// cluster is the value of the cluster label (none when empty).
	cluster  string
	step     time.Duration
	from, to time.Time
	starts   []time.Time // of each upgrade
	length   time.Duration
	versions []string
	// disruption per backend/connection and upgrade, as poller p1 saw it;
	// p2 saw 0.5 s more.
	disruption map[string][]float64
	// restart, if set, is when poller p1 restarted: its counters start
	// from 0 again.
	restart time.Time
}

func newHistory(now time.Time) *history {
	h := &history{step: 5 * time.Minute, to: now.Truncate(5 * time.Minute), length: time.Hour}
	h.from = h.to.Add(-4 * 24 * time.Hour)
	for i := range 5 {
		h.starts = append(h.starts, h.from.Add(time.Hour+time.Duration(i)*14*time.Hour))
		h.versions = append(h.versions, fmt.Sprintf("4.16.%d", i+1))
	}
	h.starts = append(h.starts, h.to.Add(-30*time.Minute)) // running at the end
	h.versions = append(h.versions, "4.16.6")
	h.disruption = map[string][]float64{
		"web/new":    {1, 2, 3, 4, 5, 100},
		"web/reused": {0, 0, 0.25, 0, 0, 100},
		"db/new":     {0.5, 0.5, 1.5, 2.5, 10, 100},
		"db/reused":  {0, 0, 0, 0, 0, 100},
	}
	return h
}

// upgradeAt returns the index of the newest upgrade started by t (-1 for
// none).
func (h *history) upgradeAt(t time.Time) int {
	i := -1
	for j, s := range h.starts {
		if !t.Before(s) {
			i = j
		}
	}
	return i
}

// labels writes the labels of a series of the history's cluster.
func (h *history) labels(ls string) string {
	if h.cluster != "" {
		ls = fmt.Sprintf("cluster=%q,", h.cluster) + ls
	}
	return "{" + strings.TrimSuffix(ls, ",") + "}"
}

// openMetrics writes the histories of one or more clusters in one
// exposition: each family once, with every cluster's series.
func openMetrics(hs ...*history) string {
	var b strings.Builder
	for i, family := range []string{InProgressMetric, StartMetric, CompletionMetric, "zerodown_disruption_seconds", RuleMetric} {
		typ := "gauge"
		if i == 3 {
			typ = "counter"
		}
		fmt.Fprintf(&b, "# TYPE %s %s\n", family, typ)
		for _, h := range hs {
			h.family(&b, family)
		}
	}
	b.WriteString("# EOF\n")
	return b.String()
}

func (h *history) openMetrics() string { return openMetrics(h) }

// family writes the history's series of one metric family.
func (h *history) family(b *strings.Builder, family string) {
	each := func(fn func(t time.Time)) {
		for t := h.from; !t.After(h.to); t = t.Add(h.step) {
			fn(t)
		}
	}
	switch family {
	case InProgressMetric:
		each(func(t time.Time) {
			v := 0
			if i := h.upgradeAt(t); i >= 0 && (i == len(h.starts)-1 || t.Before(h.starts[i].Add(h.length))) {
				v = 1
			}
			fmt.Fprintf(b, "zerodown_upgrade_in_progress%s %d %d\n", h.labels(`name="version"`), v, t.Unix())
		})
	case StartMetric:
		for i, v := range h.versions {
			each(func(t time.Time) {
				if h.upgradeAt(t) == i {
					fmt.Fprintf(b, "zerodown_upgrade_start_timestamp_seconds%s %d %d\n", h.labels(fmt.Sprintf("name=\"version\",version=%q", v)), h.starts[i].Unix(), t.Unix())
				}
			})
		}
	case CompletionMetric:
		for i, v := range h.versions[:5] {
			end := h.starts[i].Add(h.length)
			each(func(t time.Time) {
				if h.upgradeAt(t) == i && !t.Before(end) {
					fmt.Fprintf(b, "zerodown_upgrade_completion_timestamp_seconds%s %d %d\n", h.labels(fmt.Sprintf("name=\"version\",version=%q,state=\"Completed\"", v)), end.Unix(), t.Unix())
				}
			})
		}
	case "zerodown_disruption_seconds":
		for _, bc := range []string{"db/new", "db/reused", "web/new", "web/reused"} {
			backend, conn, _ := strings.Cut(bc, "/")
			for p, extra := range map[string]float64{"p1": 0, "p2": 0.5} {
				for _, reason := range []string{"reset", "timeout"} {
					each(func(t time.Time) {
						total := 0.0
						for i, s := range h.starts {
							at := s.Add(30 * time.Minute)
							if p == "p1" && !h.restart.IsZero() && !t.Before(h.restart) && at.Before(h.restart) {
								continue // counted before the restart: gone
							}
							if !t.Before(at) {
								d := h.disruption[bc][i] + extra
								if reason == "timeout" {
									d = 0 // a reason that saw nothing: summed away
								}
								total += d
							}
						}
						fmt.Fprintf(b, "zerodown_disruption_seconds_total%s %g %d\n", h.labels(fmt.Sprintf("backend=%q,connection=%q,reason=%q,instance=%q", backend, conn, reason, p)), total, t.Unix())
					})
				}
			}
		}
	case RuleMetric:
		for _, conn := range []string{"new", "reused"} {
			each(func(t time.Time) {
				i := h.upgradeAt(t)
				if i < 0 || t.Before(h.starts[i].Add(30*time.Minute)) {
					return
				}
				fmt.Fprintf(b, "%s%s %g %d\n", RuleMetric, h.labels(fmt.Sprintf("backend=\"web\",connection=%q,version=%q", conn, h.versions[i])), h.disruption["web/"+conn][i], t.Unix())
			})
		}
	}
}

// The history of five upgrades, backfilled into a real Prometheus: the
// percentiles come from the per-upgrade rule where it exists (web) and
// from the counters where it does not (db); the running upgrade is left
// out; queries are split into windows; the file written loads as a
// budget file with the history in it.
func TestDeriveFromPrometheus(t *testing.T) {
	h := newHistory(time.Now())
	url := testtool.BackfilledPrometheus(t, h.openMetrics())
	res, err := Derive(context.Background(), Options{URL: url, Since: 5 * 24 * time.Hour, Until: h.to, Chunk: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Running, []string{"4.16.6"}) {
		t.Errorf("running upgrade %q, want 4.16.6", res.Running)
	}
	// 5 windows of a day for the rule, the starts and the completions, one
	// query per completed upgrade, one for the running one.
	if res.Queries != 5*3+5+1 {
		t.Errorf("%d queries, want %d", res.Queries, 5*3+5+1)
	}
	ms := func(f float64) time.Duration { return time.Duration(f*1000) * time.Millisecond }
	want := map[string]struct {
		source        string
		p50, p95, p99 time.Duration
	}{
		"db/new":     {CounterMetric, ms(1.5), ms(8.5), ms(9.7)},
		"db/reused":  {CounterMetric, 0, 0, 0},
		"web/new":    {RuleMetric, ms(3), ms(4.8), ms(4.96)},
		"web/reused": {RuleMetric, 0, ms(0.2), ms(0.24)},
	}
	if len(res.Series) != len(want) {
		t.Fatalf("%d series, want %d: %+v", len(res.Series), len(want), res.Series)
	}
	for _, s := range res.Series {
		w := want[s.Backend+"/"+s.Connection]
		if !slices.Equal(s.Sources, []string{w.source}) || s.P50 != w.p50 || s.P95 != w.p95 || s.P99 != w.p99 || len(s.Upgrades) != 5 {
			t.Errorf("%s/%s: from %s, %d upgrades, p50 %s p95 %s p99 %s; want from %s, 5 upgrades, %s %s %s",
				s.Backend, s.Connection, s.Sources, len(s.Upgrades), s.P50, s.P95, s.P99, w.source, w.p50, w.p95, w.p99)
		}
	}

	var buf bytes.Buffer
	if err := res.WriteBudgetFile(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := budget.Parse(buf.Bytes(), "derived.yaml")
	if err != nil {
		t.Fatalf("the derived file does not load: %v\n%s", err, buf.String())
	}
	b, ok := f.For("db", "new")
	if !ok || b.Allowed != ms(9.7) || b.Limit != ms(14.7) || b.History.Upgrades != 5 {
		t.Errorf("db/new from the derived file: %+v, want allowed 9.7s, limit 14.7s, 5 upgrades", b)
	}
	// The file lists each past upgrade's figure: a run is ranked among
	// them.
	judged, _ := budget.Judge(f, []budget.Measured{{Backend: "db", Connection: "new", Disruption: 11 * time.Second},
		{Backend: "web", Connection: "new", Disruption: 2500 * time.Millisecond}})
	if k := judged[0].Rank; k == nil || k.String() != "worse than 5 of 5 past upgrades (a regression)" {
		t.Errorf("db/new at 11s against its history: %v, want worse than 5 of 5, a regression", k)
	}
	if k := judged[1].Rank; k == nil || k.String() != "worse than 2 of 5 past upgrades" {
		t.Errorf("web/new at 2.5s against its history: %v, want worse than 2 of 5", k)
	}
	if b, _ := f.For("web", "reused"); b.Allowed != time.Second {
		t.Errorf("web/reused: allowed %s, want 1s (the floor above a p99 of 0.24s)", b.Allowed)
	}
	for _, s := range []string{"4.16.5 10s", "still running, left out: 4.16.6"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("the derived file lacks %q:\n%s", s, buf.String())
		}
	}
}

// Two clusters in one store, upgraded to the same versions on different
// days, west's poller p1 restarting in the middle of its third upgrade:
// each (cluster, upgrade) is an upgrade of its own, fleet-wide and for one
// cluster asked for, and the percentiles are exact.
func TestDeriveFleet(t *testing.T) {
	now := time.Now()
	east, west := newHistory(now), newHistory(now)
	east.cluster, west.cluster = "east", "west"
	for i := range 5 {
		west.starts[i] = west.starts[i].Add(6 * time.Hour)
	}
	west.disruption = map[string][]float64{
		"web/new":    {10, 20, 30, 40, 50, 100},
		"web/reused": {0, 0, 0, 0, 0, 100},
		"db/new":     {2, 4, 6, 8, 10, 100},
		"db/reused":  {0, 0, 0, 0, 0, 100},
	}
	west.restart = west.starts[2].Add(15 * time.Minute)
	url := testtool.BackfilledPrometheus(t, openMetrics(east, west))

	ms := func(f float64) time.Duration { return time.Duration(math.Round(f*1000)) * time.Millisecond }
	type want struct{ p50, p95, p99 float64 }
	for _, c := range []struct {
		name    string
		cluster []string
		series  map[string]want
		running []string
		n       int
	}{
		// 1, 2, 3, 4, 5 and 10, 20, 30, 40, 50: ten upgrades.
		{"fleet", nil, map[string]want{"web/new": {7.5, 45.5, 49.1}, "db/new": {3.25, 10, 10}}, []string{"east 4.16.6", "west 4.16.6"}, 10},
		{"west alone", []string{"west"}, map[string]want{"web/new": {30, 48, 49.6}, "db/new": {6, 9.6, 9.92}}, []string{"west 4.16.6"}, 5},
	} {
		res, err := Derive(context.Background(), Options{URL: url, Since: 5 * 24 * time.Hour, Until: east.to, Chunk: 24 * time.Hour,
			ClusterLabels: []string{"cluster"}, Cluster: c.cluster})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res.Running, c.running) {
			t.Errorf("%s: running %q, want %q", c.name, res.Running, c.running)
		}
		for _, s := range res.Series {
			w, ok := c.series[s.Backend+"/"+s.Connection]
			if !ok {
				continue
			}
			if len(s.Upgrades) != c.n || s.P50 != ms(w.p50) || s.P95 != ms(w.p95) || s.P99 != ms(w.p99) {
				t.Errorf("%s: %s/%s: %d upgrades %v, p50 %s p95 %s p99 %s; want %d, %g %g %g",
					c.name, s.Backend, s.Connection, len(s.Upgrades), s.Upgrades, s.P50, s.P95, s.P99, c.n, w.p50, w.p95, w.p99)
			}
			delete(c.series, s.Backend+"/"+s.Connection)
		}
		if len(c.series) > 0 {
			t.Errorf("%s: no history of %v", c.name, c.series)
		}
		var buf bytes.Buffer
		if err := res.WriteBudgetFile(&buf); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"west 4.16.3 6s", "still running, left out: "} {
			if !strings.Contains(buf.String(), s) {
				t.Errorf("%s: the derived file lacks %q:\n%s", c.name, s, buf.String())
			}
		}
	}
	if _, err := Derive(context.Background(), Options{URL: url, ClusterLabels: []string{"cluster", "region"}, Cluster: []string{"west"}}); err == nil ||
		!strings.Contains(err.Error(), `2 labels (cluster, region): expected a value for each, got "west"`) {
		t.Errorf("two cluster labels, one value: %v", err)
	}
}

func TestPercentile(t *testing.T) {
	ups := func(xs ...float64) []Upgrade {
		var out []Upgrade
		for _, x := range xs {
			out = append(out, Upgrade{Disruption: seconds(x)})
		}
		return out
	}
	for _, c := range []struct {
		xs   []float64
		p    float64
		want time.Duration
	}{
		{nil, 0.99, 0},
		{[]float64{7}, 0.99, 7 * time.Second},
		{[]float64{4, 1, 3, 2}, 0.5, 2500 * time.Millisecond},
		{[]float64{1, 2, 3, 4, 5}, 0.95, 4800 * time.Millisecond},
	} {
		if got := percentile(ups(c.xs...), c.p); got != c.want {
			t.Errorf("percentile(%v, %g) = %s, want %s", c.xs, c.p, got, c.want)
		}
	}
}
