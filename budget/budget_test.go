package budget

import (
	"testing"
	"time"
)

const example = `# budgets
grace: {add: 5s}
default:
  allowed: 2s
budgets:
  - backend: kube-api
    connection: reused
    history: {p50: 0s, p95: 300ms, p99: 500ms, upgrades: 12}
  - backend: kube-api
    history: {p50: 1s, p95: 8s, p99: 10s, upgrades: 12}
  - backend: big
    allowed: 30s
  - backend: shop-*
    connection: "n*"
    allowed: 0s
    grace: {add: 0s, factor: 1}
`

func TestFor(t *testing.T) {
	f, err := Parse([]byte(example), "budgets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		backend, conn  string
		allowed, limit time.Duration
		source         string
	}{
		// History: allowed = max(P99, 1s); limit = max(allowed+5s, allowed×1.2).
		{"kube-api", "reused", time.Second, 6 * time.Second, "budgets.yaml:6"},
		{"kube-api", "new", 10 * time.Second, 15 * time.Second, "budgets.yaml:9"},
		{"big", "new", 30 * time.Second, 36 * time.Second, "budgets.yaml:11"},
		{"shop-cart", "new", 0, 0, "budgets.yaml:13"},
		// The glob "n*" does not match reused: the default applies.
		{"shop-cart", "reused", 2 * time.Second, 7 * time.Second, "budgets.yaml (default)"},
		{"other", "new", 2 * time.Second, 7 * time.Second, "budgets.yaml (default)"},
	} {
		b, ok := f.For(c.backend, c.conn)
		if !ok || b.Allowed != c.allowed || b.Limit != c.limit || b.Source != c.source {
			t.Errorf("For(%s, %s) = %+v, %v; want allowed %s limit %s from %s", c.backend, c.conn, b, ok, c.allowed, c.limit, c.source)
		}
	}
}

func TestFlatAndNone(t *testing.T) {
	b, ok := Flat(3*time.Second).For("x", "new")
	if !ok || b.Allowed != 3*time.Second || b.Limit != 3*time.Second || b.Source != "--budget" {
		t.Fatalf("Flat(3s) = %+v, %v; want 3s allowed and limit, no grace", b, ok)
	}
	var none *File
	if _, ok := none.For("x", "new"); ok {
		t.Fatal("a nil file gave a budget")
	}
	f, err := Parse([]byte("budgets: [{backend: a, allowed: 1s}]\n"), "b.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.For("z", "new"); ok {
		t.Fatal("a backend no entry matches, without a default, got a budget")
	}
}

func TestJudge(t *testing.T) {
	f, err := Parse([]byte(example), "budgets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, ok := Judge(f, []Measured{
		{"kube-api", "reused", 6 * time.Second},              // at the limit: passes
		{"shop-cart", "new", time.Millisecond},               // strict: exceeded
		{"big", "reused", 36*time.Second + time.Millisecond}, // over by 1 ms
	})
	if ok {
		t.Fatal("Judge passed with two budgets exceeded")
	}
	want := map[string]string{"big/reused": Exceeded, "kube-api/reused": Pass, "shop-cart/new": Exceeded}
	for _, r := range res {
		if want[r.Backend+"/"+r.Connection] != r.Verdict {
			t.Errorf("%s/%s: %s, want %s", r.Backend, r.Connection, r.Verdict, want[r.Backend+"/"+r.Connection])
		}
	}
	if res[1].History == nil || res[1].History.P99 != 0.5 || *res[1].Limit != 6 {
		t.Errorf("kube-api/reused result %+v: want its history and limit 6 s", res[1])
	}
	res, ok = Judge(nil, []Measured{{"a", "new", time.Hour}})
	if !ok || res[0].Verdict != Unbudgeted {
		t.Fatalf("without budgets: %+v %v, want unbudgeted and pass", res, ok)
	}
}

// Every problem of a file at once, each "file:line: field: message".
func TestInvalid(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"empty", "", "b.yaml: empty budget file: want default or budgets"},
		{"comments only", "# nothing\n", "b.yaml: empty budget file: want default or budgets"},
		{"syntax", "default: {allowed: 1s\n", "b.yaml:1: did not find expected ',' or '}'"},
		{"two documents", "default: {allowed: 1s}\n---\ndefault: {allowed: 2s}\n", "b.yaml:2: only one YAML document is allowed"},
		{"unknown field", "default: {allowed: 1s}\nbudget: []\n", `b.yaml:2: budget: unknown field; did you mean "budgets"?`},
		{"field a level too high", "default: {allowed: 1s}\nadd: 1s\n", "b.yaml:2: add: unknown field; add belongs under grace:"},
		{"no unit", "default: {allowed: 5}\n", `b.yaml:1: default.allowed: expected a duration with a unit, like "5ms" or "5s", got "5"`},
		{"not a number", "default: {allowed: 1s}\ngrace: {factor: lots}\n", `b.yaml:2: grace.factor: expected a number, got "lots"`},
		{"not a list", "budgets: {backend: a}\n", "b.yaml:1: budgets: expected a list, got a mapping"},
		{"two problems", `budgets:
  - backend: kube-api
    alowed: 2s
  - backend: web
    history: {p50: 0s, p95: 1s, p99: soon}
`, `b.yaml:3: budgets[0].alowed: unknown field; did you mean "allowed"?
b.yaml:5: budgets[1].history.p99: expected a duration like "100ms" or "1s", got "soon"`},
		{"decoding and validation", "default: {allowed: 1s}\nbudgets:\n  - {backend: a, connection: old, allowed: 1s}\n  - {backend: b, allowed: 1 s}\n",
			`b.yaml:3: budgets[0].connection: expected new, reused or a glob matching one of them, got "old"
b.yaml:4: budgets[1].allowed: expected a duration like "100ms" or "1s", got "1 s"`},
		{"neither", "budgets:\n  - backend: a\n", "b.yaml:2: budgets[0]: expected allowed (a duration) or history (p50, p95, p99)"},
		{"both", "budgets:\n  - {backend: a, allowed: 1s, history: {p99: 1s}}\n", "b.yaml:2: budgets[0]: give allowed or history, not both"},
		{"no backend", "budgets:\n  - allowed: 1s\n", "b.yaml:2: budgets[0].backend: expected a backend name or glob"},
		{"bad glob", "budgets:\n  - {backend: 'a[', allowed: 1s}\n", `b.yaml:2: budgets[0].backend: invalid glob "a["`},
		{"bad connection", "budgets:\n  - {backend: a, connection: old, allowed: 1s}\n", `b.yaml:2: budgets[0].connection: expected new, reused or a glob matching one of them, got "old"`},
		{"negative", "default: {allowed: -1s}\n", "b.yaml:1: default.allowed: must not be negative, got -1s"},
		{"negative on its own line", "budgets:\n  - backend: a\n    allowed: -1s\n", "b.yaml:3: budgets[0].allowed: must not be negative, got -1s"},
		{"history order", "\ndefault:\n  history: {p50: 2s, p95: 1s, p99: 3s}\n", "b.yaml:3: default.history: expected 0 ≤ p50 ≤ p95 ≤ p99, got 2s, 1s, 3s"},
		{"past and upgrades differ", "default:\n  history: {p99: 3s, upgrades: 3, past: [1s, 3s]}\n", "b.yaml:2: default.history.past: expected one figure per upgrade (upgrades: 3), got 2"},
		{"past negative", "default:\n  history: {p99: 3s, upgrades: 2, past: [1s, -3s]}\n", "b.yaml:2: default.history.past[1]: must not be negative, got -3s"},
		{"factor", "default: {allowed: 1s}\n\ngrace: {factor: 0.5}\n", "b.yaml:3: grace.factor: must be at least 1, got 0.5"},
		{"rule grace", "budgets:\n  - {backend: a, allowed: 1s, grace: {add: -1s}}\n", "b.yaml:2: budgets[0].grace.add: must not be negative, got -1s"},
		{"default with backend", "default: {backend: a, allowed: 1s}\n", "b.yaml:1: default: a default matches every backend: backend and connection do not apply"},
		{"only grace", "grace: {add: 1s}\n", "b.yaml: no budgets: want default or budgets"},
	} {
		_, err := Parse([]byte(c.in), "b.yaml")
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: error:\n%v\nwant:\n%s", c.name, err, c.want)
		}
	}
}

func TestStrict(t *testing.T) {
	f := Strict(0, map[string]time.Duration{"a[1]": time.Second}, "zerodown.yaml")
	b, ok := f.For("a[1]", "reused")
	if !ok || b.Allowed != time.Second || b.Limit != time.Second || b.Source != "zerodown.yaml (a[1])" {
		t.Fatalf("For(a[1]) = %+v, %v; want 1s, no grace, by exact name", b, ok)
	}
	if _, ok := f.For("a1", "new"); ok {
		t.Fatal("an exact name matched as a glob")
	}
}

// The example the flags' help points at is valid and means what it says.
func TestExample(t *testing.T) {
	f, err := Load("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		backend, conn string
		limit         time.Duration
	}{
		{"dns-udp", "new", 7400 * time.Millisecond}, // max(2.4s, 1s) + 5s
		{"https", "reused", time.Second},
		{"https", "new", 6 * time.Second},
		{"tcp", "reused", 6 * time.Second},
	} {
		if b, _ := f.For(c.backend, c.conn); b.Limit != c.limit {
			t.Errorf("%s/%s: limit %s, want %s", c.backend, c.conn, b.Limit, c.limit)
		}
	}
}
