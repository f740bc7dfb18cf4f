package netmatrix

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/zerodown/zerodown/config"
)

func nodes(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("node-%04d", i)
	}
	return out
}

// Up to FullMeshUpTo nodes, every poller probes every other node.
func TestSelectFullMesh(t *testing.T) {
	ns := nodes(5)
	got := Select("node-0002", ns, 7, SelectOptions{Peers: 2, FullMeshUpTo: 5})
	if want := []string{"node-0000", "node-0001", "node-0003", "node-0004"}; !slices.Equal(got, want) {
		t.Errorf("Select = %v, want %v", got, want)
	}
	if got := Select("a", []string{"a"}, 0, SelectOptions{}); len(got) != 0 {
		t.Errorf("alone: %v, want no peer", got)
	}
	// Self need not be listed (its endpoint may not be ready yet).
	if got := Select("b", []string{"a", "c", "a"}, 0, SelectOptions{}); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("self unlisted: %v", got)
	}
}

// Past FullMeshUpTo: Peers peers each, never self, every node probed by
// exactly Peers others in every round, and every ordered pair covered
// within ceil((n-1)/Peers) rounds.
func TestSelectBoundedRotating(t *testing.T) {
	for _, tc := range []struct{ n, peers int }{{11, 3}, {50, 3}, {100, 5}, {37, 4}} {
		ns := nodes(tc.n)
		o := SelectOptions{Peers: tc.peers, FullMeshUpTo: 10}
		rounds := (tc.n - 1 + tc.peers - 1) / tc.peers
		covered := map[[2]string]bool{}
		for r := range uint64(rounds) {
			in := map[string]int{}
			for _, self := range ns {
				got := Select(self, ns, r, o)
				if len(got) != tc.peers || slices.Contains(got, self) || len(slices.Compact(slices.Clone(got))) != tc.peers {
					t.Fatalf("n=%d round %d: %s probes %v", tc.n, r, self, got)
				}
				for _, p := range got {
					in[p]++
					covered[[2]string{self, p}] = true
				}
			}
			for _, node := range ns {
				if in[node] != tc.peers {
					t.Fatalf("n=%d round %d: %s probed by %d pollers, want %d", tc.n, r, node, in[node], tc.peers)
				}
			}
		}
		if len(covered) != tc.n*(tc.n-1) {
			t.Errorf("n=%d peers=%d: %d of %d ordered pairs probed within %d rounds", tc.n, tc.peers, len(covered), tc.n*(tc.n-1), rounds)
		}
	}
}

func TestTargetsAndParse(t *testing.T) {
	ts := Targets([]Peer{{Node: "node-b", Addr: "10.128.2.7"}, {Node: "node-c", Addr: "fd00::7"}},
		TargetOptions{Path: PathPod, Port: 9947, Service: "172.30.0.9:9947", ServiceName: "zerodown-poller"})
	var got []string
	for _, tg := range ts {
		r := tg.Resolved(config.Schedule{})
		if err := r.Validate(); err != nil {
			t.Errorf("%s: %v", tg.Name, err)
		}
		path, node, ok := Parse(tg.Name)
		got = append(got, fmt.Sprintf("%s %s %q %q %v", tg.Name, tg.HTTP.URL, path, node, ok))
	}
	want := []string{
		`net:pod:node-b http://10.128.2.7:9947/healthz "pod" "node-b" true`,
		`net:pod:node-c http://[fd00::7]:9947/healthz "pod" "node-c" true`,
		`net:service:zerodown-poller http://172.30.0.9:9947/healthz "service" "" true`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("targets:\n%v\nwant\n%v", got, want)
	}
	// Peers that serve TLS: https, verified against their CA and name.
	tls := &config.TLS{CAFile: "/etc/zerodown/tls/ca.crt", ServerName: "zerodown-poller.zerodown.svc"}
	for _, tg := range Targets([]Peer{{Node: "node-b", Addr: "10.128.2.7"}}, TargetOptions{Port: 9947, Service: "172.30.0.9:9947", ServiceName: "s", TLS: tls}) {
		if !strings.HasPrefix(tg.HTTP.URL, "https://") || tg.HTTP.TLS != *tls {
			t.Errorf("%s: %s with %+v, want https verified with %+v", tg.Name, tg.HTTP.URL, tg.HTTP.TLS, *tls)
		}
	}
	for _, b := range []string{"web", "net:", "net:pod", "net::x", "route:net:pod:x"} {
		if _, _, ok := Parse(b); ok {
			t.Errorf("Parse(%q) ok", b)
		}
	}
}

// A node that cannot be probed now is left out without reshuffling the
// others' pairs.
func TestChoose(t *testing.T) {
	ring := nodes(20)
	var peers []Peer
	for _, n := range ring {
		if n != "node-0005" { // cordoned: on the ring, not a peer now
			peers = append(peers, Peer{Node: n, Addr: "10.0.0.1"})
		}
	}
	o := SelectOptions{Peers: 3}
	got := Choose("node-0003", ring, peers, 0, o)
	var names []string
	for _, p := range got {
		names = append(names, p.Node)
	}
	if want := []string{"node-0004", "node-0006"}; !slices.Equal(names, want) {
		t.Errorf("Choose = %v, want %v (node-0005 left out, no replacement)", names, want)
	}
}
