package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/version"

	"github.com/zerodown/zerodown/config"
)

// The commands are tested with every part in cmd/zerodown, and without
// one in cmd/zerodown-lite and cmd/zerodown-cluster; here the helpers.

// The targets' own budgets judge a watch run next to --budget; a budget
// file replaces both.
func TestBudgetsOf(t *testing.T) {
	cfg := &config.Config{Targets: []config.Target{{Name: "a"}, {Name: "b"}}}
	cfg.Targets[0].Budget = config.Duration(2 * time.Second)
	cfg.Targets[1].Budget = config.Duration(time.Second) // --budget's, applied as the default
	f, err := budgetsOf("", time.Second, "zerodown.yaml", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := f.For("a", "new"); b.Limit != 2*time.Second || b.Source != "zerodown.yaml (a)" {
		t.Errorf("a: %+v, want its own 2 s", b)
	}
	if b, _ := f.For("new-by-reload", "new"); b.Limit != time.Second || b.Source != "zerodown.yaml (default)" {
		t.Errorf("a target added later: %+v, want --budget's 1 s", b)
	}
	if f, err := budgetsOf("", 0, "", &config.Config{Targets: []config.Target{{Name: "x"}}}); f != nil || err != nil {
		t.Errorf("no budgets anywhere: %v, %v; want none", f, err)
	}
}

// The schedule flags reach the targets of --config that set none (they
// were applied after the file's targets had been resolved, and so to the
// command line's targets only); a target's own field still wins.
func TestFlagsReachConfigTargets(t *testing.T) {
	file := filepath.Join(t.TempDir(), "z.yaml")
	if err := os.WriteFile(file, []byte("defaults: {timeout: 300ms}\ntargets:\n  - name: plain\n    http: {url: 'http://127.0.0.1:9/'}\n"+
		"  - name: own\n    interval: 2s\n    http: {url: 'http://127.0.0.1:9/'}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(file, []string{"tcp://127.0.0.1:9"}, config.Schedule{Interval: config.Duration(50 * time.Millisecond),
		Budget: config.Duration(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range cfg.Targets {
		want := 50 * time.Millisecond
		if tg.Name == "own" {
			want = 2 * time.Second
		}
		if time.Duration(tg.Interval) != want || time.Duration(tg.Budget) != time.Second || time.Duration(tg.Timeout) != 300*time.Millisecond {
			t.Errorf("%s: interval %s budget %s timeout %s; want %s, 1s (--budget) and 300ms (the file's)", tg.Name,
				time.Duration(tg.Interval), time.Duration(tg.Budget), time.Duration(tg.Timeout), want)
		}
	}
}

// A plain go build has no -ldflags: the version comes from the build info.
func TestVersionFromBuildInfo(t *testing.T) {
	old := version.Version
	defer func() { version.Version = old }()
	version.Version = ""
	setVersionFromBuildInfo()
	if version.Version == "" {
		t.Error("version still empty after reading the build info")
	}
	var out, errOut strings.Builder
	code := Run([]string{"version"}, &out, &errOut, Parts{})
	stdout := out.String()
	if code != ExitOK || !strings.Contains(stdout, "version "+version.Version) {
		t.Errorf("zerodown version: %d %q, want the version %q", code, stdout, version.Version)
	}
}

// JSON logs write durations as logfmt does, not in nanoseconds.
func TestJSONLogDurations(t *testing.T) {
	var buf strings.Builder
	log, err := (&Common{level: "info", format: "json"}).logger(&buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("x", "took", 1500*time.Millisecond)
	if !strings.Contains(buf.String(), `"took":"1.5s"`) {
		t.Errorf("json log %s: want \"took\":\"1.5s\"", buf.String())
	}
}
