//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zerodown/zerodown/intervals"
	"github.com/zerodown/zerodown/netmatrix"
)

// netNode is a "node" of the network testbed: a namespace with a veth to
// the test (the API server relay, scraping) and one to a bridge shared
// with the other nodes (10.234.0.i), where its poller listens.
type netNode struct {
	*netHost
	i          int
	name, addr string
	swDev      string // its port on the bridge, in the switch namespace
	dev        string // its bridge-side device, in its own namespace
	poller     *process
	out        string
}

const netSwitch = "zde2e-sw"

func sh(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// newTestbed makes n node namespaces on one bridge (in a namespace of its
// own): every packet between them stays inside namespaces the test made.
func newTestbed(t *testing.T, n int) []*netNode {
	t.Helper()
	_ = exec.Command("ip", "netns", "del", netSwitch).Run() // left by a killed run
	sh(t, "ip", "netns", "add", netSwitch)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", netSwitch).Run() })
	sh(t, "ip", "-n", netSwitch, "link", "add", "br0", "type", "bridge")
	sh(t, "ip", "-n", netSwitch, "link", "set", "br0", "up")
	var nodes []*netNode
	for i := 1; i <= n; i++ {
		h := newNetHost(t, 10+i)
		nd := &netNode{netHost: h, i: i, name: fmt.Sprintf("zde2e-net-%d", i), addr: fmt.Sprintf("10.234.0.%d", i),
			swDev: fmt.Sprintf("zdb%ds", i), dev: fmt.Sprintf("zdb%dn", i)}
		_ = exec.Command("ip", "link", "del", nd.swDev).Run()
		sh(t, "ip", "link", "add", nd.swDev, "type", "veth", "peer", "name", nd.dev)
		sh(t, "ip", "link", "set", nd.swDev, "netns", netSwitch)
		sh(t, "ip", "link", "set", nd.dev, "netns", h.Name)
		sh(t, "ip", "-n", netSwitch, "link", "set", nd.swDev, "master", "br0")
		sh(t, "ip", "-n", netSwitch, "link", "set", nd.swDev, "up")
		sh(t, "ip", "-n", h.Name, "addr", "add", nd.addr+"/24", "dev", nd.dev)
		sh(t, "ip", "-n", h.Name, "link", "set", nd.dev, "up")
		nodes = append(nodes, nd)
	}
	return nodes
}

// fault is one injected window: which ordered pairs (source, target node
// index) it cuts.
type netFault struct {
	name     string
	from, to time.Time
	cuts     map[[2]int]bool
}

// TestNetworkMatrix: four "nodes" (network namespaces on a bridge), a
// poller in each finding the others through an EndpointSlice on the real
// API server, and a host-network poller on node 1; faults injected for
// known windows with iptables DROP and REJECT, a link set down and a tc
// rate limit. Every path a fault cut has an outage overlapping its
// window, no other path has one, and the measured durations are logged
// against the injected ones. Then a node is cordoned and its poller
// stopped: the others stop probing it first, and count no outage.
func TestNetworkMatrix(t *testing.T) {
	ctx := ctxT(t)
	c := newClients(t)
	ns := freshNamespace(t, c, "netmatrix")
	const n = 4
	nodes := newTestbed(t, n)
	t0 := time.Now()
	port := int32(9949)
	name, proto, managed := "metrics", corev1.ProtocolTCP, "zerodown-e2e"
	notReady := false
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "zde2e-peers-1", Labels: map[string]string{
			discoveryv1.LabelServiceName: "zde2e-peers", discoveryv1.LabelManagedBy: managed}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port, Protocol: &proto}},
	}
	for _, nd := range nodes {
		_ = c.kube.CoreV1().Nodes().Delete(ctx, nd.name, metav1.DeleteOptions{}) // left by a killed run
		if _, err := c.kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nd.name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		nodeName := nd.name
		t.Cleanup(func() { _ = c.kube.CoreV1().Nodes().Delete(context.Background(), nodeName, metav1.DeleteOptions{}) })
		updateNode(ctx, t, c, nd.name, true, func(x *corev1.Node) {
			x.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
				LastTransitionTime: metav1.NewTime(t0), LastHeartbeatTime: metav1.NewTime(t0), Reason: "Test"}}
		})
		// Not ready until the poller serves, as a readiness probe would say.
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{nd.addr}, NodeName: &nodeName,
			Conditions: discoveryv1.EndpointConditions{Ready: &notReady}})
	}
	slices := c.kube.DiscoveryV1().EndpointSlices(ns)
	slice, err := slices.Create(ctx, slice, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// setReady marks the endpoints (by node index) ready, or not ready and
	// terminating, as the endpoint controller does for a pod.
	setReady := func(ready bool, which ...int) {
		t.Helper()
		for _, i := range which {
			r, term := ready, !ready
			slice.Endpoints[i-1].Conditions = discoveryv1.EndpointConditions{Ready: &r, Terminating: &term}
		}
		if slice, err = slices.Update(ctx, slice, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pollerArgs := func(nd *netNode, out string, extra ...string) []string {
		return append([]string{"poller", "--builtin=false", "--discovery=false", "--kubeconfig", nd.kubeconfig(t, c),
			"--node-name", nd.name, "--network.peers-service", "zde2e-peers", "--network.namespace", ns,
			"--interval", "100ms", "--timeout", "300ms", "--out", out}, extra...)
	}
	for _, nd := range nodes {
		nd.out = t.TempDir()
		nd.poller = startIn(t, nd.Name, "0.0.0.0:9949", pollerArgs(nd, nd.out)...)
		nd.poller.addr = nd.NSIP + ":9949"
	}
	// A poller on node 1's host network: path host.
	hostOut := t.TempDir()
	host := startIn(t, nodes[0].Name, "0.0.0.0:9950", pollerArgs(nodes[0], hostOut, "--network.path", netmatrix.PathHost)...)
	host.addr = nodes[0].NSIP + ":9950"
	setReady(true, 1, 2, 3, 4)

	allUp := func(p *process, path string, want int) func() (bool, string) {
		return func() (bool, string) {
			up := p.samples(t, `zerodown_network_up{path="`+path+`"`)
			ok := len(up) == want
			for _, l := range up {
				ok = ok && strings.HasSuffix(l, " 1")
			}
			return ok, strings.Join(up, "\n")
		}
	}
	for _, nd := range nodes {
		eventually(t, 60*time.Second, nd.name+" probes its 3 peers, all up", allUp(nd.poller, netmatrix.PathPod, n-1))
	}
	eventually(t, 30*time.Second, "the host-network poller probes 3 pods", allUp(host, netmatrix.PathHost, n-1))
	time.Sleep(time.Second)

	pair := func(s, d int) [2]int { return [2]int{s, d} }
	var faults []netFault
	window := func(name string, cuts [][2]int, on, off func()) {
		on()
		f := netFault{name: name, from: time.Now(), cuts: map[[2]int]bool{}}
		for _, p := range cuts {
			f.cuts[p] = true
		}
		time.Sleep(2 * time.Second)
		off()
		f.to = time.Now()
		faults = append(faults, f)
		time.Sleep(2 * time.Second)
	}
	inNode := func(i int, args ...string) func() {
		return func() { sh(t, "ip", append([]string{"netns", "exec", nodes[i-1].Name}, args...)...) }
	}
	iptables := func(i int, op, target string, extra ...string) func() {
		return inNode(i, append([]string{"iptables", op, "INPUT", "-s", nodes[0].addr, "-p", "tcp", "--dport", "9949", "-j", target}, extra...)...)
	}
	window("iptables DROP 1->2", [][2]int{pair(1, 2)}, iptables(2, "-A", "DROP"), iptables(2, "-D", "DROP"))
	window("iptables REJECT 1->3", [][2]int{pair(1, 3)},
		iptables(3, "-A", "REJECT", "--reject-with", "tcp-reset"), iptables(3, "-D", "REJECT", "--reject-with", "tcp-reset"))
	window("node 4 partitioned (link down)", [][2]int{pair(1, 4), pair(2, 4), pair(3, 4), pair(4, 1), pair(4, 2), pair(4, 3)},
		func() { sh(t, "ip", "-n", netSwitch, "link", "set", nodes[3].swDev, "down") },
		func() { sh(t, "ip", "-n", netSwitch, "link", "set", nodes[3].swDev, "up") })
	window("tc tbf 1kbit out of node 2", [][2]int{pair(2, 1), pair(2, 3), pair(2, 4), pair(1, 2), pair(3, 2), pair(4, 2)},
		inNode(2, "tc", "qdisc", "add", "dev", nodes[1].dev, "root", "tbf", "rate", "1kbit", "burst", "1600", "latency", "50ms"),
		inNode(2, "tc", "qdisc", "del", "dev", nodes[1].dev, "root"))

	// Node 3 is cordoned (a drain begins): the others stop probing it
	// before its poller goes away, and count nothing for it.
	updateNode(ctx, t, c, nodes[2].name, false, func(x *corev1.Node) { x.Spec.Unschedulable = true })
	for _, i := range []int{0, 1, 3} {
		eventually(t, 30*time.Second, nodes[i].name+" stops probing the cordoned node", func() (bool, string) {
			up := nodes[i].poller.samples(t, `zerodown_network_up{`)
			return !strings.Contains(strings.Join(up, "\n"), nodes[2].name), strings.Join(up, "\n")
		})
	}
	goneFrom := time.Now()
	nodes[2].poller.stop(t)
	time.Sleep(2 * time.Second)
	goneTo := time.Now()

	// The others go away as a DaemonSet's pods do: their endpoints are
	// not ready (terminating) first, then they stop.
	setReady(false, 1, 2, 4)
	for _, p := range []*process{nodes[0].poller, nodes[1].poller, nodes[3].poller, host} {
		eventually(t, 30*time.Second, "peers left once their endpoints terminate", func() (bool, string) {
			up := p.samples(t, `zerodown_network_up{`)
			return len(up) == 0, strings.Join(up, "\n")
		})
	}
	for _, nd := range nodes {
		nd.poller.stop(t) // the intervals are complete once it stopped
	}
	host.stop(t)

	// Every outage of a path, by source and target node index.
	type outage struct {
		from, to time.Time
		reason   string
	}
	index := map[string]int{}
	for _, nd := range nodes {
		index[nd.name] = nd.i
	}
	measured := map[[2]int][]outage{}
	hostOutages := map[int][]outage{}
	read := func(dir string, add func(path string, target int, o outage)) {
		ivs, err := intervals.ReadFile(filepath.Join(dir, intervals.FileName))
		if err != nil {
			t.Fatal(err)
		}
		for _, iv := range intervals.Filter(ivs, "Disruption") {
			path, node, ok := netmatrix.Parse(iv.Locator.Keys["backend"])
			if !ok {
				continue
			}
			add(path, index[node], outage{iv.From.Time, iv.To.Time, iv.Message.Cause})
		}
	}
	for _, nd := range nodes {
		src := nd.i
		read(nd.out, func(path string, dst int, o outage) { measured[pair(src, dst)] = append(measured[pair(src, dst)], o) })
	}
	read(hostOut, func(_ string, dst int, o outage) { hostOutages[dst] = append(hostOutages[dst], o) })

	const slack = 500 * time.Millisecond
	slow := func(o outage) bool { return o.reason == "timeout" }
	overlaps := func(o outage, from, to time.Time) bool {
		return o.from.Before(to.Add(slack)) && o.to.After(from.Add(-slack))
	}
	var table []string
	used := map[[2]int]map[int]bool{}
	for _, f := range faults {
		for s := 1; s <= n; s++ {
			for d := 1; d <= n; d++ {
				if s == d || (s == 3 || d == 3) && f.from.After(goneFrom) {
					continue
				}
				var hit []outage
				for k, o := range measured[pair(s, d)] {
					if overlaps(o, f.from, f.to) && (f.cuts[pair(s, d)] || !slow(o)) {
						hit = append(hit, o)
						if used[pair(s, d)] == nil {
							used[pair(s, d)] = map[int]bool{}
						}
						used[pair(s, d)][k] = true
					}
				}
				switch {
				case f.cuts[pair(s, d)] && len(hit) == 0:
					t.Errorf("%s: path %d->%d has no outage", f.name, s, d)
				case !f.cuts[pair(s, d)] && len(hit) > 0:
					t.Errorf("%s: path %d->%d, which it does not cut, has outages %+v", f.name, s, d, hit)
				case len(hit) > 0:
					var total time.Duration
					reasons := map[string]bool{}
					for _, o := range hit {
						total += o.to.Sub(o.from)
						reasons[o.reason] = true
					}
					var rs []string
					for r := range reasons {
						rs = append(rs, r)
					}
					sort.Strings(rs)
					table = append(table, fmt.Sprintf("%-32s %d->%d  true %6.3fs  measured %6.3fs (%d outages)  start %+7.1fms  %s",
						f.name, s, d, f.to.Sub(f.from).Seconds(), total.Seconds(), len(hit),
						float64(hit[0].from.Sub(f.from))/1e6, strings.Join(rs, ",")))
				}
			}
		}
	}
	t.Logf("injected against measured, per path:\n%s", strings.Join(table, "\n"))
	// Outages outside every window are spurious; an answer slower than
	// the interval is disruption by design, and a busy machine makes some
	// (logged).
	for p, os := range measured {
		for k, o := range os {
			if !used[p][k] && slow(o) {
				t.Logf("path %d->%d: the machine was slow: %s to %s", p[0], p[1], o.from.Format(time.RFC3339Nano), o.to.Format(time.RFC3339Nano))
				continue
			}
			if !used[p][k] {
				t.Errorf("path %d->%d: outage outside every fault window: %s to %s (%s)", p[0], p[1],
					o.from.Format(time.RFC3339Nano), o.to.Format(time.RFC3339Nano), o.reason)
			}
		}
	}
	// The host-network poller saw node 4's partition.
	found := false
	for _, o := range hostOutages[4] {
		found = found || overlaps(o, faults[2].from, faults[2].to)
	}
	if !found {
		t.Errorf("the host-network poller on node 1 saw no outage of node 4 during its partition: %+v", hostOutages)
	}
	// Node 3, cordoned then gone, counted for nobody.
	for s := 1; s <= n; s++ {
		for _, o := range measured[pair(s, 3)] {
			if overlaps(o, goneFrom, goneTo) {
				t.Errorf("path %d->3: an outage while node 3 was cordoned and its poller gone: %+v", s, o)
			}
		}
	}
}
