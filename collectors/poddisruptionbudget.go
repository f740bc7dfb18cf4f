package collectors

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/labels"
)

var (
	pdbAllowedDesc = prometheus.NewDesc("zerodown_pod_disruption_budget_disruptions_allowed",
		"Pod disruptions the PodDisruptionBudget allows now (0 blocks node drains).",
		[]string{"namespace", "name"}, nil)
	pdbPodsDesc = prometheus.NewDesc("zerodown_pod_disruption_budget_pods",
		"Pods a PodDisruptionBudget counts, by state: expected, desired_healthy, current_healthy.",
		[]string{"namespace", "name", "state"}, nil)
)

func newPDBCollector(ws []workloadInformers, sel labels.Selector) *kind {
	k := &kind{name: CollectorPDB, descs: []*prometheus.Desc{pdbAllowedDesc, pdbPodsDesc}}
	var collects []func(ch chan<- prometheus.Metric)
	for _, w := range ws {
		k.synced = append(k.synced, w.pdbs.HasSynced)
		lister := w.pdbs.Lister
		collects = append(collects, func(ch chan<- prometheus.Metric) {
			pdbs, _ := lister.List(sel)
			for _, p := range sortByName(pdbs) {
				s := p.Status
				ch <- prometheus.MustNewConstMetric(pdbAllowedDesc, prometheus.GaugeValue, float64(s.DisruptionsAllowed), p.Namespace, p.Name)
				for _, v := range []struct {
					state string
					n     int32
				}{{"expected", s.ExpectedPods}, {"desired_healthy", s.DesiredHealthy}, {"current_healthy", s.CurrentHealthy}} {
					ch <- prometheus.MustNewConstMetric(pdbPodsDesc, prometheus.GaugeValue, float64(v.n), p.Namespace, p.Name, v.state)
				}
			}
		})
	}
	k.collect = func(ch chan<- prometheus.Metric) {
		for _, c := range collects {
			c(ch)
		}
	}
	return k
}
