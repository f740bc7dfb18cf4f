package collectors

import (
	"strings"
	"testing"
	"time"

	configv1 "github.com/openshift/api/config/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zerodown/zerodown/internal/kube/kubetest"
)

// collectFunc adapts a kind's collect function for testutil.
type collectFunc struct {
	descs   []*prometheus.Desc
	collect func(ch chan<- prometheus.Metric)
}

func (c collectFunc) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}
func (c collectFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }

// Objects with missing or odd conditions give sensible metrics: a missing
// condition is unknown (Upgradeable: true, as OpenShift reads it), an odd
// status is unknown, an empty history is no upgrade.
func TestOddObjects(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))
	conds := NewConditions(nil, nil)
	cos := []any{
		&configv1.ClusterOperator{ObjectMeta: metav1.ObjectMeta{Name: "bare"}},
		&configv1.ClusterOperator{ObjectMeta: metav1.ObjectMeta{Name: "odd"}, Status: configv1.ClusterOperatorStatus{
			Conditions: []configv1.ClusterOperatorStatusCondition{
				{Type: "Available", Status: "Sometimes", LastTransitionTime: t0},
				{Type: "Degraded", Status: "False"},
				{Type: "SomethingNew", Status: "True"},
			},
			Versions: []configv1.OperandVersion{{Name: "operator", Version: "4.16.3"}},
		}},
	}
	cvs := []any{&configv1.ClusterVersion{ObjectMeta: metav1.ObjectMeta{Name: "version"}}}
	nodes := []any{&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Annotations: map[string]string{
		mcdDesiredDrain: "drain-rendered-worker-1", mcdLastAppliedDrain: "uncordon-rendered-worker-0"}},
		Spec: corev1.NodeSpec{Unschedulable: true}}}

	coLister := kubetest.Lister[*configv1.ClusterOperator](t, configv1.Resource("clusteroperators"), cos...)
	cvLister := kubetest.Lister[*configv1.ClusterVersion](t, configv1.Resource("clusterversions"), cvs...)
	nodeLister := kubetest.Lister[*corev1.Node](t, corev1.Resource("nodes"), nodes...)
	c := collectFunc{collect: func(ch chan<- prometheus.Metric) {
		collectClusterOperators(coLister, conds)(ch)
		collectClusterVersions(cvLister, conds)(ch)
		collectNodes(nodeLister, conds)(ch)
	}}
	want := `
# HELP zerodown_cluster_operator_condition 1 for the status a ClusterOperator condition has now, 0 for the others (a missing condition is unknown).
# TYPE zerodown_cluster_operator_condition gauge
zerodown_cluster_operator_condition{condition="Available",name="bare",status="false"} 0
zerodown_cluster_operator_condition{condition="Available",name="bare",status="true"} 0
zerodown_cluster_operator_condition{condition="Available",name="bare",status="unknown"} 1
zerodown_cluster_operator_condition{condition="Available",name="odd",status="false"} 0
zerodown_cluster_operator_condition{condition="Available",name="odd",status="true"} 0
zerodown_cluster_operator_condition{condition="Available",name="odd",status="unknown"} 1
zerodown_cluster_operator_condition{condition="Degraded",name="bare",status="false"} 0
zerodown_cluster_operator_condition{condition="Degraded",name="bare",status="true"} 0
zerodown_cluster_operator_condition{condition="Degraded",name="bare",status="unknown"} 1
zerodown_cluster_operator_condition{condition="Degraded",name="odd",status="false"} 1
zerodown_cluster_operator_condition{condition="Degraded",name="odd",status="true"} 0
zerodown_cluster_operator_condition{condition="Degraded",name="odd",status="unknown"} 0
zerodown_cluster_operator_condition{condition="Progressing",name="bare",status="false"} 0
zerodown_cluster_operator_condition{condition="Progressing",name="bare",status="true"} 0
zerodown_cluster_operator_condition{condition="Progressing",name="bare",status="unknown"} 1
zerodown_cluster_operator_condition{condition="Progressing",name="odd",status="false"} 0
zerodown_cluster_operator_condition{condition="Progressing",name="odd",status="true"} 0
zerodown_cluster_operator_condition{condition="Progressing",name="odd",status="unknown"} 1
zerodown_cluster_operator_condition{condition="Upgradeable",name="bare",status="false"} 0
zerodown_cluster_operator_condition{condition="Upgradeable",name="bare",status="true"} 1
zerodown_cluster_operator_condition{condition="Upgradeable",name="bare",status="unknown"} 0
zerodown_cluster_operator_condition{condition="Upgradeable",name="odd",status="false"} 0
zerodown_cluster_operator_condition{condition="Upgradeable",name="odd",status="true"} 1
zerodown_cluster_operator_condition{condition="Upgradeable",name="odd",status="unknown"} 0
# HELP zerodown_cluster_operator_version_info The versions a ClusterOperator reports (status.versions), one series per component; value 1.
# TYPE zerodown_cluster_operator_version_info gauge
zerodown_cluster_operator_version_info{component="operator",name="odd",version="4.16.3"} 1
# HELP zerodown_cluster_version_condition 1 for the status a ClusterVersion condition has now, 0 for the others (a missing condition is unknown).
# TYPE zerodown_cluster_version_condition gauge
zerodown_cluster_version_condition{condition="Available",name="version",status="false"} 0
zerodown_cluster_version_condition{condition="Available",name="version",status="true"} 0
zerodown_cluster_version_condition{condition="Available",name="version",status="unknown"} 1
zerodown_cluster_version_condition{condition="Failing",name="version",status="false"} 0
zerodown_cluster_version_condition{condition="Failing",name="version",status="true"} 0
zerodown_cluster_version_condition{condition="Failing",name="version",status="unknown"} 1
zerodown_cluster_version_condition{condition="Progressing",name="version",status="false"} 0
zerodown_cluster_version_condition{condition="Progressing",name="version",status="true"} 0
zerodown_cluster_version_condition{condition="Progressing",name="version",status="unknown"} 1
zerodown_cluster_version_condition{condition="Upgradeable",name="version",status="false"} 0
zerodown_cluster_version_condition{condition="Upgradeable",name="version",status="true"} 1
zerodown_cluster_version_condition{condition="Upgradeable",name="version",status="unknown"} 0
# HELP zerodown_upgrade_in_progress 1 while the newest entry of the ClusterVersion's status.history has not completed.
# TYPE zerodown_upgrade_in_progress gauge
zerodown_upgrade_in_progress{name="version"} 0
# HELP zerodown_node_condition 1 for the status a Node condition has now, 0 for the others (a missing condition is unknown).
# TYPE zerodown_node_condition gauge
zerodown_node_condition{condition="Ready",node="n1",status="false"} 0
zerodown_node_condition{condition="Ready",node="n1",status="true"} 0
zerodown_node_condition{condition="Ready",node="n1",status="unknown"} 1
# HELP zerodown_node_draining 1 while the machine-config-daemon drains the node (its desiredDrain annotation asks for a drain not yet applied).
# TYPE zerodown_node_draining gauge
zerodown_node_draining{node="n1"} 1
# HELP zerodown_node_unschedulable 1 if the node is cordoned (spec.unschedulable).
# TYPE zerodown_node_unschedulable gauge
zerodown_node_unschedulable{node="n1"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	if st := ReadNodeState(nodes[0].(*corev1.Node)); st.Impaired() != "not_ready" {
		t.Errorf("impaired = %q, want not_ready (no Ready condition wins over draining)", st.Impaired())
	}
}
