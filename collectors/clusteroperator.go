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

// The ClusterOperator conditions exported, in this order.
var clusterOperatorConds = []string{"Available", "Progressing", "Degraded", "Upgradeable"}

var (
	coConds       = newCondDescs("zerodown_cluster_operator", "ClusterOperator", "name")
	coVersionDesc = prometheus.NewDesc("zerodown_cluster_operator_version_info",
		"The versions a ClusterOperator reports (status.versions), one series per component; value 1.",
		[]string{"name", "component", "version"}, nil)
)

// clusterOperatorConditions reads the four conditions of co.
func clusterOperatorConditions(co *configv1.ClusterOperator) []Cond {
	return configConditions(co.Status.Conditions, clusterOperatorConds, clusterOperatorLevel)
}

// configConditions reads the conditions named in want from the conditions
// of a ClusterOperator or the ClusterVersion (they share a type). A missing
// Upgradeable means upgradeable (OpenShift's own rule); any other missing
// condition is unknown.
func configConditions(cs []configv1.ClusterOperatorStatusCondition, want []string, level func(string, Status) intervals.Level) []Cond {
	have := map[string]Cond{}
	for _, c := range cs {
		st := ParseStatus(string(c.Status))
		have[string(c.Type)] = Cond{
			Type: string(c.Type), Status: st, Since: c.LastTransitionTime.Time,
			Reason: c.Reason, Message: c.Message, Level: level(string(c.Type), st),
		}
	}
	return pick(have, want, func(typ string) Status {
		if typ == "Upgradeable" {
			return StatusTrue
		}
		return StatusUnknown
	})
}

// clusterOperatorLevel is how bad a condition state is, for intervals.
func clusterOperatorLevel(typ string, s Status) intervals.Level {
	switch {
	case typ == "Available" && s != StatusTrue, typ == "Degraded" && s == StatusTrue:
		return intervals.LevelError
	case typ == "Degraded" && s == StatusUnknown, typ == "Upgradeable" && s == StatusFalse:
		return intervals.LevelWarning
	default:
		return intervals.LevelInfo
	}
}

func newClusterOperatorCollector(inf *kube.Informer[*configv1.ClusterOperator], conds *Conditions) *kind {
	trackConditions(inf, conds, "ClusterOperator", clusterOperatorConditions)
	return &kind{
		name:    CollectorClusterOperator,
		synced:  []cache.InformerSynced{inf.HasSynced},
		descs:   append(coConds.list(), coVersionDesc),
		collect: collectClusterOperators(inf.Lister, conds),
	}
}

func collectClusterOperators(lister listers.ResourceIndexer[*configv1.ClusterOperator], conds *Conditions) func(ch chan<- prometheus.Metric) {
	return func(ch chan<- prometheus.Metric) {
		cos, _ := lister.List(labels.Everything()) // a lister never fails
		for _, co := range sortByName(cos) {
			counters := conds.Counters(ObjectRef{Kind: "ClusterOperator", Name: co.Name})
			coConds.emit(ch, clusterOperatorConditions(co), counters, co.Name)
			for _, v := range co.Status.Versions {
				ch <- prometheus.MustNewConstMetric(coVersionDesc, prometheus.GaugeValue, 1, co.Name, v.Name, v.Version)
			}
		}
	}
}
