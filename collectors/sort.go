package collectors

import (
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// sortByName sorts objects from a lister by namespace and name, so the
// exposition is stable.
func sortByName[T metav1.Object](objs []T) []T {
	sort.Slice(objs, func(i, j int) bool {
		if a, b := objs[i].GetNamespace(), objs[j].GetNamespace(); a != b {
			return a < b
		}
		return objs[i].GetName() < objs[j].GetName()
	})
	return objs
}
