package probes

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

// Source ports of new connections. The kernel gives a connecting socket a
// port near the one it gave the last connection to the same destination,
// and takes a port again soon after a connection on it failed. A SYN that
// went unanswered (sent to a pod already gone) leaves a conntrack entry
// that, for its 120 s (nf_conntrack_tcp_timeout_syn_sent), sends every
// later SYN from the same port to the same dead pod: with the kernel's
// choice one lost connection becomes a tail of false failures. Measured on
// real nodes after a rolling update: a poller kept failing a few
// connections a minute with connect_timeout for two minutes after the
// application was healthy again. So zerodown picks the ports itself,
// walking the whole ephemeral range (as the ground-truth witness of the
// e2e scenarios does), and a port comes back only after every other one.

// walkLoopback makes connections to loopback walk too (tests of the walk).
var walkLoopback = false

// walks reports whether a connection to address ("ip:port") takes its
// source port from the walk. Not to loopback: no address translation lies
// on that way (the conntrack trap above is the Services' and NodePorts'),
// and a port bound by an explicit bind() keeps a local server from
// listening on it again (a test target's refuse window, a node's service
// restarting), where the kernel's own choice at connect does not.
func walks(address string) bool {
	if walkLoopback {
		return true
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err != nil || !ip.Unmap().IsLoopback()
}

// portRange is the walk: the ports from lo to hi that are not reserved.
type portRange struct {
	ports []uint16
	next  atomic.Uint32
}

// sourcePorts is the process's walk, over the kernel's ephemeral range.
var sourcePorts = newPortRange(readPortRange())

func newPortRange(lo, hi uint32, reserved map[uint32]bool) *portRange {
	r := &portRange{}
	for p := lo; p <= hi; p++ {
		if !reserved[p] {
			r.ports = append(r.ports, uint16(p))
		}
	}
	if len(r.ports) > 0 {
		r.next.Store(rand.Uint32N(uint32(len(r.ports))))
	}
	return r
}

// take returns the next port of the walk (0: none left, the kernel
// chooses).
func (r *portRange) take() int {
	if len(r.ports) == 0 {
		return 0
	}
	return int(r.ports[r.next.Add(1)%uint32(len(r.ports))])
}

// readPortRange reads Linux's ephemeral port range and reserved ports;
// elsewhere, or when it cannot, the IANA range.
func readPortRange() (lo, hi uint32, reserved map[uint32]bool) {
	lo, hi = 49152, 65535
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			l, err1 := strconv.ParseUint(f[0], 10, 16)
			h, err2 := strconv.ParseUint(f[1], 10, 16)
			if err1 == nil && err2 == nil && l > 0 && l < h {
				lo, hi = uint32(l), uint32(h)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_reserved_ports"); err == nil {
		reserved = parsePortList(strings.TrimSpace(string(b)))
	}
	return lo, hi, reserved
}

// parsePortList parses "8080,9000-9002" (ip_local_reserved_ports).
func parsePortList(s string) map[uint32]bool {
	out := map[uint32]bool{}
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(strings.TrimSpace(part), "-")
		l, err := strconv.ParseUint(a, 10, 16)
		if err != nil {
			continue
		}
		h := l
		if isRange {
			if h, err = strconv.ParseUint(b, 10, 16); err != nil || h < l || h-l > 65535 {
				continue
			}
		}
		for p := l; p <= h; p++ {
			out[uint32(p)] = true
		}
	}
	return out
}
