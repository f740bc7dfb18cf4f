package rollback

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	routev1 "github.com/openshift/api/route/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/zerodown/zerodown/internal/kube"
)

// Kube is the Cluster of a real cluster. Its record is one ConfigMap:
// "alert.<alert>.<target>" keys say an alert acted on a target (kept a
// day), "target.<target>" keys when a target was last acted on (its
// cooldown), and "disabled: true" is the kill switch.
type Kube struct {
	// Client reaches the cluster. In a cluster without OpenShift's APIs,
	// route-switch, mcp-pause and clusterversion-abort fail with the API
	// server's answer (the resource is not found).
	Client *kube.Client
	// Namespace and Name of the record ConfigMap.
	Namespace, Name string
	// Component names zerodown in Events.
	Component string
}

// KillSwitchKey is the record ConfigMap's key that stops every action
// when set to "true".
const KillSwitchKey = "disabled"

// alertRecordTTL is how long the record remembers that an alert acted:
// longer than Alertmanager retries a delivery or resends a firing alert
// of the same start.
const alertRecordTTL = 24 * time.Hour

func keyPart(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

// Reserve implements Cluster with an optimistic read-modify-write of the
// record (a conflict is retried): two controllers that both believe they
// lead cannot both reserve.
func (k *Kube) Reserve(ctx context.Context, alert, target string, cooldown time.Duration, now time.Time) (bool, string, error) {
	ak, tk := "alert."+alert+"."+keyPart(target), "target."+keyPart(target)
	var ok bool
	var why string
	err := k.update(ctx, func(data map[string]string) bool {
		ok, why = false, ""
		if _, done := data[ak]; done {
			why = "duplicate"
			return false
		}
		if last, err := time.Parse(time.RFC3339Nano, data[tk]); err == nil && now.Sub(last) < cooldown {
			why = fmt.Sprintf("cooldown: last acted on at %s, again from %s", last.UTC().Format(time.RFC3339), last.Add(cooldown).UTC().Format(time.RFC3339))
			return false
		}
		for key, v := range data { // forget old alerts
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil && strings.HasPrefix(key, "alert.") && now.Sub(t) > alertRecordTTL {
				delete(data, key)
			}
		}
		data[ak] = now.UTC().Format(time.RFC3339Nano)
		data[tk] = data[ak]
		ok = true
		return true
	})
	return ok, why, err
}

// Release implements Cluster.
func (k *Kube) Release(ctx context.Context, alert, target string) error {
	return k.update(ctx, func(data map[string]string) bool {
		delete(data, "alert."+alert+"."+keyPart(target))
		delete(data, "target."+keyPart(target))
		return true
	})
}

// Disabled implements Cluster.
func (k *Kube) Disabled(ctx context.Context) (bool, error) {
	cm, err := k.Client.ConfigMaps(k.Namespace).Get(ctx, k.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return cm.Data[KillSwitchKey] == "true", nil
}

// update applies change to the record's data (creating the ConfigMap when
// missing) and writes it when change says so, retrying conflicts.
func (k *Kube) update(ctx context.Context, change func(map[string]string) bool) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cms := k.Client.ConfigMaps(k.Namespace)
		cm, err := cms.Get(ctx, k.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: k.Name, Namespace: k.Namespace,
				Labels: map[string]string{"app.kubernetes.io/name": "zerodown", "app.kubernetes.io/component": "rollback"}}}
			if cm.Data = map[string]string{}; !change(cm.Data) {
				return nil
			}
			_, err = cms.Create(ctx, cm, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				return apierrors.NewConflict(corev1.Resource("configmaps"), k.Name, err)
			}
			return err
		}
		if err != nil {
			return err
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		if !change(cm.Data) {
			return nil
		}
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		return err
	})
}

func dryRunOpts(dry bool) []string {
	if dry {
		return []string{metav1.DryRunAll}
	}
	return nil
}

// UndoDeployment implements Cluster as kubectl rollout undo does (without
// importing kubectl, whose deployment helpers bring cli-runtime and
// kustomize along): the pod
// template of the previous revision's ReplicaSet (or ToRevision's),
// without its pod-template-hash label, with its annotations; a paused
// Deployment is refused, one already at that template left alone. A dry
// run is the API server's (validated and authorized, not stored).
func (k *Kube) UndoDeployment(ctx context.Context, d DeploymentUndo, dry bool) (string, error) {
	deps := k.Client.Deployments(d.Namespace)
	dep, err := deps.Get(ctx, d.Name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if dep.Spec.Paused {
		return "", fmt.Errorf("deployment %s/%s is paused: resume it first (kubectl rollout resume)", d.Namespace, d.Name)
	}
	all, err := k.replicaSets(ctx, dep)
	if err != nil {
		return "", fmt.Errorf("replica sets of %s/%s: %w", d.Namespace, d.Name, err)
	}
	current, _ := revision(dep.Annotations)
	var to *appsv1.ReplicaSet
	toRev := int64(-1)
	for _, rs := range all {
		rev, ok := revision(rs.Annotations)
		if !ok {
			continue
		}
		if d.ToRevision > 0 && rev == d.ToRevision || d.ToRevision == 0 && rev < current && rev > toRev {
			to, toRev = rs, rev
		}
	}
	if to == nil {
		if d.ToRevision > 0 {
			return "", fmt.Errorf("deployment %s/%s has no revision %d", d.Namespace, d.Name, d.ToRevision)
		}
		return "", fmt.Errorf("deployment %s/%s has no revision before %d to roll back to", d.Namespace, d.Name, current)
	}
	tmpl := to.Spec.Template.DeepCopy()
	delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	cur := dep.Spec.Template.DeepCopy()
	delete(cur.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	if apiequality.Semantic.DeepEqual(tmpl, cur) {
		return fmt.Sprintf("deployment %s/%s already runs the template of revision %d: nothing to do", d.Namespace, d.Name, toRev), nil
	}
	// The Deployment's annotations as kubectl computes them: its own
	// bookkeeping ones kept, the revision's others restored.
	skip := map[string]bool{corev1.LastAppliedConfigAnnotation: true, revisionAnnotation: true,
		"deployment.kubernetes.io/revision-history": true, "deployment.kubernetes.io/desired-replicas": true,
		"deployment.kubernetes.io/max-replicas": true, appsv1.DeprecatedRollbackTo: true}
	ann := map[string]string{}
	for key := range skip {
		if v, ok := dep.Annotations[key]; ok {
			ann[key] = v
		}
	}
	for key, v := range to.Annotations {
		if !skip[key] {
			ann[key] = v
		}
	}
	patch, err := json.Marshal([]map[string]any{
		{"op": "replace", "path": "/spec/template", "value": tmpl},
		{"op": "replace", "path": "/metadata/annotations", "value": ann},
	})
	if err != nil {
		return "", err
	}
	if _, err := deps.Patch(ctx, d.Name, types.JSONPatchType, patch, metav1.PatchOptions{DryRun: dryRunOpts(dry)}); err != nil {
		return "", fmt.Errorf("rolling %s/%s back to revision %d: %w", d.Namespace, d.Name, toRev, err)
	}
	verb := "rolled back"
	if dry {
		verb = "would roll back (dry run)"
	}
	return fmt.Sprintf("deployment %s/%s %s from revision %d to revision %d", d.Namespace, d.Name, verb, current, toRev), nil
}

// revisionAnnotation holds a Deployment's and its ReplicaSets' revision.
const revisionAnnotation = "deployment.kubernetes.io/revision"

func revision(ann map[string]string) (int64, bool) {
	v, err := strconv.ParseInt(ann[revisionAnnotation], 10, 64)
	return v, err == nil
}

// replicaSets returns the ReplicaSets the Deployment controls: those of
// its namespace that its selector selects and that name it as their
// controller (as kubectl's deployment helpers find them).
func (k *Kube) replicaSets(ctx context.Context, dep *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return nil, err
	}
	list, err := k.Client.ReplicaSets(dep.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, err
	}
	var out []*appsv1.ReplicaSet
	for i := range list.Items {
		if ref := metav1.GetControllerOf(&list.Items[i]); ref != nil && ref.UID == dep.UID {
			out = append(out, &list.Items[i])
		}
	}
	return out, nil
}

// ReplacedBackendsAnnotation keeps, on a Route that route-switch changed,
// the spec.to and spec.alternateBackends it replaced (JSON), so that the
// switch can be undone.
const ReplacedBackendsAnnotation = "zerodown.io/replaced-backends"

// SwitchRoute implements Cluster: spec.to becomes the Service r.To with
// weight 100, alternateBackends go, and what they were is kept in the
// annotation. A Route already sending everything to r.To is left alone.
func (k *Kube) SwitchRoute(ctx context.Context, r RouteSwitch, dry bool) (string, error) {
	routes := k.Client.Routes(r.Namespace)
	rt, err := routes.Get(ctx, r.Name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if rt.Spec.To.Kind == "Service" && rt.Spec.To.Name == r.To && len(rt.Spec.AlternateBackends) == 0 {
		return fmt.Sprintf("route %s/%s already sends everything to %s: nothing to do", r.Namespace, r.Name, r.To), nil
	}
	was, err := json.Marshal(map[string]any{"to": rt.Spec.To, "alternateBackends": rt.Spec.AlternateBackends})
	if err != nil {
		return "", err
	}
	weight := int32(100)
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{ReplacedBackendsAnnotation: string(was)}},
		"spec": map[string]any{
			"to":                map[string]any{"kind": "Service", "name": r.To, "weight": weight},
			"alternateBackends": nil,
		},
	})
	if err != nil {
		return "", err
	}
	if _, err := routes.Patch(ctx, r.Name, types.MergePatchType, patch, metav1.PatchOptions{DryRun: dryRunOpts(dry)}); err != nil {
		return "", fmt.Errorf("switching route %s/%s to %s: %w", r.Namespace, r.Name, r.To, err)
	}
	verb := "now sends everything to"
	if dry {
		verb = "would send everything to (dry run)"
	}
	return fmt.Sprintf("route %s/%s %s %s; it sent to %s before (kept in %s)", r.Namespace, r.Name, verb, r.To, backendsOf(rt.Spec.To.Name, rt.Spec.To.Weight, rt.Spec.AlternateBackends), ReplacedBackendsAnnotation), nil
}

// PauseMCP implements Cluster.
func (k *Kube) PauseMCP(ctx context.Context, name string, dry bool) (string, error) {
	pools := k.Client.MachineConfigPools()
	p, err := pools.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if p.Spec.Paused {
		return fmt.Sprintf("machine config pool %s is already paused: nothing to do", name), nil
	}
	if _, err := pools.Patch(ctx, name, types.MergePatchType, []byte(`{"spec":{"paused":true}}`), metav1.PatchOptions{DryRun: dryRunOpts(dry)}); err != nil {
		return "", fmt.Errorf("pausing machine config pool %s: %w", name, err)
	}
	if dry {
		return fmt.Sprintf("machine config pool %s would be paused (dry run)", name), nil
	}
	return fmt.Sprintf("machine config pool %s paused: its nodes take no new configuration until spec.paused is false again", name), nil
}

// Record implements Cluster: an Event on the target (cluster-scoped
// objects' Events go to the record's namespace).
func (k *Kube) Record(ctx context.Context, a Action, reason, message string) {
	ref := corev1.ObjectReference{}
	ns := k.Namespace
	switch {
	case a.DeploymentUndo != nil:
		ref = corev1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: a.DeploymentUndo.Namespace, Name: a.DeploymentUndo.Name}
		ns = a.DeploymentUndo.Namespace
	case a.RouteSwitch != nil:
		ref = corev1.ObjectReference{APIVersion: "route.openshift.io/v1", Kind: "Route", Namespace: a.RouteSwitch.Namespace, Name: a.RouteSwitch.Name}
		ns = a.RouteSwitch.Namespace
	case a.ClusterVersionAbort != nil:
		ref = corev1.ObjectReference{APIVersion: "config.openshift.io/v1", Kind: "ClusterVersion", Name: "version"}
	case a.MCPPause != nil:
		ref = corev1.ObjectReference{APIVersion: "machineconfiguration.openshift.io/v1", Kind: "MachineConfigPool", Name: a.MCPPause.Name}
	}
	now := metav1.Now()
	typ := corev1.EventTypeWarning
	if strings.HasSuffix(reason, "DryRun") {
		typ = corev1.EventTypeNormal
	}
	_, _ = k.Client.Events(ns).Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: strings.ToLower(ref.Name) + ".zerodown-", Namespace: ns},
		InvolvedObject: ref, Reason: reason, Message: message, Type: typ,
		Source: corev1.EventSource{Component: k.Component}, FirstTimestamp: now, LastTimestamp: now, Count: 1,
	}, metav1.CreateOptions{})
}

// backendsOf describes a Route's backends: "green (weight 100), blue (0)".
func backendsOf(to string, weight *int32, alt []routev1.RouteTargetReference) string {
	w := func(p *int32) string {
		if p == nil {
			return "100"
		}
		return strconv.Itoa(int(*p))
	}
	parts := []string{fmt.Sprintf("%s (weight %s)", to, w(weight))}
	for _, a := range alt {
		parts = append(parts, fmt.Sprintf("%s (%s)", a.Name, w(a.Weight)))
	}
	return strings.Join(parts, ", ")
}
