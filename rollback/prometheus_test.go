package rollback

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zerodown/zerodown/internal/testtool"
	"github.com/zerodown/zerodown/internal/testwait"
)

// The data source of the no-data policy, against Debian's Prometheus
// scraping an exporter of two backends, one of which is no longer probed
// (its counter stands still): fresh for the first, no data for the
// second and for a backend never seen, and an error when Prometheus is
// gone.
func TestPrometheusSamples(t *testing.T) {
	prom := testtool.Path(t, "prometheus", "prometheus")
	var n atomic.Int64
	exporter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		v := n.Add(1)
		fmt.Fprintf(w, "# TYPE zerodown_observed_seconds_total counter\n"+
			"zerodown_observed_seconds_total{backend=\"alive\",connection=\"new\"} %d\n"+
			"zerodown_observed_seconds_total{backend=\"stale\",connection=\"new\"} 42\n", v)
	}))
	defer exporter.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("global: {scrape_interval: 1s}\nscrape_configs:\n- job_name: poller\n  static_configs: [{targets: [%q]}]\n",
		exporter.Listener.Addr().String())), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := testtool.FreeAddr(t)
	testtool.Start(t, prom, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	samples, err := PrometheusSamples("http://"+addr, "", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, "alive has samples", func() bool {
		ok, err := samples(context.Background(), map[string]string{"backend": "alive", "connection": "new"})
		return err == nil && ok
	})
	for _, b := range []string{"stale", "never-seen"} {
		if ok, err := samples(context.Background(), map[string]string{"backend": b}); err != nil || ok {
			t.Errorf("%s: fresh %v, err %v; want no data", b, ok, err)
		}
	}
	down, _ := PrometheusSamples("http://127.0.0.1:9", "", time.Second)
	if _, err := down(context.Background(), map[string]string{"backend": "alive"}); err == nil {
		t.Error("no error from a Prometheus that is not there")
	}
}
