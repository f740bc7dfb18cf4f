package testtarget

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// reloader serves one of the HTTP servers the way a router serves a
// listening socket across reloads: a generation (an http.Server) takes
// the connections accepted while it is current; reload makes a new
// generation current and shuts the old one down gracefully (HTTP/2
// connections get a GOAWAY, idle HTTP/1.1 connections are closed, requests
// in progress go on) until hardStop closes what is left.
type reloader struct {
	ln    *listener
	newGn func() *http.Server
	serve func(srv *http.Server, l net.Listener) error
	goSrv func(func())

	mu      sync.Mutex
	cur     *generation
	old     []*generation
	stopped bool
}

// generation is one http.Server and the listener it accepts from.
type generation struct {
	srv    *http.Server
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
	addr   net.Addr
}

func (g *generation) Accept() (net.Conn, error) {
	select {
	case <-g.closed: // first: a generation shutting down takes no more
		return nil, net.ErrClosed
	default:
	}
	select {
	case c := <-g.conns:
		return c, nil
	case <-g.closed:
		return nil, net.ErrClosed
	}
}

func (g *generation) Close() error {
	g.once.Do(func() { close(g.closed) })
	return nil
}

func (g *generation) Addr() net.Addr { return g.addr }

func newReloader(ln *listener, newGn func() *http.Server, serve func(*http.Server, net.Listener) error, goSrv func(func())) *reloader {
	r := &reloader{ln: ln, newGn: newGn, serve: serve, goSrv: goSrv}
	r.cur = r.start()
	goSrv(r.dispatch)
	return r
}

func (r *reloader) start() *generation {
	g := &generation{srv: r.newGn(), conns: make(chan net.Conn), closed: make(chan struct{}), addr: r.ln.Addr()}
	r.goSrv(func() { r.serve(g.srv, g) })
	return g
}

// dispatch hands every accepted connection to the current generation.
func (r *reloader) dispatch() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return // only the final Close ends a listener's Accept
		}
		for {
			r.mu.Lock()
			g, stopped := r.cur, r.stopped
			r.mu.Unlock()
			if stopped {
				c.Close()
				break
			}
			select {
			case g.conns <- c:
			case <-g.closed:
				continue // reloaded meanwhile: the next generation takes it
			}
			break
		}
	}
}

// reload makes a new generation current and shuts the previous one down
// gracefully.
func (r *reloader) reload() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	prev := r.cur
	r.cur = r.start()
	r.old = append(r.old, prev)
	// Idle HTTP/1.1 connections are closed now, before the switch
	// returns: a request sent after the stamped start must not find one
	// still open (and be answered, or reset as unread data).
	prev.srv.SetKeepAlivesEnabled(false)
	go prev.srv.Shutdown(context.Background()) // GOAWAY to HTTP/2; returns once hardStop has closed the rest
}

// hardStop closes every connection of the generations shut down so far.
func (r *reloader) hardStop() {
	r.mu.Lock()
	old := r.old
	r.old = nil
	r.mu.Unlock()
	for _, g := range old {
		g.srv.Close()
	}
}

// close stops every generation.
func (r *reloader) close() error {
	r.mu.Lock()
	r.stopped = true
	cur := r.cur
	r.mu.Unlock()
	r.hardStop()
	return cur.srv.Close()
}
