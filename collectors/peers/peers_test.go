package peers

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zerodown/zerodown/internal/kube/kubetest"
)

func node(name string, ready corev1.ConditionStatus, cordoned bool) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{Unschedulable: cordoned},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}}}}
}

func endpoint(node, addr string, ready, terminating bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: []string{addr}, NodeName: &node,
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Terminating: &terminating}}
}

func slice(name string, family discoveryv1.AddressType, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	port, pname := int32(9949), "metrics"
	return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "zerodown", Name: name},
		AddressType: family, Ports: []discoveryv1.EndpointPort{{Name: &pname, Port: &port}}, Endpoints: eps}
}

// The set: ready pollers on healthy nodes are peers; the others stay on
// the ring; one address family whatever the order of the slices; the
// port from the endpoints; the Service at its cluster IP.
func TestCurrent(t *testing.T) {
	slices := []any{
		slice("b-v6", discoveryv1.AddressTypeIPv6, endpoint("n2", "fd00::2", true, false), endpoint("n3", "fd00::3", true, false)),
		slice("a-v4", discoveryv1.AddressTypeIPv4,
			endpoint("n1", "10.128.0.1", true, false), // self
			endpoint("n2", "10.128.0.2", true, false),
			endpoint("n3", "10.128.0.3", true, false),
			endpoint("n4", "10.128.0.4", false, true),  // terminating
			endpoint("n5", "10.128.0.5", true, false),  // node cordoned
			endpoint("n6", "10.128.0.6", true, false)), // node NotReady
	}
	nodes := []any{node("n1", corev1.ConditionTrue, false), node("n2", corev1.ConditionTrue, false), node("n3", corev1.ConditionTrue, false),
		node("n4", corev1.ConditionTrue, false), node("n5", corev1.ConditionTrue, true), node("n6", corev1.ConditionFalse, false)}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "zerodown", Name: "pollers"},
		Spec: corev1.ServiceSpec{ClusterIP: "172.30.0.9", Ports: []corev1.ServicePort{{Name: "metrics", Port: 9949}}}}
	w := &Watcher{o: Options{Namespace: "zerodown", PortName: "metrics", Service: "pollers", Self: "n1"},
		slices: kubetest.Lister[*discoveryv1.EndpointSlice](t, discoveryv1.Resource("endpointslices"), slices...),
		nodes:  kubetest.Lister[*corev1.Node](t, corev1.Resource("nodes"), nodes...),
		svcs:   kubetest.Lister[*corev1.Service](t, corev1.Resource("services"), svc)}
	for range 5 { // the same answer every time
		got := w.Current()
		if s := fmt.Sprint(got.Peers); s != "[{n2 10.128.0.2} {n3 10.128.0.3}]" {
			t.Fatalf("peers %s, want n2 and n3 at their IPv4 addresses", s)
		}
		if s := fmt.Sprint(got.Nodes); s != "[n1 n2 n3 n4 n5 n6]" {
			t.Errorf("ring %s, want every poller's node", s)
		}
		if got.Port != 9949 || got.Service != "172.30.0.9:9949" {
			t.Errorf("port %d, service %q", got.Port, got.Service)
		}
	}
}
