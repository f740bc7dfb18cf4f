package collectors

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

func TestTrim(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{
		Name: "web", Annotations: map[string]string{lastApplied: `{"big":"json"}`, "zerodown.io/probe": "true"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
	}}
	out, err := Trim(svc)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Service)
	if len(got.ManagedFields) != 0 {
		t.Errorf("managedFields kept: %v", got.ManagedFields)
	}
	if _, ok := got.Annotations[lastApplied]; ok || got.Annotations["zerodown.io/probe"] != "true" {
		t.Errorf("annotations after Trim: %v, want only the last-applied one dropped", got.Annotations)
	}
	tomb := cache.DeletedFinalStateUnknown{Key: "ns/web", Obj: svc}
	if out, err := Trim(tomb); err != nil || out != any(tomb) {
		t.Errorf("tombstone: %v, %v", out, err)
	}
}
