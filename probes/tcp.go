package probes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/zerodown/zerodown/config"
)

// tcpProber connects to an address and, when configured, sends bytes and
// expects a reply that starts with given bytes. In reused mode it keeps
// connections alive between probes: a probe takes an idle connection (or
// dials one when none is idle) and gives it back when it succeeded.
type tcpProber struct {
	addr   string
	send   []byte
	expect []byte
	reuse  bool
	dialer net.Dialer

	mu   sync.Mutex
	idle []net.Conn
}

const maxIdleTCP = 4

func newTCP(cfg *config.TCPProbe, conn config.Connection) *tcpProber {
	return &tcpProber{
		addr:   cfg.Address,
		send:   []byte(cfg.Send),
		expect: []byte(cfg.Expect),
		reuse:  conn == config.ConnReused,
		dialer: net.Dialer{KeepAlive: -1, Control: spreadPorts},
	}
}

func (p *tcpProber) Protocol() string { return "tcp" }

func (p *tcpProber) Reasons() []Reason {
	rs := []Reason{ReasonConnectRefused, ReasonConnectTimeout, ReasonReset, ReasonTimeout, ReasonOther}
	if host, _, err := net.SplitHostPort(p.addr); err == nil && net.ParseIP(host) == nil {
		rs = append(rs, ReasonDNS)
	}
	if len(p.expect) > 0 {
		rs = append(rs, ReasonBodyMismatch)
	}
	return rs
}

func (p *tcpProber) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.idle {
		c.Close()
	}
	p.idle = nil
}

func (p *tcpProber) take() net.Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return c
	}
	return nil
}

func (p *tcpProber) put(c net.Conn) {
	p.mu.Lock()
	if len(p.idle) < maxIdleTCP {
		p.idle = append(p.idle, c)
		c = nil
	}
	p.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

func (p *tcpProber) Probe(ctx context.Context, r *Result) {
	var conn net.Conn
	if p.reuse {
		conn = p.take()
	}
	connected := conn != nil
	reused := conn != nil
	if conn == nil {
		t0 := time.Now()
		c, err := p.dialer.DialContext(ctx, "tcp", p.addr)
		r.Phases.Connect = time.Since(t0)
		if err != nil {
			r.Err, r.Reason = err, classify(err, false)
			return
		}
		conn, connected = c, true
	}
	err := p.exchange(ctx, conn, reused, r)
	if err != nil && reused && peerClosed(err) && ctx.Err() == nil {
		// The kept-alive connection was closed while idle: retry once on a
		// new one, as HTTP clients do. A server resetting every
		// connection still fails.
		conn.Close()
		*r = Result{Start: r.Start}
		c, derr := p.dialer.DialContext(ctx, "tcp", p.addr)
		if derr != nil {
			r.Err, r.Reason = derr, classify(derr, false)
			return
		}
		conn = c
		err = p.exchange(ctx, conn, false, r)
	}
	if err != nil {
		conn.Close()
		r.Err, r.Reason = err, classifyOr(r.Reason, err, connected)
		return
	}
	if p.reuse {
		p.put(conn)
	} else {
		conn.Close()
	}
}

func classifyOr(r Reason, err error, connected bool) Reason {
	if r != ReasonNone {
		return r
	}
	return classify(err, connected)
}

// exchange sends and checks the reply; without anything to send, a reused
// connection is checked for being still open: a read that times out at
// once means open, EOF or a reset means the peer closed it.
func (p *tcpProber) exchange(ctx context.Context, conn net.Conn, reused bool, r *Result) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if len(p.send) == 0 {
		if !reused {
			return nil
		}
		_ = conn.SetReadDeadline(time.Now().Add(time.Millisecond))
		var b [64]byte
		_, err := conn.Read(b[:])
		_ = conn.SetReadDeadline(time.Time{})
		if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			return nil
		}
		return fmt.Errorf("kept-alive connection: %w", err)
	}
	t0 := time.Now()
	if _, err := conn.Write(p.send); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if len(p.expect) == 0 {
		return nil
	}
	buf := make([]byte, 0, max(len(p.expect), 64))
	for len(buf) < len(p.expect) {
		n, err := conn.Read(buf[len(buf):cap(buf)])
		if n > 0 && r.Phases.FirstByte == 0 {
			r.Phases.FirstByte = time.Since(t0)
		}
		buf = buf[:len(buf)+n]
		if err != nil {
			if n := min(len(buf), len(p.expect)); !bytes.Equal(buf[:n], p.expect[:n]) {
				break
			}
			return fmt.Errorf("reading reply: %w", err)
		}
	}
	if !bytes.HasPrefix(buf, p.expect) {
		r.Reason = ReasonBodyMismatch
		return fmt.Errorf("reply %q does not start with %q", buf[:min(len(buf), 64)], p.expect)
	}
	return nil
}
