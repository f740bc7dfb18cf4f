package collectors

import (
	"fmt"
	"testing"
	"time"

	configv1 "github.com/openshift/api/config/v1"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zerodown/zerodown/internal/kube/kubetest"
)

// BenchmarkCollect measures one scrape of a large cluster's state: 60
// ClusterOperators and 1,000 Nodes, with their condition counters. It
// reports the series exported per scrape.
func BenchmarkCollect(b *testing.B) {
	now := metav1.NewTime(time.Now())
	conds := NewConditions(nil, nil)
	var cos, nodes []any
	for i := range 60 {
		co := &configv1.ClusterOperator{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("operator-%02d", i)},
			Status: configv1.ClusterOperatorStatus{
				Conditions: []configv1.ClusterOperatorStatusCondition{
					{Type: "Available", Status: "True", LastTransitionTime: now}, {Type: "Progressing", Status: "False", LastTransitionTime: now},
					{Type: "Degraded", Status: "False", LastTransitionTime: now}, {Type: "Upgradeable", Status: "True", LastTransitionTime: now},
				},
				Versions: []configv1.OperandVersion{{Name: "operator", Version: "4.16.3"}},
			}}
		cos = append(cos, co)
		conds.Observe(ObjectRef{Kind: "ClusterOperator", Name: co.Name}, clusterOperatorConditions(co))
	}
	for i := range 1000 {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("worker-%04d", i)},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}}}
		nodes = append(nodes, n)
		conds.Observe(ObjectRef{Kind: "Node", Name: n.Name}, nodeConditions(n))
	}
	coL := kubetest.Lister[*configv1.ClusterOperator](b, configv1.Resource("clusteroperators"), cos...)
	nodeL := kubetest.Lister[*corev1.Node](b, corev1.Resource("nodes"), nodes...)
	collect := func(ch chan<- prometheus.Metric) {
		collectClusterOperators(coL, conds)(ch)
		collectNodes(nodeL, conds)(ch)
	}
	ch := make(chan prometheus.Metric, 1024)
	done := make(chan int)
	go func() {
		n := 0
		for range ch {
			n++
		}
		done <- n
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		collect(ch)
	}
	b.StopTimer()
	close(ch)
	total := <-done
	b.ReportMetric(float64(total)/float64(b.N), "series/scrape")
}

// BenchmarkObserve measures the condition tracker on an informer update
// that changes nothing (the common case: resyncs, heartbeats).
func BenchmarkObserve(b *testing.B) {
	conds := NewConditions(nil, nil)
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker"},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	ref := ObjectRef{Kind: "Node", Name: "worker"}
	b.ReportAllocs()
	for b.Loop() {
		conds.Observe(ref, nodeConditions(n))
	}
}
