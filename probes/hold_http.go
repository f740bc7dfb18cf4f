package probes

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/zerodown/zerodown/config"
)

// httpHold dials held HTTP connections: HTTP/1.1 (plain or TLS) or
// HTTP/2 (h2c, or TLS when ALPN picks it), each spoken directly on the
// connection rather than through a pooling client, so that every drop and
// its cause are seen (a pooling client hides them by dialling again).
type httpHold struct {
	addr    string
	tls     *tls.Config // nil: plain
	h2c     bool
	needH2  bool
	host    string // Host header and :authority
	scheme  string
	path    string // of the checks' requests
	stream  string
	headers http.Header
	method  string
	check   time.Duration
	timeout time.Duration
	maxBody int64
	dialer  net.Dialer
}

// newHTTPHold returns the dialer of t's held connections and the protocol
// expected before any is open.
func newHTTPHold(t *config.Target, timeout time.Duration) (dialHeld, string, error) {
	cfg := t.HTTP
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, "", fmt.Errorf("url %q: %w", cfg.URL, err)
	}
	h := &httpHold{
		host:    u.Host,
		path:    u.RequestURI(),
		stream:  t.Hold.Stream,
		headers: http.Header{},
		method:  cfg.Method,
		check:   time.Duration(t.Hold.Check),
		timeout: timeout,
		maxBody: int64(cfg.MaxBodyBytes),
		dialer:  net.Dialer{KeepAlive: -1},
	}
	if h.method == "" {
		h.method = http.MethodGet
	}
	if h.maxBody <= 0 {
		h.maxBody = defaultMaxBody
	}
	if cfg.Host != "" {
		h.host = cfg.Host
	}
	for k, v := range cfg.Headers {
		h.headers.Set(k, v)
	}
	h.headers.Set("User-Agent", "zerodown-hold")
	expected := "http"
	switch u.Scheme {
	case "h2c":
		h.h2c, h.scheme, expected = true, "http", "h2c"
	case "http":
		h.scheme = "http"
	case "https":
		h.scheme = "https"
		if h.tls, err = tlsConfig(cfg, u); err != nil {
			return nil, "", err
		}
		switch cfg.HTTPVersion {
		case "1.1":
			h.tls.NextProtos, expected = []string{"http/1.1"}, "https"
		case "2":
			h.tls.NextProtos, expected, h.needH2 = []string{"h2"}, "h2", true
		default:
			h.tls.NextProtos, expected = []string{"h2", "http/1.1"}, "h2"
		}
	default:
		return nil, "", fmt.Errorf("url %q: unsupported scheme %q", cfg.URL, u.Scheme)
	}
	h.addr = addrOf(u)
	return h.dial, expected, nil
}

func (h *httpHold) dial(ctx context.Context) (heldConn, error) {
	c, err := h.dialer.DialContext(ctx, "tcp", h.addr)
	if err != nil {
		return nil, err
	}
	proto, h2 := "http", h.h2c
	if h.h2c {
		proto = "h2c"
	}
	if h.tls != nil {
		tc := tls.Client(c, h.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		c, h2, proto = tc, tc.ConnectionState().NegotiatedProtocol == "h2", "https"
		if h2 {
			proto = "h2"
		} else if h.needH2 {
			c.Close()
			return nil, errors.New("the server did not agree to HTTP/2 (http_version 2)")
		}
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
		defer c.SetDeadline(time.Time{})
	}
	if h2 {
		return h.startH2(c, proto)
	}
	return h.startH1(c, proto)
}

// request renders a request for path as HTTP/1.1.
func (h *httpHold) request(method, path string) ([]byte, *http.Request) {
	// path is a request URI as written (escaped): sent as it is.
	u := &url.URL{Opaque: path}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		u = &url.URL{Opaque: path[:i], RawQuery: path[i+1:]}
	}
	req := &http.Request{Method: method, URL: u, Host: h.host, Header: h.headers.Clone(),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
	var b bytes.Buffer
	req.Write(&b) // into a buffer: cannot fail
	return b.Bytes(), req
}

// h1Held is a held HTTP/1.1 connection: a request every check, or one
// stream read for as long as it lasts.
type h1Held struct {
	h     *httpHold
	c     net.Conn
	br    *bufio.Reader
	proto string
}

func (h *httpHold) startH1(c net.Conn, proto string) (heldConn, error) {
	return &h1Held{h: h, c: c, br: bufio.NewReaderSize(c, 4<<10), proto: proto}, nil
}

func (x *h1Held) protocol() string { return x.proto }
func (x *h1Held) close()           { x.c.Close() }

func (x *h1Held) run(ctx context.Context, alive func()) (DropReason, error) {
	if x.h.stream != "" {
		return x.runStream(ctx, alive)
	}
	raw, req := x.h.request(x.h.method, x.h.path)
	errc := make(chan error, 1)
	answered := newSignal()
	go func() {
		for {
			// Waiting here while idle, the read sees a FIN or RST at once.
			if _, err := x.br.Peek(1); err != nil {
				errc <- err
				return
			}
			resp, err := http.ReadResponse(x.br, req)
			if err != nil {
				errc <- err
				return
			}
			n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, x.h.maxBody+1))
			resp.Body.Close()
			switch {
			case err != nil:
				errc <- err
				return
			case n > x.h.maxBody:
				errc <- fmt.Errorf("an answer longer than max_body_bytes (%d)", x.h.maxBody)
				return
			}
			answered.notify()
			if resp.Close {
				// The server said it closes: a graceful end, whatever
				// arrives next (its FIN).
				errc <- errConnClose
				return
			}
		}
	}()
	tick := time.NewTicker(x.h.check)
	defer tick.Stop()
	for {
		if reason, err, ok := nextCheck(ctx, tick, errc); !ok {
			return reason, err
		}
		answered.drain()
		x.c.SetWriteDeadline(time.Now().Add(x.h.timeout))
		if _, err := x.c.Write(raw); err != nil {
			return dropReasonOf(err), err
		}
		reason, err, ok := awaitAnswer(ctx, answered, errc, x.h.timeout)
		if !ok {
			return reason, err
		}
		alive()
	}
}

// runStream requests the stream and reads it: no data for a check plus
// the timeout is a drop (timeout), and so is its end.
func (x *h1Held) runStream(ctx context.Context, alive func()) (DropReason, error) {
	raw, req := x.h.request(http.MethodGet, x.h.stream)
	silence := x.h.check + x.h.timeout
	x.c.SetDeadline(time.Now().Add(silence))
	if _, err := x.c.Write(raw); err != nil {
		return dropReasonOf(err), err
	}
	errc := make(chan error, 1)
	data := newSignal()
	go func() {
		resp, err := http.ReadResponse(x.br, req)
		if err != nil {
			errc <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			errc <- fmt.Errorf("the stream %s was answered %s", x.h.stream, resp.Status)
			return
		}
		buf := make([]byte, 4<<10)
		for {
			n, err := resp.Body.Read(buf)
			if n > 0 {
				x.c.SetReadDeadline(time.Now().Add(silence))
				data.notify()
			}
			if errors.Is(err, io.EOF) {
				errc <- errStreamEnded
				return
			}
			if err != nil {
				errc <- err
				return
			}
		}
	}()
	tick := time.NewTicker(x.h.check)
	defer tick.Stop()
	for {
		if reason, err, ok := nextCheck(ctx, tick, errc); !ok {
			return reason, err
		}
		select {
		case <-data: // data arrived since the last check
			alive()
		default:
		}
	}
}

// h2Held is a held HTTP/2 connection spoken frame by frame: a PING every
// check (the answer is the check), the stream when one is configured,
// else a request every check, so that the connection is in use as a
// client's would be and no idle timeout ends it.
type h2Held struct {
	h     *httpHold
	c     net.Conn
	fr    *http2.Framer
	proto string

	wmu  sync.Mutex // guards writes on fr, next, henc and hbuf
	next uint32     // the next stream ID
	henc *hpack.Encoder
	hbuf bytes.Buffer
}

// h2Window is the receive window granted on the connection and streams.
const h2Window = 1 << 20

func (h *httpHold) startH2(c net.Conn, proto string) (heldConn, error) {
	x := &h2Held{h: h, c: c, fr: http2.NewFramer(c, c), proto: proto, next: 1}
	x.henc = hpack.NewEncoder(&x.hbuf)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		c.Close()
		return nil, err
	}
	err := errors.Join(
		x.fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 0},
			http2.Setting{ID: http2.SettingInitialWindowSize, Val: h2Window}),
		x.fr.WriteWindowUpdate(0, h2Window-65535))
	if err == nil && h.stream != "" {
		err = x.request(h.stream)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return x, nil
}

func (x *h2Held) protocol() string { return x.proto }
func (x *h2Held) close()           { x.c.Close() }

// request opens a stream with a GET of path.
func (x *h2Held) request(path string) error {
	x.hbuf.Reset()
	enc := func(k, v string) { x.henc.WriteField(hpack.HeaderField{Name: k, Value: v}) }
	enc(":method", http.MethodGet)
	enc(":scheme", x.h.scheme)
	enc(":authority", x.h.host)
	enc(":path", path)
	for k, vs := range x.h.headers {
		for _, v := range vs {
			enc(strings.ToLower(k), v)
		}
	}
	id := x.next
	x.next += 2
	return x.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: x.hbuf.Bytes(), EndStream: true, EndHeaders: true})
}

func (x *h2Held) write(f func() error) error {
	x.wmu.Lock()
	defer x.wmu.Unlock()
	x.c.SetWriteDeadline(time.Now().Add(x.h.timeout))
	return f()
}

func (x *h2Held) run(ctx context.Context, alive func()) (DropReason, error) {
	errc := make(chan error, 2)
	pong := newSignal()
	fail := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	// onHeld says whether a frame is of the held stream (stream 1).
	held := x.h.stream != ""
	onHeld := func(id uint32) bool { return held && id == 1 }
	go func() {
		for {
			f, err := x.fr.ReadFrame()
			if err != nil {
				fail(err)
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					err = x.write(func() error {
						if v, ok := f.Value(http2.SettingHeaderTableSize); ok {
							x.henc.SetMaxDynamicTableSizeLimit(v)
						}
						return x.fr.WriteSettingsAck()
					})
				}
			case *http2.PingFrame:
				if f.IsAck() {
					pong.notify()
				} else {
					err = x.write(func() error { return x.fr.WritePing(true, f.Data) })
				}
			case *http2.GoAwayFrame:
				fail(http2.GoAwayError{LastStreamID: f.LastStreamID, ErrCode: f.ErrCode, DebugData: string(f.DebugData())})
				return
			case *http2.DataFrame:
				// Flow control counts the whole payload, padding included.
				if n := f.Header().Length; n > 0 {
					err = x.write(func() error {
						err := x.fr.WriteWindowUpdate(0, n)
						if onHeld(f.StreamID) && !f.StreamEnded() {
							err = errors.Join(err, x.fr.WriteWindowUpdate(1, n))
						}
						return err
					})
				}
				if onHeld(f.StreamID) && f.StreamEnded() {
					fail(errStreamEnded)
					return
				}
			case *http2.HeadersFrame:
				if onHeld(f.StreamID) && f.StreamEnded() {
					fail(errStreamEnded)
					return
				}
			case *http2.RSTStreamFrame:
				if onHeld(f.StreamID) {
					fail(fmt.Errorf("%w: reset (%v)", errStreamEnded, f.ErrCode))
					return
				}
			}
			if err != nil {
				fail(err)
				return
			}
		}
	}()
	tick := time.NewTicker(x.h.check)
	defer tick.Stop()
	var n uint64
	for {
		if reason, err, ok := nextCheck(ctx, tick, errc); !ok {
			return reason, err
		}
		pong.drain()
		n++
		var data [8]byte
		binary.BigEndian.PutUint64(data[:], n)
		err := x.write(func() error {
			if !held {
				if err := x.request(x.h.path); err != nil {
					return err
				}
			}
			return x.fr.WritePing(false, data)
		})
		if err != nil {
			return dropReasonOf(err), err
		}
		reason, err, ok := awaitAnswer(ctx, pong, errc, x.h.timeout)
		if !ok {
			return reason, err
		}
		alive()
	}
}
