// Package derive computes budgets from the history of past upgrades
// stored in Prometheus: the P50, P95 and P99 of the disruption each
// backend and connection mode saw per upgrade, written as a budget file.
//
// The figure of one upgrade is what every poller saw (the minimum over
// pollers). In a store holding many clusters (Thanos, Mimir, a federated
// Prometheus), each cluster's upgrade is an upgrade of its own: clusters
// are told apart by Options.ClusterLabels, and two clusters upgraded to one
// version are two upgrades. It comes from the per-upgrade recording rule
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
	"regexp"
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
	// ClusterLabels are the labels that tell clusters apart in a store
	// holding several (the CLI's default: cluster). On a single
	// Prometheus they are absent, and harmless.
	ClusterLabels []string
	// Cluster, if set, reads the history of that cluster alone: the
	// values of ClusterLabels, in order.
	Cluster []string
}

// labelName is a label name PromQL reads unquoted in by (…).
var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Check reports cluster labels that are no label names, and a cluster
// named by fewer or more values than there are labels.
func (o *Options) Check() error {
	for _, l := range o.ClusterLabels {
		if !labelName.MatchString(l) {
			return fmt.Errorf("cluster label %q is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)", l)
		}
	}
	if len(o.Cluster) > 0 && len(o.Cluster) != len(o.ClusterLabels) {
		return fmt.Errorf("a cluster is named by %d labels (%s): expected a value for each, got %q", len(o.ClusterLabels), strings.Join(o.ClusterLabels, ", "),
			strings.Join(o.Cluster, ","))
	}
	return nil
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
	// Cluster is the values of the cluster labels, joined by "/" (empty
	// where there are none).
	Cluster    string
	Version    string
	Disruption time.Duration
	// Source is RuleMetric or CounterMetric.
	Source string
}

// Name is the upgrade as a person reads it: "east 4.16.1", or the version
// alone.
func (u Upgrade) Name() string {
	if u.Cluster == "" {
		return u.Version
	}
	return u.Cluster + " " + u.Version
}

// Series is the history of one backend over one connection mode.
type Series struct {
	Backend, Connection string
	// Sources are the series the figures came from (RuleMetric,
	// CounterMetric), per cluster whichever it has.
	Sources       []string
	Upgrades      []Upgrade
	P50, P95, P99 time.Duration
}

// Result is the history found.
type Result struct {
	URL      string
	From, To time.Time
	// Clusters is how many clusters the history holds; Cluster the one
	// asked for.
	Clusters int
	Cluster  string
	Series   []Series
	// Queries is how many queries it took; Running names the upgrades in
	// progress at the end, left out.
	Queries int
	Running []string
}

// Derive reads the history from Prometheus.
func Derive(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	if err := o.Check(); err != nil {
		return nil, err
	}
	client, err := promapi.New(o.URL, o.BearerTokenFile)
	if err != nil {
		return nil, fmt.Errorf("--prometheus: %w", err)
	}
	d := &deriver{api: client, o: o, res: &Result{URL: o.URL, From: o.Until.Add(-o.Since), To: o.Until, Cluster: strings.Join(o.Cluster, "/")}}
	return d.run(ctx)
}

type deriver struct {
	api v1.API
	o   Options
	res *Result
}

// upgrade is one cluster's upgrade to one version; cluster holds the
// values of the cluster labels.
type upgrade struct{ cluster, version string }

// key is one cluster's backend over one connection mode.
type key struct{ cluster, backend, connection string }

func (d *deriver) run(ctx context.Context) (*Result, error) {
	running, err := d.running(ctx)
	if err != nil {
		return nil, err
	}
	// From the rule: the largest value of each version's series.
	byRule := map[key]map[upgrade]float64{}
	if err := d.overWindows(ctx, "max by ("+d.by("backend", "connection", "version")+") (max_over_time("+d.sel(RuleMetric)+"[%s]))", func(s *model.Sample) {
		u := upgrade{d.clusterOf(s.Metric), string(s.Metric["version"])}
		if running[u] {
			return
		}
		k := key{u.cluster, string(s.Metric["backend"]), string(s.Metric["connection"])}
		if byRule[k] == nil {
			byRule[k] = map[upgrade]float64{}
		}
		byRule[k][u] = max(byRule[k][u], float64(s.Value))
	}); err != nil {
		return nil, err
	}
	// From the counters, where the rule has nothing for the cluster.
	byCounter, err := d.fromCounters(ctx, running)
	if err != nil {
		return nil, err
	}
	type series struct{ backend, connection string }
	all := map[series]*Series{}
	add := func(k key, source string, ups map[upgrade]float64) {
		sk := series{k.backend, k.connection}
		s := all[sk]
		if s == nil {
			s = &Series{Backend: k.backend, Connection: k.connection}
			all[sk] = s
		}
		if !slices.Contains(s.Sources, source) {
			s.Sources = append(s.Sources, source)
		}
		for u, v := range ups {
			s.Upgrades = append(s.Upgrades, Upgrade{Cluster: u.cluster, Version: u.version, Disruption: seconds(v), Source: source})
		}
	}
	for k, ups := range byRule {
		add(k, RuleMetric, ups)
	}
	for k, ups := range byCounter {
		if _, ok := byRule[k]; !ok {
			add(k, CounterMetric, ups)
		}
	}
	clusters := map[string]bool{}
	for _, s := range all {
		slices.SortFunc(s.Upgrades, func(a, b Upgrade) int {
			return cmp.Or(cmp.Compare(a.Version, b.Version), cmp.Compare(a.Cluster, b.Cluster))
		})
		slices.Sort(s.Sources)
		for _, u := range s.Upgrades {
			clusters[u.Cluster] = true
		}
		s.P50, s.P95, s.P99 = percentile(s.Upgrades, 0.50), percentile(s.Upgrades, 0.95), percentile(s.Upgrades, 0.99)
		d.res.Series = append(d.res.Series, *s)
	}
	d.res.Clusters = len(clusters)
	slices.SortFunc(d.res.Series, func(a, b Series) int {
		return cmp.Or(cmp.Compare(a.Backend, b.Backend), cmp.Compare(a.Connection, b.Connection))
	})
	return d.res, nil
}

// by lists the cluster labels and then the labels given, for "by (…)".
func (d *deriver) by(labels ...string) string {
	return strings.Join(append(slices.Clone(d.o.ClusterLabels), labels...), ", ")
}

// sel selects a metric, of the cluster asked for if any.
func (d *deriver) sel(metric string) string {
	if len(d.o.Cluster) == 0 {
		return metric
	}
	return metric + d.matchers(d.o.Cluster)
}

// matchers selects the series of one cluster: the values of the cluster
// labels, in order ("" selects series without the label).
func (d *deriver) matchers(values []string) string {
	ms := make([]string, len(values))
	for i, v := range values {
		ms[i] = fmt.Sprintf("%s=%q", d.o.ClusterLabels[i], v)
	}
	return "{" + strings.Join(ms, ", ") + "}"
}

// clusterValues are the values of a series' cluster labels, in order.
func (d *deriver) clusterValues(m model.Metric) []string {
	vs := make([]string, len(d.o.ClusterLabels))
	for i, l := range d.o.ClusterLabels {
		vs[i] = string(m[model.LabelName(l)])
	}
	return vs
}

// clusterOf names the cluster of a series: its cluster labels' values,
// joined by "/".
func (d *deriver) clusterOf(m model.Metric) string {
	return strings.Join(d.clusterValues(m), "/")
}

// running returns the upgrades in progress at Until: their figures are
// not final.
func (d *deriver) running(ctx context.Context) (map[upgrade]bool, error) {
	v, err := d.query(ctx, "max by ("+d.by("version")+") ("+d.sel(StartMetric)+" and on ("+d.by("name")+") ("+d.sel(InProgressMetric)+" == 1))", d.o.Until)
	if err != nil {
		return nil, err
	}
	out := map[upgrade]bool{}
	for _, s := range v {
		u := upgrade{d.clusterOf(s.Metric), string(s.Metric["version"])}
		out[u] = true
		d.res.Running = append(d.res.Running, Upgrade{Cluster: u.cluster, Version: u.version}.Name())
	}
	slices.Sort(d.res.Running)
	return out, nil
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

// fromCounters finds every completed upgrade of every cluster (its start
// and completion times) and the increase of each backend's disruption
// counter in that cluster over it, the least any poller saw. increase()
// counts across a poller's counter reset (a restarted poller).
func (d *deriver) fromCounters(ctx context.Context, running map[upgrade]bool) (map[key]map[upgrade]float64, error) {
	starts, ends := map[upgrade]float64{}, map[upgrade]float64{}
	labels := map[string][]string{} // cluster → its labels' values
	for q, into := range map[string]map[upgrade]float64{StartMetric: starts, CompletionMetric: ends} {
		if err := d.overWindows(ctx, "max by ("+d.by("version")+") (max_over_time("+d.sel(q)+"[%s]))", func(s *model.Sample) {
			u := upgrade{d.clusterOf(s.Metric), string(s.Metric["version"])}
			into[u] = max(into[u], float64(s.Value))
			labels[u.cluster] = d.clusterValues(s.Metric)
		}); err != nil {
			return nil, err
		}
	}
	out := map[key]map[upgrade]float64{}
	ups := slices.SortedFunc(maps.Keys(starts), func(a, b upgrade) int {
		return cmp.Or(cmp.Compare(a.cluster, b.cluster), cmp.Compare(a.version, b.version))
	})
	for _, u := range ups {
		start, end := starts[u], ends[u]
		if running[u] || end <= start || end > float64(d.res.To.Unix()) {
			continue
		}
		counter := CounterMetric
		if len(d.o.ClusterLabels) > 0 {
			counter += d.matchers(labels[u.cluster])
		}
		window := model.Duration(time.Duration((end - start) * float64(time.Second)).Truncate(time.Second))
		vec, err := d.query(ctx, fmt.Sprintf("min without (instance, pod, node) (sum without (reason) (increase(%s[%s])))", counter, window),
			time.Unix(0, int64(end*1e9)))
		if err != nil {
			return nil, err
		}
		for _, s := range vec {
			k := key{u.cluster, string(s.Metric["backend"]), string(s.Metric["connection"])}
			if out[k] == nil {
				out[k] = map[upgrade]float64{}
			}
			out[k][u] = float64(s.Value)
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
	switch {
	case r.Cluster != "":
		fmt.Fprintf(&b, "; cluster %s alone", r.Cluster)
	case r.Clusters > 1:
		fmt.Fprintf(&b, "; %d clusters, each cluster's upgrade one upgrade", r.Clusters)
	}
	if len(r.Running) > 0 {
		fmt.Fprintf(&b, "; still running, left out: %s", strings.Join(r.Running, ", "))
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
		past := make([]string, len(s.Upgrades))
		for i, u := range s.Upgrades {
			past[i] = u.Name() + " " + dur(u.Disruption)
		}
		fmt.Fprintf(&b, "  # %d upgrades, from %s: %s", len(s.Upgrades), strings.Join(s.Sources, " and "), strings.Join(past, ", "))
		figures := make([]string, len(s.Upgrades))
		for i, u := range s.Upgrades {
			figures[i] = dur(u.Disruption)
		}
		fmt.Fprintf(&b, "\n  - backend: %q\n    connection: %q\n    history: {p50: %s, p95: %s, p99: %s, upgrades: %d, past: [%s]}\n",
			s.Backend, s.Connection, dur(s.P50), dur(s.P95), dur(s.P99), len(s.Upgrades), strings.Join(figures, ", "))
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
