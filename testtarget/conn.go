package testtarget

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

var (
	errFaultReset = errors.New("testtarget: connection reset by fault")
	errHung       = errors.New("testtarget: hung connection ended")
)

// listener is a TCP listener that Refuse can close and open again on the
// same address without the server using it noticing: Accept blocks while
// it is paused.
type listener struct {
	s    *Server
	addr *net.TCPAddr

	mu      sync.Mutex
	ln      *net.TCPListener // nil while paused
	resumed chan struct{}    // closed when resumed or closed
	closed  bool
}

func listenTCP(s *Server, addr *net.TCPAddr) (*listener, error) {
	ln, err := net.ListenTCP("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("testtarget: listen: %w", err)
	}
	return &listener{s: s, addr: ln.Addr().(*net.TCPAddr), ln: ln}, nil
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		ln, resumed, closed := l.ln, l.resumed, l.closed
		l.mu.Unlock()
		if closed {
			return nil, net.ErrClosed
		}
		if ln == nil {
			<-resumed
			continue
		}
		tc, err := ln.AcceptTCP()
		if err != nil {
			l.mu.Lock()
			paused := l.ln != ln || l.closed
			l.mu.Unlock()
			if paused {
				continue
			}
			return nil, err
		}
		return l.s.track(tc, l), nil
	}
}

// pause closes the listening socket; connections are refused until resume.
func (l *listener) pause() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.ln == nil {
		return
	}
	l.ln.Close()
	l.ln = nil
	l.resumed = make(chan struct{})
}

// resume listens again on the same address, retrying until deadline.
func (l *listener) resume(deadline time.Time) error {
	for {
		l.mu.Lock()
		if l.closed || l.ln != nil {
			l.mu.Unlock()
			return nil
		}
		ln, err := net.ListenTCP("tcp", l.addr)
		if err == nil {
			l.ln = ln
			close(l.resumed)
		}
		l.mu.Unlock()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testtarget: listen again on %s after refuse: %w", l.addr, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (l *listener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.ln == nil {
		close(l.resumed)
		return nil
	}
	return l.ln.Close()
}

func (l *listener) Addr() net.Addr { return l.addr }

// track wraps an accepted connection and registers it, so that Refuse and
// Close can reach it.
func (s *Server) track(tc *net.TCPConn, l *listener) *conn {
	c := &conn{s: s, tc: tc, ln: l, done: make(chan struct{})}
	s.connMu.Lock()
	s.conns[c] = struct{}{}
	closing := s.closing
	s.connMu.Unlock()
	// A switch to Refuse stores the fault before it resets the tracked
	// connections, so a connection is either reset there or here.
	switch {
	case closing:
		c.Close()
	case s.current() == Refuse:
		c.reset()
	}
	return c
}

func (s *Server) trackedLocked() []*conn {
	out := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// resetHungConns resets the connections that hung during a Hang window:
// when the window ends the frozen backend is gone (it was restarted), so
// kept-alive clients see their connection end then, as they would.
func (s *Server) resetHungConns() {
	s.connMu.Lock()
	open := s.trackedLocked()
	s.connMu.Unlock()
	for _, c := range open {
		if c.hung.Load() {
			c.reset()
		}
	}
}

// drop applies a drop fault to the connections established now.
func (s *Server) drop(f Fault) {
	if !f.Drops() {
		return
	}
	s.connMu.Lock()
	open := s.trackedLocked()
	s.connMu.Unlock()
	if f == DropGraceful {
		for _, r := range s.reloaders() {
			r.reload()
		}
	}
	for _, c := range open {
		switch {
		case f == DropFIN, f == DropGraceful && (c.ln == s.lnTCP || c.ln == s.lnDNS):
			c.Close()
		case f == DropRST:
			c.reset()
		case f == DropBlackhole:
			c.hung.Store(true)
		}
	}
}

func (s *Server) resetConns() {
	s.connMu.Lock()
	open := s.trackedLocked()
	s.connMu.Unlock()
	for _, c := range open {
		c.reset()
	}
}

// conn applies Reset and Hang when its Read returns data: the arrival of
// data decides, not the time a server gets to handle it.
type conn struct {
	s  *Server
	tc *net.TCPConn
	ln *listener

	hung          atomic.Bool
	writeDeadline atomic.Int64 // UnixNano; 0 = none
	done          chan struct{}
	closeOnce     sync.Once
	closeErr      error
}

var _ net.Conn = (*conn)(nil)

func (c *conn) Read(p []byte) (int, error) {
	if c.hung.Load() {
		return 0, c.hang()
	}
	n, err := c.tc.Read(p)
	if n > 0 && c.hung.Load() {
		return 0, c.hang() // went silent (DropBlackhole) while this read waited
	}
	if n > 0 {
		switch c.s.current() {
		case Reset:
			c.reset()
			return 0, errFaultReset
		case Hang:
			c.hung.Store(true)
			// The window may have ended between the check and the mark:
			// then resetHungConns may have missed this connection.
			if c.s.current() != Hang {
				c.reset()
				return 0, errFaultReset
			}
			return 0, c.hang()
		}
	}
	return n, err
}

// hang discards what the peer sends until it closes the connection, or
// hangCap passes, then closes the connection.
func (c *conn) hang() error {
	c.tc.SetReadDeadline(time.Now().Add(hangCap))
	buf := make([]byte, 4<<10)
	for {
		if _, err := c.tc.Read(buf); err != nil {
			break
		}
	}
	c.Close()
	return errHung
}

// Write on a hung connection blocks until it is closed or the write
// deadline passes, so that nothing reaches the peer.
func (c *conn) Write(p []byte) (int, error) {
	if !c.hung.Load() {
		return c.tc.Write(p)
	}
	var timeout <-chan time.Time
	if d := c.writeDeadline.Load(); d != 0 {
		t := time.NewTimer(time.Until(time.Unix(0, d)))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-c.done:
		return 0, net.ErrClosed
	case <-timeout:
		return 0, os.ErrDeadlineExceeded
	}
}

// reset closes the connection with a TCP RST.
func (c *conn) reset() {
	c.tc.SetLinger(0)
	c.Close()
}

func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		c.s.connMu.Lock()
		delete(c.s.conns, c)
		c.s.connMu.Unlock()
		close(c.done)
		c.closeErr = c.tc.Close()
	})
	return c.closeErr
}

// CloseWrite lets net/http close connections gracefully.
func (c *conn) CloseWrite() error { return c.tc.CloseWrite() }

func (c *conn) LocalAddr() net.Addr  { return c.tc.LocalAddr() }
func (c *conn) RemoteAddr() net.Addr { return c.tc.RemoteAddr() }

func (c *conn) SetDeadline(t time.Time) error {
	c.storeWriteDeadline(t)
	if c.hung.Load() {
		return c.tc.SetWriteDeadline(t)
	}
	return c.tc.SetDeadline(t)
}

// SetReadDeadline is ignored once the connection hangs: hang owns reading.
func (c *conn) SetReadDeadline(t time.Time) error {
	if c.hung.Load() {
		return nil
	}
	return c.tc.SetReadDeadline(t)
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	c.storeWriteDeadline(t)
	return c.tc.SetWriteDeadline(t)
}

func (c *conn) storeWriteDeadline(t time.Time) {
	if t.IsZero() {
		c.writeDeadline.Store(0)
		return
	}
	c.writeDeadline.Store(t.UnixNano())
}

// packetConn drops the DNS queries that arrive during Hang and DNSDrop.
type packetConn struct {
	s  *Server
	uc *net.UDPConn
}

var _ net.PacketConn = (*packetConn)(nil)

func (pc *packetConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := pc.uc.ReadFrom(p)
		if err == nil {
			if f := pc.s.current(); f == Hang || f == DNSDrop {
				continue
			}
		}
		return n, addr, err
	}
}

func (pc *packetConn) WriteTo(p []byte, addr net.Addr) (int, error) { return pc.uc.WriteTo(p, addr) }
func (pc *packetConn) Close() error                                 { return pc.uc.Close() }
func (pc *packetConn) LocalAddr() net.Addr                          { return pc.uc.LocalAddr() }
func (pc *packetConn) SetDeadline(t time.Time) error                { return pc.uc.SetDeadline(t) }
func (pc *packetConn) SetReadDeadline(t time.Time) error            { return pc.uc.SetReadDeadline(t) }
func (pc *packetConn) SetWriteDeadline(t time.Time) error           { return pc.uc.SetWriteDeadline(t) }
