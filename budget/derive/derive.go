// Package derive computes budgets from the history of past upgrades
// stored in Prometheus: the P50, P95 and P99 of the disruption each
// backend and connection mode saw per upgrade, written as a budget file.
//
// The figure of one upgrade is what every poller saw (the minimum over
// pollers). It comes from the per-upgrade recording rule
// backend_connection:zerodown_upgrade_disruption_seconds:last where
// Prometheus has it, and otherwise from the raw counters: the increase of
// zerodown_disruption_seconds_total between each upgrade's start and
// completion (zerodown_upgrade_start_timestamp_seconds and
// zerodown_upgrade_completion_timestamp_seconds of the controller).
//
// Every query is an instant query over a window of at most Options.Chunk,
// so no query loads the whole history at once or meets the server's
// limits (samples per query, points per range query); the windows'
// results are combined here.
package derive

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/zerodown/zerodown/internal/promapi"
)

// The series the history comes from.
const (
	RuleMetric       = "backend_connection:zerodown_upgrade_disruption_seconds:last"
	CounterMetric    = "zerodown_disruption_seconds_total"
	StartMetric      = "zerodown_upgrade_start_timestamp_seconds"
	CompletionMetric = "zerodown_upgrade_completion_timestamp_seconds"
	InProgressMetric = "zerodown_upgrade_in_progress"
)

// Options say where the history is and how far back to read it.
type Options struct {
	// URL of the Prometheus HTTP API, e.g. http://127.0.0.1:9090.
	URL string
	// Since: how far back from Until (default 90 days).
	Since time.Duration
	// Until is the end of the history (default now).
	Until time.Time
	// Chunk is the longest window one query covers (default 7 days).
	Chunk time.Duration
	// BearerTokenFile, if set, is read for every request.
	BearerTokenFile string
	// Timeout of one query (default 2 minutes).
	Timeout time.Duration
}

func (o *Options) defaults() {
	o.Since = cmp.Or(o.Since, 90*24*time.Hour)
	o.Chunk = cmp.Or(o.Chunk, 7*24*time.Hour)
	o.Timeout = cmp.Or(o.Timeout, 2*time.Minute)
	if o.Until.IsZero() {
		o.Until = time.Now()
	}
}

// Upgrade is one upgrade's disruption of a backend and connection mode.
type Upgrade struct {
	Version    string
	Disruption time.Duration
}

// Series is the history of one backend over one connection mode.
type Series struct {
	Backend, Connection string
	// Source is RuleMetric or CounterMetric.
	Source        string
	Upgrades      []Upgrade
	P50, P95, P99 time.Duration
}

// Result is the history found.
type Result struct {
	URL      string
	From, To time.Time
	Series   []Series
	// Queries is how many queries it took; Running names an upgrade in
	// progress at the end, left out.
	Queries int
	Running string
}

// Derive reads the history from Prometheus.
func Derive(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	client, err := promapi.New(o.URL, o.BearerTokenFile)
	if err != nil {
		return nil, fmt.Errorf("--prometheus: %w", err)
	}
	d := &deriver{api: client, o: o, res: &Result{URL: o.URL, From: o.Until.Add(-o.Since), To: o.Until}}
	return d.run(ctx)
}

type deriver struct {
	api v1.API
	o   Options
	res *Result
}

type key struct{ backend, connection string }

func (d *deriver) run(ctx context.Context) (*Result, error) {
	running, err := d.running(ctx)
	if err != nil {
		return nil, err
	}
	d.res.Running = running
	// From the rule: the largest value of each version's series.
	byRule := map[key]map[string]float64{}
	if err := d.overWindows(ctx, "max by (backend, connection, version) (max_over_time("+RuleMetric+"[%s]))", func(s *model.Sample) {
		k := key{string(s.Metric["backend"]), string(s.Metric["connection"])}
		v := string(s.Metric["version"])
		if v == running {
			return
		}
		if byRule[k] == nil {
			byRule[k] = map[string]float64{}
		}
		byRule[k][v] = max(byRule[k][v], float64(s.Value))
	}); err != nil {
		return nil, err
	}
	// From the counters, where the rule has nothing.
	byCounter, err := d.fromCounters(ctx, running)
	if err != nil {
		return nil, err
	}
	add := func(k key, source string, ups map[string]float64) {
		s := Series{Backend: k.backend, Connection: k.connection, Source: source}
		for _, v := range slices.Sorted(maps.Keys(ups)) {
			s.Upgrades = append(s.Upgrades, Upgrade{Version: v, Disruption: seconds(ups[v])})
		}
		s.P50, s.P95, s.P99 = percentile(s.Upgrades, 0.50), percentile(s.Upgrades, 0.95), percentile(s.Upgrades, 0.99)
		d.res.Series = append(d.res.Series, s)
	}
	for k, ups := range byRule {
		add(k, RuleMetric, ups)
	}
	for k, ups := range byCounter {
		if _, ok := byRule[k]; !ok {
			add(k, CounterMetric, ups)
		}
	}
	slices.SortFunc(d.res.Series, func(a, b Series) int {
		return cmp.Or(cmp.Compare(a.Backend, b.Backend), cmp.Compare(a.Connection, b.Connection))
	})
	return d.res, nil
}

// running returns the version of an upgrade in progress at Until ("" for
// none): its figure is not final.
func (d *deriver) running(ctx context.Context) (string, error) {
	v, err := d.query(ctx, "max by (version) ("+StartMetric+") and on () (max("+InProgressMetric+") == 1)", d.o.Until)
	if err != nil || len(v) == 0 {
		return "", err
	}
	return string(v[0].Metric["version"]), nil
}

// overWindows runs the query (with %s for the window) at the end of every
// window from From to To, Chunk long at most, and calls fn per sample.
func (d *deriver) overWindows(ctx context.Context, q string, fn func(*model.Sample)) error {
	for end := d.res.To; end.After(d.res.From); end = end.Add(-d.o.Chunk) {
		w := min(d.o.Chunk, end.Sub(d.res.From))
		vec, err := d.query(ctx, fmt.Sprintf(q, model.Duration(w.Truncate(time.Second))), end)
		if err != nil {
			return err
		}
		for _, s := range vec {
			fn(s)
		}
	}
	return nil
}

// fromCounters finds every completed upgrade (its start and completion
// times) and the increase of each backend's disruption counter over it,
// the least any poller saw.
func (d *deriver) fromCounters(ctx context.Context, running string) (map[key]map[string]float64, error) {
	starts, ends := map[string]float64{}, map[string]float64{}
	for q, into := range map[string]map[string]float64{StartMetric: starts, CompletionMetric: ends} {
		if err := d.overWindows(ctx, "max by (version) (max_over_time("+q+"[%s]))", func(s *model.Sample) {
			v := string(s.Metric["version"])
			into[v] = max(into[v], float64(s.Value))
		}); err != nil {
			return nil, err
		}
	}
	out := map[key]map[string]float64{}
	for _, v := range slices.Sorted(maps.Keys(starts)) {
		start, end := starts[v], ends[v]
		if v == running || end <= start || end > float64(d.res.To.Unix()) {
			continue
		}
		window := model.Duration(time.Duration((end - start) * float64(time.Second)).Truncate(time.Second))
		vec, err := d.query(ctx, fmt.Sprintf("min without (instance, pod, node) (sum without (reason) (increase(%s[%s])))", CounterMetric, window),
			time.Unix(0, int64(end*1e9)))
		if err != nil {
			return nil, err
		}
		for _, s := range vec {
			k := key{string(s.Metric["backend"]), string(s.Metric["connection"])}
			if out[k] == nil {
				out[k] = map[string]float64{}
			}
			out[k][v] = float64(s.Value)
		}
	}
	return out, nil
}

func (d *deriver) query(ctx context.Context, q string, at time.Time) (model.Vector, error) {
	ctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	d.res.Queries++
	v, _, err := d.api.Query(ctx, q, at)
	if err != nil {
		return nil, fmt.Errorf("querying %s: %s at %s: %w", d.o.URL, q, at.UTC().Format(time.RFC3339), err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("querying %s: %s: got a %s, want a vector", d.o.URL, q, v.Type())
	}
	return vec, nil
}

func seconds(f float64) time.Duration {
	return time.Duration(math.Round(f*1000)) * time.Millisecond
}

// percentile interpolates linearly between the closest ranks (numpy's
// default): with 10 upgrades, P99 lies between the largest two.
func percentile(ups []Upgrade, p float64) time.Duration {
	if len(ups) == 0 {
		return 0
	}
	xs := make([]float64, len(ups))
	for i, u := range ups {
		xs[i] = u.Disruption.Seconds()
	}
	slices.Sort(xs)
	rank := p * float64(len(xs)-1)
	lo := int(math.Floor(rank))
	hi := min(lo+1, len(xs)-1)
	return seconds(xs[lo] + (xs[hi]-xs[lo])*(rank-float64(lo)))
}

// WriteBudgetFile writes the history as a budget file (see package
// budget), with the upgrades it used as comments.
func (r *Result) WriteBudgetFile(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# zerodown budgets derived from %s on %s\n", r.URL, time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "# history: %s to %s, %d queries", r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339), r.Queries)
	if r.Running != "" {
		fmt.Fprintf(&b, "; the upgrade to %s was still running and is left out", r.Running)
	}
	b.WriteString("\n# Each budget's allowed time is max(p99, grace.min_allowed); a backend passes when its\n")
	b.WriteString("# disruption <= max(allowed + grace.add, allowed x grace.factor). Edit at will.\n")
	b.WriteString("grace: {min_allowed: 1s, add: 5s, factor: 1.2}\n")
	b.WriteString("# default: {allowed: 1s}   # judge backends without history too\n")
	if len(r.Series) == 0 {
		b.WriteString("# No upgrade history found: no budgets.\nbudgets: []\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	b.WriteString("budgets:\n")
	for _, s := range r.Series {
		fmt.Fprintf(&b, "  # %d upgrades, from %s:", len(s.Upgrades), s.Source)
		for _, u := range s.Upgrades {
			fmt.Fprintf(&b, " %s %s", u.Version, dur(u.Disruption))
		}
		fmt.Fprintf(&b, "\n  - backend: %q\n    connection: %q\n    history: {p50: %s, p95: %s, p99: %s, upgrades: %d}\n",
			s.Backend, s.Connection, dur(s.P50), dur(s.P95), dur(s.P99), len(s.Upgrades))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// dur writes a duration in milliseconds as the budget file reads it.
func dur(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	return d.Round(time.Millisecond).String()
}
