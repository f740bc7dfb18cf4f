package collectors

import (
	"k8s.io/apimachinery/pkg/api/meta"
)

// lastApplied is the annotation kubectl apply keeps: a copy of the whole
// object as applied, often the biggest part of it.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// Trim is an informer transform that drops what no collector or discovery
// reads before an object enters the cache: its managedFields and kubectl's
// last-applied annotation. On a big cluster these are most of the bytes of
// a Service or an EndpointSlice.
func Trim(obj any) (any, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return obj, nil // a tombstone or another type: kept as it is
	}
	m.SetManagedFields(nil)
	if a := m.GetAnnotations(); a != nil {
		if _, ok := a[lastApplied]; ok {
			delete(a, lastApplied)
			m.SetAnnotations(a)
		}
	}
	return obj, nil
}
