package rollback

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
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
// duplicate deliveries of an Alertmanager HA pair. The record also holds
// the kill switch: it is read where an action is reserved, in the same
// read, so a switch turned on stops every action not yet reserved.
type Cluster interface {
	// UndoDeployment rolls a Deployment back (dryRun: decides and
	// validates, changes nothing) and says what it did: from which
	// revision to which. A *Refusal says why it must not, for good.
	UndoDeployment(ctx context.Context, d DeploymentUndo, dryRun bool) (string, error)
	// SwitchRoute points a Route at one Service.
	SwitchRoute(ctx context.Context, r RouteSwitch, dryRun bool) (string, error)
	// AbortClusterVersion clears or rolls back the cluster's update.
	AbortClusterVersion(ctx context.Context, dryRun bool) (string, error)
	// PauseMCP pauses a MachineConfigPool.
	PauseMCP(ctx context.Context, name string, dryRun bool) (string, error)
	// Reserve records that r.Alert is acting on r.Target, unless the kill
	// switch is on, the alert already acted (or is acting) on it, or the
	// target is in its cooldown; Reserved says which. A dry run neither
	// checks nor starts the target's cooldown. A record that cannot be
	// read is an error: no action without it (fail closed).
	Reserve(ctx context.Context, r Reservation) (Reserved, error)
	// Finish marks a reservation done (with what was done), or releases
	// it (done false) so that a later delivery may try again.
	Finish(ctx context.Context, r Reservation, done bool, what string) error
	// Record leaves an Event on the target object (best effort).
	Record(ctx context.Context, a Action, reason, message string)
}

// Reservation is one alert's claim on one target.
type Reservation struct {
	Alert, Target string
	Cooldown      time.Duration
	Now           time.Time
	DryRun        bool
	// By names who acts (the controller's identity), for the record.
	By string
}

// Reserved is Reserve's answer: OK, or the result that skips the action
// (ResultKilled, ResultDuplicate, ResultInProgress, ResultCooldown) and
// why.
type Reserved struct {
	OK             bool
	Result, Detail string
}

// Refusal is an action's error that no retry can mend: the object is not
// in a state the action may change (paused, nothing older to go back to,
// it would roll forward, it moved on since). Other errors are taken as
// passing (the API server away, a conflict) and retried.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return r.Reason }

func refuse(format string, args ...any) error { return &Refusal{fmt.Sprintf(format, args...)} }

// Decision results, the values of the result label.
const (
	ResultDone      = "done"
	ResultDryRun    = "dry_run"
	ResultFailed    = "failed"  // passing: Alertmanager is asked to retry
	ResultRefused   = "refused" // for good: the object is not in a state to change
	ResultDuplicate = "skipped_duplicate"
	ResultCooldown  = "skipped_cooldown"
	ResultKilled    = "skipped_kill_switch"
	ResultFollower  = "skipped_follower"
	ResultResolved  = "skipped_resolved"
	ResultNotChosen = "skipped_not_chosen"
	ResultNoData    = "skipped_no_data"
	// ResultInProgress: the action is under way (here, or by another
	// replica whose record is still fresh), or its answer did not come
	// in time: the delivery is retried and then finds it done.
	ResultInProgress = "in_progress"
	ResultQueued     = "queued" // on the request path, until the action's own result comes
	ResultScheduled  = "scheduled"
	ResultCancelled  = "cancelled_resolved"
	ResultQueueFull  = "queue_full"
	ResultNoRule     = "no_rule"
)

// Retry reports whether a result leaves the alert's action undecided, so
// the delivery must be retried (the receiver answers 503): this replica
// does not lead, the action failed in passing or is still running, or
// there was no room for it.
func Retry(result string) bool {
	switch result {
	case ResultFollower, ResultFailed, ResultInProgress, ResultQueueFull:
		return true
	}
	return false
}

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
	// Leader reports whether this process may act, and until when without
	// asking again (nil: always). It is asked when a delivery comes, and
	// again right before each action, whose time it bounds.
	Leader func() (until time.Time, ok bool)
	// Identity names this process in the record (who acted).
	Identity string
	// Disabled is the kill switch of the flag (the cluster's is read
	// where each action is reserved).
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
	// MaxPending bounds the escalation steps waiting for their time
	// (default DefaultMaxPending); more are refused (queue_full).
	MaxPending int
	// ActionTimeout bounds one action, its record included (default 1m).
	ActionTimeout time.Duration
}

// DefaultMaxPending is how many escalation steps may wait at once.
const DefaultMaxPending = 1000

// IntervalWriter is where the executor records its actions (the
// controller's interval stream, source Rollback).
type IntervalWriter interface {
	Rollback(at time.Time, d Decision)
}

// Executor decides and acts, one action at a time, off the request path;
// Submit waits for the actions a delivery asks for, so that the answer
// says what happened.
type Executor struct {
	o     Options
	queue chan job
	wg    sync.WaitGroup

	mu      sync.Mutex
	last    map[string]time.Time              // action kind → time of the latest done action
	n       map[[2]string]uint64              // action kind, result → count
	pending map[string]map[string]*time.Timer // alert key → step key → its timer
	npend   int                               // timers in pending
	closed  bool
}

type job struct {
	alertKey string
	rule     *Rule
	action   Action
	d        Decision
	labels   map[string]string
	// done gets the decision once acted (buffered: nobody may wait).
	done chan Decision
}

// NewExecutor starts the executor's worker; Close stops it.
func NewExecutor(o Options) *Executor {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.ActionTimeout <= 0 {
		o.ActionTimeout = time.Minute
	}
	e := &Executor{o: o, queue: make(chan job, 64), last: map[string]time.Time{}, n: map[[2]string]uint64{},
		pending: map[string]map[string]*time.Timer{}}
	e.wg.Add(1)
	go e.work()
	return e
}

// Close drops the escalation steps still waiting, waits for the queued
// actions to finish (drains) and stops. A leader closes its executor
// before it gives up its Lease.
func (e *Executor) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	for _, ts := range e.pending {
		for _, t := range ts {
			t.Stop()
		}
	}
	e.pending, e.npend = map[string]map[string]*time.Timer{}, 0
	close(e.queue)
	e.mu.Unlock()
	e.wg.Wait()
}

// leader asks Options.Leader.
func (e *Executor) leader() (time.Time, bool) {
	if e.o.Leader == nil {
		return time.Time{}, true
	}
	return e.o.Leader()
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

// schedule queues j after wait, unless the alert resolves first (cancel).
// One timer per alert, rule, step and action: a step already waiting is
// not scheduled twice. It says whether the step waits (false: no room).
func (e *Executor) schedule(key, step string, wait time.Duration, j job) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	if _, ok := e.pending[key][step]; ok {
		return true
	}
	if e.npend >= e.o.MaxPending {
		return false
	}
	if e.pending[key] == nil {
		e.pending[key] = map[string]*time.Timer{}
	}
	e.npend++
	e.pending[key][step] = time.AfterFunc(wait, func() {
		e.mu.Lock()
		if _, ok := e.pending[key][step]; !ok {
			e.mu.Unlock()
			return // cancelled meanwhile
		}
		delete(e.pending[key], step)
		if len(e.pending[key]) == 0 {
			delete(e.pending, key)
		}
		e.npend--
		e.mu.Unlock()
		d := j.d
		switch {
		case e.o.Disabled:
			d.Result, d.Detail = ResultKilled, "--rollback.disabled"
		case !e.enqueue(j):
			d.Result, d.Detail = ResultQueueFull, "too many actions waiting, or stopping"
		default:
			return // act checks leadership and the kill switch
		}
		e.count(d.Action, d.Result)
		e.o.Logger.Info("rollback escalation step not taken", "alert", d.Alert, "rule", d.Rule, "step", d.Step, "target", d.Target, "result", d.Result, "detail", d.Detail)
	})
	return true
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
	e.npend -= len(e.pending[key])
	delete(e.pending, key)
	return n
}

// Pending is how many escalation steps wait for their time.
func (e *Executor) Pending() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.npend
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

// Submit decides what the message asks for, acts, and waits until ctx
// ends for the actions it queued: each decision says what was done or
// skipped, and why. An action still running when ctx ends is answered
// ResultInProgress (it goes on; a retried delivery finds it done).
// Escalation steps not yet due are scheduled, not waited for.
func (e *Executor) Submit(ctx context.Context, m *notify.Message) []Decision {
	var out []Decision
	type waiting struct {
		at   int // in out
		done chan Decision
	}
	var queued []waiting
	_, leading := e.leader()
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
				for ai, act := range st.Actions {
					d := Decision{Alert: name, Rule: r.Name, Action: act.Kind(), Target: act.Target(), DryRun: e.o.Policy.DryRunOf(r)}
					if len(r.Steps) > 0 {
						d.Step = si + 1
					}
					j := job{alertKey: key, rule: r, action: act, labels: a.Labels}
					step := fmt.Sprintf("%s\x00%d\x00%d", r.Name, si, ai)
					d, j = e.decide(d, a, j, st, step, len(steps), start, leading)
					if j.done != nil {
						queued = append(queued, waiting{len(out), j.done})
					}
					out = append(out, e.decided(d, a))
				}
			}
		}
	}
	for _, w := range queued {
		select {
		case out[w.at] = <-w.done:
		case <-ctx.Done():
			d := &out[w.at]
			d.Result, d.Detail = ResultInProgress, "the action had not finished when the answer was due: it goes on, and a retried delivery finds it done"
		}
	}
	return out
}

// decide decides one action of one step for one alert: skipped and why,
// queued (j.done set: its decision comes there), or scheduled for its
// step's time.
func (e *Executor) decide(d Decision, a notify.WebhookAlert, j job, st Step, step string, steps int, start time.Time, leading bool) (Decision, job) {
	r := j.rule
	switch {
	case a.Status != "firing" && !r.OnResolved:
		d.Result = ResultResolved
	case !j.action.chosen(r.ChooseBy, a.Labels):
		d.Result, d.Detail = ResultNotChosen, fmt.Sprintf("the alert's labels %v do not choose it", chooseLabelsOf(r.ChooseBy, a.Labels))
	case e.o.Disabled:
		d.Result, d.Detail = ResultKilled, "--rollback.disabled"
	case !leading:
		// Answered 503: Alertmanager retries, and through the Service a
		// retry may reach the leader (the receiver closes the connection).
		d.Result, d.Detail = ResultFollower, "this controller is not the leader: retry"
	default:
		// Only an escalation step waits: an immediate one acts now,
		// whatever the alert's startsAt says (clocks skew).
		due := start.Add(time.Duration(st.After))
		if wait := due.Sub(e.o.Now()); st.After > 0 && wait > 0 {
			d.Result, d.Detail = ResultScheduled, fmt.Sprintf("step %d of %d: at %s unless the alert resolves first",
				d.Step, steps, due.UTC().Format(time.RFC3339))
			j.d = d
			if !e.schedule(j.alertKey, step, wait, j) {
				d.Result, d.Detail = ResultQueueFull, fmt.Sprintf("%d escalation steps wait already (the most there may be)", e.o.MaxPending)
			}
			return d, job{}
		}
		d.Result = ResultQueued
		j.d, j.done = d, make(chan Decision, 1)
		if !e.enqueue(j) {
			d.Result, d.Detail = ResultQueueFull, "too many actions waiting, or stopping"
			return d, job{}
		}
		return d, j
	}
	return d, job{}
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
		d := e.act(j)
		if j.done != nil {
			j.done <- d
		}
	}
}

// act checks leadership, reserves the alert and target in the cluster's
// record (the kill switch, at most once, cooldown), checks leadership
// again, acts within the leadership's time, and audits.
func (e *Executor) act(j job) Decision {
	ctx, cancel := context.WithTimeout(context.Background(), e.o.ActionTimeout)
	defer cancel()
	d := j.d
	now := e.o.Now()
	defer func() {
		e.count(d.Action, d.Result)
		level := slog.LevelInfo
		if d.Result == ResultFailed {
			level = slog.LevelError
		}
		e.o.Logger.Log(ctx, level, "rollback action", "alert", d.Alert, "rule", d.Rule, "action", d.Action, "target", d.Target,
			"dry_run", d.DryRun, "result", d.Result, "detail", d.Detail, "took", e.o.Now().Sub(now))
	}()
	until, ok := e.leader()
	if !ok {
		d.Result, d.Detail = ResultFollower, "this controller stopped leading before the action: retry"
		return d
	}
	// Everything on the cluster's side (the record, the action) ends when
	// leadership may: a hung API server holds the worker no longer.
	lctx := leaderCtx(ctx, until)
	if skip, detail := e.noData(ctx, j); skip {
		d.Result, d.Detail = ResultNoData, detail
		return d
	} else if detail != "" {
		e.o.Logger.Warn("rollback without data: the rule says act", "alert", d.Alert, "rule", d.Rule, "detail", detail)
	}
	res := Reservation{Alert: j.alertKey, Target: d.Target, Cooldown: e.o.Policy.CooldownOf(j.rule), Now: now, DryRun: d.DryRun, By: e.o.Identity}
	got, err := e.o.Cluster.Reserve(lctx, res)
	switch {
	case err != nil:
		d.Result, d.Detail = ResultFailed, "reading the record (and its kill switch): "+err.Error()
		return d
	case !got.OK:
		d.Result, d.Detail = got.Result, got.Detail
		return d
	}
	// Leadership again, right before acting: the reservation may have
	// waited on a slow API server. The action ends when leadership may.
	if until, ok = e.leader(); !ok {
		d.Result, d.Detail = ResultFollower, "this controller stopped leading before the action: retry"
		e.finish(res, false, "")
		return d
	}
	actx := leaderCtx(ctx, until)
	var msg string
	switch {
	case j.action.DeploymentUndo != nil:
		msg, err = e.o.Cluster.UndoDeployment(actx, *j.action.DeploymentUndo, d.DryRun)
	case j.action.RouteSwitch != nil:
		msg, err = e.o.Cluster.SwitchRoute(actx, *j.action.RouteSwitch, d.DryRun)
	case j.action.MCPPause != nil:
		msg, err = e.o.Cluster.PauseMCP(actx, j.action.MCPPause.Name, d.DryRun)
	case j.action.ClusterVersionAbort != nil:
		msg, err = e.o.Cluster.AbortClusterVersion(actx, d.DryRun)
	}
	var refusal *Refusal
	switch {
	case errors.As(err, &refusal):
		d.Result, d.Detail = ResultRefused, err.Error()
	case err != nil:
		d.Result, d.Detail = ResultFailed, err.Error()
	case d.DryRun:
		d.Result, d.Detail = ResultDryRun, msg
	default:
		d.Result, d.Detail = ResultDone, msg
	}
	e.finish(res, err == nil, msg)
	if err == nil {
		reason := "ZerodownRollback"
		if d.DryRun {
			reason = "ZerodownRollbackDryRun"
		}
		e.o.Cluster.Record(ctx, j.action, reason, fmt.Sprintf("%s (rule %s, alert %s)", msg, d.Rule, d.Alert))
	}
	if d.Result == ResultDone {
		e.mu.Lock()
		e.last[d.Action] = now
		e.mu.Unlock()
	}
	if e.o.Intervals != nil && (d.Result == ResultDone || d.Result == ResultDryRun || d.Result == ResultFailed || d.Result == ResultRefused) {
		e.o.Intervals.Rollback(now, d)
	}
	return d
}

// leaderCtx is ctx ending when leadership may (until; zero: never).
// Its cancel is ctx's: it ends with it.
func leaderCtx(ctx context.Context, until time.Time) context.Context {
	if until.IsZero() {
		return ctx
	}
	lctx, cancel := context.WithDeadline(ctx, until)
	context.AfterFunc(ctx, cancel)
	return lctx
}

// finish marks a reservation done or releases it; a failure is logged (a
// record left acting is taken over once stale, and the actions are safe
// to repeat: each checks where its object is first).
func (e *Executor) finish(r Reservation, done bool, what string) {
	// Bookkeeping, safe whoever leads: not bounded by leadership.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.o.Cluster.Finish(ctx, r, done, what); err != nil {
		e.o.Logger.Error("recording the end of a rollback action", "target", r.Target, "done", done, "err", err)
	}
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
		"Rollback decisions by action and result: done, dry_run, failed (retried), refused (for good), in_progress, or skipped and why (duplicate, cooldown, kill_switch, follower, resolved, not_chosen, no_data), no_rule, queue_full, cancelled_resolved.",
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
