package probes

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"github.com/zerodown/zerodown/config"
)

const defaultMaxBody = 64 << 10

// maxReusedConns caps the connections of a reused-connection series.
const maxReusedConns = 4

// httpProber probes one URL over one connection mode. HTTP/2 is spoken
// through golang.org/x/net/http2: over TLS when ALPN picks it (or when
// http_version is "2"), and with prior knowledge for h2c:// URLs.
type httpProber struct {
	cfg      *config.HTTPProbe
	url      *url.URL
	tmpl     *http.Request // every probe sends a copy of it
	protocol string
	newConn  bool
	needH2   bool // http_version "2": a response over HTTP/1 is a failure
	h2c      *http2.Transport
	rt       http.RoundTripper
	dialer   net.Dialer
	statusOK [600]bool
	maxBody  int64
	needBody bool
	servedBy *servedBy

	traces sync.Pool

	// leanAddr is set for plain http:// over a new connection to an IP
	// address, sent without net/http's Transport (see roundTripNewH1).
	leanAddr string
	leanReq  []byte // the rendered request (nil: rendered per probe)
	readers  sync.Pool

	certMu   sync.Mutex
	lastCert []byte
}

func newHTTP(cfg *config.HTTPProbe, conn config.Connection, timeout time.Duration) (*httpProber, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("url %q: %w", cfg.URL, err)
	}
	p := &httpProber{
		cfg:     cfg,
		url:     u,
		newConn: conn != config.ConnReused,
		maxBody: int64(cfg.MaxBodyBytes),
		dialer:  net.Dialer{Timeout: timeout, KeepAlive: -1, Control: spreadPorts},
	}
	if p.maxBody <= 0 {
		p.maxBody = defaultMaxBody
	}
	for c := range p.statusOK {
		p.statusOK[c] = cfg.ValidStatus(c)
	}
	if cfg.ServedBy != nil {
		p.servedBy = newServedBy(cfg.ServedBy)
	}
	p.needBody = cfg.BodyContains != "" || cfg.BodyRegex.Regexp != nil ||
		(p.servedBy != nil && p.servedBy.re != nil)
	p.traces.New = func() any { return newTraceState() }

	switch u.Scheme {
	case "h2c":
		p.protocol = "h2c"
		u2 := *u
		u2.Scheme = "http"
		p.url = &u2
		p.h2c = &http2.Transport{
			AllowHTTP: true,
			DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
				return p.dial(ctx, network, addr)
			},
			DisableCompression: true,
			// A connection whose peer stopped answering is found by a ping
			// and closed, as a well-configured client would.
			ReadIdleTimeout: timeout,
			PingTimeout:     timeout,
		}
		p.rt = p.h2c
	case "http", "https":
		t1 := &http.Transport{
			Proxy:               nil, // never an environment proxy: we measure the path to the target
			DialContext:         p.dialer.DialContext,
			DisableKeepAlives:   p.newConn,
			DisableCompression:  true,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
		}
		if !p.newConn {
			// Kept-alive connections are capped: requests that pile up
			// behind hung ones wait (and time out) rather than open a
			// connection each against a struggling backend.
			t1.MaxConnsPerHost = maxReusedConns
		}
		p.protocol = "http"
		if u.Scheme == "https" {
			tc, err := tlsConfig(cfg, u)
			if err != nil {
				return nil, err
			}
			t1.TLSClientConfig = tc
			t1.TLSHandshakeTimeout = timeout
			p.protocol = "https"
			switch cfg.HTTPVersion {
			case "1.1":
				tc.NextProtos = []string{"http/1.1"}
			case "2":
				p.protocol, p.needH2 = "h2", true
				fallthrough
			default:
				t2, err := http2.ConfigureTransports(t1)
				if err != nil {
					return nil, fmt.Errorf("configuring HTTP/2: %w", err)
				}
				t2.ReadIdleTimeout, t2.PingTimeout = timeout, timeout
			}
		}
		p.rt = t1
	default:
		return nil, fmt.Errorf("url %q: unsupported scheme %q", cfg.URL, u.Scheme)
	}
	method := cfg.Method
	if method == "" {
		method = http.MethodGet
	}
	if p.tmpl, err = http.NewRequest(method, p.url.String(), nil); err != nil {
		return nil, fmt.Errorf("url %q: %w", cfg.URL, err)
	}
	for k, v := range cfg.Headers {
		p.tmpl.Header.Set(k, v)
	}
	if cfg.Host != "" {
		p.tmpl.Host = cfg.Host
	}
	if u.Scheme == "http" && p.newConn && net.ParseIP(u.Hostname()) != nil {
		p.leanAddr = addrOf(u)
		if cfg.BearerTokenFile == "" {
			p.leanReq = renderRequest(p.tmpl)
		}
		p.readers.New = func() any { return bufio.NewReaderSize(nil, 4<<10) }
	}
	return p, nil
}

// addrOf is the host:port an http, h2c or https URL connects to.
func addrOf(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// renderRequest is req as an HTTP/1.1 client sends it over a connection
// used once ("Connection: close").
func renderRequest(req *http.Request) []byte {
	r := *req
	r.Close = true
	var b bytes.Buffer
	_ = r.Write(&b) // a GET or HEAD without a body, into a buffer: cannot fail
	return b.Bytes()
}

// roundTripNewH1 sends one request over a new connection by hand: dial,
// write the rendered request, parse the answer with http.ReadResponse.
// Without a Transport's per-connection goroutines, buffers and pool it
// costs about a third less CPU per probe (BenchmarkHTTPProbe), which is
// what lets one core probe thousands of targets a second. The trace hooks
// are called as a Transport calls them, so phases and the connected flag
// (connect_timeout against timeout) come out the same.
func (p *httpProber) roundTripNewH1(ctx context.Context, req *http.Request) (*http.Response, error) {
	conn, err := p.dial(ctx, "tcp", p.leanAddr)
	if err != nil {
		return nil, err
	}
	tr := httptrace.ContextClientTrace(ctx)
	if tr != nil && tr.GotConn != nil {
		tr.GotConn(httptrace.GotConnInfo{Conn: conn})
	}
	// The context's end interrupts whatever is blocked on the connection.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*http.Response, error) {
		stop()
		conn.Close()
		if ctx.Err() != nil && isTimeout(err) {
			return nil, fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return nil, err
	}
	raw := p.leanReq
	if raw == nil { // a bearer token, read for this probe
		raw = renderRequest(req)
	}
	if _, err := conn.Write(raw); err != nil {
		return fail(err)
	}
	br := p.readers.Get().(*bufio.Reader)
	br.Reset(conn)
	release := func() {
		br.Reset(nil)
		p.readers.Put(br)
	}
	if _, err := br.Peek(1); err != nil {
		release()
		return fail(err)
	}
	if tr != nil && tr.GotFirstResponseByte != nil {
		tr.GotFirstResponseByte()
	}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		release()
		return fail(err)
	}
	resp.Body = &leanBody{ReadCloser: resp.Body, done: func() {
		stop()
		conn.Close()
		release()
	}}
	return resp, nil
}

// leanBody closes the connection, and gives its reader back, with the body.
type leanBody struct {
	io.ReadCloser
	done func()
	once sync.Once
}

func (b *leanBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}

func tlsConfig(cfg *config.HTTPProbe, u *url.URL) (*tls.Config, error) {
	tc := &tls.Config{
		InsecureSkipVerify: cfg.TLS.InsecureSkipVerify, //nolint:gosec // the operator asked for it
		ServerName:         cfg.TLS.ServerName,
	}
	if tc.ServerName == "" {
		tc.ServerName = cfg.Host
	}
	if tc.ServerName == "" {
		tc.ServerName = u.Hostname()
	}
	if err := applyTLSFiles(tc, cfg.TLS); err != nil {
		return nil, err
	}
	return tc, nil
}

func (p *httpProber) Protocol() string { return p.protocol }

func (p *httpProber) Reasons() []Reason {
	rs := []Reason{ReasonConnectRefused, ReasonConnectTimeout, ReasonReset, ReasonTimeout,
		ReasonHTTPStatus, ReasonProtocol, ReasonOther}
	if net.ParseIP(p.url.Hostname()) == nil {
		rs = append(rs, ReasonDNS)
	}
	if p.url.Scheme == "https" {
		rs = append(rs, ReasonTLS)
	}
	if p.needBody {
		rs = append(rs, ReasonBodyMismatch)
	}
	return rs
}

func (p *httpProber) Close() {
	switch t := p.rt.(type) {
	case *http.Transport:
		t.CloseIdleConnections()
	case *http2.Transport:
		t.CloseIdleConnections()
	}
}

// dial connects for the h2c transport, reporting the connect phase to the
// request's trace the way net/http does for its own dials.
func (p *httpProber) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	tr := httptrace.ContextClientTrace(ctx)
	if tr != nil && tr.ConnectStart != nil {
		tr.ConnectStart(network, addr)
	}
	c, err := p.dialer.DialContext(ctx, network, addr)
	if tr != nil && tr.ConnectDone != nil {
		tr.ConnectDone(network, addr, err)
	}
	return c, err
}

// traceState collects the phase times of one request. One ClientTrace is
// built per state and the states are pooled, so a probe allocates little.
// Transport goroutines may call the hooks after the request returned (a
// dial or handshake still finishing), so fields are guarded, and a state
// goes back to the pool only when no phase is left unfinished.
type traceState struct {
	mu                                                                   sync.Mutex
	dnsStart, dnsDone, connStart, connDone, tlsStart, tlsDone, firstByte time.Time
	connected                                                            bool
	trace                                                                *httptrace.ClientTrace
	buf                                                                  bytes.Buffer
}

func newTraceState() *traceState {
	s := &traceState{}
	stamp := func(t *time.Time) {
		now := time.Now()
		s.mu.Lock()
		*t = now
		s.mu.Unlock()
	}
	s.trace = &httptrace.ClientTrace{
		DNSStart:     func(httptrace.DNSStartInfo) { stamp(&s.dnsStart) },
		DNSDone:      func(httptrace.DNSDoneInfo) { stamp(&s.dnsDone) },
		ConnectStart: func(string, string) { stamp(&s.connStart) },
		ConnectDone: func(_, _ string, err error) {
			now := time.Now()
			s.mu.Lock()
			s.connDone, s.connected = now, err == nil
			s.mu.Unlock()
		},
		TLSHandshakeStart: func() { stamp(&s.tlsStart) },
		TLSHandshakeDone:  func(tls.ConnectionState, error) { stamp(&s.tlsDone) },
		GotConn: func(httptrace.GotConnInfo) {
			s.mu.Lock()
			s.connected = true
			s.mu.Unlock()
		},
		GotFirstResponseByte: func() { stamp(&s.firstByte) },
	}
	return s
}

// finished reports whether every phase that started has ended, so no hook
// can still fire, and resets the state for reuse if so.
func (s *traceState) finished() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if (!s.dnsStart.IsZero() && s.dnsDone.IsZero()) || (!s.connStart.IsZero() && s.connDone.IsZero()) ||
		(!s.tlsStart.IsZero() && s.tlsDone.IsZero()) {
		return false
	}
	s.dnsStart, s.dnsDone, s.connStart, s.connDone = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	s.tlsStart, s.tlsDone, s.firstByte, s.connected = time.Time{}, time.Time{}, time.Time{}, false
	s.buf.Reset()
	return true
}

func (s *traceState) phases(start, end time.Time) (ph Phases, connected bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dnsDone.IsZero() {
		ph.DNS = s.dnsDone.Sub(s.dnsStart)
	}
	if !s.connDone.IsZero() {
		ph.Connect = s.connDone.Sub(s.connStart)
	}
	if !s.tlsDone.IsZero() {
		ph.TLS = s.tlsDone.Sub(s.tlsStart)
	}
	if !s.firstByte.IsZero() {
		ph.FirstByte = s.firstByte.Sub(start)
		ph.Transfer = end.Sub(s.firstByte)
	}
	return ph, s.connected
}

func (p *httpProber) Probe(ctx context.Context, r *Result) {
	ts := p.traces.Get().(*traceState)
	start := time.Now()
	err := p.do(httptrace.WithClientTrace(ctx, ts.trace), ts, r)
	var connected bool
	r.Phases, connected = ts.phases(start, time.Now())
	if err != nil {
		r.Err = err
		if r.Reason == ReasonNone {
			r.Reason = classify(err, connected)
		}
	}
	if ts.finished() {
		p.traces.Put(ts)
	}
}

func (p *httpProber) do(ctx context.Context, ts *traceState, r *Result) error {
	// The request is a shallow copy of a template built once: no URL
	// parsing per probe. Its header is shared and must not be changed.
	req := p.tmpl.WithContext(ctx)
	if p.cfg.BearerTokenFile != "" {
		tok, err := os.ReadFile(p.cfg.BearerTokenFile)
		if err != nil {
			r.Reason = ReasonOther
			return fmt.Errorf("bearer_token_file: %w", err)
		}
		req.Header = req.Header.Clone()
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}

	var (
		resp *http.Response
		err  error
	)
	switch {
	case p.leanAddr != "":
		resp, err = p.roundTripNewH1(ctx, req)
	case p.h2c != nil && p.newConn:
		resp, err = p.roundTripNewH2C(ctx, req)
	default:
		resp, err = p.rt.RoundTrip(req)
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	r.Status = resp.StatusCode
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		r.Cert = p.noticeCert(resp.TLS.PeerCertificates[0])
	}

	// Read the body, bounded: an endless or huge body is cut at maxBody.
	body := io.LimitReader(resp.Body, p.maxBody)
	if p.needBody {
		_, err = ts.buf.ReadFrom(body)
	} else {
		_, err = io.Copy(io.Discard, body)
	}
	if err != nil {
		return fmt.Errorf("reading body: %w", err)
	}
	if p.servedBy != nil {
		r.ServedBy = p.servedBy.value(resp.Header, ts.buf.Bytes())
	}
	if !p.statusOK[min(max(resp.StatusCode, 0), len(p.statusOK)-1)] {
		r.Reason = ReasonHTTPStatus
		return fmt.Errorf("unexpected status %s", resp.Status)
	}
	if p.needH2 && resp.ProtoMajor != 2 {
		r.Reason = ReasonProtocol
		return fmt.Errorf("answered over %s, not HTTP/2", resp.Proto)
	}
	if p.cfg.BodyContains != "" && !bytes.Contains(ts.buf.Bytes(), []byte(p.cfg.BodyContains)) {
		r.Reason = ReasonBodyMismatch
		return fmt.Errorf("body does not contain %q", p.cfg.BodyContains)
	}
	if re := p.cfg.BodyRegex.Regexp; re != nil && !re.Match(ts.buf.Bytes()) {
		r.Reason = ReasonBodyMismatch
		return fmt.Errorf("body does not match %q", re.String())
	}
	return nil
}

// roundTripNewH2C sends one request over a new h2c connection and closes
// the connection when the body is closed.
func (p *httpProber) roundTripNewH2C(ctx context.Context, req *http.Request) (*http.Response, error) {
	conn, err := p.dial(ctx, "tcp", p.url.Host)
	if err != nil {
		return nil, err
	}
	cc, err := p.h2c.NewClientConn(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	resp, err := cc.RoundTrip(req)
	if err != nil {
		cc.Close()
		return nil, err
	}
	resp.Body = &closeBoth{ReadCloser: resp.Body, cc: cc}
	return resp, nil
}

type closeBoth struct {
	io.ReadCloser
	cc *http2.ClientConn
}

func (c *closeBoth) Close() error {
	err := c.ReadCloser.Close()
	return errors.Join(err, c.cc.Close())
}

// noticeCert returns the certificate's description when it differs from
// the last one this prober saw (the first one, or a rotation), else nil.
func (p *httpProber) noticeCert(leaf *x509.Certificate) *Cert {
	p.certMu.Lock()
	defer p.certMu.Unlock()
	if bytes.Equal(p.lastCert, leaf.Raw) {
		return nil
	}
	p.lastCert = leaf.Raw
	sum := sha256.Sum256(leaf.Raw)
	return &Cert{
		NotAfter:    leaf.NotAfter,
		Fingerprint: hex.EncodeToString(sum[:]),
		Subject:     leaf.Subject.String(),
		Serial:      leaf.SerialNumber.String(),
	}
}

// servedBy finds which backend answered, in a header or the body, and
// bounds the answer to the configured values ("other" for the rest).
type servedBy struct {
	header string
	re     interface{ FindSubmatch([]byte) [][]byte }
	values map[string]string
}

// OtherServedBy is the served_by value of answers outside the configured set.
const OtherServedBy = "other"

func newServedBy(c *config.ServedBy) *servedBy {
	s := &servedBy{header: c.Header, values: make(map[string]string, len(c.Values))}
	if c.BodyRegex.Regexp != nil {
		s.re = c.BodyRegex.Regexp
	}
	for _, v := range c.Values {
		s.values[v] = v
	}
	return s
}

func (s *servedBy) value(h http.Header, body []byte) string {
	var v string
	if s.header != "" {
		v = h.Get(s.header)
	} else if s.re != nil {
		if m := s.re.FindSubmatch(body); len(m) > 1 {
			v = string(m[1])
		}
	}
	if known, ok := s.values[v]; ok {
		return known
	}
	return OtherServedBy
}
