package rollback

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zerodown/zerodown/rules/notify"
)

// Cluster is what the executor needs of the cluster: the actions, and a
// shared record that makes each alert act at most once per target and
// keeps each target's cooldown, across restarts, leader changes and the
// duplicate deliveries of an Alertmanager HA pair.
type Cluster interface {
	// UndoDeployment rolls a Deployment back (dryRun: decides and
	// validates, changes nothing) and says what it did.
	UndoDeployment(ctx context.Context, d DeploymentUndo, dryRun bool) (string, error)
	// SwitchRoute points a Route at one Service.
	SwitchRoute(ctx context.Context, r RouteSwitch, dryRun bool) (string, error)
	// AbortClusterVersion clears or rolls back the cluster's update.
	AbortClusterVersion(ctx context.Context, dryRun bool) (string, error)
	// PauseMCP pauses a MachineConfigPool.
	PauseMCP(ctx context.Context, name string, dryRun bool) (string, error)
	// Reserve records that alert acts on target at now, unless the alert
	// already did (why "duplicate") or the target is in its cooldown (why
	// "cooldown"); ok is false then.
	Reserve(ctx context.Context, alert, target string, cooldown time.Duration, now time.Time) (ok bool, why string, err error)
	// Release undoes a Reserve whose action failed, so that a later
	// delivery may try again.
	Release(ctx context.Context, alert, target string) error
	// Disabled reports whether the kill switch in the cluster is on.
	Disabled(ctx context.Context) (bool, error)
	// Record leaves an Event on the target object (best effort).
	Record(ctx context.Context, a Action, reason, message string)
}

// Decision results, the values of the result label.
const (
	ResultDone      = "done"
	ResultDryRun    = "dry_run"
	ResultFailed    = "failed"
	ResultDuplicate = "skipped_duplicate"
	ResultCooldown  = "skipped_cooldown"
	ResultKilled    = "skipped_kill_switch"
	ResultFollower  = "skipped_follower"
	ResultResolved  = "skipped_resolved"
	ResultNotChosen = "skipped_not_chosen"
	ResultQueued    = "queued"
	ResultScheduled = "scheduled"
	ResultCancelled = "cancelled_resolved"
	ResultQueueFull = "queue_full"
	ResultNoRule    = "no_rule"
	ResultNoData    = "skipped_no_data"
)

// Decision is what was decided for one alert, rule and target; the
// webhook's answer lists them.
type Decision struct {
	Alert  string `json:"alert"` // alertname and its fingerprint
	Rule   string `json:"rule,omitempty"`
	Action string `json:"action,omitempty"`
	Target string `json:"target,omitempty"`
	// Step of an escalation (1-based; 0: a rule without steps).
	Step   int    `json:"step,omitempty"`
	DryRun bool   `json:"dry_run,omitempty"`
	Result string `json:"result"`
	Detail string `json:"detail,omitempty"`
}

// Options of an Executor.
type Options struct {
	Policy  *Policy
	Cluster Cluster
	// Leader reports whether this process may act (nil: always).
	Leader func() bool
	// Disabled is the kill switch of the flag (the cluster's is asked
	// too).
	Disabled bool
	// Intervals, if set, gets a point interval per action taken.
	Intervals IntervalWriter
	Logger    *slog.Logger
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
	// Samples, if set, says whether the backend an alert is about (its
	// labels backend and connection) had samples in the last NoDataWindow:
	// the data source of the rules' no-data policy. Nil: every alert
	// counts as having data.
	Samples func(ctx context.Context, labels map[string]string) (bool, error)
}

// IntervalWriter is where the executor records its actions (the
// controller's interval stream, source Rollback).
type IntervalWriter interface {
	Rollback(at time.Time, d Decision)
}

// Executor decides and acts, one action at a time, off the request path.
type Executor struct {
	o     Options
	queue chan job
	wg    sync.WaitGroup

	mu      sync.Mutex
	last    map[string]time.Time     // action kind → time of the latest done action
	n       map[[2]string]uint64     // action kind, result → count
	pending map[string][]*time.Timer // alert key → escalation steps waiting
	closed  bool
}

type job struct {
	alertKey string
	rule     *Rule
	action   Action
	d        Decision
	labels   map[string]string
}

// NewExecutor starts the executor's worker; Close stops it.
func NewExecutor(o Options) *Executor {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	e := &Executor{o: o, queue: make(chan job, 64), last: map[string]time.Time{}, n: map[[2]string]uint64{},
		pending: map[string][]*time.Timer{}}
	e.wg.Add(1)
	go e.work()
	return e
}

// Close drops the escalation steps still waiting, waits for the queued
// actions and stops.
func (e *Executor) Close() {
	e.mu.Lock()
	e.closed = true
	for _, ts := range e.pending {
		for _, t := range ts {
			t.Stop()
		}
	}
	e.pending = map[string][]*time.Timer{}
	close(e.queue)
	e.mu.Unlock()
	e.wg.Wait()
}

// enqueue queues a job unless the executor closed or the queue is full.
func (e *Executor) enqueue(j job) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	select {
	case e.queue <- j:
		return true
	default:
		return false
	}
}

// schedule queues j after wait, unless the alert resolves first (cancel)
// or this replica stopped leading by then.
func (e *Executor) schedule(key string, wait time.Duration, j job) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(wait, func() {
		e.mu.Lock()
		ts := e.pending[key]
		for i, x := range ts {
			if x == t {
				e.pending[key] = append(ts[:i:i], ts[i+1:]...)
				break
			}
		}
		e.mu.Unlock()
		d := j.d
		switch {
		case e.o.Leader != nil && !e.o.Leader():
			d.Result, d.Detail = ResultFollower, "this controller stopped leading before the step was due"
		case e.o.Disabled:
			d.Result, d.Detail = ResultKilled, "--rollback.disabled"
		case !e.enqueue(j):
			d.Result, d.Detail = ResultQueueFull, "too many actions waiting, or stopping"
		default:
			return
		}
		e.count(d.Action, d.Result)
		e.o.Logger.Info("rollback escalation step not taken", "alert", d.Alert, "rule", d.Rule, "step", d.Step, "target", d.Target, "result", d.Result, "detail", d.Detail)
	})
	e.pending[key] = append(e.pending[key], t)
}

// cancel drops the waiting escalation steps of an alert that resolved.
func (e *Executor) cancel(key string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, t := range e.pending[key] {
		if t.Stop() {
			n++
		}
	}
	delete(e.pending, key)
	return n
}

// alertKey identifies one alert of one delivery group: the same group
// key, fingerprint and start acts once however often it is delivered.
func alertKey(groupKey string, a notify.WebhookAlert) string {
	fp := a.Fingerprint
	if fp == "" {
		fp = notify.Fingerprint(a.Labels)
	}
	h := sha256.Sum256([]byte(groupKey + "\x00" + fp + "\x00" + a.StartsAt.UTC().Format(time.RFC3339Nano)))
	return hex.EncodeToString(h[:12])
}

// Submit decides what the message asks for and queues the actions; it
// does not wait for them. The decisions say what was queued and what was
// skipped, and why.
func (e *Executor) Submit(ctx context.Context, m *notify.Message) []Decision {
	var out []Decision
	// The kill switch in the cluster, read once per message, when some
	// action gets as far as asking.
	var asked, off bool
	killed := func() bool {
		if !asked {
			asked = true
			v, err := e.o.Cluster.Disabled(ctx)
			off = err == nil && v
		}
		return off
	}
	for _, a := range m.Alerts {
		name := a.Labels["alertname"] + "/" + notify.Fingerprint(a.Labels)
		rules := e.o.Policy.Match(a.Labels)
		if len(rules) == 0 {
			out = append(out, e.decided(Decision{Alert: name, Result: ResultNoRule}, a))
			continue
		}
		key := alertKey(m.GroupKey, a)
		if a.Status == "resolved" {
			if n := e.cancel(key); n > 0 {
				e.count("", ResultCancelled)
				e.o.Logger.Info("rollback escalation cancelled: the alert resolved", "alert", name, "steps", n)
			}
		}
		start := a.StartsAt
		if start.IsZero() {
			start = e.o.Now()
		}
		for _, r := range rules {
			steps := r.StepsOf()
			for si, st := range steps {
				for _, act := range st.Actions {
					d := Decision{Alert: name, Rule: r.Name, Action: act.Kind(), Target: act.Target(), DryRun: e.o.Policy.DryRunOf(r)}
					if len(r.Steps) > 0 {
						d.Step = si + 1
					}
					d = e.decide(d, a, job{alertKey: key, rule: r, action: act, labels: a.Labels}, st, len(steps), start, killed)
					out = append(out, e.decided(d, a))
				}
			}
		}
	}
	return out
}

// decide decides one action of one step for one alert: skipped and why,
// queued, or scheduled for its step's time.
func (e *Executor) decide(d Decision, a notify.WebhookAlert, j job, st Step, steps int, start time.Time, killed func() bool) Decision {
	r := j.rule
	switch {
	case a.Status != "firing" && !r.OnResolved:
		d.Result = ResultResolved
	case !j.action.chosen(r.ChooseBy, a.Labels):
		d.Result, d.Detail = ResultNotChosen, fmt.Sprintf("the alert's labels %v do not choose it", chooseLabelsOf(r.ChooseBy, a.Labels))
	case e.o.Disabled:
		d.Result, d.Detail = ResultKilled, "--rollback.disabled"
	case e.o.Leader != nil && !e.o.Leader():
		d.Result, d.Detail = ResultFollower, "this controller is not the leader"
	case killed():
		d.Result, d.Detail = ResultKilled, "the kill switch in the cluster is on"
	default:
		// Only an escalation step waits: an immediate one acts now,
		// whatever the alert's startsAt says (clocks skew).
		due := start.Add(time.Duration(st.After))
		if wait := due.Sub(e.o.Now()); st.After > 0 && wait > 0 {
			d.Result, d.Detail = ResultScheduled, fmt.Sprintf("step %d of %d: at %s unless the alert resolves first",
				d.Step, steps, due.UTC().Format(time.RFC3339))
			j.d = d
			e.schedule(j.alertKey, wait, j)
			return d
		}
		d.Result = ResultQueued
		j.d = d
		if !e.enqueue(j) {
			d.Result, d.Detail = ResultQueueFull, "too many actions waiting"
		}
	}
	return d
}

func chooseLabelsOf(chooseBy []string, labels map[string]string) map[string]string {
	out := map[string]string{}
	for _, l := range chooseBy {
		out[l] = labels[l]
	}
	return out
}

// decided logs a decision made on the request path and counts the skips.
func (e *Executor) decided(d Decision, a notify.WebhookAlert) Decision {
	if d.Result != ResultQueued && d.Result != ResultScheduled {
		e.count(d.Action, d.Result)
	}
	e.o.Logger.Info("rollback decision", "alert", d.Alert, "status", a.Status, "rule", d.Rule, "action", d.Action,
		"target", d.Target, "dry_run", d.DryRun, "result", d.Result, "detail", d.Detail, "labels", a.Labels)
	return d
}

func (e *Executor) work() {
	defer e.wg.Done()
	for j := range e.queue {
		e.act(j)
	}
}

// act reserves the alert and target in the cluster's record (at most once,
// cooldown), acts, and audits.
func (e *Executor) act(j job) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := j.d
	now := e.o.Now()
	if skip, detail := e.noData(ctx, j); skip {
		d.Result, d.Detail = ResultNoData, detail
		e.count(d.Action, d.Result)
		e.o.Logger.Info("rollback action", "alert", d.Alert, "rule", d.Rule, "action", d.Action, "target", d.Target,
			"dry_run", d.DryRun, "result", d.Result, "detail", d.Detail)
		return
	} else if detail != "" {
		e.o.Logger.Warn("rollback without data: the rule says act", "alert", d.Alert, "rule", d.Rule, "detail", detail)
	}
	cooldown := e.o.Policy.CooldownOf(j.rule)
	ok, why, err := e.o.Cluster.Reserve(ctx, j.alertKey, d.Target, cooldown, now)
	switch {
	case err != nil:
		d.Result, d.Detail = ResultFailed, "recording the action: "+err.Error()
	case !ok && why == "duplicate":
		d.Result, d.Detail = ResultDuplicate, "this alert already acted on this target"
	case !ok:
		d.Result, d.Detail = ResultCooldown, why
	default:
		var msg string
		switch {
		case j.action.DeploymentUndo != nil:
			msg, err = e.o.Cluster.UndoDeployment(ctx, *j.action.DeploymentUndo, d.DryRun)
		case j.action.RouteSwitch != nil:
			msg, err = e.o.Cluster.SwitchRoute(ctx, *j.action.RouteSwitch, d.DryRun)
		case j.action.MCPPause != nil:
			msg, err = e.o.Cluster.PauseMCP(ctx, j.action.MCPPause.Name, d.DryRun)
		case j.action.ClusterVersionAbort != nil:
			msg, err = e.o.Cluster.AbortClusterVersion(ctx, d.DryRun)
		}
		switch {
		case err != nil:
			d.Result, d.Detail = ResultFailed, err.Error()
			if rerr := e.o.Cluster.Release(ctx, j.alertKey, d.Target); rerr != nil {
				e.o.Logger.Error("releasing a failed action's record", "target", d.Target, "err", rerr)
			}
		case d.DryRun:
			d.Result, d.Detail = ResultDryRun, msg
		default:
			d.Result, d.Detail = ResultDone, msg
		}
		if err == nil {
			reason := "ZerodownRollback"
			if d.DryRun {
				reason = "ZerodownRollbackDryRun"
			}
			e.o.Cluster.Record(ctx, j.action, reason, fmt.Sprintf("%s (rule %s, alert %s)", msg, d.Rule, d.Alert))
		}
	}
	e.count(d.Action, d.Result)
	if d.Result == ResultDone {
		e.mu.Lock()
		e.last[d.Action] = now
		e.mu.Unlock()
	}
	if e.o.Intervals != nil && (d.Result == ResultDone || d.Result == ResultDryRun || d.Result == ResultFailed) {
		e.o.Intervals.Rollback(now, d)
	}
	level := slog.LevelInfo
	if d.Result == ResultFailed {
		level = slog.LevelError
	}
	e.o.Logger.Log(ctx, level, "rollback action", "alert", d.Alert, "rule", d.Rule, "action", d.Action, "target", d.Target,
		"dry_run", d.DryRun, "result", d.Result, "detail", d.Detail, "took", e.o.Now().Sub(now))
}

// noData asks the data source whether the alert's backend had samples
// lately; skip says the rule's no-data policy holds the action back, and
// detail why (also when the policy is to act anyway).
func (e *Executor) noData(ctx context.Context, j job) (skip bool, detail string) {
	backend := j.labels["backend"]
	if e.o.Samples == nil || backend == "" {
		return false, ""
	}
	fresh, err := e.o.Samples(ctx, j.labels)
	switch {
	case err != nil:
		detail = fmt.Sprintf("cannot tell whether %s has data: %v", backend, err)
	case !fresh:
		detail = fmt.Sprintf("no samples of %s in the last %s: the alert may be stale", backend, NoDataWindow)
	default:
		return false, ""
	}
	return e.o.Policy.NoDataOf(j.rule) == NoDataSkip, detail + " (no_data: " + e.o.Policy.NoDataOf(j.rule) + ")"
}

func (e *Executor) count(action, result string) {
	e.mu.Lock()
	e.n[[2]string{action, result}]++
	e.mu.Unlock()
}

var (
	actionsDesc = prometheus.NewDesc("zerodown_rollback_actions_total",
		"Rollback decisions by action and result: done, dry_run, failed, or skipped and why (duplicate, cooldown, kill_switch, follower, resolved, not_chosen, no_data), no_rule, queue_full.",
		[]string{"action", "result"}, nil)
	lastActionDesc = prometheus.NewDesc("zerodown_rollback_last_action_timestamp_seconds",
		"When the latest rollback action of each kind was done, as a Unix time.",
		[]string{"action"}, nil)
)

// Describe and Collect make the executor a prometheus.Collector.
func (e *Executor) Describe(ch chan<- *prometheus.Desc) { Describe(ch) }

// Describe sends the descriptions of the rollback metrics: part of the
// metric contract.
func Describe(ch chan<- *prometheus.Desc) {
	ch <- actionsDesc
	ch <- lastActionDesc
}

func (e *Executor) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, v := range e.n {
		ch <- prometheus.MustNewConstMetric(actionsDesc, prometheus.CounterValue, float64(v), k[0], k[1])
	}
	for a, t := range e.last {
		ch <- prometheus.MustNewConstMetric(lastActionDesc, prometheus.GaugeValue, float64(t.UnixNano())/1e9, a)
	}
}
