// Package eval is the embedded alert evaluator of zerodown watch: it
// appends the process's own metrics to an in-memory TSDB on its own clock
// and evaluates rule groups (the shipped rules by default) on
// Prometheus's PromQL engine and rules manager, as a Prometheus scraping
// watch every Interval would, so a laptop or CI runner needs no
// Prometheus.
//
// Only the metric families the rules select are stored; disappearing
// series get staleness markers, as a scrape writes them. Samples are
// appended at every step (as a scrape every Interval would write them); a
// group is evaluated at the first step at least its interval after its
// previous evaluation (groups without one: every step), as Prometheus
// would evaluate it: the same alerts at about the same times, and the
// long windows of the availability rules read once per group interval,
// not once a second.
package eval

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	promrules "github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunks"

	"github.com/zerodown/zerodown/rules"
	"github.com/zerodown/zerodown/rules/eval/evalmetrics"
	"github.com/zerodown/zerodown/rules/notify"
	"github.com/zerodown/zerodown/rules/rulecheck"
)

// EmbeddedPrefix marks a rule file name as one of the shipped files
// embedded in the binary ("embedded:alerts.rules.yaml").
const EmbeddedPrefix = "embedded:"

// Embedded returns the names of the shipped rule files, as Options.Files
// takes them.
func Embedded() []string {
	names, _ := fs.Glob(rules.Files, "*.rules.yaml")
	slices.Sort(names)
	for i, n := range names {
		names[i] = EmbeddedPrefix + n
	}
	return names
}

// Options configures an Evaluator.
type Options struct {
	// Files are rule files on disk or embedded ones (see Embedded); empty:
	// the shipped rules.
	Files []string
	// Gatherer is what a scrape would read: the process's registry.
	Gatherer prometheus.Gatherer
	// Interval between steps when run by Run (default 1s).
	Interval time.Duration
	// ExternalLabels are added to alerts, as Prometheus's external labels.
	ExternalLabels map[string]string
	// ExternalURL is the base of the alerts' generator URL.
	ExternalURL string
	// Notify receives the alerts to send to an Alertmanager, as the rules
	// manager hands them to Prometheus's notifier (resent every
	// ResendDelay while firing, and after they resolve), with
	// Prometheus's startsAt and endsAt. May be nil.
	Notify func(alerts []notify.Alert)
	// ResendDelay between notifications of a still-firing alert (default
	// 1m, Prometheus's).
	ResendDelay time.Duration
	// OnAlert, if set, is told of every alert that begins firing and of
	// every alert that stops firing (State resolved), during a Step.
	OnAlert func(Alert)
	// Retention of the stored samples (default 31d, the longest window of
	// the shipped rules, plus a day).
	Retention time.Duration
	// Registerer, if set, gets the evaluator's own metrics (see
	// evalmetrics): the rules manager's, named as a Prometheus exports
	// them (prometheus_rule_evaluation_failures_total,
	// prometheus_rule_group_last_duration_seconds, ...), and
	// zerodown_rule_alerts. Close unregisters them.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Evaluator holds the TSDB, the PromQL engine and the rule groups.
type Evaluator struct {
	o      Options
	dir    string
	db     *tsdb.DB
	engine *promql.Engine
	groups []*promrules.Group
	// every is how often each series name the rules select is stored (0:
	// at every step), as often as its readers need it: a twentieth of
	// the shortest range it is read over (15 s for a 5m window), and the
	// interval of a group that reads it as an instant vector. The long
	// windows of the availability rules then read 15 times fewer
	// samples than at one a second.
	every   map[string]time.Duration
	wantAll bool                 // a rule selects by a regular expression on __name__: store every family, every step
	stored  map[string]time.Time // when each name was last stored

	mu       sync.Mutex
	refs     map[uint64]storage.SeriesRef
	last     map[uint64]labels.Labels // series appended at the previous step
	lastStep time.Time
	tracker  *tracker
	nextEval map[*promrules.Group]time.Time

	alerts     *alertCounts
	registered []prometheus.Collector // in o.Registerer
}

// New loads the rule files (errors name the file, line and rule) and
// opens the storage. Close releases it.
func New(o Options) (*Evaluator, error) {
	if len(o.Files) == 0 {
		o.Files = Embedded()
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.ResendDelay <= 0 {
		o.ResendDelay = time.Minute
	}
	if o.Retention <= 0 {
		o.Retention = 31 * 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Gatherer == nil {
		return nil, errors.New("eval: no gatherer")
	}
	dir, err := os.MkdirTemp("", "zerodown-eval-")
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	opts := tsdb.DefaultOptions()
	opts.WALSegmentSize = -1                                   // no WAL: the samples live as long as the process
	opts.StripeSize = 256                                      // hundreds of series, not millions: 16,384 stripes would hold 5 MB
	opts.HeadChunksWriteBufferSize = chunks.MinWriteBufferSize // 64 KiB, not 4 MiB
	opts.RetentionDuration = o.Retention.Milliseconds()
	// The TSDB tells of its start-up at info: only its warnings matter here.
	quiet := slog.New(minLevel{o.Logger.Handler(), slog.LevelWarn}).With("component", "eval-tsdb")
	db, err := tsdb.Open(dir, quiet, nil, opts, nil)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("eval: opening the TSDB: %w", err)
	}
	e := &Evaluator{o: o, dir: dir, db: db, refs: map[uint64]storage.SeriesRef{}, last: map[uint64]labels.Labels{},
		tracker: newTracker(), nextEval: map[*promrules.Group]time.Time{}}
	e.tracker.onChange = o.OnAlert
	e.engine = promql.NewEngine(promql.EngineOpts{
		Logger: o.Logger.With("component", "eval-promql"), MaxSamples: 50_000_000, Timeout: time.Minute,
		LookbackDelta: 5 * time.Minute, EnableAtModifier: true, EnableNegativeOffset: true,
	})
	metrics, collectors := evalmetrics.RuleManager()
	mgr := promrules.NewManager(&promrules.ManagerOptions{
		Metrics:     metrics,
		QueryFunc:   promrules.EngineQueryFunc(e.engine, db),
		Appendable:  db,
		Queryable:   db,
		Context:     context.Background(),
		NotifyFunc:  e.notify,
		ResendDelay: o.ResendDelay,
		GroupLoader: loader{},
		Logger:      o.Logger.With("component", "eval-rules"),
	})
	byKey, errs := mgr.LoadGroups(o.Interval, labels.FromMap(o.ExternalLabels), o.ExternalURL, nil, false, o.Files...)
	if len(errs) > 0 {
		e.Close()
		return nil, errors.Join(errs...)
	}
	for _, g := range byKey {
		e.groups = append(e.groups, g)
	}
	// Files in the order given, groups in file order.
	order := map[string]int{}
	for i, f := range o.Files {
		order[f] = i
	}
	slices.SortStableFunc(e.groups, func(a, b *promrules.Group) int {
		if c := order[a.File()] - order[b.File()]; c != 0 {
			return c
		}
		return strings.Compare(a.Name(), b.Name())
	})
	e.every, e.stored = map[string]time.Duration{}, map[string]time.Time{}
	for _, g := range e.groups {
		for _, r := range g.Rules() {
			if ar, ok := r.(*promrules.AlertingRule); ok {
				ar.SetRestored(true) // nothing to restore: ALERTS series from the first step
			}
			ranges, all := rulecheck.Selections(r.Query())
			e.wantAll = e.wantAll || all
			for name, rng := range ranges {
				need := rng / 20
				if rng == 0 {
					need = g.Interval()
				}
				if old, ok := e.every[name]; !ok || need < old {
					e.every[name] = need
				}
			}
		}
	}
	for name, every := range e.every {
		if every < 2*o.Interval {
			e.every[name] = 0
		}
	}
	e.alerts = newAlertCounts(e.groups)
	if o.Registerer != nil {
		for _, c := range append(collectors, e.alerts) {
			if err := o.Registerer.Register(c); err != nil {
				e.Close()
				return nil, fmt.Errorf("eval: registering the evaluator's metrics: %w", err)
			}
			e.registered = append(e.registered, c)
		}
	}
	return e, nil
}

// Groups returns the number of groups and of rules loaded.
func (e *Evaluator) Groups() (groups, rules int) {
	for _, g := range e.groups {
		rules += len(g.Rules())
	}
	return len(e.groups), rules
}

// Run steps every Interval until ctx ends.
func (e *Evaluator) Run(ctx context.Context) {
	tick := time.NewTicker(e.o.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if err := e.Step(ctx, now); err != nil {
				e.o.Logger.Warn("rule evaluation step failed", "err", err)
			}
		}
	}
}

// Step gathers the metrics, appends them at now and evaluates every group
// at now. Rule errors are logged by the rules manager and kept on the
// rules; a gathering error does not stop the evaluation.
func (e *Evaluator) Step(ctx context.Context, now time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !now.After(e.lastStep) {
		return fmt.Errorf("eval: step at %s is not after the previous one (%s)", now.Format(time.RFC3339Nano), e.lastStep.Format(time.RFC3339Nano))
	}
	e.lastStep = now
	err := e.append(ctx, now)
	for _, g := range e.groups {
		if now.Before(e.nextEval[g]) {
			continue
		}
		// Eval, and the group's metrics as the manager's own schedule
		// keeps them (iterations, last duration, last evaluation).
		promrules.DefaultEvalIterationFunc(ctx, g, now)
		// Steps are late by a little, not early: a step 1 ms short of the
		// interval counts, or a 15 s group would run every 16 s.
		e.nextEval[g] = now.Add(g.Interval() - e.o.Interval/2)
	}
	e.tracker.observe(now, e.groups)
	e.alerts.count(e.groups)
	return err
}

// due reports whether series of this name are stored at now.
func (e *Evaluator) due(name string, now time.Time) bool {
	every, ok := e.every[name]
	switch {
	case !ok:
		return e.wantAll
	case every == 0:
		return true
	}
	last, ok := e.stored[name]
	// A step a little early counts (steps come late, not early).
	return !ok || now.Sub(last) >= every-e.o.Interval/2
}

// append writes the families due at now of one gather, and staleness
// markers for their series that went away. When nothing is due it does
// not gather at all (a gather builds every metric of the process).
func (e *Evaluator) append(ctx context.Context, now time.Time) error {
	anyDue := e.wantAll
	for name := range e.every {
		anyDue = anyDue || e.due(name, now)
	}
	if !anyDue {
		return nil
	}
	mfs, gerr := e.o.Gatherer.Gather()
	ts := now.UnixMilli()
	dueNow := map[string]bool{}
	want := func(name string) bool {
		d, ok := dueNow[name]
		if !ok {
			d = e.due(name, now)
			dueNow[name] = d
		}
		return d
	}
	app := e.db.Appender(ctx)
	seen := make(map[uint64]labels.Labels, len(e.last))
	var errs []error
	// add appends a float sample, or a native histogram when h is set.
	add := func(l labels.Labels, v float64, nh *histogram.Histogram) {
		h := l.Hash()
		var ref storage.SeriesRef
		var err error
		if nh != nil {
			ref, err = app.AppendHistogram(e.refs[h], l, ts, nh, nil)
		} else {
			ref, err = app.Append(e.refs[h], l, ts, v)
		}
		if err != nil {
			errs = append(errs, err)
			return
		}
		e.refs[h] = ref
		seen[h] = l
	}
	b := labels.NewScratchBuilder(8)
	for _, mf := range mfs {
		name := mf.GetName()
		for _, m := range mf.GetMetric() {
			if h := m.GetHistogram(); h != nil {
				if nh := nativeHistogram(h); nh != nil && want(name) {
					add(seriesLabels(&b, name, m, "", ""), 0, nh)
				}
				if want(name + "_bucket") {
					for _, bk := range h.GetBucket() {
						add(seriesLabels(&b, name+"_bucket", m, "le", formatLe(bk.GetUpperBound())), float64(bk.GetCumulativeCount()), nil)
					}
					add(seriesLabels(&b, name+"_bucket", m, "le", "+Inf"), float64(h.GetSampleCount()), nil)
				}
				if want(name + "_sum") {
					add(seriesLabels(&b, name+"_sum", m, "", ""), h.GetSampleSum(), nil)
				}
				if want(name + "_count") {
					add(seriesLabels(&b, name+"_count", m, "", ""), float64(h.GetSampleCount()), nil)
				}
				continue
			}
			if v, ok := scalar(m); ok && want(name) {
				add(seriesLabels(&b, name, m, "", ""), v, nil)
			}
		}
	}
	for h, l := range e.last {
		if _, ok := seen[h]; ok {
			continue
		}
		if !want(l.Get(labels.MetricName)) { // not stored this step: still there
			seen[h] = l
			continue
		}
		if _, err := app.Append(e.refs[h], l, ts, math.Float64frombits(value.StaleNaN)); err != nil {
			errs = append(errs, err)
		}
		delete(e.refs, h)
	}
	e.last = seen
	for name, d := range dueNow {
		if d {
			e.stored[name] = now
		}
	}
	if err := app.Commit(); err != nil {
		errs = append(errs, err)
	}
	if gerr != nil {
		errs = append(errs, fmt.Errorf("gathering: %w", gerr))
	}
	if len(errs) > 0 {
		return fmt.Errorf("eval: appending samples: %w", errors.Join(errs...))
	}
	return nil
}

// scalar returns the value of a counter, gauge or untyped metric.
func scalar(m *dto.Metric) (float64, bool) {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue(), true
	case m.Gauge != nil:
		return m.GetGauge().GetValue(), true
	case m.Untyped != nil:
		return m.GetUntyped().GetValue(), true
	}
	return 0, false
}

// nativeHistogram converts the native part of an exposed histogram, as
// Prometheus's scrape does (nil: it has none).
func nativeHistogram(h *dto.Histogram) *histogram.Histogram {
	if h.Schema == nil { // classic buckets only
		return nil
	}
	spans := func(ss []*dto.BucketSpan) []histogram.Span {
		out := make([]histogram.Span, len(ss))
		for i, s := range ss {
			out[i] = histogram.Span{Offset: s.GetOffset(), Length: s.GetLength()}
		}
		return out
	}
	return &histogram.Histogram{
		Schema: h.GetSchema(), ZeroThreshold: h.GetZeroThreshold(), ZeroCount: h.GetZeroCount(),
		Count: h.GetSampleCount(), Sum: h.GetSampleSum(),
		PositiveSpans: spans(h.GetPositiveSpan()), PositiveBuckets: h.GetPositiveDelta(),
		NegativeSpans: spans(h.GetNegativeSpan()), NegativeBuckets: h.GetNegativeDelta(),
	}
}

func seriesLabels(b *labels.ScratchBuilder, name string, m *dto.Metric, extraName, extraValue string) labels.Labels {
	b.Reset()
	b.Add(labels.MetricName, name)
	for _, lp := range m.GetLabel() {
		b.Add(lp.GetName(), lp.GetValue())
	}
	if extraName != "" {
		b.Add(extraName, extraValue)
	}
	b.Sort()
	return b.Labels()
}

// formatLe writes a bucket bound as the text exposition does.
func formatLe(v float64) string {
	return model.SampleValue(v).String()
}

// Query runs an instant PromQL query at t over the stored samples and
// recorded series (for tests and the report).
func (e *Evaluator) Query(ctx context.Context, expr string, t time.Time) (promql.Vector, error) {
	q, err := e.engine.NewInstantQuery(ctx, e.db, nil, expr, t)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return nil, res.Err
	}
	switch v := res.Value.(type) {
	case promql.Vector:
		return v, nil
	case promql.Scalar:
		return promql.Vector{{T: v.T, F: v.V, Metric: labels.EmptyLabels()}}, nil
	}
	return nil, fmt.Errorf("eval: %q is a %s, want a vector or a scalar", expr, res.Value.Type())
}

// RuleErrors returns the rules whose latest evaluation failed, with the
// error.
func (e *Evaluator) RuleErrors() map[string]error {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]error{}
	for _, g := range e.groups {
		for _, r := range g.Rules() {
			if err := r.LastError(); err != nil {
				out[g.Name()+"/"+r.Name()] = err
			}
		}
	}
	return out
}

// Close unregisters the evaluator's metrics, stops the engine and removes
// the storage.
func (e *Evaluator) Close() error {
	for _, c := range e.registered {
		e.o.Registerer.Unregister(c)
	}
	e.registered = nil
	var errs []error
	if e.engine != nil {
		errs = append(errs, e.engine.Close())
	}
	if e.db != nil {
		errs = append(errs, e.db.Close())
	}
	errs = append(errs, os.RemoveAll(e.dir))
	return errors.Join(errs...)
}

// notify hands alerts on as Prometheus's rules.SendAlerts does: startsAt
// is when it fired, endsAt its resolution or, while firing, a time a few
// resends ahead (Alertmanager resolves it then unless told again).
func (e *Evaluator) notify(_ context.Context, expr string, alerts ...*promrules.Alert) {
	if e.o.Notify == nil || len(alerts) == 0 {
		return
	}
	out := make([]notify.Alert, 0, len(alerts))
	for _, a := range alerts {
		n := notify.Alert{Labels: a.Labels.Map(), Annotations: a.Annotations.Map(), StartsAt: a.FiredAt, EndsAt: a.ValidUntil}
		if !a.ResolvedAt.IsZero() {
			n.EndsAt = a.ResolvedAt
		}
		n.GeneratorURL = e.GeneratorURL(expr)
		out = append(out, n)
	}
	e.o.Notify(out)
}

// GeneratorURL links to the expression in the external URL's graph page
// ("" without an external URL).
func (e *Evaluator) GeneratorURL(expr string) string {
	if e.o.ExternalURL == "" {
		return ""
	}
	return strings.TrimSuffix(e.o.ExternalURL, "/") + "/graph?g0.expr=" + url.QueryEscape(expr) + "&g0.tab=1"
}

// loader reads rule files from disk, and the shipped ones from the
// binary.
type loader struct{}

func (loader) Load(name string, ignoreUnknownFields bool, scheme model.ValidationScheme) (*rulefmt.RuleGroups, []error) {
	embedded, ok := strings.CutPrefix(name, EmbeddedPrefix)
	if !ok {
		return rulefmt.ParseFile(name, ignoreUnknownFields, scheme)
	}
	data, err := rules.Files.ReadFile(embedded)
	if err != nil {
		return nil, []error{fmt.Errorf("%s: no such shipped rule file", name)}
	}
	rgs, errs := rulefmt.Parse(data, ignoreUnknownFields, scheme)
	for i := range errs {
		errs[i] = fmt.Errorf("%s: %w", name, errs[i])
	}
	return rgs, errs
}

func (loader) Parse(query string) (parser.Expr, error) { return parser.ParseExpr(query) }

// minLevel drops records below a level.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.min}
}
func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}
