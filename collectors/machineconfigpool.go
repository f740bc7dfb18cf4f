package collectors

import (
	mcfgv1 "github.com/openshift/api/machineconfiguration/v1"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	"github.com/zerodown/zerodown/internal/kube"
	"github.com/zerodown/zerodown/intervals"
)

// The MachineConfigPool conditions exported, in this order.
var machineConfigPoolConds = []string{"Updated", "Updating", "Degraded"}

var (
	mcpConds        = newCondDescs("zerodown_machine_config_pool", "MachineConfigPool", "pool")
	mcpMachinesDesc = prometheus.NewDesc("zerodown_machine_config_pool_machines",
		"Machines of a MachineConfigPool by state: total, updated, ready, unavailable, degraded.",
		[]string{"pool", "state"}, nil)
	mcpPausedDesc = prometheus.NewDesc("zerodown_machine_config_pool_paused",
		"1 if the MachineConfigPool is paused (spec.paused): its nodes get no updates.",
		[]string{"pool"}, nil)
)

func machineConfigPoolConditions(p *mcfgv1.MachineConfigPool) []Cond {
	have := map[string]Cond{}
	for _, c := range p.Status.Conditions {
		st := ParseStatus(string(c.Status))
		level := intervals.LevelInfo
		if c.Type == mcfgv1.MachineConfigPoolDegraded && st == StatusTrue {
			level = intervals.LevelError
		}
		have[string(c.Type)] = Cond{Type: string(c.Type), Status: st, Since: c.LastTransitionTime.Time,
			Reason: c.Reason, Message: c.Message, Level: level}
	}
	return pick(have, machineConfigPoolConds, missingUnknown)
}

func newMachineConfigPoolCollector(inf *kube.Informer[*mcfgv1.MachineConfigPool], conds *Conditions) *kind {
	trackConditions(inf, conds, "MachineConfigPool", machineConfigPoolConditions)
	lister := inf.Lister
	return &kind{
		name:   CollectorMachineConfigPool,
		synced: []cache.InformerSynced{inf.HasSynced},
		descs:  append(mcpConds.list(), mcpMachinesDesc, mcpPausedDesc),
		collect: func(ch chan<- prometheus.Metric) {
			pools, _ := lister.List(labels.Everything())
			for _, p := range sortByName(pools) {
				mcpConds.emit(ch, machineConfigPoolConditions(p), conds.Counters(ObjectRef{Kind: "MachineConfigPool", Name: p.Name}), p.Name)
				s := p.Status
				for _, m := range []struct {
					state string
					n     int32
				}{{"total", s.MachineCount}, {"updated", s.UpdatedMachineCount}, {"ready", s.ReadyMachineCount},
					{"unavailable", s.UnavailableMachineCount}, {"degraded", s.DegradedMachineCount}} {
					ch <- prometheus.MustNewConstMetric(mcpMachinesDesc, prometheus.GaugeValue, float64(m.n), p.Name, m.state)
				}
				ch <- prometheus.MustNewConstMetric(mcpPausedDesc, prometheus.GaugeValue, b2f(p.Spec.Paused), p.Name)
			}
		},
	}
}
