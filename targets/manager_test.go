package targets

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/internal/testpki"
	"github.com/zerodown/zerodown/probes"
)

// tcp is a target probing a loopback port (the engine is never started:
// nothing is sent).
func tcp(name string) config.Target {
	return config.Target{Name: name, TCP: &config.TCPProbe{Address: "127.0.0.1:9"}}
}

// https is a target whose CA file must be read to be built.
func https(name, ca string) config.Target {
	t := config.Target{Name: name, HTTP: &config.HTTPProbe{URL: "https://127.0.0.1:9/"}}
	t.HTTP.TLS.CAFile = ca
	return t
}

func parse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// running names the engine's backends, sorted, once each.
func running(e *probes.Engine) []string {
	var out []string
	for _, s := range e.Statuses() {
		if !slices.Contains(out, s.Backend) {
			out = append(out, s.Backend)
		}
	}
	slices.Sort(out)
	return out
}

// A static target wins its name, then the sources in their order; an
// invalid target of a source is left out; each source's count is told.
func TestMerge(t *testing.T) {
	cfg := parse(t, "targets:\n  - name: api\n    tcp: {address: '127.0.0.1:9'}\n")
	e := probes.NewEngine(probes.EngineOptions{})
	var last Applied
	m := New(Options{Engine: e, Config: cfg, Sources: []string{"builtin", "discovered"}, OnApply: func(a Applied) { last = a }})
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	if got := running(e); !slices.Equal(got, []string{"api"}) {
		t.Fatalf("after Start: %v", got)
	}
	m.Set("discovered", []config.Target{tcp("api"), tcp("web"), tcp("both"), {Name: "bad"}})
	if !m.Set("builtin", []config.Target{tcp("both"), tcp("kube-api")}) {
		t.Error("an apply with nothing left out for a passing reason reported otherwise")
	}
	if got := running(e); !slices.Equal(got, []string{"api", "both", "kube-api", "web"}) {
		t.Errorf("running %v", got)
	}
	if last.Static != 1 || last.BySource["builtin"] != 2 || last.BySource["discovered"] != 1 {
		t.Errorf("applied %+v: want 1 static, 2 builtin (both, kube-api), 1 discovered (web)", last)
	}
	if !m.IsStatic("api") || m.IsStatic("web") {
		t.Error("IsStatic")
	}
	// A source that empties leaves the others.
	m.Set("builtin", nil)
	if got := running(e); !slices.Equal(got, []string{"api", "both", "web"}) {
		t.Errorf("running %v after the built-in backends went", got)
	}
}

// A target the engine cannot build yet (its CA file holds no certificate
// yet) is left out, and Set says so; once the file is right, the next Set
// applies it.
func TestLeftOutThenRetried(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("not yet\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := probes.NewEngine(probes.EngineOptions{})
	m := New(Options{Engine: e, Config: parse(t, ""), Sources: []string{"discovered"}})
	if m.Set("discovered", []config.Target{tcp("web"), https("secure", ca)}) {
		t.Error("a target left out for a missing CA file: Set reported nothing left out")
	}
	if got := running(e); !slices.Equal(got, []string{"web"}) {
		t.Errorf("running %v, want web alone", got)
	}
	pem, err := os.ReadFile(testpki.New(t).CAFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	if !m.Set("discovered", []config.Target{tcp("web"), https("secure", ca)}) {
		t.Error("the CA file is there: Set still left something out")
	}
	if got := running(e); !slices.Equal(got, []string{"secure", "web"}) {
		t.Errorf("running %v", got)
	}
}

// A reload names every static target that cannot be built and keeps the
// running set; a good one applies, with the sources' targets kept.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	e := probes.NewEngine(probes.EngineOptions{})
	m := New(Options{Engine: e, Config: parse(t, "targets:\n  - name: api\n    tcp: {address: '127.0.0.1:9'}\n"), Sources: []string{"discovered"}})
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	m.Set("discovered", []config.Target{tcp("web")})
	for _, f := range []string{"bad-1.pem", "bad-2.pem"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("no certificate\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bad := fmt.Sprintf(`targets:
  - name: one
    http: {url: 'https://127.0.0.1:9/', tls: {ca_file: %q}}
  - name: two
    http: {url: 'https://127.0.0.1:9/', tls: {ca_file: %q}}
`, filepath.Join(dir, "bad-1.pem"), filepath.Join(dir, "bad-2.pem"))
	err := m.Reload(func() (*config.Config, error) { return config.Parse([]byte(bad), "t.yaml") })
	if err == nil || !strings.Contains(err.Error(), `target "one"`) || !strings.Contains(err.Error(), `target "two"`) {
		t.Errorf("reload of two unbuildable targets: %v; want both named", err)
	}
	if got := running(e); !slices.Equal(got, []string{"api", "web"}) {
		t.Errorf("running %v after a failed reload, want api and web", got)
	}
	if err := m.Reload(func() (*config.Config, error) { return nil, fmt.Errorf("t.yaml:1: broken") }); err == nil {
		t.Error("a configuration that does not load: no error")
	}
	good := "targets:\n  - name: db\n    tcp: {address: '127.0.0.1:9'}\n    hold: {connections: 1, budget: 3}\n"
	if err := m.Reload(func() (*config.Config, error) { return config.Parse([]byte(good), "t.yaml") }); err != nil {
		t.Fatal(err)
	}
	if got := running(e); !slices.Equal(got, []string{"db", "web"}) {
		t.Errorf("running %v after reloading db in place of api", got)
	}
	if b := m.DropBudgets(); b["db"] != 3 || len(b) != 1 {
		t.Errorf("drop budgets %v", b)
	}
}

// Follow applies at once, then once per burst of changes.
func TestFollow(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := make(chan struct{}, 1)
	var applies atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		Follow(ctx, 200*time.Millisecond, changes, func() bool { applies.Add(1); return true })
	}()
	waitFor := func(n int32) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); applies.Load() < n; {
			if time.Now().After(deadline) {
				t.Fatalf("%d applies, want %d", applies.Load(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor(1)
	for range 5 { // a burst, within the settle time
		changes <- struct{}{}
		time.Sleep(10 * time.Millisecond)
	}
	waitFor(2)
	time.Sleep(400 * time.Millisecond) // nothing more comes
	if n := applies.Load(); n != 2 {
		t.Errorf("%d applies after one burst, want 2", n)
	}
	cancel()
	<-done
}
