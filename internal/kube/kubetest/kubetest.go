// Package kubetest builds listers over in-memory caches, for unit tests of
// code that reads informer listers.
package kubetest

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/listers"
	"k8s.io/client-go/tools/cache"
)

// Lister is a lister of gr over a cache holding objs (each a T), indexed
// by namespace as an informer's cache is.
func Lister[T runtime.Object](t testing.TB, gr schema.GroupResource, objs ...any) listers.ResourceIndexer[T] {
	t.Helper()
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, o := range objs {
		if err := idx.Add(o); err != nil {
			t.Fatal(err)
		}
	}
	return listers.New[T](idx, gr)
}
