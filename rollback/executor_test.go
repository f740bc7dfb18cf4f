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

// fakeCluster keeps reservations in memory as the ConfigMap does, and
// records the actions.
type fakeCluster struct {
	mu       sync.Mutex
	reserved map[string]bool      // alert|target
	lastAt   map[string]time.Time // target
	undone   []string             // "target dry=bool"
	fail     error
	disabled bool
	events   []string
}

func newFake() *fakeCluster {
	return &fakeCluster{reserved: map[string]bool{}, lastAt: map[string]time.Time{}}
}

func (f *fakeCluster) UndoDeployment(_ context.Context, d DeploymentUndo, dry bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return "", f.fail
	}
	f.undone = append(f.undone, fmt.Sprintf("%s/%s dry=%v", d.Namespace, d.Name, dry))
	return "rolled back", nil
}

func (f *fakeCluster) SwitchRoute(_ context.Context, r RouteSwitch, dry bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.undone = append(f.undone, fmt.Sprintf("route %s/%s to %s dry=%v", r.Namespace, r.Name, r.To, dry))
	return "switched", nil
}

func (f *fakeCluster) AbortClusterVersion(_ context.Context, dry bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.undone = append(f.undone, fmt.Sprintf("clusterversion dry=%v", dry))
	return "aborted", nil
}

func (f *fakeCluster) PauseMCP(_ context.Context, name string, dry bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.undone = append(f.undone, fmt.Sprintf("mcp %s dry=%v", name, dry))
	return "paused", nil
}

func (f *fakeCluster) Reserve(_ context.Context, alert, target string, cooldown time.Duration, now time.Time) (bool, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reserved[alert+"|"+target] {
		return false, "duplicate", nil
	}
	if last, ok := f.lastAt[target]; ok && now.Sub(last) < cooldown {
		return false, "cooldown until " + last.Add(cooldown).Format(time.RFC3339), nil
	}
	f.reserved[alert+"|"+target] = true
	f.lastAt[target] = now
	return true, "", nil
}

func (f *fakeCluster) Release(_ context.Context, alert, target string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.reserved, alert+"|"+target)
	delete(f.lastAt, target)
	return nil
}

func (f *fakeCluster) Disabled(context.Context) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.disabled, nil
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
	if got := results(deliver(t, p, c, m, Options{})); got != ResultQueued {
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
		{name: "kill switch in the cluster", m: message("firing", t0, storefront), setup: func(c *fakeCluster) { c.disabled = true }, want: ResultKilled},
		{name: "follower", m: message("firing", t0, storefront), o: Options{Leader: func() bool { return false }}, want: ResultFollower},
		// choose_by: the alert chooses cart among the two listed; the rule
		// is a dry run.
		{name: "chosen by labels, dry run", m: message("firing", t0, rollout("cart")),
			want: ResultNotChosen + "," + ResultQueued, actions: []string{"shop/cart dry=true"}},
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
	if got := results(deliver(t, p, c, message("firing", t0.Add(time.Minute), storefront), Options{})); got != ResultQueued {
		t.Fatalf("decisions %s, want queued", got)
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
	deliver(t, p, c, m, Options{})
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
	if got := results(ds); got != "queued,scheduled,scheduled,scheduled" {
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
