// Package testtarget is a loopback test target with switchable faults and
// nanosecond ground truth, for zerodown's tests, benchmarks and demo.
//
// Start serves, each on its own ephemeral port of 127.0.0.1: HTTP/1.1,
// HTTPS (HTTP/2 and HTTP/1.1 by ALPN, with a certificate issued at Start by
// a throw-away CA), h2c with prior knowledge, a TCP line protocol (any line
// is answered "pong\n") and DNS over UDP and TCP on one port number.
//
// Set, Window and Run switch faults (see Fault) and stamp every switch with
// the time.Now() taken where the change takes effect; Truth returns those
// stamps as closed windows, the ground truth a prober's findings are
// compared with.
package testtarget

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Fault is a kind of disruption the target can be switched to.
type Fault string

const (
	// Healthy is no fault.
	Healthy Fault = ""
	// Refuse closes the TCP listeners (http, https, h2c, tcp, dns-tcp) and
	// resets every open connection at the window's start, so that new
	// connections are refused; it listens again on the same ports at the
	// window's end. DNS over UDP is not affected.
	Refuse Fault = "refuse"
	// Reset keeps the listeners; a connection whose read returns data during
	// the window is closed with a TCP RST, new and kept-alive ones alike.
	Reset Fault = "reset"
	// HTTP503 makes the HTTP handlers of all three HTTP servers answer 503.
	HTTP503 Fault = "http_503"
	// Hang makes a TCP connection whose read returns data during the window
	// hung: its data is discarded and it is never answered, until the
	// client closes it or the window ends, when every hung connection is
	// reset (the frozen backend was replaced). DNS queries over UDP
	// received in the window are not answered.
	Hang Fault = "hang"
	// DNSServfail makes DNS answer SERVFAIL, over UDP and TCP.
	DNSServfail Fault = "dns_servfail"
	// DNSDrop leaves DNS queries received in the window unanswered, over UDP
	// and TCP; TCP connections stay open.
	DNSDrop Fault = "dns_drop"
	// DNSGarbage makes DNS answer 64 random bytes that do not unpack as a
	// DNS message.
	DNSGarbage Fault = "dns_garbage"

	// The drop faults end the TCP connections established before the
	// window, at its start, and leave new ones alone: what a router
	// reload or a restarted backend does to long-lived connections while
	// new requests still work. The window's start is the ground truth of
	// every drop.

	// DropGraceful reloads the HTTP servers as a router reload does: a
	// new generation takes new connections, the old one sends GOAWAY on
	// its HTTP/2 connections and closes its idle HTTP/1.1 ones; requests
	// in progress (a stream) go on until the window ends, when what is
	// left is closed. Line protocol and DNS connections are closed (FIN).
	DropGraceful Fault = "drop_graceful"
	// DropFIN closes every established connection (FIN, no GOAWAY).
	DropFIN Fault = "drop_fin"
	// DropRST resets every established connection (RST).
	DropRST Fault = "drop_rst"
	// DropBlackhole silences every established connection: what its peer
	// sends is discarded and nothing is sent back, until the window ends
	// and they are reset (a path that went dark, then a dead backend).
	DropBlackhole Fault = "drop_blackhole"
)

// Drops says whether f is a drop fault: it ends established connections
// and leaves new ones alone.
func (f Fault) Drops() bool {
	switch f {
	case DropGraceful, DropFIN, DropRST, DropBlackhole:
		return true
	}
	return false
}

var faults = []Fault{Healthy, Refuse, Reset, HTTP503, Hang, DNSServfail, DNSDrop, DNSGarbage,
	DropGraceful, DropFIN, DropRST, DropBlackhole}

// ParseFault returns the Fault named s; "" and "healthy" are Healthy.
func ParseFault(s string) (Fault, error) {
	if s == "healthy" {
		return Healthy, nil
	}
	if f := Fault(s); slices.Contains(faults, f) {
		return f, nil
	}
	return Healthy, fmt.Errorf("testtarget: unknown fault %q", s)
}

// Options configure Start. The zero value is valid.
type Options struct {
	// Zone is the DNS zone answered; default "test.".
	Zone string
	// DNSNames are added to the certificate's names, besides 127.0.0.1,
	// ::1 and localhost.
	DNSNames []string
	// Split gives the weights of the served-by values the HTTP servers
	// answer with, e.g. {"blue": 90, "green": 10}; empty means "default".
	// Values are drawn in a fixed smooth rotation, so that any run of
	// consecutive responses as long as the sum of the weights divided by
	// their greatest common divisor holds each value exactly in proportion.
	Split map[string]int
	// CertValidity is how long an issued certificate is valid; default 24h.
	CertValidity time.Duration
	// Records optionally sets the addresses answered for names, inside the
	// zone or not: fully-qualified name (case-insensitive) → IPv4 and IPv6
	// addresses, answered as A and AAAA records. Names of the zone not
	// listed are answered 127.0.0.1 and ::1.
	Records map[string][]string
}

const (
	defaultZone         = "test."
	defaultCertValidity = 24 * time.Hour
	hangCap             = 2 * time.Minute
	relistenTimeout     = time.Second
	shutdownTimeout     = 5 * time.Second
)

// config is Options validated and normalised.
type config struct {
	zone     string
	dnsNames []string
	split    map[string]int
	validity time.Duration
	records  map[string][]netip.Addr
}

func (o Options) config() (config, error) {
	c := config{
		zone:     defaultZone,
		dnsNames: slices.Clone(o.DNSNames),
		split:    o.Split,
		validity: o.CertValidity,
		records:  map[string][]netip.Addr{},
	}
	var errs []error
	if o.Zone != "" {
		c.zone = dns.CanonicalName(o.Zone)
		if _, ok := dns.IsDomainName(c.zone); !ok {
			errs = append(errs, fmt.Errorf("testtarget: Options.Zone: %q is not a domain name", o.Zone))
		}
	}
	for i, n := range o.DNSNames {
		if n == "" {
			errs = append(errs, fmt.Errorf("testtarget: Options.DNSNames[%d]: empty name", i))
		}
	}
	if len(c.split) == 0 {
		c.split = map[string]int{"default": 1}
	}
	for name, w := range c.split {
		if name == "" {
			errs = append(errs, errors.New("testtarget: Options.Split: empty served-by value"))
		}
		if w <= 0 {
			errs = append(errs, fmt.Errorf("testtarget: Options.Split[%q]: weight must be positive, got %d", name, w))
		}
	}
	if c.validity == 0 {
		c.validity = defaultCertValidity
	}
	if c.validity < 0 {
		errs = append(errs, fmt.Errorf("testtarget: Options.CertValidity: must not be negative, got %v", o.CertValidity))
	}
	for name, ips := range o.Records {
		fqdn := dns.CanonicalName(name)
		if _, ok := dns.IsDomainName(fqdn); !ok || name == "" {
			errs = append(errs, fmt.Errorf("testtarget: Options.Records: %q is not a domain name", name))
		}
		for _, ip := range ips {
			a, err := netip.ParseAddr(ip)
			if err != nil {
				errs = append(errs, fmt.Errorf("testtarget: Options.Records[%q]: %w", name, err))
				continue
			}
			c.records[fqdn] = append(c.records[fqdn], a.Unmap())
		}
	}
	return c, errors.Join(errs...)
}

// Server is a running test target. Its methods are safe for concurrent use.
type Server struct {
	cfg   config
	recMu sync.RWMutex // guards cfg.records
	ca    *authority
	split *splitter

	fault atomic.Pointer[Fault]

	// switchMu serialises fault switches and guards the fields below it.
	switchMu    sync.Mutex
	open        *Record // the window in force; nil while healthy
	truth       []Record
	relistenErr error // of the last end of Refuse

	lnHTTP, lnHTTPS, lnH2C, lnTCP, lnDNS *listener
	udp                                  *packetConn

	httpSrv, httpsSrv, h2cSrv *reloader
	dnsUDP, dnsTCP            *dns.Server

	connMu  sync.Mutex
	conns   map[*conn]struct{}
	closing bool

	done      chan struct{} // closed by Close
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup // serving goroutines
}

// Start starts a target with all its servers on 127.0.0.1.
func Start(opts Options) (*Server, error) {
	cfg, err := opts.config()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:   cfg,
		split: newSplitter(cfg.split),
		conns: map[*conn]struct{}{},
		done:  make(chan struct{}),
	}
	s.fault.Store(faultPtr(Healthy))
	if s.ca, err = newAuthority(cfg.dnsNames, cfg.validity); err != nil {
		return nil, err
	}
	if err := s.listen(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.serve(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) listen() error {
	var err error
	for _, l := range []**listener{&s.lnHTTP, &s.lnHTTPS, &s.lnH2C, &s.lnTCP} {
		if *l, err = listenTCP(s, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
			return err
		}
	}
	// DNS needs one port number free for both UDP and TCP.
	for range 20 {
		uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return fmt.Errorf("testtarget: listen dns udp: %w", err)
		}
		port := uc.LocalAddr().(*net.UDPAddr).Port
		l, err := listenTCP(s, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			uc.Close()
			continue
		}
		s.udp, s.lnDNS = &packetConn{s: s, uc: uc}, l
		return nil
	}
	return errors.New("testtarget: listen dns: found no port free for both udp and tcp")
}

func (s *Server) serve() error {
	discard := log.New(io.Discard, "", 0)
	handler := http.HandlerFunc(s.serveHTTP)
	newServer := func(protocols ...func(*http.Protocols, bool)) *http.Server {
		var p http.Protocols
		for _, set := range protocols {
			set(&p, true)
		}
		return &http.Server{Handler: handler, ErrorLog: discard, Protocols: &p, IdleTimeout: 2 * time.Minute}
	}
	plain := func(srv *http.Server, l net.Listener) error { return srv.Serve(l) }
	s.httpSrv = newReloader(s.lnHTTP, func() *http.Server { return newServer((*http.Protocols).SetHTTP1) }, plain, s.goServe)
	s.httpsSrv = newReloader(s.lnHTTPS, func() *http.Server {
		srv := newServer((*http.Protocols).SetHTTP1, (*http.Protocols).SetHTTP2)
		srv.TLSConfig = s.ca.serverConfig()
		return srv
	}, func(srv *http.Server, l net.Listener) error { return srv.ServeTLS(l, "", "") }, s.goServe)
	s.h2cSrv = newReloader(s.lnH2C, func() *http.Server { return newServer((*http.Protocols).SetUnencryptedHTTP2) }, plain, s.goServe)
	s.goServe(func() { s.serveLines(s.lnTCP) })

	handle := dns.HandlerFunc(s.serveDNS)
	s.dnsUDP = &dns.Server{Net: "udp", PacketConn: s.udp, Handler: handle}
	s.dnsTCP = &dns.Server{Net: "tcp", Listener: s.lnDNS, Handler: handle}
	for _, srv := range []*dns.Server{s.dnsUDP, s.dnsTCP} {
		started := make(chan struct{})
		failed := make(chan error, 1)
		srv.NotifyStartedFunc = func() { close(started) }
		s.goServe(func() { failed <- srv.ActivateAndServe() })
		select {
		case <-started:
		case err := <-failed:
			return fmt.Errorf("testtarget: serve dns %s: %w", srv.Net, err)
		}
	}
	return nil
}

func (s *Server) goServe(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// HTTPAddr is the address of the HTTP/1.1 server, "127.0.0.1:port".
func (s *Server) HTTPAddr() string { return s.lnHTTP.Addr().String() }

// HTTPSAddr is the address of the HTTPS server (ALPN h2 and http/1.1).
func (s *Server) HTTPSAddr() string { return s.lnHTTPS.Addr().String() }

// H2CAddr is the address of the HTTP/2 server without TLS (prior knowledge).
func (s *Server) H2CAddr() string { return s.lnH2C.Addr().String() }

// TCPAddr is the address of the TCP line protocol server.
func (s *Server) TCPAddr() string { return s.lnTCP.Addr().String() }

// DNSAddr is the address of the DNS server, the same for UDP and TCP.
func (s *Server) DNSAddr() string { return s.lnDNS.Addr().String() }

// Served returns how many HTTP responses carried each served-by value;
// every value of Options.Split is present. Responses of the HTTP503 fault
// and answers to bad requests carry none and are not counted.
func (s *Server) Served() map[string]int64 { return s.split.counts() }

// Close stops all servers and closes every connection, hung ones too, and
// waits for the serving goroutines to end. A fault in force stays open:
// Truth does not list it. Close also reports listeners that are still
// closed because they could not listen again after Refuse.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		var errs []error
		for _, l := range s.tcpListeners() {
			if l != nil {
				l.Close()
			}
		}
		s.connMu.Lock()
		s.closing = true
		open := s.trackedLocked()
		s.connMu.Unlock()
		for _, c := range open {
			c.Close()
		}
		for _, srv := range s.reloaders() {
			if srv != nil {
				if err := srv.close(); err != nil && !errors.Is(err, net.ErrClosed) {
					errs = append(errs, err)
				}
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		for _, srv := range []*dns.Server{s.dnsUDP, s.dnsTCP} {
			if srv != nil {
				if err := srv.ShutdownContext(ctx); err != nil {
					errs = append(errs, fmt.Errorf("testtarget: shut down dns %s: %w", srv.Net, err))
				}
			}
		}
		if s.dnsUDP == nil && s.udp != nil {
			s.udp.Close()
		}
		s.wg.Wait()
		s.switchMu.Lock()
		errs = append(errs, s.relistenErr)
		s.switchMu.Unlock()
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

func faultPtr(f Fault) *Fault { return &f }

func (s *Server) reloaders() []*reloader { return []*reloader{s.httpSrv, s.httpsSrv, s.h2cSrv} }

func (s *Server) current() Fault { return *s.fault.Load() }

// splitter draws served-by values by smooth weighted round robin.
type splitter struct {
	mu      sync.Mutex
	names   []string
	weights []int
	credit  []int
	total   int
	served  map[string]int64
}

func newSplitter(split map[string]int) *splitter {
	sp := &splitter{served: map[string]int64{}}
	for name := range split {
		sp.names = append(sp.names, name)
	}
	slices.Sort(sp.names)
	for _, name := range sp.names {
		sp.weights = append(sp.weights, split[name])
		sp.total += split[name]
		sp.served[name] = 0
	}
	sp.credit = make([]int, len(sp.names))
	return sp
}

func (sp *splitter) next() string {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	best := 0
	for i, w := range sp.weights {
		sp.credit[i] += w
		if sp.credit[i] > sp.credit[best] {
			best = i
		}
	}
	sp.credit[best] -= sp.total
	name := sp.names[best]
	sp.served[name]++
	return name
}

func (sp *splitter) counts() map[string]int64 {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return maps.Clone(sp.served)
}

// portOf returns the port of a "host:port" address.
func portOf(addr string) uint16 {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.ParseUint(p, 10, 16)
	return uint16(n)
}
