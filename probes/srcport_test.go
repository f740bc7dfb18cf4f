package probes

import (
	"net"
	"strconv"
	"testing"
)

func TestPortRangeWalksEveryPortBeforeAnyAgain(t *testing.T) {
	r := newPortRange(40000, 40009, map[uint32]bool{40003: true})
	seen := map[int]int{}
	prev := 0
	for range 18 {
		p := r.take()
		if p < 40000 || p > 40009 || p == 40003 {
			t.Fatalf("port %d: outside 40000-40009 or reserved", p)
		}
		if p == prev {
			t.Fatalf("port %d twice in a row", p)
		}
		seen[p]++
		prev = p
	}
	for p := 40000; p <= 40009; p++ {
		if want := 2; p != 40003 && seen[p] != want {
			t.Errorf("port %d taken %d times in two rounds, want %d", p, seen[p], want)
		}
	}
}

// A long reserved block is passed over, never handed to the kernel.
func TestPortRangeSkipsLongReservedBlocks(t *testing.T) {
	reserved := map[uint32]bool{}
	for p := uint32(40001); p <= 40999; p++ {
		reserved[p] = true
	}
	r := newPortRange(40000, 41000, reserved)
	for range 10 {
		if p := r.take(); p != 40000 && p != 41000 {
			t.Fatalf("port %d: want 40000 or 41000, the only ones not reserved", p)
		}
	}
}

func TestParsePortList(t *testing.T) {
	got := parsePortList("8080, 9000-9002,bad,7-5,65535")
	for _, p := range []uint32{8080, 9000, 9001, 9002, 65535} {
		if !got[p] {
			t.Errorf("%d missing from %v", p, got)
		}
	}
	if len(got) != 5 {
		t.Errorf("got %v, want 5 ports", got)
	}
}

// Connections to loopback are left to the kernel: an explicitly bound
// port keeps a local server from listening on it again.
func TestWalks(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": false, "127.3.4.5:80": false, "[::1]:443": false, "[::ffff:127.0.0.1]:80": false,
		"10.0.0.1:80": true, "[fd00::1]:80": true, "example.com:80": true, "bad": true,
	} {
		if got := walks(addr); got != want {
			t.Errorf("walks(%q) = %v, want %v", addr, got, want)
		}
	}
}

// New connections come from the walk's ports, one after the other, and a
// port in use is passed over.
func TestNewConnectionsWalkTheSourcePorts(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ports := make(chan int, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, p, _ := net.SplitHostPort(c.RemoteAddr().String())
			n, _ := strconv.Atoi(p)
			ports <- n
			c.Close()
		}
	}()
	// A range of ten ports, one of them held by a listener.
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	b := uint32(busy.Addr().(*net.TCPAddr).Port)
	lo := max(b-4, 1024)
	old := sourcePorts
	sourcePorts = newPortRange(lo, lo+9, nil)
	sourcePorts.next.Store(b - lo - 2) // the walk reaches the busy port second (no port reserved: index = port - lo)
	defer func() { sourcePorts = old }()

	walkLoopback = true
	defer func() { walkLoopback = false }()
	d := net.Dialer{Control: spreadPorts}
	var got []int
	for range 4 {
		c, err := d.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		got = append(got, <-ports)
	}
	want := []int{int(b) - 1, int(b) + 1, int(b) + 2, int(b) + 3}
	for i := range want {
		// A port of the range may be taken by another program here; the
		// walk then goes on to the next, never back.
		if got[i] < int(lo) || got[i] > int(lo)+9 || got[i] == int(b) {
			t.Fatalf("source ports %v: want ports of %d-%d passing over the busy %d (%v)", got, lo, lo+9, b, want)
		}
	}
	if got[0] != want[0] || got[1] != want[1] {
		t.Logf("source ports %v, expected %v (another program holds a port of the range?)", got, want)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Errorf("source ports %v: not walking forward", got)
		}
	}
}
