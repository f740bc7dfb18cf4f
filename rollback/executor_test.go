package rollback

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zerodown/zerodown/rules/notify"
)

// fakeCluster keeps its record in memory with the record logic of Kube
// (reserveIn, finishIn), and records the actions.
type fakeCluster struct {
	mu      sync.Mutex
	data    map[string]string // the record ConfigMap's data
	readErr error             // the record cannot be read
	undone  []string          // "target dry=bool"
	fail    error
	events  []string
	// before, if set, runs as an action begins (without the lock).
	before func()
}

func newFake() *fakeCluster {
	return &fakeCluster{data: map[string]string{}}
}

func (f *fakeCluster) act(what string) (string, error) {
	if f.before != nil {
		f.before()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return "", f.fail
	}
	f.undone = append(f.undone, what)
	return "did " + what, nil
}

func (f *fakeCluster) UndoDeployment(_ context.Context, d DeploymentUndo, dry bool) (string, error) {
	return f.act(fmt.Sprintf("%s/%s dry=%v", d.Namespace, d.Name, dry))
}

func (f *fakeCluster) SwitchRoute(_ context.Context, r RouteSwitch, dry bool) (string, error) {
	return f.act(fmt.Sprintf("route %s/%s to %s dry=%v", r.Namespace, r.Name, r.To, dry))
}

func (f *fakeCluster) AbortClusterVersion(_ context.Context, dry bool) (string, error) {
	return f.act(fmt.Sprintf("clusterversion dry=%v", dry))
}

func (f *fakeCluster) PauseMCP(_ context.Context, name string, dry bool) (string, error) {
	return f.act(fmt.Sprintf("mcp %s dry=%v", name, dry))
}

func (f *fakeCluster) Reserve(_ context.Context, r Reservation) (Reserved, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.readErr != nil {
		return Reserved{}, f.readErr
	}
	return reserveIn(f.data, r, "test/record"), nil
}

func (f *fakeCluster) Finish(_ context.Context, r Reservation, done bool, what string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	finishIn(f.data, r, done, what)
	return nil
}

func (f *fakeCluster) setDisabled(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if on {
		f.data[KillSwitchKey] = "true"
	} else {
		delete(f.data, KillSwitchKey)
	}
}

func (f *fakeCluster) Record(_ context.Context, a Action, reason, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, a.Target()+" "+reason)
}

func (f *fakeCluster) actions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.undone...)
}

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func message(status string, startsAt time.Time, labels map[string]string) *notify.Message {
	return &notify.Message{Version: "4", GroupKey: "{}:{alertname=\"ZerodownBackendDisrupted\"}", Status: status,
		Alerts: []notify.WebhookAlert{{Status: status, Labels: labels, StartsAt: startsAt, Fingerprint: notify.Fingerprint(labels)}}}
}

var storefront = map[string]string{"alertname": "ZerodownBackendDisrupted", "backend": "shop-storefront", "connection": "new", "severity": "critical"}

// deliver submits m to a fresh executor (as after a restart: only the
// cluster's record persists), waits for its actions, and returns the
// decisions and what the worker logged as results.
func deliver(t *testing.T, p *Policy, c *fakeCluster, m *notify.Message, o Options) []Decision {
	t.Helper()
	o.Policy, o.Cluster = p, c
	if o.Now == nil {
		o.Now = func() time.Time { return t0 }
	}
	e := NewExecutor(o)
	ds := e.Submit(context.Background(), m)
	e.Close()
	return ds
}

func results(ds []Decision) string {
	var s []string
	for _, d := range ds {
		s = append(s, d.Result)
	}
	return strings.Join(s, ",")
}

func TestActsOnce(t *testing.T) {
	p, err := LoadPolicy("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := newFake()
	m := message("firing", t0, storefront)
	if got := results(deliver(t, p, c, m, Options{})); got != ResultDone {
		t.Fatalf("first delivery: %s", got)
	}
	// The HA pair's second delivery, a replay, a restart: the same alert.
	for range 3 {
		deliver(t, p, c, m, Options{})
	}
	if got := c.actions(); len(got) != 1 || got[0] != "shop/storefront dry=false" {
		t.Fatalf("actions after four deliveries of one alert: %v, want one", got)
	}
	// A new episode of the alert (another startsAt) within the cooldown
	// (10m): not again; after it: again.
	later := func(d time.Duration) Options {
		return Options{Now: func() time.Time { return t0.Add(d) }}
	}
	deliver(t, p, c, message("firing", t0.Add(5*time.Minute), storefront), later(5*time.Minute))
	if n := len(c.actions()); n != 1 {
		t.Fatalf("acted %d times within the cooldown", n)
	}
	deliver(t, p, c, message("firing", t0.Add(11*time.Minute), storefront), later(11*time.Minute))
	if n := len(c.actions()); n != 2 {
		t.Fatalf("acted %d times after the cooldown, want 2", n)
	}
	if len(c.events) != 2 || c.events[0] != "Deployment shop/storefront ZerodownRollback" {
		t.Errorf("events %v", c.events)
	}
}

func TestSkips(t *testing.T) {
	p, err := LoadPolicy("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rollout := func(deployment string) map[string]string {
		return map[string]string{"alertname": "ZerodownRolloutReplicasUnavailable", "namespace": "shop", "deployment": deployment, "kind": "Deployment"}
	}
	for _, tc := range []struct {
		name    string
		m       *notify.Message
		o       Options
		setup   func(*fakeCluster)
		want    string
		actions []string
	}{
		{name: "resolved", m: message("resolved", t0, storefront), want: ResultResolved},
		{name: "no rule", m: message("firing", t0, map[string]string{"alertname": "Other"}), want: ResultNoRule},
		{name: "kill switch flag", m: message("firing", t0, storefront), o: Options{Disabled: true}, want: ResultKilled},
		{name: "kill switch in the cluster", m: message("firing", t0, storefront), setup: func(c *fakeCluster) { c.setDisabled(true) }, want: ResultKilled},
		// Fail closed: a record that cannot be read stops the action, and
		// the delivery is retried.
		{name: "kill switch unreadable", m: message("firing", t0, storefront), setup: func(c *fakeCluster) { c.readErr = errors.New("the API server is away") }, want: ResultFailed},
		{name: "follower", m: message("firing", t0, storefront), o: Options{Leader: func() (time.Time, bool) { return time.Time{}, false }}, want: ResultFollower},
		// choose_by: the alert chooses cart among the two listed; the rule
		// is a dry run.
		{name: "chosen by labels, dry run", m: message("firing", t0, rollout("cart")),
			want: ResultNotChosen + "," + ResultDryRun, actions: []string{"shop/cart dry=true"}},
		{name: "a label naming an unlisted Deployment chooses nothing", m: message("firing", t0, rollout("payments")),
			want: ResultNotChosen + "," + ResultNotChosen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFake()
			if tc.setup != nil {
				tc.setup(c)
			}
			if got := results(deliver(t, p, c, tc.m, tc.o)); got != tc.want {
				t.Errorf("results %s, want %s", got, tc.want)
			}
			if got := c.actions(); strings.Join(got, ";") != strings.Join(tc.actions, ";") {
				t.Errorf("actions %v, want %v", got, tc.actions)
			}
		})
	}
}

// An alert whose startsAt lies ahead of this clock (skew between
// Prometheus and the controller) acts at once on a rule without steps.
func TestStartsAtAhead(t *testing.T) {
	p, err := LoadPolicy("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := newFake()
	if got := results(deliver(t, p, c, message("firing", t0.Add(time.Minute), storefront), Options{})); got != ResultDone {
		t.Fatalf("decisions %s, want done", got)
	}
	if n := len(c.actions()); n != 1 {
		t.Fatalf("%d actions, want 1", n)
	}
}

// A failed action releases its record: the next delivery tries again.
func TestFailureReleases(t *testing.T) {
	p, err := LoadPolicy("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := newFake()
	c.fail = errors.New("the API server is away")
	m := message("firing", t0, storefront)
	if got := results(deliver(t, p, c, m, Options{})); got != ResultFailed || !Retry(got) {
		t.Fatalf("a failed action: %s, want %s (retried)", got, ResultFailed)
	}
	if n := len(c.actions()); n != 0 {
		t.Fatalf("%d actions", n)
	}
	c.fail = nil
	deliver(t, p, c, m, Options{})
	if got := c.actions(); len(got) != 1 {
		t.Fatalf("after the failure, a redelivery did %v, want one action", got)
	}
}

// Escalation: the light step at once, the medium one once the alert has
// fired for its after, the heavy one never, because the alert resolved
// first.
func TestEscalation(t *testing.T) {
	p, err := ParsePolicy([]byte(`rules:
  - name: storefront
    match: {alertname: ZerodownBackendDisrupted, backend: shop-storefront}
    steps:
      - actions:
          - deployment-undo: {namespace: shop, name: storefront}
      - after: 300ms
        actions:
          - deployment-undo: {namespace: shop, name: cart}
          - route-switch: {namespace: shop, name: storefront, to: blue}
      - after: 2s
        actions:
          - mcp-pause: {name: worker}
`), "steps.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := newFake()
	start := time.Now()
	e := NewExecutor(Options{Policy: p, Cluster: c})
	defer e.Close()
	ds := e.Submit(context.Background(), message("firing", start, storefront))
	if got := results(ds); got != "done,scheduled,scheduled,scheduled" {
		t.Fatalf("decisions %s", got)
	}
	if ds[1].Step != 2 || !strings.Contains(ds[1].Detail, "step 2 of 3") {
		t.Errorf("decision %+v", ds[1])
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(c.actions()) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got := c.actions()
	if len(got) != 3 || got[0] != "shop/storefront dry=false" {
		t.Fatalf("actions %v, want the light step then the two of the medium one", got)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("the medium step acted %s after the alert began, before its 300ms", took)
	}
	// The alert resolves: the heavy step never comes.
	ds = e.Submit(context.Background(), message("resolved", start, storefront))
	time.Sleep(2500*time.Millisecond - time.Since(start))
	if got := c.actions(); len(got) != 3 {
		t.Errorf("actions after the alert resolved: %v: the heavy step came anyway", got)
	}
	if got := results(ds); got != strings.Repeat(ResultResolved+",", 3)+ResultResolved {
		t.Errorf("decisions for the resolved alert %s", got)
	}
}

// The no-data policy: without samples of the alert's backend lately, a
// rule with no_data: skip (the default) holds back, one with act acts; a
// data source that cannot answer counts as no data; without a data source
// every alert counts as having data.
func TestNoData(t *testing.T) {
	src := `rules:
  - name: storefront
    match: {alertname: ZerodownBackendDisrupted, backend: shop-storefront}
    actions: [{deployment-undo: {namespace: shop, name: storefront}}]
  - name: cart
    match: {alertname: ZerodownBackendDisrupted, backend: shop-cart}
    no_data: act
    actions: [{deployment-undo: {namespace: shop, name: cart}}]
`
	p, err := ParsePolicy([]byte(src), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cart := map[string]string{"alertname": "ZerodownBackendDisrupted", "backend": "shop-cart", "connection": "new"}
	for _, c := range []struct {
		name    string
		samples func(context.Context, map[string]string) (bool, error)
		labels  map[string]string
		acted   bool
		metric  string
	}{
		{"fresh data", func(context.Context, map[string]string) (bool, error) { return true, nil }, storefront, true, ResultDone},
		{"no data, skip", func(context.Context, map[string]string) (bool, error) { return false, nil }, storefront, false, ResultNoData},
		{"source down, skip", func(context.Context, map[string]string) (bool, error) { return false, errors.New("down") }, storefront, false, ResultNoData},
		{"no data, act", func(context.Context, map[string]string) (bool, error) { return false, nil }, cart, true, ResultDone},
		{"no source", nil, storefront, true, ResultDone},
	} {
		fc := newFake()
		var asked map[string]string
		o := Options{}
		if c.samples != nil {
			o.Samples = func(ctx context.Context, l map[string]string) (bool, error) { asked = l; return c.samples(ctx, l) }
		}
		o.Policy, o.Cluster, o.Now = p, fc, func() time.Time { return t0 }
		e := NewExecutor(o)
		e.Submit(context.Background(), message("firing", t0, c.labels))
		e.Close()
		if acted := len(fc.actions()) == 1; acted != c.acted {
			t.Errorf("%s: acted %v, want %v", c.name, acted, c.acted)
		}
		if e.n[[2]string{"deployment-undo", c.metric}] != 1 {
			t.Errorf("%s: counted %v, want one %s", c.name, e.n, c.metric)
		}
		if c.samples != nil && asked["backend"] != c.labels["backend"] {
			t.Errorf("%s: the data source was asked about %v", c.name, asked)
		}
	}
	if _, err := ParsePolicy([]byte("defaults: {no_data: maybe}\n"+src), "p.yaml"); err == nil || !strings.Contains(err.Error(), "p.yaml:1: defaults.no_data: want skip or act") {
		t.Errorf("a bad no_data: %v", err)
	}
}

// The kill switch turned on after step 1 of an escalation stops the later
// steps: it is read where each action is reserved.
func TestKillSwitchStopsLaterSteps(t *testing.T) {
	p, err := ParsePolicy([]byte(`rules:
  - name: storefront
    match: {alertname: ZerodownBackendDisrupted, backend: shop-storefront}
    steps:
      - actions: [{deployment-undo: {namespace: shop, name: storefront}}]
      - after: 200ms
        actions: [{mcp-pause: {name: worker}}]
`), "steps.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := newFake()
	e := NewExecutor(Options{Policy: p, Cluster: c})
	start := time.Now()
	if got := results(e.Submit(context.Background(), message("firing", start, storefront))); got != "done,scheduled" {
		t.Fatalf("decisions %s", got)
	}
	c.setDisabled(true)
	for e.Pending() > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	e.Close() // drains the step's action
	if got := c.actions(); len(got) != 1 || got[0] != "shop/storefront dry=false" {
		t.Errorf("actions %v: step 2 ran with the kill switch on", got)
	}
	if n := e.n[[2]string{"mcp-pause", ResultKilled}]; n != 1 {
		t.Errorf("counted %v, want one mcp-pause %s", e.n, ResultKilled)
	}
}

// A dry run records that it would have acted without reserving: the real
// rule on the same object still acts, and within its cooldown only once.
func TestDryRunLeavesTheCooldown(t *testing.T) {
	p, err := ParsePolicy([]byte(`rules:
  - name: rehearsal
    match: {alertname: ZerodownBackendDisrupted}
    dry_run: true
    actions: [{deployment-undo: {namespace: shop, name: storefront}}]
  - name: storefront
    match: {alertname: ZerodownBackendDisrupted, backend: shop-storefront}
    actions: [{deployment-undo: {namespace: shop, name: storefront}}]
`), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := newFake()
	m := message("firing", t0, storefront)
	if got := results(deliver(t, p, c, m, Options{})); got != ResultDryRun+","+ResultDone {
		t.Fatalf("decisions %s, want the dry run and the real rule both", got)
	}
	if got := results(deliver(t, p, c, m, Options{})); got != ResultDuplicate+","+ResultDuplicate {
		t.Errorf("the same alert again: %s, want both duplicates", got)
	}
	if got := c.actions(); strings.Join(got, ";") != "shop/storefront dry=true;shop/storefront dry=false" {
		t.Errorf("actions %v", got)
	}
}

// One timer per alert, rule, step and action however often the alert is
// delivered; past MaxPending, steps are refused and counted, and the
// delivery is retried.
func TestPendingStepsBounded(t *testing.T) {
	p, err := ParsePolicy([]byte(`rules:
  - name: storefront
    match: {alertname: ZerodownBackendDisrupted}
    steps:
      - after: 1h
        actions: [{deployment-undo: {namespace: shop, name: storefront}}, {mcp-pause: {name: worker}}]
`), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := NewExecutor(Options{Policy: p, Cluster: newFake(), MaxPending: 10})
	defer e.Close()
	m := message("firing", time.Now(), storefront)
	for range 50 {
		e.Submit(context.Background(), m)
	}
	if n := e.Pending(); n != 2 {
		t.Fatalf("%d steps pending after 50 deliveries of one alert, want 2", n)
	}
	var last []Decision
	for i := range 10 {
		l := map[string]string{"alertname": "ZerodownBackendDisrupted", "backend": fmt.Sprint("b", i)}
		last = e.Submit(context.Background(), message("firing", time.Now(), l))
	}
	if n := e.Pending(); n != 10 {
		t.Errorf("%d steps pending, want the bound, 10", n)
	}
	if got := results(last); got != ResultQueueFull+","+ResultQueueFull || !Retry(last[0].Result) {
		t.Errorf("past the bound: %s, want queue_full (retried)", got)
	}
	if n := e.n[[2]string{"deployment-undo", ResultQueueFull}]; n != 6 {
		t.Errorf("refused steps counted %d, want 6 (b4 to b9)", n)
	}
	e.Submit(context.Background(), message("resolved", m.Alerts[0].StartsAt, storefront))
	if n := e.Pending(); n != 8 {
		t.Errorf("%d pending after the first alert resolved, want 8", n)
	}
}

// An action that outlasts the answer is answered in_progress (retried);
// a delivery meanwhile finds the record acting (in_progress), and one
// after it finished finds it done (duplicate).
func TestInProgress(t *testing.T) {
	p, err := LoadPolicy("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := newFake()
	release := make(chan struct{})
	c.before = func() { <-release }
	e := NewExecutor(Options{Policy: p, Cluster: c})
	m := message("firing", time.Now(), storefront)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if got := results(e.Submit(ctx, m)); got != ResultInProgress {
		t.Fatalf("an action outlasting the answer: %s", got)
	}
	// Another replica (its own executor) meanwhile: the record says acting.
	other := NewExecutor(Options{Policy: p, Cluster: c})
	if got := results(other.Submit(context.Background(), m)); got != ResultInProgress {
		t.Errorf("a delivery while the action runs: %s, want %s", got, ResultInProgress)
	}
	other.Close()
	close(release)
	e.Close()
	c.before = nil
	if got := results(deliver(t, p, c, m, Options{})); got != ResultDuplicate {
		t.Errorf("after it finished: %s, want %s", got, ResultDuplicate)
	}
	if n := len(c.actions()); n != 1 {
		t.Errorf("%d actions, want 1", n)
	}
}
