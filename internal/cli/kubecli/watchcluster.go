package kubecli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/client-go/rest"

	"github.com/zerodown/zerodown/collectors"
	"github.com/zerodown/zerodown/collectors/discovery"
	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/internal/kube"
	"github.com/zerodown/zerodown/intervals"
	"github.com/zerodown/zerodown/watch"
)

// watchCluster is watch --kubeconfig: the controller's collectors and the
// built-in backends of the cluster, in the watch process.
type watchCluster struct {
	rc       *rest.Config
	log      *slog.Logger
	credsDir string
	disabled map[string]bool
	set      *collectors.Set
	builtin  *discovery.Builtin
	disco    *discovery.Discovery
	synced   atomic.Bool // disco's caches synced: its targets count
	changes  chan struct{}
}

// newWatchCluster reads the kubeconfig; nothing talks to the cluster
// before Start.
func newWatchCluster(kubeconfig string, disabled []string, log *slog.Logger) (watch.Cluster, func(), error) {
	kube.RouteKlog(log)
	rc, err := kube.RESTConfig(kubeconfig, "zerodown-watch")
	if err != nil {
		return nil, nil, err
	}
	// Inline credentials become files in a folder of its own (0700),
	// never in the output folder, which CI jobs upload.
	creds, err := os.MkdirTemp("", "zerodown-credentials-")
	if err != nil {
		return nil, nil, err
	}
	off := map[string]bool{}
	for _, n := range disabled {
		off[n] = true
	}
	w := &watchCluster{rc: rc, log: log.With("component", "cluster"), credsDir: creds, disabled: off, changes: make(chan struct{}, 1)}
	return w, func() { _ = os.RemoveAll(creds) }, nil
}

func (w *watchCluster) Start(ctx context.Context, iw *intervals.Writer, reg prometheus.Registerer) error {
	kc, err := kube.NewClient(w.rc)
	if err != nil {
		return err
	}
	apis, err := kube.NewAPIs(w.rc)
	if err != nil {
		return err
	}
	var sink collectors.IntervalWriter
	if iw != nil {
		sink = iw
	}
	// Markers are read where `zerodown mark` writes them by default.
	upg := collectors.UpgradeOptions{MarkerNamespace: defaultMarkerNamespace}
	if w.set, err = collectors.New(collectors.Options{Client: kc, Intervals: sink, Logger: w.log, APIs: apis, Upgrades: upg}); err != nil {
		return err
	}
	reg.MustRegister(w.set)
	w.set.Start(ctx)
	// Outside the cluster: Routes are probed at their hosts, as a user
	// reaches them; Services only at their load balancers.
	if w.builtin, err = discovery.NewBuiltin(discovery.BuiltinOptions{REST: w.rc, Disabled: w.disabled, RoutesByHost: true,
		CredentialsDir: w.credsDir, Logger: w.log}, kc, apis); err != nil {
		return err
	}
	go w.builtin.Run(ctx, 30*time.Second, func() bool { w.changed(); return true })
	if w.disco, err = discovery.New(discovery.Options{Client: kc, Routes: true, Outside: true, APIs: apis, Logger: w.log,
		Endpoints: w.set.Conditions()}); err != nil {
		return err
	}
	w.disco.Start(ctx)
	go func() {
		if !w.disco.WaitForSync(ctx) {
			return
		}
		w.synced.Store(true)
		w.changed()
		for {
			select {
			case <-ctx.Done():
				return
			case <-w.disco.Changes():
				// Gathered for a moment: a burst of changes is one apply.
				select {
				case <-ctx.Done():
					return
				case <-time.After(250 * time.Millisecond):
				}
				w.changed()
			}
		}
	}()
	return nil
}

func (w *watchCluster) changed() {
	select {
	case w.changes <- struct{}{}:
	default:
	}
}

func (w *watchCluster) Targets() []config.Target {
	var out []config.Target
	if w.builtin != nil {
		out = append(out, w.builtin.Targets()...)
	}
	if w.disco != nil && w.synced.Load() {
		out = append(out, w.disco.Targets()...)
	}
	return out
}

func (w *watchCluster) Changes() <-chan struct{} { return w.changes }

// maxClusterLines bounds the cluster's part of the live view.
const maxClusterLines = 8

// Lines names the operators and nodes that are not healthy, and the
// upgrade in progress, from the collectors' own metrics.
func (w *watchCluster) Lines() []string {
	if w.set == nil {
		return nil
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(w.set); err != nil {
		return nil
	}
	mfs, err := reg.Gather()
	if err != nil {
		return nil
	}
	var out []string
	label := func(m *dto.Metric, n string) string {
		for _, l := range m.GetLabel() {
			if l.GetName() == n {
				return l.GetValue()
			}
		}
		return ""
	}
	desired := ""
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetGauge().GetValue()
			switch mf.GetName() {
			case "zerodown_cluster_version_info":
				if label(m, "type") == "desired" {
					desired = label(m, "version")
				}
			case "zerodown_upgrade_in_progress":
				if v == 1 {
					out = append(out, "upgrading")
				}
			case "zerodown_cluster_operator_condition":
				c, st := label(m, "condition"), label(m, "status")
				switch {
				case v != 1:
				case c == "Degraded" && st == "true", c == "Progressing" && st == "true":
					out = append(out, "operator "+label(m, "name")+" "+c)
				case c == "Available" && st != "true":
					out = append(out, "operator "+label(m, "name")+" Unavailable")
				}
			case "zerodown_node_condition":
				if label(m, "condition") == "Ready" && label(m, "status") != "true" && v == 1 {
					out = append(out, "node "+label(m, "node")+" NotReady")
				}
			case "zerodown_node_draining":
				if v == 1 {
					out = append(out, "node "+label(m, "node")+" draining")
				}
			case "zerodown_node_unschedulable":
				if v == 1 {
					out = append(out, "node "+label(m, "node")+" cordoned")
				}
			}
		}
	}
	for i, l := range out {
		if l == "upgrading" {
			out[i] = "upgrading to " + desired
		}
	}
	sort.Strings(out)
	if len(out) > maxClusterLines {
		out = append(out[:maxClusterLines-1], fmt.Sprintf("… and %d more", len(out)-maxClusterLines+1))
	}
	return out
}
