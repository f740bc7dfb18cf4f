// Package role is the start-up every zerodown role (watch, poller,
// controller) shares: the interval stream in its output folder, kept alive
// by a heartbeat, and the metrics registry with the build, Go and process
// collectors. Each role adds its own collectors and serves the registry.
package role

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promcollectors "github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/zerodown/zerodown/intervals"
)

// Base is what Start sets up.
type Base struct {
	// Intervals is the role's interval stream, nil without an output
	// folder; IntervalsPath its file ("" without one).
	Intervals     *intervals.Writer
	IntervalsPath string
	// Registry holds zerodown_build_info and the Go and process
	// collectors; the role registers its own.
	Registry *prometheus.Registry

	stop context.CancelFunc
	beat sync.WaitGroup
}

// HeartbeatPeriod is how often the interval stream says the writer is
// alive: a crash loses at most this much of the open intervals.
const HeartbeatPeriod = time.Second

// Start opens outDir's interval stream (none when outDir is empty), keeps
// its heartbeat until Close, and builds the registry. Writing errors of the
// heartbeat go to log.
func Start(outDir string, log *slog.Logger) (*Base, error) {
	b := &Base{Registry: prometheus.NewRegistry()}
	b.Registry.MustRegister(Collectors()...)
	if outDir == "" {
		return b, nil
	}
	path := filepath.Join(outDir, intervals.FileName)
	iw, err := intervals.Create(path, intervals.Options{})
	if err != nil {
		return nil, err
	}
	b.Intervals, b.IntervalsPath = iw, path
	ctx, stop := context.WithCancel(context.Background())
	b.stop = stop
	b.beat.Add(1)
	go func() {
		defer b.beat.Done()
		iw.KeepBeating(ctx, HeartbeatPeriod, func(err error) { log.Error("writing intervals", "err", err) })
	}()
	return b, nil
}

// Collectors are the collectors every role's registry starts with: build
// info (of CurrentBuild), Go runtime and process.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{NewBuildInfo(CurrentBuild()),
		promcollectors.NewGoCollector(),
		promcollectors.NewProcessCollector(promcollectors.ProcessCollectorOpts{})}
}

// Close stops the heartbeat and closes the interval stream, ending the
// intervals still open at now.
func (b *Base) Close(now time.Time) error {
	if b.Intervals == nil {
		return nil
	}
	b.stop()
	b.beat.Wait()
	return b.Intervals.Close(now)
}
