package collectors

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/listers"

	"github.com/zerodown/zerodown/internal/kube"
	"github.com/zerodown/zerodown/intervals"
)

// A marker is a user's own upgrade window, for upgrades the cluster's
// versions do not show (an ingress controller, a service mesh, a
// database): a ConfigMap in zerodown's namespace labelled
// zerodown.io/upgrade=NAME, with the window in its annotations. `zerodown
// mark start|end NAME` writes them; kubectl can too.
const (
	MarkerLabel      = "zerodown.io/upgrade"
	MarkerStart      = "zerodown.io/upgrade-start"   // RFC 3339
	MarkerEnd        = "zerodown.io/upgrade-end"     // RFC 3339; absent, or before the start, while it runs
	MarkerVersion    = "zerodown.io/upgrade-version" // optional: the version label (default: NAME)
	MarkerNamePrefix = "zerodown-upgrade-"           // the ConfigMap's name is this and NAME
)

// ReservedUpgradeName reports whether name cannot be a marker's: it is the
// name of another source of upgrades.
func ReservedUpgradeName(name string) bool {
	return name == UpgradeKubernetes || name == "version" // the ClusterVersion's
}

// Marker is one parsed marker.
type Marker struct {
	Name, Version string
	Start, End    time.Time // End zero while it runs
}

// Running reports whether the marked upgrade is in progress.
func (m Marker) Running() bool { return m.End.IsZero() || m.End.Before(m.Start) }

// ParseMarker reads a marker ConfigMap; the error names the ConfigMap and
// the annotation at fault.
func ParseMarker(cm *corev1.ConfigMap) (Marker, error) {
	where := "ConfigMap " + cm.Namespace + "/" + cm.Name
	m := Marker{Name: cm.Labels[MarkerLabel], Version: cm.Annotations[MarkerVersion]}
	if m.Name == "" {
		return m, fmt.Errorf("%s: label %s: empty, want the upgrade's name", where, MarkerLabel)
	}
	if ReservedUpgradeName(m.Name) {
		return m, fmt.Errorf("%s: label %s: %q is reserved (the Kubernetes versions' and the ClusterVersion's upgrades)", where, MarkerLabel, m.Name)
	}
	if m.Version == "" {
		m.Version = m.Name
	}
	var err error
	s, ok := cm.Annotations[MarkerStart]
	if !ok {
		return m, fmt.Errorf("%s: annotation %s missing: want the upgrade's start, RFC 3339 (2026-12-07T10:00:00Z)", where, MarkerStart)
	}
	if m.Start, err = time.Parse(time.RFC3339Nano, s); err != nil {
		return m, fmt.Errorf("%s: annotation %s: %q is not an RFC 3339 time (2026-12-07T10:00:00Z)", where, MarkerStart, s)
	}
	if s, ok := cm.Annotations[MarkerEnd]; ok && s != "" {
		if m.End, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return m, fmt.Errorf("%s: annotation %s: %q is not an RFC 3339 time (2026-12-07T10:00:00Z)", where, MarkerEnd, s)
		}
	}
	return m, nil
}

// markers exports the markers of one namespace.
type markers struct {
	lister listers.ResourceIndexer[*corev1.ConfigMap]
}

func newMarkers(inf *kube.Informer[*corev1.ConfigMap], conds *Conditions, log *slog.Logger) *markers {
	observe := func(cm *corev1.ConfigMap) {
		mk, err := ParseMarker(cm)
		if err != nil {
			log.Error("upgrade marker ignored", "err", err)
			return
		}
		ref := ObjectRef{Kind: "Upgrade", Name: mk.Name}
		c := Cond{Type: "Progressing", Status: StatusTrue, Since: mk.Start, Reason: "Marked", Exact: true,
			Message: "upgrade of " + mk.Name + " to " + mk.Version, Level: intervals.LevelWarning}
		if !mk.Running() {
			if conds.Counters(ref) == nil {
				// First seen already ended (marked while no controller
				// ran, or with --at): its window still goes in.
				conds.Observe(ref, []Cond{c})
			}
			c.Status, c.Since, c.Level = StatusFalse, mk.End, intervals.LevelInfo
		}
		conds.Observe(ref, []Cond{c})
	}
	handle(inf, observe, func(cm *corev1.ConfigMap) {
		if name := cm.Labels[MarkerLabel]; name != "" {
			conds.Delete(ObjectRef{Kind: "Upgrade", Name: name})
		}
	})
	return &markers{lister: inf.Lister}
}

func (m *markers) collect(ch chan<- prometheus.Metric) {
	cms, _ := m.lister.List(labels.Everything())
	seen := map[string]bool{}
	for _, cm := range sortByName(cms) {
		mk, err := ParseMarker(cm)
		if err != nil || seen[mk.Name] {
			continue // logged when it changed; two ConfigMaps of one name: the first
		}
		seen[mk.Name] = true
		w := &window{version: mk.Version, start: mk.Start}
		if !mk.Running() {
			w.end, w.state = mk.End, stateCompleted
		}
		emitWindow(ch, mk.Name, w)
	}
}
