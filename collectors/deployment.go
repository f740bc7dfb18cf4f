package collectors

import (
	appsv1 "k8s.io/api/apps/v1"

	"github.com/zerodown/zerodown/intervals"
)

// deploymentRollout reads a Deployment: replicas, its Available and
// Progressing conditions, and RolloutComplete.
func deploymentRollout(d *appsv1.Deployment) rollout {
	desired := int32(1)
	if d.Spec.Replicas != nil {
		desired = *d.Spec.Replicas
	}
	r := rollout{kind: "Deployment", namespace: d.Namespace, name: d.Name,
		desired: desired, updated: d.Status.UpdatedReplicas, ready: d.Status.ReadyReplicas, available: d.Status.AvailableReplicas,
		generation: d.Generation, observed: d.Status.ObservedGeneration,
		old: d.Status.Replicas > d.Status.UpdatedReplicas}
	have := map[string]Cond{}
	for _, c := range d.Status.Conditions {
		st := ParseStatus(string(c.Status))
		level := intervals.LevelInfo
		if st != StatusTrue {
			level = intervals.LevelWarning
		}
		have[string(c.Type)] = Cond{Type: string(c.Type), Status: st, Since: c.LastTransitionTime.Time,
			Reason: c.Reason, Message: c.Message, Level: level}
	}
	r.conds = pick(have, []string{"Available", "Progressing"}, missingUnknown)
	return r.withRolloutComplete()
}
