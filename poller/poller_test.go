package poller

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/internal/testwait"
	"github.com/zerodown/zerodown/testtarget"
	"github.com/zerodown/zerodown/testtarget/targettest"
)

// scrape returns /metrics of the poller at addr.
func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sample returns the value of one series in an exposition, or "".
func sample(exposition, series string) string {
	for _, l := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			return v
		}
	}
	return ""
}

// A poller without a cluster runs its static targets; SIGHUP (a reload
// request) applies a changed file live, keeps unchanged targets' counters,
// and a broken file changes nothing but the reload gauge.
func TestPollerReloadsStaticTargets(t *testing.T) {
	tt := targettest.Start(t, testtarget.Options{})
	path := filepath.Join(t.TempDir(), "targets.yaml")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	target := func(name string) string {
		return fmt.Sprintf("  - name: %s\n    connections: [new]\n    http:\n      url: http://%s/\n", name, tt.HTTPAddr())
	}
	write("defaults:\n  interval: 20ms\ntargets:\n" + target("a"))
	load := func() (*config.Config, error) { return config.Load(path) }
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	reloads := make(chan struct{})
	addrc := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: cfg, Reload: load, ReloadRequests: reloads,
			Listen: "127.0.0.1:0", OnListen: func(a string) { addrc <- a }})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	addr := <-addrc
	okA := `zerodown_probe_requests_total{backend="a",connection="new",protocol="http",result="success"}`
	okB := `zerodown_probe_requests_total{backend="b",connection="new",protocol="http",result="success"}`
	count := func(series string) float64 {
		var v float64
		if s := sample(scrape(t, addr), series); s != "" {
			fmt.Sscan(s, &v)
		}
		return v
	}
	// Enough requests that a reset would show: a reset counter cannot
	// climb back to this while b gets its first few.
	testwait.Until(t, "a probed", func() bool { return count(okA) >= 30 })

	write("defaults:\n  interval: 20ms\ntargets:\n" + target("a") + target("b"))
	before := count(okA)
	reloads <- struct{}{}
	testwait.Until(t, "b probed after the reload", func() bool { return count(okB) >= 3 })
	if after := count(okA); after < before {
		t.Errorf("a's counter went from %v to %v: reset by the reload", before, after)
	}
	m := scrape(t, addr)
	if v := sample(m, "zerodown_config_last_reload_successful"); v != "1" {
		t.Errorf("reload successful = %q, want 1", v)
	}
	if v := sample(m, `zerodown_poller_targets{source="static"}`); v != "2" {
		t.Errorf("static targets = %q, want 2", v)
	}

	write("targets: [oops\n")
	reloads <- struct{}{}
	testwait.Until(t, "the failed reload to show", func() bool {
		return sample(scrape(t, addr), "zerodown_config_last_reload_successful") == "0"
	})
	b := count(okB)
	testwait.Until(t, "b still probed", func() bool { return count(okB) > b+2 })
}
