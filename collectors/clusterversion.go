package collectors

import (
	configv1 "github.com/openshift/api/config/v1"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/listers"
	"k8s.io/client-go/tools/cache"

	"github.com/zerodown/zerodown/internal/kube"
	"github.com/zerodown/zerodown/intervals"
)

// The ClusterVersion conditions exported, in this order.
var clusterVersionConds = []string{"Available", "Progressing", "Failing", "Upgradeable"}

var (
	cvConds    = newCondDescs("zerodown_cluster_version", "ClusterVersion", "name")
	cvInfoDesc = prometheus.NewDesc("zerodown_cluster_version_info",
		"The cluster's versions, value 1: type=\"current\" is the newest completed update in status.history, type=\"desired\" is status.desired.",
		[]string{"name", "type", "version"}, nil)
	upgradeInProgressDesc = prometheus.NewDesc("zerodown_upgrade_in_progress",
		"1 while the newest entry of the ClusterVersion's status.history has not completed.",
		[]string{"name"}, nil)
	upgradeStartDesc = prometheus.NewDesc("zerodown_upgrade_start_timestamp_seconds",
		"When the newest update in status.history started, as a Unix time.",
		[]string{"name", "version"}, nil)
	upgradeCompletionDesc = prometheus.NewDesc("zerodown_upgrade_completion_timestamp_seconds",
		"When the newest update in status.history completed, as a Unix time (absent while it runs).",
		[]string{"name", "version", "state"}, nil)
)

func clusterVersionConditions(cv *configv1.ClusterVersion) []Cond {
	return configConditions(cv.Status.Conditions, clusterVersionConds, clusterVersionLevel)
}

func clusterVersionLevel(typ string, s Status) intervals.Level {
	switch {
	case typ == "Failing" && s == StatusTrue, typ == "Available" && s != StatusTrue:
		return intervals.LevelError
	case typ == "Upgradeable" && s == StatusFalse:
		return intervals.LevelWarning
	default:
		return intervals.LevelInfo
	}
}

// currentVersion is the version of the newest completed entry of history
// (newest first), or "" when none completed.
func currentVersion(h []configv1.UpdateHistory) string {
	for _, e := range h {
		if e.State == configv1.CompletedUpdate {
			return e.Version
		}
	}
	return ""
}

func newClusterVersionCollector(inf *kube.Informer[*configv1.ClusterVersion], conds *Conditions) *kind {
	trackConditions(inf, conds, "ClusterVersion", clusterVersionConditions)
	return &kind{
		name:    CollectorClusterVersion,
		synced:  []cache.InformerSynced{inf.HasSynced},
		descs:   append(cvConds.list(), cvInfoDesc, upgradeInProgressDesc, upgradeStartDesc, upgradeCompletionDesc),
		collect: collectClusterVersions(inf.Lister, conds),
	}
}

func collectClusterVersions(lister listers.ResourceIndexer[*configv1.ClusterVersion], conds *Conditions) func(ch chan<- prometheus.Metric) {
	return func(ch chan<- prometheus.Metric) {
		cvs, _ := lister.List(labels.Everything())
		for _, cv := range sortByName(cvs) {
			n := cv.Name
			cvConds.emit(ch, clusterVersionConditions(cv), conds.Counters(ObjectRef{Kind: "ClusterVersion", Name: n}), n)
			if v := currentVersion(cv.Status.History); v != "" {
				ch <- prometheus.MustNewConstMetric(cvInfoDesc, prometheus.GaugeValue, 1, n, "current", v)
			}
			if v := cv.Status.Desired.Version; v != "" {
				ch <- prometheus.MustNewConstMetric(cvInfoDesc, prometheus.GaugeValue, 1, n, "desired", v)
			}
			inProgress := false
			if h := cv.Status.History; len(h) > 0 {
				newest := h[0]
				inProgress = newest.CompletionTime == nil
				if t, ok := unixTime(&newest.StartedTime); ok {
					ch <- prometheus.MustNewConstMetric(upgradeStartDesc, prometheus.GaugeValue, t, n, newest.Version)
				}
				if t, ok := unixTime(newest.CompletionTime); ok {
					ch <- prometheus.MustNewConstMetric(upgradeCompletionDesc, prometheus.GaugeValue, t, n, newest.Version, stateLabel(newest.State))
				}
			}
			ch <- prometheus.MustNewConstMetric(upgradeInProgressDesc, prometheus.GaugeValue, b2f(inProgress), n)
		}
	}
}

// stateLabel bounds an update state to the values OpenShift defines.
func stateLabel(s configv1.UpdateState) string {
	switch s {
	case configv1.CompletedUpdate:
		return "completed"
	case configv1.PartialUpdate:
		return "partial"
	default:
		return "unknown"
	}
}
