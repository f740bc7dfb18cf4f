// Package netmatrix probes the network between nodes, as OpenShift's
// pod-network and service-network disruption checks do: every poller
// probes a bounded, rotating set of its peers (the pollers on other
// nodes), so series grow as nodes x peers, not nodes squared. It chooses
// the peers and builds their targets, and exports the matrix
// (zerodown_network_disruption_seconds_total{path,source_node,target_node})
// from the probe engine's series. It knows nothing of Kubernetes: the
// poller feeds it the peers it watches.
package netmatrix

import (
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"

	"github.com/zerodown/zerodown/config"
)

// Paths a poller probes.
const (
	// PathPod is pod to pod on another node.
	PathPod = "pod"
	// PathHost is host network to pod: a poller with hostNetwork.
	PathHost = "host"
	// PathService is pod to the Service in front of the pollers.
	PathService = "service"
)

// Prefix starts the backend name of every network target:
// net:PATH:NODE, or net:service:NAME.
const Prefix = "net:"

// Peer is a poller on another node, as its EndpointSlice tells.
type Peer struct {
	Node string
	Addr string // the pod's IP
}

// SelectOptions bound the peers a poller probes.
type SelectOptions struct {
	// Peers is how many peers each poller probes (default 3).
	Peers int
	// FullMeshUpTo: with at most this many nodes, every poller probes
	// every other one (default 10).
	FullMeshUpTo int
}

func (o SelectOptions) withDefaults() SelectOptions {
	if o.Peers <= 0 {
		o.Peers = 3
	}
	if o.FullMeshUpTo <= 0 {
		o.FullMeshUpTo = 10
	}
	return o
}

// Select returns the nodes self probes in rotation round (sorted): every
// other node when there are at most FullMeshUpTo; else the Peers nodes
// that follow self on the ring of sorted node names, shifted by Peers
// more every round. Every node is then probed by exactly Peers others,
// and over ceil((n-1)/Peers) rounds every ordered pair is probed. nodes
// may include self and duplicates.
func Select(self string, nodes []string, round uint64, o SelectOptions) []string {
	o = o.withDefaults()
	ring := append([]string(nil), nodes...)
	if !slices.Contains(ring, self) {
		ring = append(ring, self)
	}
	sort.Strings(ring)
	ring = slices.Compact(ring)
	n := len(ring)
	if n <= 1 {
		return nil
	}
	i, _ := slices.BinarySearch(ring, self)
	if n <= o.FullMeshUpTo || o.Peers >= n-1 {
		out := append(append([]string(nil), ring[:i]...), ring[i+1:]...)
		return out
	}
	// Offsets 1..n-1 from self, Peers at a time, starting where this
	// round's window begins.
	others := uint64(n - 1)
	start := (round * uint64(o.Peers)) % others
	out := make([]string, 0, o.Peers)
	for j := range uint64(o.Peers) {
		off := (start+j)%others + 1
		out = append(out, ring[(uint64(i)+off)%uint64(n)])
	}
	sort.Strings(out)
	return out
}

// TargetOptions build a poller's network targets.
type TargetOptions struct {
	// Path labels what the poller's own peer probes cross: PathPod, or
	// PathHost for a poller on the host network.
	Path string
	// Port is the peers' port; every peer answers GET /healthz on it.
	Port int
	// Service, if set, is the address (host:port) of the Service in
	// front of the pollers, probed as path service, named ServiceName.
	Service, ServiceName string
	// TLS, if set, says the peers serve TLS (--web.config.file): probes
	// are https, verified with it (the peers' CA and the name their
	// serving certificate carries). They send no credential.
	TLS *config.TLS
}

// Targets are the targets of the chosen peers (and of the Service), over
// new connections only: each probe crosses the path afresh.
func Targets(peers []Peer, o TargetOptions) []config.Target {
	path := o.Path
	if path == "" {
		path = PathPod
	}
	probe := func(addr string) *config.HTTPProbe {
		if o.TLS == nil {
			return &config.HTTPProbe{URL: "http://" + addr + "/healthz"}
		}
		return &config.HTTPProbe{URL: "https://" + addr + "/healthz", TLS: *o.TLS}
	}
	var out []config.Target
	for _, p := range peers {
		out = append(out, config.Target{
			Name:        Prefix + path + ":" + p.Node,
			Connections: []config.Connection{config.ConnNew},
			HTTP:        probe(net.JoinHostPort(p.Addr, fmt.Sprint(o.Port))),
		})
	}
	if o.Service != "" {
		out = append(out, config.Target{
			Name:        Prefix + PathService + ":" + o.ServiceName,
			Connections: []config.Connection{config.ConnNew},
			HTTP:        probe(o.Service),
		})
	}
	return out
}

// Parse splits a network target's backend name into its path and target
// node ("" for the Service path); ok is false for other backends.
func Parse(backend string) (path, node string, ok bool) {
	rest, found := strings.CutPrefix(backend, Prefix)
	if !found {
		return "", "", false
	}
	path, node, found = strings.Cut(rest, ":")
	if !found || path == "" || node == "" {
		return "", "", false
	}
	if path == PathService {
		node = ""
	}
	return path, node, true
}

// Choose returns the peers self probes in round: Select over the ring of
// nodes, less the nodes whose poller cannot be probed now (not in peers:
// not ready, or its node cordoned, draining or not Ready).
func Choose(self string, ring []string, peers []Peer, round uint64, o SelectOptions) []Peer {
	chosen := Select(self, ring, round, o)
	var out []Peer
	for _, p := range peers {
		if _, ok := slices.BinarySearch(chosen, p.Node); ok {
			out = append(out, p)
		}
	}
	return out
}
