// Package serve runs the HTTP endpoints every zerodown role has: /metrics
// (Prometheus text and OpenMetrics), /healthz (the process is alive),
// /readyz (it has what it needs to do its job), the same two under
// Prometheus's names /-/healthy and /-/ready, and /intervals (its
// interval stream).
package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/zerodown/zerodown/intervals"
)

// Server is a running endpoint server.
type Server struct {
	srv *http.Server
}

// Options configures Start.
type Options struct {
	// Addr to listen on (the --web.listen-address flag, alias --listen;
	// port 0 picks one).
	Addr     string
	Gatherer prometheus.Gatherer
	// Ready answers /readyz and /-/ready (nil: always ready): nil means
	// ready, an error says what is missing.
	Ready  func() error
	Logger *slog.Logger
	// OnListen, if set, is told the address once the server listens.
	OnListen func(addr string)
	// Pprof serves Go's profiles on /debug/pprof/ (the --debug.pprof
	// flag): for finding where a poller's memory or CPU goes.
	Pprof bool
	// Handlers are served too, by path (the rollback webhook).
	Handlers map[string]http.Handler
	// Intervals, if set, is the role's interval stream, served read-only
	// on /intervals (see intervals.Handler) for zerodown report.
	Intervals string
	// WebConfigFile, if set, is an exporter-toolkit web configuration
	// (--web.config.file): TLS, client certificates (mTLS: client_ca_file
	// with client_auth_type RequireAndVerifyClientCert), basic auth. It
	// covers every endpoint, the rollback webhook and /intervals
	// included, and is read again for every new connection.
	WebConfigFile string
	// Guard, if set, wraps /metrics and /debug/pprof/: the in-cluster
	// roles' Kubernetes authentication and authorization
	// (--web.kubernetes-auth). Health, readiness, /intervals (read through
	// the API server's pod proxy, which authorizes it and passes on no
	// credentials) and Handlers (the rollback webhook has its token) are
	// left to their own.
	Guard func(http.Handler) http.Handler
}

// ValidateWebConfig reads and checks an exporter-toolkit web
// configuration file, as a command checks its flags before it starts.
func ValidateWebConfig(path string) error {
	if err := web.Validate(path); err != nil {
		return fmt.Errorf("--web.config.file %s: %w", path, err)
	}
	return nil
}

// Start listens on o.Addr and serves o.Gatherer on /metrics, health on
// /healthz and /-/healthy, readiness on /readyz and /-/ready. Its error
// names the --web.listen-address flag.
func Start(o Options) (*Server, error) {
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("--web.listen-address %s: %w", o.Addr, err)
	}
	guard := o.Guard
	if guard == nil {
		guard = func(h http.Handler) http.Handler { return h }
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", guard(promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorHandling:     promhttp.ContinueOnError,
	})))
	healthy := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	ready := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if o.Ready != nil {
			if err := o.Ready(); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	// Kubernetes's names and Prometheus's.
	mux.Handle("/healthz", healthy)
	mux.Handle("/-/healthy", healthy)
	mux.Handle("/readyz", ready)
	mux.Handle("/-/ready", ready)
	if o.Intervals != "" {
		mux.Handle("/intervals", intervals.Handler(o.Intervals))
	}
	for path, h := range o.Handlers {
		mux.Handle(path, h)
	}
	if o.Pprof {
		mux.Handle("/debug/pprof/", guard(http.HandlerFunc(pprof.Index)))
		mux.Handle("/debug/pprof/cmdline", guard(http.HandlerFunc(pprof.Cmdline)))
		mux.Handle("/debug/pprof/profile", guard(http.HandlerFunc(pprof.Profile)))
		mux.Handle("/debug/pprof/symbol", guard(http.HandlerFunc(pprof.Symbol)))
		mux.Handle("/debug/pprof/trace", guard(http.HandlerFunc(pprof.Trace)))
	}
	s := &Server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	addr := ln.Addr().String()
	if o.WebConfigFile != "" {
		if err := web.Validate(o.WebConfigFile); err != nil {
			ln.Close()
			return nil, fmt.Errorf("--web.config.file %s: %w", o.WebConfigFile, err)
		}
		log := o.Logger
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		file := o.WebConfigFile
		go func() { _ = web.Serve(ln, s.srv, &web.FlagConfig{WebConfigFile: &file}, log) }()
	} else {
		go func() { _ = s.srv.Serve(ln) }()
	}
	if o.Logger != nil {
		o.Logger.Info("serving metrics", "addr", addr)
	}
	if o.OnListen != nil {
		o.OnListen(addr)
	}
	return s, nil
}

// Waiting is what Options.Ready returns for a list of what is missing:
// nil when nothing is, else "waiting for: a; b".
func Waiting(pending []string) error {
	if len(pending) == 0 {
		return nil
	}
	return errors.New("waiting for: " + strings.Join(pending, "; "))
}

// ReloadGauges are the configuration reload gauges every role with a
// configuration file exports.
type ReloadGauges struct {
	ok, at prometheus.Gauge
}

// NewReloadGauges returns the gauges, set as after a successful load now.
func NewReloadGauges() *ReloadGauges {
	g := &ReloadGauges{
		ok: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zerodown_config_last_reload_successful",
			Help: "Whether the last configuration reload succeeded (1) or failed (0).",
		}),
		at: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zerodown_config_last_reload_success_timestamp_seconds",
			Help: "Time of the last successful configuration load, as a Unix time.",
		}),
	}
	g.Succeeded(time.Now())
	return g
}

// Succeeded records a successful load at t.
func (g *ReloadGauges) Succeeded(t time.Time) {
	g.ok.Set(1)
	g.at.Set(float64(t.Unix()))
}

// Failed records a failed reload.
func (g *ReloadGauges) Failed() { g.ok.Set(0) }

// Describe implements prometheus.Collector.
func (g *ReloadGauges) Describe(ch chan<- *prometheus.Desc) {
	g.ok.Describe(ch)
	g.at.Describe(ch)
}

// Collect implements prometheus.Collector.
func (g *ReloadGauges) Collect(ch chan<- prometheus.Metric) {
	g.ok.Collect(ch)
	g.at.Collect(ch)
}

// Close shuts the server down, giving requests a second to finish.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}
