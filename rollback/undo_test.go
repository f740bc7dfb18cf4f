package rollback

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// rs is a ReplicaSet of the Deployment "web" running image at revision
// rev, with its earlier revisions (when its template came back).
func rs(image, rev, history string) *appsv1.ReplicaSet {
	r := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-" + strings.TrimPrefix(image, "web:"),
		Annotations: map[string]string{revisionAnnotation: rev}}}
	if history != "" {
		r.Annotations[revisionHistoryAnnotation] = history
	}
	r.Spec.Template = podTemplate(image)
	r.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = "hash-" + image
	return r
}

func podTemplate(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}}}
}

func dep(image, rev string) *appsv1.Deployment {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", ResourceVersion: "4242",
		Annotations: map[string]string{revisionAnnotation: rev}}}
	d.Spec.Template = podTemplate(image)
	return d
}

// The undo's choice is kubectl's (the second-newest revision), and
// repeating an undo never puts back what an earlier one took away.
func TestPlanUndo(t *testing.T) {
	for _, tc := range []struct {
		name       string
		dep        *appsv1.Deployment
		all        []*appsv1.ReplicaSet
		toRevision int64
		from, to   int64
		image      string // the template patched in; "" nothing to do
		refused    string
	}{
		{name: "the previous revision", dep: dep("web:v2", "2"), all: []*appsv1.ReplicaSet{rs("web:v1", "1", ""), rs("web:v2", "2", "")},
			from: 2, to: 1, image: "web:v1"},
		// The Deployment's revision annotation lags a new rollout (v3's
		// ReplicaSet is there, the Deployment still says 2): kubectl takes
		// the second-newest ReplicaSet, v2; counting down from the
		// Deployment's own revision would skip to v1.
		{name: "revision annotation lagging", dep: dep("web:v3", "2"), all: []*appsv1.ReplicaSet{rs("web:v1", "1", ""), rs("web:v2", "2", ""), rs("web:v3", "3", "")},
			from: 3, to: 2, image: "web:v2"},
		// v2 was undone to v1 (whose ReplicaSet became revision 3): a second
		// undo (a new episode, a second rule) would pick v2 again.
		{name: "a second undo never rolls forward", dep: dep("web:v1", "3"), all: []*appsv1.ReplicaSet{rs("web:v1", "3", "1"), rs("web:v2", "2", "")},
			refused: "revision 2 (first rolled out as revision 2) is newer than the running revision 3 (first rolled out as revision 1): an undo never rolls forward"},
		// The undo's patch was applied but its answer lost, and the
		// controller has not yet moved v1's ReplicaSet to revision 3: the
		// retry finds the Deployment where the undo took it.
		{name: "a retried undo finds it done", dep: dep("web:v1", "2"), all: []*appsv1.ReplicaSet{rs("web:v1", "1", ""), rs("web:v2", "2", "")},
			from: 1, to: 1, refused: ""},
		{name: "to_revision", dep: dep("web:v3", "3"), all: []*appsv1.ReplicaSet{rs("web:v1", "1", ""), rs("web:v2", "2", ""), rs("web:v3", "3", "")},
			toRevision: 1, from: 3, to: 1, image: "web:v1"},
		{name: "to_revision forward", dep: dep("web:v1", "3"), all: []*appsv1.ReplicaSet{rs("web:v1", "3", "1"), rs("web:v2", "2", "")},
			toRevision: 2, refused: "never rolls forward"},
		{name: "no history", dep: dep("web:v1", "1"), all: []*appsv1.ReplicaSet{rs("web:v1", "1", "")},
			refused: "no rollout history"},
		{name: "paused", dep: func() *appsv1.Deployment { d := dep("web:v2", "2"); d.Spec.Paused = true; return d }(),
			all: []*appsv1.ReplicaSet{rs("web:v1", "1", ""), rs("web:v2", "2", "")}, refused: "is paused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := planUndo(tc.dep, tc.all, tc.toRevision)
			if tc.refused != "" {
				wantRefusal(t, err, tc.refused)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if plan.from != tc.from || plan.to != tc.to {
				t.Errorf("from %d to %d, want from %d to %d", plan.from, plan.to, tc.from, tc.to)
			}
			if tc.image == "" {
				if plan.patch != nil || !strings.Contains(plan.what, "nothing to do") {
					t.Errorf("plan %+v, want nothing to do", plan)
				}
				return
			}
			var ops []struct {
				Op, Path string
				Value    json.RawMessage
			}
			if err := json.Unmarshal(plan.patch, &ops); err != nil {
				t.Fatal(err)
			}
			// The precondition: the resourceVersion the plan was made on.
			if len(ops) != 3 || ops[0].Path != "/metadata/resourceVersion" || string(ops[0].Value) != `"4242"` {
				t.Fatalf("patch %s: want the resourceVersion 4242 first", plan.patch)
			}
			var tmpl corev1.PodTemplateSpec
			if err := json.Unmarshal(ops[1].Value, &tmpl); err != nil {
				t.Fatal(err)
			}
			if tmpl.Spec.Containers[0].Image != tc.image || tmpl.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != "" {
				t.Errorf("patched template %+v, want %s without the pod-template-hash", tmpl, tc.image)
			}
		})
	}
}

// wantRefusal fails the test unless err is a *Refusal saying want.
func wantRefusal(t *testing.T, err error, want string) {
	t.Helper()
	var r *Refusal
	if !errors.As(err, &r) || !strings.Contains(err.Error(), want) {
		t.Fatalf("err %v, want a refusal %q", err, want)
	}
}
