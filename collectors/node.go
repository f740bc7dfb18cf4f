package collectors

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/listers"
	"k8s.io/client-go/tools/cache"

	"github.com/zerodown/zerodown/internal/kube"
	"github.com/zerodown/zerodown/intervals"
)

// Annotations the machine-config-daemon sets while it drains a node.
const (
	mcdDesiredDrain     = "machineconfiguration.openshift.io/desiredDrain"
	mcdLastAppliedDrain = "machineconfiguration.openshift.io/lastAppliedDrain"
)

// Node pseudo-conditions, tracked like real ones.
const (
	CondUnschedulable = "Unschedulable"
	CondDraining      = "Draining"
)

var (
	nodeConds             = newCondDescs("zerodown_node", "Node", "node")
	nodeUnschedulableDesc = prometheus.NewDesc("zerodown_node_unschedulable",
		"1 if the node is cordoned (spec.unschedulable).", []string{"node"}, nil)
	nodeDrainingDesc = prometheus.NewDesc("zerodown_node_draining",
		"1 while the machine-config-daemon drains the node (its desiredDrain annotation asks for a drain not yet applied).",
		[]string{"node"}, nil)
)

// NodeState is what the poller and the node collector need to know of a node.
type NodeState struct {
	Ready                     Status
	ReadySince                time.Time
	ReadyReason, ReadyMessage string
	Unschedulable             bool
	// UnschedulableSince is when the unschedulable taint was added (zero
	// if the node does not say).
	UnschedulableSince time.Time
	Draining           bool
}

// Impaired names why a poller on this node cannot be trusted: "not_ready",
// "draining", "cordoned", or "" when it can. Draining wins over cordoned.
func (n NodeState) Impaired() string {
	switch {
	case n.Ready != StatusTrue:
		return "not_ready"
	case n.Draining:
		return "draining"
	case n.Unschedulable:
		return "cordoned"
	default:
		return ""
	}
}

// ReadNodeState reads the state of node.
func ReadNodeState(node *corev1.Node) NodeState {
	st := NodeState{Ready: StatusUnknown, Unschedulable: node.Spec.Unschedulable}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			st.Ready, st.ReadySince = ParseStatus(string(c.Status)), c.LastTransitionTime.Time
			st.ReadyReason, st.ReadyMessage = c.Reason, c.Message
		}
	}
	for _, t := range node.Spec.Taints {
		if t.Key == corev1.TaintNodeUnschedulable && t.TimeAdded != nil {
			st.UnschedulableSince = t.TimeAdded.Time
		}
	}
	desired := node.Annotations[mcdDesiredDrain]
	st.Draining = strings.HasPrefix(desired, "drain") && desired != node.Annotations[mcdLastAppliedDrain]
	return st
}

func nodeConditions(node *corev1.Node) []Cond {
	st := ReadNodeState(node)
	ready := Cond{Type: "Ready", Status: st.Ready, Since: st.ReadySince, Reason: st.ReadyReason, Message: st.ReadyMessage, Level: intervals.LevelInfo}
	if st.Ready != StatusTrue {
		ready.Level = intervals.LevelWarning
	}
	if len(node.Status.Conditions) == 0 || ready.Reason == "" && ready.Since.IsZero() {
		ready.Reason = "ConditionMissing"
	}
	cordon := Cond{Type: CondUnschedulable, Status: BoolStatus(st.Unschedulable), Level: intervals.LevelInfo}
	if st.Unschedulable {
		cordon.Since, cordon.Level = st.UnschedulableSince, intervals.LevelWarning
	}
	drain := Cond{Type: CondDraining, Status: BoolStatus(st.Draining), Level: intervals.LevelInfo}
	if st.Draining {
		drain.Level = intervals.LevelWarning
	}
	return []Cond{ready, cordon, drain}
}

// BoolStatus is StatusTrue for true, StatusFalse for false.
func BoolStatus(b bool) Status {
	if b {
		return StatusTrue
	}
	return StatusFalse
}

func newNodeCollector(inf *kube.Informer[*corev1.Node], conds *Conditions) *kind {
	trackConditions(inf, conds, "Node", nodeConditions)
	return &kind{
		name:    CollectorNode,
		synced:  []cache.InformerSynced{inf.HasSynced},
		descs:   append(nodeConds.list(), nodeUnschedulableDesc, nodeDrainingDesc),
		collect: collectNodes(inf.Lister, conds),
	}
}

func collectNodes(lister listers.ResourceIndexer[*corev1.Node], conds *Conditions) func(ch chan<- prometheus.Metric) {
	return func(ch chan<- prometheus.Metric) {
		nodes, _ := lister.List(labels.Everything())
		for _, n := range sortByName(nodes) {
			cs := nodeConditions(n)
			// The gauges of the pseudo-conditions have their own names;
			// their counters join the real ones.
			nodeConds.emit(ch, cs[:1], conds.Counters(ObjectRef{Kind: "Node", Name: n.Name}), n.Name)
			ch <- prometheus.MustNewConstMetric(nodeUnschedulableDesc, prometheus.GaugeValue, b2f(cs[1].Status == StatusTrue), n.Name)
			ch <- prometheus.MustNewConstMetric(nodeDrainingDesc, prometheus.GaugeValue, b2f(cs[2].Status == StatusTrue), n.Name)
		}
	}
}
