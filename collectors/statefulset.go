package collectors

import (
	appsv1 "k8s.io/api/apps/v1"
)

// statefulSetRollout reads a StatefulSet: replicas and RolloutComplete.
func statefulSetRollout(s *appsv1.StatefulSet) rollout {
	desired := int32(1)
	if s.Spec.Replicas != nil {
		desired = *s.Spec.Replicas
	}
	return rollout{kind: "StatefulSet", namespace: s.Namespace, name: s.Name,
		desired: desired, updated: s.Status.UpdatedReplicas, ready: s.Status.ReadyReplicas, available: s.Status.AvailableReplicas,
		generation: s.Generation, observed: s.Status.ObservedGeneration,
		old: s.Status.UpdateRevision != "" && s.Status.CurrentRevision != s.Status.UpdateRevision}.withRolloutComplete()
}
