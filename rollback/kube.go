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

	"github.com/zerodown/zerodown/internal/kube"
)

// Kube is the Cluster of a real cluster. Its record is one ConfigMap:
// "alert.<alert>.<target>" keys say an alert is acting or acted on a
// target (kept a day), "dry.<alert>.<target>" the same of a dry run,
// "target.<target>" keys when a target was last acted on (its cooldown),
// and "disabled: true" is the kill switch.
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

// actingTTL is how long a reservation of an action under way holds off
// other deliveries of the alert (answered in_progress); after it, the
// actor is taken for dead and a delivery acts again, which is safe: every
// action first checks where its object is.
const actingTTL = 2 * time.Minute

func keyPart(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

// entry is the value of an alert's key in the record.
type entry struct {
	At    time.Time `json:"at"`
	State string    `json:"state"` // acting or done
	By    string    `json:"by,omitempty"`
	Did   string    `json:"did,omitempty"`
}

// parseEntry reads a record value; a bare time (an older record) is a done
// action.
func parseEntry(v string) (entry, bool) {
	var en entry
	if err := json.Unmarshal([]byte(v), &en); err == nil && !en.At.IsZero() {
		return en, true
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return entry{At: t, State: "done"}, true
	}
	return entry{}, false
}

func (en entry) String() string {
	b, _ := json.Marshal(en)
	return string(b)
}

func recordKeys(r Reservation) (alert, target string) {
	prefix := "alert."
	if r.DryRun {
		prefix = "dry."
	}
	return prefix + r.Alert + "." + keyPart(r.Target), "target." + keyPart(r.Target)
}

// Reserve implements Cluster with an optimistic read-modify-write of the
// record (a conflict is retried): two controllers that both believe they
// lead cannot both reserve. The kill switch is read in the same read.
func (k *Kube) Reserve(ctx context.Context, r Reservation) (Reserved, error) {
	var got Reserved
	err := k.update(ctx, func(data map[string]string) bool {
		got = reserveIn(data, r, k.Namespace+"/"+k.Name)
		return got.OK
	})
	return got, err
}

// Finish implements Cluster.
func (k *Kube) Finish(ctx context.Context, r Reservation, done bool, what string) error {
	return k.update(ctx, func(data map[string]string) bool {
		finishIn(data, r, done, what)
		return true
	})
}

// reserveIn is Reserve on the record's data (changed only when OK); name
// names the record in what it says.
func reserveIn(data map[string]string, r Reservation, name string) Reserved {
	ak, tk := recordKeys(r)
	if data[KillSwitchKey] == "true" {
		return Reserved{Result: ResultKilled, Detail: fmt.Sprintf("the kill switch in the cluster is on (ConfigMap %s, %s: \"true\")", name, KillSwitchKey)}
	}
	en, takeover := parseEntry(data[ak])
	if takeover {
		switch {
		case en.State == "done":
			return Reserved{Result: ResultDuplicate, Detail: fmt.Sprintf("this alert already acted on this target at %s: %s", en.At.UTC().Format(time.RFC3339), en.Did)}
		case r.Now.Sub(en.At) < actingTTL:
			return Reserved{Result: ResultInProgress, Detail: fmt.Sprintf("%s has been acting on this target since %s: retry", en.By, en.At.UTC().Format(time.RFC3339))}
		}
		// An actor that never finished: taken over, its cooldown being
		// this alert's own.
	}
	if !r.DryRun {
		if last, err := time.Parse(time.RFC3339Nano, data[tk]); err == nil && !takeover && r.Now.Sub(last) < r.Cooldown {
			return Reserved{Result: ResultCooldown, Detail: fmt.Sprintf("cooldown: last acted on at %s, again from %s", last.UTC().Format(time.RFC3339), last.Add(r.Cooldown).UTC().Format(time.RFC3339))}
		}
		data[tk] = r.Now.UTC().Format(time.RFC3339Nano)
	}
	for key, v := range data { // forget old alerts
		if en, ok := parseEntry(v); ok && (strings.HasPrefix(key, "alert.") || strings.HasPrefix(key, "dry.")) && r.Now.Sub(en.At) > alertRecordTTL {
			delete(data, key)
		}
	}
	data[ak] = entry{At: r.Now, State: "acting", By: r.By}.String()
	return Reserved{OK: true}
}

// finishIn is Finish on the record's data.
func finishIn(data map[string]string, r Reservation, done bool, what string) {
	ak, tk := recordKeys(r)
	if done {
		data[ak] = entry{At: r.Now, State: "done", By: r.By, Did: what}.String()
		return
	}
	delete(data, ak)
	if !r.DryRun && data[tk] == r.Now.UTC().Format(time.RFC3339Nano) {
		delete(data, tk)
	}
}

// update applies change to the record's data (creating the ConfigMap when
// missing) and writes it when change says so, retrying conflicts.
func (k *Kube) update(ctx context.Context, change func(map[string]string) bool) error {
	return onConflict(func() error {
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
// kustomize along), with planUndo's guards: the pod template of the
// chosen revision's ReplicaSet, without its pod-template-hash label, with
// its annotations; a paused Deployment is refused, one already at that
// template left alone, one that would roll forward refused. The patch
// carries the resourceVersion the plan was made on: if the Deployment
// changed since (another undo, a rollout, a retry of a patch the server
// had applied), the API server refuses it and the next try plans anew. A
// dry run is the API server's (validated and authorized, not stored).
func (k *Kube) UndoDeployment(ctx context.Context, d DeploymentUndo, dry bool) (string, error) {
	deps := k.Client.Deployments(d.Namespace)
	var plan undoPlan
	err := onConflict(func() error {
		dep, err := deps.Get(ctx, d.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		all, err := k.replicaSets(ctx, dep)
		if err != nil {
			return fmt.Errorf("replica sets of %s/%s: %w", d.Namespace, d.Name, err)
		}
		if plan, err = planUndo(dep, all, d.ToRevision); err != nil || plan.patch == nil {
			return err
		}
		_, err = deps.Patch(ctx, d.Name, types.JSONPatchType, plan.patch, metav1.PatchOptions{DryRun: dryRunOpts(dry)})
		return err // a conflict: the Deployment moved since the plan; planned anew
	})
	switch {
	case err != nil && plan.patch != nil:
		return "", fmt.Errorf("rolling %s/%s back from revision %d to revision %d: %w", d.Namespace, d.Name, plan.from, plan.to, err)
	case err != nil || plan.patch == nil:
		return plan.what, err
	}
	verb := "rolled back"
	if dry {
		verb = "would roll back (dry run)"
	}
	return fmt.Sprintf("deployment %s/%s %s from revision %d to revision %d", d.Namespace, d.Name, verb, plan.from, plan.to), nil
}

// undoPlan is what an undo does: from which revision to which, and the
// JSON patch (nil: nothing to do, what says why).
type undoPlan struct {
	from, to int64
	what     string
	patch    []byte
}

// planUndo decides a Deployment's undo. The revision gone back to is
// kubectl's: the ReplicaSet of the second-newest revision (toRevision 0),
// or the one of toRevision. Two guards make repeating an undo safe (a
// second episode after the cooldown, a second rule, a retried patch):
//   - nothing is done when the Deployment already runs that template;
//   - an undo never rolls forward: the revision gone back to must have
//     first been rolled out before the running one (a ReplicaSet keeps
//     its earlier revisions in deployment.kubernetes.io/revision-history).
//     Once revision 2 was undone to revision 1 (which becomes 3), a second
//     undo would pick revision 2 again: refused.
//
// The patch sets the resourceVersion the plan was made on: the API server
// takes it as a precondition (409 Conflict if the Deployment changed), so
// it applies only while the Deployment is still where the plan found it.
func planUndo(dep *appsv1.Deployment, all []*appsv1.ReplicaSet, toRevision int64) (undoPlan, error) {
	id := dep.Namespace + "/" + dep.Name
	if dep.Spec.Paused {
		return undoPlan{}, refuse("deployment %s is paused: resume it first (kubectl rollout resume)", id)
	}
	var latest, previous, to, running *appsv1.ReplicaSet
	latestRev, previousRev := int64(-1), int64(-1)
	for _, rs := range all {
		if sameTemplate(&rs.Spec.Template, &dep.Spec.Template) {
			running = rs
		}
		rev, ok := revision(rs.Annotations)
		if !ok {
			continue
		}
		switch {
		case toRevision > 0:
			if rev == toRevision {
				to = rs
			}
		case rev > latestRev:
			previous, previousRev = latest, latestRev
			latest, latestRev = rs, rev
		case rev > previousRev:
			previous, previousRev = rs, rev
		}
	}
	if toRevision == 0 {
		to = previous
	}
	if to == nil {
		if toRevision > 0 {
			return undoPlan{}, refuse("deployment %s has no revision %d", id, toRevision)
		}
		return undoPlan{}, refuse("deployment %s has no rollout history to go back to (one revision)", id)
	}
	toRev, _ := revision(to.Annotations)
	plan := undoPlan{to: toRev}
	plan.from, _ = revision(dep.Annotations)
	if running != nil {
		plan.from, _ = revision(running.Annotations)
	}
	if running == to {
		plan.what = fmt.Sprintf("deployment %s already runs the template of revision %d: nothing to do", id, toRev)
		return plan, nil
	}
	if running != nil && firstRevision(to) > firstRevision(running) {
		return undoPlan{}, refuse("deployment %s: revision %d (first rolled out as revision %d) is newer than the running revision %d (first rolled out as revision %d): an undo never rolls forward (an earlier undo took it away)",
			id, toRev, firstRevision(to), plan.from, firstRevision(running))
	}
	tmpl := to.Spec.Template.DeepCopy()
	delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	// The Deployment's annotations as kubectl computes them: its own
	// bookkeeping ones kept, the revision's others restored.
	skip := map[string]bool{corev1.LastAppliedConfigAnnotation: true, revisionAnnotation: true,
		revisionHistoryAnnotation: true, "deployment.kubernetes.io/desired-replicas": true,
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
	var err error
	plan.patch, err = json.Marshal([]map[string]any{
		{"op": "replace", "path": "/metadata/resourceVersion", "value": dep.ResourceVersion},
		{"op": "replace", "path": "/spec/template", "value": tmpl},
		{"op": "replace", "path": "/metadata/annotations", "value": ann},
	})
	return plan, err
}

// sameTemplate compares pod templates as the Deployment controller does:
// the pod-template-hash label left out.
func sameTemplate(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	delete(b.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	return apiequality.Semantic.DeepEqual(a, b)
}

// revisionAnnotation holds a Deployment's and its ReplicaSets' revision;
// revisionHistoryAnnotation a ReplicaSet's earlier ones (when its template
// came back).
const (
	revisionAnnotation        = "deployment.kubernetes.io/revision"
	revisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
)

func revision(ann map[string]string) (int64, bool) {
	v, err := strconv.ParseInt(ann[revisionAnnotation], 10, 64)
	return v, err == nil
}

// firstRevision is the revision a ReplicaSet's template was first rolled
// out as.
func firstRevision(rs *appsv1.ReplicaSet) int64 {
	first, _ := revision(rs.Annotations)
	for _, h := range strings.Split(rs.Annotations[revisionHistoryAnnotation], ",") {
		if v, err := strconv.ParseInt(strings.TrimSpace(h), 10, 64); err == nil && v < first {
			first = v
		}
	}
	return first
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
// The patch carries the resourceVersion read (a precondition): a Route
// changed meanwhile is read again.
func (k *Kube) SwitchRoute(ctx context.Context, r RouteSwitch, dry bool) (string, error) {
	routes := k.Client.Routes(r.Namespace)
	var what string
	err := onConflict(func() error {
		rt, err := routes.Get(ctx, r.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if rt.Spec.To.Kind == "Service" && rt.Spec.To.Name == r.To && len(rt.Spec.AlternateBackends) == 0 {
			what = fmt.Sprintf("route %s/%s already sends everything to %s: nothing to do", r.Namespace, r.Name, r.To)
			return nil
		}
		was, err := json.Marshal(map[string]any{"to": rt.Spec.To, "alternateBackends": rt.Spec.AlternateBackends})
		if err != nil {
			return err
		}
		weight := int32(100)
		patch, err := json.Marshal(map[string]any{
			"metadata": map[string]any{"resourceVersion": rt.ResourceVersion, "annotations": map[string]string{ReplacedBackendsAnnotation: string(was)}},
			"spec": map[string]any{
				"to":                map[string]any{"kind": "Service", "name": r.To, "weight": weight},
				"alternateBackends": nil,
			},
		})
		if err != nil {
			return err
		}
		if _, err := routes.Patch(ctx, r.Name, types.MergePatchType, patch, metav1.PatchOptions{DryRun: dryRunOpts(dry)}); err != nil {
			return err
		}
		verb := "now sends everything to"
		if dry {
			verb = "would send everything to (dry run)"
		}
		what = fmt.Sprintf("route %s/%s %s %s; it sent to %s before (kept in %s)", r.Namespace, r.Name, verb, r.To, backendsOf(rt.Spec.To.Name, rt.Spec.To.Weight, rt.Spec.AlternateBackends), ReplacedBackendsAnnotation)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("switching route %s/%s to %s: %w", r.Namespace, r.Name, r.To, err)
	}
	return what, nil
}

// PauseMCP implements Cluster (with the resourceVersion read as the
// patch's precondition).
func (k *Kube) PauseMCP(ctx context.Context, name string, dry bool) (string, error) {
	pools := k.Client.MachineConfigPools()
	var what string
	err := onConflict(func() error {
		p, err := pools.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Spec.Paused {
			what = fmt.Sprintf("machine config pool %s is already paused: nothing to do", name)
			return nil
		}
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": p.ResourceVersion}, "spec": map[string]any{"paused": true}})
		if err != nil {
			return err
		}
		if _, err := pools.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{DryRun: dryRunOpts(dry)}); err != nil {
			return err
		}
		what = fmt.Sprintf("machine config pool %s paused: its nodes take no new configuration until spec.paused is false again", name)
		if dry {
			what = fmt.Sprintf("machine config pool %s would be paused (dry run)", name)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("pausing machine config pool %s: %w", name, err)
	}
	return what, nil
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

// onConflict calls fn again (up to five times, briefly apart) while it
// fails with a conflict: the object changed since fn read it. Every other
// error is returned as it is. (client-go's retry.RetryOnConflict returns
// nil when fn's error wraps a context deadline before any conflict: an
// API server that hung would pass for success.)
func onConflict(fn func() error) error {
	var err error
	for i := range 5 {
		if err = fn(); !apierrors.IsConflict(err) {
			return err
		}
		time.Sleep(time.Duration(10<<i) * time.Millisecond)
	}
	return err
}
