// Package testtool finds and runs the outside programs tests use
// (Debian's prometheus, promtool, alertmanager, chromium; the go command).
// Only tests import it.
package testtool

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireEnv, when set (make test and e2e/run.sh set it, and install the
// packages), makes a missing program fail the test instead of skipping it.
const RequireEnv = "ZERODOWN_REQUIRE_TOOLS"

// Path returns the first of names found on PATH. None found skips the
// test, or fails it when RequireEnv is set; pkg names the Debian package.
func Path(tb testing.TB, pkg string, names ...string) string {
	tb.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv(RequireEnv) != "" {
		tb.Fatalf("none of %s on PATH, and %s is set: apt-get install %s", strings.Join(names, ", "), RequireEnv, pkg)
	}
	tb.Skipf("none of %s on PATH: apt-get install %s, or run make test", strings.Join(names, ", "), pkg)
	return ""
}

// Start runs path with args in the background until the test ends; its
// output is logged when the test fails.
func Start(tb testing.TB, path string, args ...string) {
	tb.Helper()
	var (
		mu  sync.Mutex
		out bytes.Buffer
	)
	cmd := exec.Command(path, args...)
	w := writer(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if tb.Failed() {
			mu.Lock()
			tb.Logf("%s output:\n%s", path, out.String())
			mu.Unlock()
		}
	})
}

type writer func([]byte) (int, error)

func (f writer) Write(p []byte) (int, error) { return f(p) }

// FreeAddr returns a loopback address whose port was free a moment ago.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// WaitReady waits, up to a minute, until http://addr/-/ready answers 200,
// as Prometheus and Alertmanager do once they serve.
func WaitReady(tb testing.TB, addr string) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	last := ""
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("%s not ready within a minute: %s", addr, last)
}

// BackfilledPrometheus backfills an OpenMetrics exposition (with
// timestamps) into blocks with promtool and starts Debian's prometheus on
// them, on a loopback port; it returns its URL.
func BackfilledPrometheus(tb testing.TB, exposition string) string {
	promtool, prom := Path(tb, "prometheus", "promtool"), Path(tb, "prometheus", "prometheus")
	dir := tb.TempDir()
	in, data := filepath.Join(dir, "history.om"), filepath.Join(dir, "data")
	if err := os.WriteFile(in, []byte(exposition), 0o600); err != nil {
		tb.Fatal(err)
	}
	if out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", in, data).CombinedOutput(); err != nil {
		tb.Fatalf("promtool tsdb create-blocks-from openmetrics: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global: {scrape_interval: 1m}\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	addr := FreeAddr(tb)
	Start(tb, prom, "--config.file="+cfg, "--storage.tsdb.path="+data, "--storage.tsdb.retention.time=30d", "--web.listen-address="+addr)
	WaitReady(tb, addr)
	return "http://" + addr
}

// Deps returns the import paths of the packages pkg (a pattern of the go
// command, such as ".") depends on, itself included, as "go list -deps"
// lists them for this platform. go test puts its own go command on PATH.
func Deps(tb testing.TB, pkg string) map[string]bool {
	tb.Helper()
	out, err := exec.Command(Path(tb, "golang-go", "go"), "list", "-deps", pkg).Output()
	if err != nil {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		tb.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr)
	}
	deps := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		deps[p] = true
	}
	return deps
}
