package collectors

import (
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/zerodown/zerodown/internal/kube"
	"github.com/zerodown/zerodown/intervals"
)

// CondRolloutComplete is the pseudo-condition of every workload: True when
// the controller has seen the newest spec and every replica is updated and
// available.
const CondRolloutComplete = "RolloutComplete"

var (
	workloadConds        = newCondDescs("zerodown_workload", "workload", "kind", "namespace", "name")
	workloadReplicasDesc = prometheus.NewDesc("zerodown_workload_replicas",
		"Replicas of a Deployment, DaemonSet or StatefulSet by state: desired, updated, ready, available.",
		[]string{"kind", "namespace", "name", "state"}, nil)
	workloadGenerationDesc = prometheus.NewDesc("zerodown_workload_generation_lag",
		"metadata.generation minus status.observedGeneration: above 0 while the controller has not seen the newest spec.",
		[]string{"kind", "namespace", "name"}, nil)
)

// rollout is what the workload collector reads of each kind.
type rollout struct {
	kind, namespace, name              string
	desired, updated, ready, available int32
	generation, observed               int64
	// old is true while replicas of an earlier revision remain (they
	// still serve users, as kubectl rollout status waits for).
	old   bool
	conds []Cond
}

func (r rollout) complete() bool {
	return r.observed >= r.generation && r.updated == r.desired && r.available == r.desired && !r.old
}

// withRolloutComplete appends the RolloutComplete pseudo-condition.
func (r rollout) withRolloutComplete() rollout {
	c := Cond{Type: CondRolloutComplete, Status: BoolStatus(r.complete()), Level: intervals.LevelInfo}
	if !r.complete() {
		c.Reason = "RollingOut"
	}
	r.conds = append(r.conds, c)
	return r
}

// workloadInformers are the informers of the workloads of one namespace
// (or of all).
type workloadInformers struct {
	deployments  *kube.Informer[*appsv1.Deployment]
	daemonSets   *kube.Informer[*appsv1.DaemonSet]
	statefulSets *kube.Informer[*appsv1.StatefulSet]
	pdbs         *kube.Informer[*policyv1.PodDisruptionBudget]
}

func newWorkloadCollector(ws []workloadInformers, sel labels.Selector, conds *Conditions) *kind {
	k := &kind{name: CollectorWorkload,
		descs: append(workloadConds.list(), workloadReplicasDesc, workloadGenerationDesc)}
	var listers []func() []rollout
	for _, w := range ws {
		dep, ds, sts := w.deployments, w.daemonSets, w.statefulSets
		trackConditions(dep, conds, "Deployment", func(d *appsv1.Deployment) []Cond { return deploymentRollout(d).conds })
		trackConditions(ds, conds, "DaemonSet", func(d *appsv1.DaemonSet) []Cond { return daemonSetRollout(d).conds })
		trackConditions(sts, conds, "StatefulSet", func(s *appsv1.StatefulSet) []Cond { return statefulSetRollout(s).conds })
		k.synced = append(k.synced, dep.HasSynced, ds.HasSynced, sts.HasSynced)
		dl, dsl, stl := dep.Lister, ds.Lister, sts.Lister
		listers = append(listers, func() []rollout {
			var out []rollout
			ds1, _ := dl.List(sel)
			for _, d := range sortByName(ds1) {
				out = append(out, deploymentRollout(d))
			}
			ds2, _ := dsl.List(sel)
			for _, d := range sortByName(ds2) {
				out = append(out, daemonSetRollout(d))
			}
			ss, _ := stl.List(sel)
			for _, s := range sortByName(ss) {
				out = append(out, statefulSetRollout(s))
			}
			return out
		})
	}
	k.collect = func(ch chan<- prometheus.Metric) {
		for _, list := range listers {
			for _, r := range list() {
				workloadConds.emit(ch, r.conds, conds.Counters(ObjectRef{Kind: r.kind, Namespace: r.namespace, Name: r.name}), r.kind, r.namespace, r.name)
				for _, s := range []struct {
					state string
					n     int32
				}{{"desired", r.desired}, {"updated", r.updated}, {"ready", r.ready}, {"available", r.available}} {
					ch <- prometheus.MustNewConstMetric(workloadReplicasDesc, prometheus.GaugeValue, float64(s.n), r.kind, r.namespace, r.name, s.state)
				}
				ch <- prometheus.MustNewConstMetric(workloadGenerationDesc, prometheus.GaugeValue, float64(max(r.generation-r.observed, 0)), r.kind, r.namespace, r.name)
			}
		}
	}
	return k
}
