package collectors

import (
	appsv1 "k8s.io/api/apps/v1"
)

// daemonSetRollout reads a DaemonSet: scheduled pods as replicas, and
// RolloutComplete (DaemonSets have no conditions of their own).
func daemonSetRollout(d *appsv1.DaemonSet) rollout {
	return rollout{kind: "DaemonSet", namespace: d.Namespace, name: d.Name,
		desired: d.Status.DesiredNumberScheduled, updated: d.Status.UpdatedNumberScheduled,
		ready: d.Status.NumberReady, available: d.Status.NumberAvailable,
		generation: d.Generation, observed: d.Status.ObservedGeneration,
		old: d.Status.CurrentNumberScheduled > d.Status.UpdatedNumberScheduled}.withRolloutComplete()
}
