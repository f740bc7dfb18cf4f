// Package peers finds the other pollers of a DaemonSet, for the network
// matrix: the ready endpoints of a headless Service in front of them
// (its EndpointSlices), each on its node. A peer whose node is cordoned,
// draining or not Ready leaves the set: its node going away is not a
// network outage, and its removal is not counted.
package peers

import (
	"context"
	"log/slog"
	"net"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/listers"
	"k8s.io/client-go/tools/cache"

	"github.com/zerodown/zerodown/collectors"
	"github.com/zerodown/zerodown/internal/kube"
	"github.com/zerodown/zerodown/netmatrix"
)

// Options configures a Watcher.
type Options struct {
	Client    *kube.Client
	Namespace string
	// PeersService is the headless Service whose EndpointSlices list the
	// pollers.
	PeersService string
	// PortName is the endpoint port every poller answers /healthz on
	// (default "metrics").
	PortName string
	// Service, if set, is the Service in front of the pollers: its
	// cluster IP and PortName's port are the service path.
	Service string
	// Self is this poller's node: never its own peer.
	Self   string
	Logger *slog.Logger
}

// Watcher follows the pollers' EndpointSlices, the Nodes and the Service.
type Watcher struct {
	o        Options
	starters []func(stop <-chan struct{})
	slices   listers.ResourceIndexer[*discoveryv1.EndpointSlice]
	nodes    listers.ResourceIndexer[*corev1.Node]
	svcs     listers.ResourceIndexer[*corev1.Service] // in Namespace
	synced   []cache.InformerSynced
	changes  chan struct{}
}

// New sets up the informers; Start starts them.
func New(o Options) *Watcher {
	if o.PortName == "" {
		o.PortName = "metrics"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{o: o, changes: make(chan struct{}, 1)}
	notify := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { w.notify() },
		UpdateFunc: func(any, any) { w.notify() },
		DeleteFunc: func(any) { w.notify() },
	}
	si := kube.NewInformer(o.Client.EndpointSlices(o.Namespace), kube.InformerOptions{Transform: collectors.Trim,
		Tweak: func(lo *metav1.ListOptions) {
			lo.LabelSelector = labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: o.PeersService}).String()
		}})
	_, _ = si.AddEventHandler(notify)
	w.slices = si.Lister
	w.synced = append(w.synced, si.HasSynced)
	w.starters = append(w.starters, si.Start)

	// Nodes, slimmed to what ReadNodeState reads: a big cluster's Node
	// objects are mostly images and volumes.
	ni := kube.NewInformer(o.Client.Nodes(), kube.InformerOptions{Transform: slimNode})
	// A Node's status changes often (heartbeats, images): only whether it
	// can be probed counts here.
	_, _ = ni.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { w.notify() },
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(*corev1.Node)
			c, ok2 := cur.(*corev1.Node)
			if !ok1 || !ok2 || collectors.ReadNodeState(o).Impaired() != collectors.ReadNodeState(c).Impaired() {
				w.notify()
			}
		},
		DeleteFunc: func(any) { w.notify() },
	})
	w.nodes = ni.Lister
	w.synced = append(w.synced, ni.HasSynced)
	w.starters = append(w.starters, ni.Start)

	if o.Service != "" {
		vi := kube.NewInformer(o.Client.Services(o.Namespace), kube.InformerOptions{Transform: collectors.Trim,
			Tweak: func(lo *metav1.ListOptions) {
				lo.FieldSelector = fields.OneTermEqualSelector("metadata.name", o.Service).String()
			}})
		_, _ = vi.AddEventHandler(notify)
		w.svcs = vi.Lister
		w.synced = append(w.synced, vi.HasSynced)
		w.starters = append(w.starters, vi.Start)
	}
	return w
}

func (w *Watcher) notify() {
	select {
	case w.changes <- struct{}{}:
	default:
	}
}

// slimNode keeps a Node's name, annotations, spec and conditions.
func slimNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, Annotations: n.Annotations, ResourceVersion: n.ResourceVersion},
		Spec:       corev1.NodeSpec{Unschedulable: n.Spec.Unschedulable, Taints: n.Spec.Taints},
		Status:     corev1.NodeStatus{Conditions: n.Status.Conditions},
	}, nil
}

// Start starts the informers.
func (w *Watcher) Start(ctx context.Context) {
	for _, start := range w.starters {
		start(ctx.Done())
	}
}

// Synced reports whether every cache has synced.
func (w *Watcher) Synced() bool {
	for _, s := range w.synced {
		if !s() {
			return false
		}
	}
	return true
}

// WaitForSync waits until the caches synced or ctx ends.
func (w *Watcher) WaitForSync(ctx context.Context) bool {
	return cache.WaitForCacheSync(ctx.Done(), w.synced...)
}

// Changes delivers after any change of the pollers, Nodes or Service.
func (w *Watcher) Changes() <-chan struct{} { return w.changes }

// Set is what the network matrix needs now.
type Set struct {
	// Peers are the pollers on other nodes that are ready, whose node is
	// schedulable, Ready and not draining; sorted by node.
	Peers []netmatrix.Peer
	// Nodes are the nodes of every poller listed, ready or not, impaired
	// or not, and this one: the ring Select chooses from. A node that is
	// rebooted stays on it, so the pairs do not reshuffle at every node
	// of a rolling upgrade; it is only not probed meanwhile.
	Nodes []string
	// Port is the peers' PortName port (0: none found).
	Port int
	// Service is the Service's cluster IP and port ("" without one).
	Service string
}

// Current returns the set as the caches have it.
func (w *Watcher) Current() Set {
	var s Set
	all, _ := w.slices.List(labels.Everything())
	// One address family, the same at every call: a dual-stack Service
	// has a slice per family, listed in no particular order, and a peer
	// whose address flipped would restart its series.
	family := discoveryv1.AddressTypeIPv6
	for _, sl := range all {
		if sl.AddressType == discoveryv1.AddressTypeIPv4 {
			family = discoveryv1.AddressTypeIPv4
		}
	}
	var slices []*discoveryv1.EndpointSlice
	for _, sl := range all {
		if sl.AddressType == family {
			slices = append(slices, sl)
		}
	}
	sort.Slice(slices, func(i, j int) bool { return slices[i].Name < slices[j].Name })
	byNode := map[string]netmatrix.Peer{}
	ring := map[string]bool{w.o.Self: true}
	for _, sl := range slices {
		port := 0
		for _, p := range sl.Ports {
			if p.Name != nil && *p.Name == w.o.PortName && p.Port != nil {
				port = int(*p.Port)
			}
		}
		if port == 0 {
			continue
		}
		for _, ep := range sl.Endpoints {
			if ep.NodeName == nil {
				continue
			}
			ring[*ep.NodeName] = true
			c := ep.Conditions
			if (c.Ready != nil && !*c.Ready) || (c.Terminating != nil && *c.Terminating) || len(ep.Addresses) == 0 {
				continue
			}
			node := *ep.NodeName
			if node == w.o.Self {
				s.Port = port
				continue
			}
			if _, dup := byNode[node]; dup {
				continue
			}
			n, err := w.nodes.Get(node)
			if err != nil || collectors.ReadNodeState(n).Impaired() != "" {
				continue // gone, cordoned, draining or not Ready: not a peer now
			}
			byNode[node] = netmatrix.Peer{Node: node, Addr: ep.Addresses[0]}
			if s.Port == 0 {
				s.Port = port
			}
		}
	}
	for _, p := range byNode {
		s.Peers = append(s.Peers, p)
	}
	sort.Slice(s.Peers, func(i, j int) bool { return s.Peers[i].Node < s.Peers[j].Node })
	for node := range ring {
		s.Nodes = append(s.Nodes, node)
	}
	sort.Strings(s.Nodes)
	if w.o.Service != "" && s.Port != 0 {
		if svc, err := listers.NewNamespaced(w.svcs, w.o.Namespace).Get(w.o.Service); err == nil && svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone {
			for _, p := range svc.Spec.Ports {
				if p.Name == w.o.PortName {
					s.Service = netJoin(svc.Spec.ClusterIP, int(p.Port))
				}
			}
		}
	}
	return s
}

func netJoin(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }
