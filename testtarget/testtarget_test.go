package testtarget

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/http2"
)

// Outcomes of one client attempt, as observe reports them.
const (
	ok       = "ok"
	refused  = "refused"
	reset    = "reset" // RST or EOF
	timedOut = "timeout"
	status   = "status 503"
	servfail = "SERVFAIL"
	junk     = "garbage"
)

// kinds are the services observe can try.
var kinds = []string{"http", "https", "h2c", "tcp", "dns-udp", "dns-tcp"}

func start(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func caPool(t *testing.T, s *Server) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CAPEM()) {
		t.Fatal("CAPEM holds no certificate")
	}
	return pool
}

// httpClient returns a client with a transport of its own, so that no
// connection is shared between attempts, and the URL of proto's server.
func httpClient(t *testing.T, s *Server, proto string, timeout time.Duration) (*http.Client, string) {
	t.Helper()
	switch proto {
	case "http":
		return &http.Client{Timeout: timeout, Transport: &http.Transport{}}, "http://" + s.HTTPAddr()
	case "https":
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool(t, s)}, ForceAttemptHTTP2: true}
		return &http.Client{Timeout: timeout, Transport: tr}, "https://" + s.HTTPSAddr()
	case "h2c":
		tr := &http2.Transport{
			AllowHTTP: true,
			DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
		}
		return &http.Client{Timeout: timeout, Transport: tr}, "http://" + s.H2CAddr()
	}
	t.Fatalf("unknown proto %q", proto)
	return nil, ""
}

func closeIdle(c *http.Client) { c.CloseIdleConnections() }

// classify names the way an attempt failed.
func classify(err error) string {
	var netErr net.Error
	var dnsErr *dns.Error
	switch {
	case err == nil:
		return ok
	case errors.Is(err, syscall.ECONNREFUSED):
		return refused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		// x/net/http2 drops the cause when the connection dies before the
		// server's SETTINGS arrive.
		strings.Contains(err.Error(), "http2: client conn could not be established"):
		return reset
	case errors.As(err, &netErr) && netErr.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return timedOut
	case errors.As(err, &dnsErr):
		return junk
	}
	return "error: " + err.Error()
}

// observe makes one attempt on a new connection to the service kind and
// reports its outcome.
func observe(t *testing.T, s *Server, kind string, timeout time.Duration) string {
	switch kind {
	case "http", "https", "h2c":
		return observeHTTP(t, s, kind, timeout)
	case "tcp":
		return observeTCP(s, timeout)
	case "dns-udp":
		return observeDNS(s, "udp", timeout)
	case "dns-tcp":
		return observeDNS(s, "tcp", timeout)
	}
	t.Fatalf("unknown kind %q", kind)
	return ""
}

func observeHTTP(t *testing.T, s *Server, proto string, timeout time.Duration) string {
	c, url := httpClient(t, s, proto, timeout)
	defer closeIdle(c)
	resp, err := c.Get(url + "/")
	if err != nil {
		return classify(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return classify(err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("status %d", resp.StatusCode)
	}
	if wantMajor := map[string]int{"http": 1, "https": 2, "h2c": 2}[proto]; resp.ProtoMajor != wantMajor {
		return "wrong protocol " + resp.Proto
	}
	if want := "ok served-by=default\n"; string(body) != want {
		return fmt.Sprintf("body %q, want %q", body, want)
	}
	return ok
}

func observeTCP(s *Server, timeout time.Duration) string {
	c, err := net.DialTimeout("tcp", s.TCPAddr(), timeout)
	if err != nil {
		return classify(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		return classify(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return classify(err)
	}
	if line != "pong\n" {
		return fmt.Sprintf("reply %q", line)
	}
	return ok
}

func observeDNS(s *Server, network string, timeout time.Duration) string {
	m := new(dns.Msg)
	m.SetQuestion("probe.test.", dns.TypeA)
	c := &dns.Client{Net: network, Timeout: timeout}
	r, _, err := c.Exchange(m, s.DNSAddr())
	if err != nil {
		return classify(err)
	}
	if r.Rcode != dns.RcodeSuccess {
		return dns.RcodeToString[r.Rcode]
	}
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.1" {
		return fmt.Sprintf("answer %v", r.Answer)
	}
	return ok
}

// observeAll tries every kind at once and returns the outcomes by kind.
func observeAll(t *testing.T, s *Server, timeout time.Duration) map[string]string {
	var mu sync.Mutex
	var wg sync.WaitGroup
	got := map[string]string{}
	for _, k := range kinds {
		wg.Go(func() {
			o := observe(t, s, k, timeout)
			mu.Lock()
			got[k] = o
			mu.Unlock()
		})
	}
	wg.Wait()
	return got
}

func allOK() map[string]string {
	m := map[string]string{}
	for _, k := range kinds {
		m[k] = ok
	}
	return m
}

// with returns allOK with the outcomes of over replaced.
func with(over map[string]string) map[string]string {
	m := allOK()
	for k, v := range over {
		m[k] = v
	}
	return m
}

func diffOutcomes(t *testing.T, phase string, got, want map[string]string) {
	t.Helper()
	for _, k := range kinds {
		if got[k] != want[k] {
			t.Errorf("%s: %s: got %s, want %s", phase, k, got[k], want[k])
		}
	}
}

func TestFaults(t *testing.T) {
	s := start(t, Options{})
	const inWindow, after = time.Second, 10 * time.Second
	tcpKinds := func(o string) map[string]string {
		return with(map[string]string{"http": o, "https": o, "h2c": o, "tcp": o, "dns-tcp": o})
	}
	dnsKinds := func(o string) map[string]string {
		return with(map[string]string{"dns-udp": o, "dns-tcp": o})
	}
	tests := []struct {
		fault Fault
		want  map[string]string
	}{
		{Healthy, allOK()},
		{Refuse, tcpKinds(refused)},
		{Reset, tcpKinds(reset)},
		{HTTP503, with(map[string]string{"http": status, "https": status, "h2c": status})},
		{Hang, with(map[string]string{"http": timedOut, "https": timedOut, "h2c": timedOut, "tcp": timedOut, "dns-udp": timedOut, "dns-tcp": timedOut})},
		{DNSServfail, dnsKinds(servfail)},
		{DNSDrop, dnsKinds(timedOut)},
		{DNSGarbage, dnsKinds(junk)},
	}
	for _, tt := range tests {
		name := string(tt.fault)
		if name == "" {
			name = "healthy"
		}
		t.Run(name, func(t *testing.T) {
			s.Set(tt.fault)
			got := observeAll(t, s, inWindow)
			s.Set(Healthy)
			diffOutcomes(t, "in window", got, tt.want)
			diffOutcomes(t, "after window", observeAll(t, s, after), allOK())
		})
	}
	if got := len(s.Truth()); got != len(tests)-1 {
		t.Errorf("Truth has %d records, want %d", got, len(tests)-1)
	}
}

// exchange is one request and its reply on a kept-alive connection.
type exchange struct {
	name    string
	addr    func(*Server) string
	request string
	reply   func(*bufio.Reader) error
}

var exchanges = []exchange{
	{
		name:    "http",
		addr:    (*Server).HTTPAddr,
		request: "GET / HTTP/1.1\r\nHost: target\r\n\r\n",
		reply: func(r *bufio.Reader) error {
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if _, err := io.ReadAll(resp.Body); err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK || resp.Close {
				return fmt.Errorf("status %d, close %v", resp.StatusCode, resp.Close)
			}
			return nil
		},
	},
	{
		name:    "tcp",
		addr:    (*Server).TCPAddr,
		request: "ping\n",
		reply: func(r *bufio.Reader) error {
			line, err := r.ReadString('\n')
			if err == nil && line != "pong\n" {
				err = fmt.Errorf("reply %q", line)
			}
			return err
		},
	},
}

type keptConn struct {
	net.Conn
	r *bufio.Reader
	x exchange
}

func dialKept(t *testing.T, s *Server, x exchange) *keptConn {
	t.Helper()
	c, err := net.Dial("tcp", x.addr(s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	k := &keptConn{Conn: c, r: bufio.NewReader(c), x: x}
	if err := k.roundTrip(5*time.Second, true); err != nil {
		t.Fatalf("first exchange: %v", err)
	}
	return k
}

func (k *keptConn) roundTrip(timeout time.Duration, send bool) error {
	k.SetDeadline(time.Now().Add(timeout))
	if send {
		if _, err := io.WriteString(k, k.x.request); err != nil {
			return err
		}
	}
	return k.x.reply(k.r)
}

func TestKeptAliveConnections(t *testing.T) {
	s := start(t, Options{})
	tests := []struct {
		fault Fault
		send  bool // send a request in the window; Refuse needs none
		want  string
	}{
		{Refuse, false, reset},
		{Reset, true, reset},
		{Hang, true, timedOut},
	}
	for _, tt := range tests {
		for _, x := range exchanges {
			t.Run(string(tt.fault)+"/"+x.name, func(t *testing.T) {
				k := dialKept(t, s, x)
				s.Set(tt.fault)
				err := k.roundTrip(500*time.Millisecond, tt.send)
				s.Set(Healthy)
				if got := classify(err); got != tt.want {
					t.Errorf("in window: got %s, want %s", got, tt.want)
				}
				if tt.want == reset && !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("in window: got %v, want a TCP reset", err)
				}
				if tt.fault == Hang {
					// A hung connection is reset when the window ends: the
					// frozen backend is gone.
					if got := classify(k.roundTrip(300*time.Millisecond, true)); got != reset {
						t.Errorf("hung connection after window: got %s, want %s", got, reset)
					}
				}
				dialKept(t, s, x) // a new connection works again
			})
		}
	}
}

func TestHTTP(t *testing.T) {
	s := start(t, Options{})
	tests := []struct {
		method, path string
		wantStatus   int
		wantBody     string // "" to skip
		wantLen      int64  // -1 to skip
	}{
		{"GET", "/", 200, "ok served-by=default\n", -1},
		{"GET", "/any/path?x=1", 200, "ok served-by=default\n", -1},
		{"HEAD", "/", 200, "", 0},
		{"GET", "/status/418", 418, "status 418 served-by=default\n", -1},
		{"GET", "/status/503", 503, "", -1},
		{"GET", "/status/99", 400, "", -1},
		{"GET", "/status/abc", 400, "", -1},
		{"GET", "/slow?d=50ms", 200, "ok served-by=default\n", -1},
		{"GET", "/slow?d=soon", 400, "", -1},
		{"GET", "/big", 200, "", bigSize},
		{"HEAD", "/big", 200, "", 0},
	}
	for _, proto := range []string{"http", "https", "h2c"} {
		c, url := httpClient(t, s, proto, 10*time.Second)
		t.Cleanup(func() { closeIdle(c) })
		for _, tt := range tests {
			t.Run(proto+" "+tt.method+" "+tt.path, func(t *testing.T) {
				req, _ := http.NewRequest(tt.method, url+tt.path, nil)
				begun := time.Now()
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				if want := map[string]int{"http": 1, "https": 2, "h2c": 2}[proto]; resp.ProtoMajor != want {
					t.Errorf("protocol %s, want HTTP/%d", resp.Proto, want)
				}
				if resp.StatusCode != tt.wantStatus {
					t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
				}
				if tt.wantBody != "" && string(body) != tt.wantBody {
					t.Errorf("body %q, want %q", body, tt.wantBody)
				}
				if tt.wantLen >= 0 && int64(len(body)) != tt.wantLen {
					t.Errorf("body of %d bytes, want %d", len(body), tt.wantLen)
				}
				if resp.StatusCode < 400 && resp.Header.Get("X-Served-By") != "default" {
					t.Errorf("X-Served-By %q, want default", resp.Header.Get("X-Served-By"))
				}
				if strings.HasPrefix(tt.path, "/slow") && tt.wantStatus == 200 && time.Since(begun) < 50*time.Millisecond {
					t.Errorf("/slow answered after %v, want >= 50ms", time.Since(begun))
				}
			})
		}
		t.Run(proto+" endless", func(t *testing.T) {
			resp, err := c.Get(url + "/endless")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			const want = 4 * bigSize // more than /big: it does not end
			if n, err := io.CopyN(io.Discard, resp.Body, want); err != nil || n != want {
				t.Errorf("read %d bytes of /endless, err %v; want %d", n, err, want)
			}
		})
	}
}

func TestH2CRefusesHTTP1(t *testing.T) {
	s := start(t, Options{})
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	defer closeIdle(c)
	if resp, err := c.Get("http://" + s.H2CAddr() + "/"); err == nil {
		resp.Body.Close()
		t.Errorf("HTTP/1.1 on the h2c port answered %s, want an error", resp.Status)
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		split map[string]int
		n     int
		want  map[string]int64
	}{
		{nil, 10, map[string]int64{"default": 10}},
		{map[string]int{"blue": 90, "green": 10}, 10, map[string]int64{"blue": 9, "green": 1}},
		{map[string]int{"blue": 90, "green": 10}, 30, map[string]int64{"blue": 27, "green": 3}},
		{map[string]int{"a": 1, "b": 2, "c": 3}, 12, map[string]int64{"a": 2, "b": 4, "c": 6}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.split, tt.n), func(t *testing.T) {
			s := start(t, Options{Split: tt.split})
			s.Set(HTTP503) // not served by anyone: not counted
			if got := observeHTTP(t, s, "http", 5*time.Second); got != status {
				t.Fatalf("under http_503: %s", got)
			}
			s.Set(Healthy)
			got := map[string]int64{}
			for i := range tt.n {
				proto := []string{"http", "https", "h2c"}[i%3]
				c, url := httpClient(t, s, proto, 5*time.Second)
				resp, err := c.Get(url + "/")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				closeIdle(c)
				by := resp.Header.Get("X-Served-By")
				if want := "ok served-by=" + by + "\n"; string(body) != want {
					t.Errorf("body %q, want %q", body, want)
				}
				got[by]++
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("served-by counts %v, want %v", got, tt.want)
			}
			if served := s.Served(); fmt.Sprint(served) != fmt.Sprint(tt.want) {
				t.Errorf("Served() = %v, want %v", served, tt.want)
			}
		})
	}
}

func TestDNS(t *testing.T) {
	s := start(t, Options{Records: map[string][]string{
		"multi.test":     {"127.0.0.2", "127.0.0.3", "::2"},
		"outside.other.": {"127.0.0.9"},
	}})
	httpPort := portOf(s.HTTPAddr())
	tests := []struct {
		name  string
		qtype uint16
		rcode int
		want  []string // answer then extra, each RR's fields joined by one space
	}{
		{"foo.test.", dns.TypeA, dns.RcodeSuccess, []string{"foo.test. 30 IN A 127.0.0.1"}},
		{"Foo.Test.", dns.TypeA, dns.RcodeSuccess, []string{"Foo.Test. 30 IN A 127.0.0.1"}},
		{"test.", dns.TypeA, dns.RcodeSuccess, []string{"test. 30 IN A 127.0.0.1"}},
		{"foo.test.", dns.TypeAAAA, dns.RcodeSuccess, []string{"foo.test. 30 IN AAAA ::1"}},
		{"alias.foo.test.", dns.TypeA, dns.RcodeSuccess, []string{
			"alias.foo.test. 30 IN CNAME foo.test.",
			"foo.test. 30 IN A 127.0.0.1",
		}},
		{"alias.alias.foo.test.", dns.TypeAAAA, dns.RcodeSuccess, []string{
			"alias.alias.foo.test. 30 IN CNAME alias.foo.test.",
			"alias.foo.test. 30 IN CNAME foo.test.",
			"foo.test. 30 IN AAAA ::1",
		}},
		{"alias.foo.test.", dns.TypeCNAME, dns.RcodeSuccess, []string{"alias.foo.test. 30 IN CNAME foo.test."}},
		{"_http._tcp.test.", dns.TypeSRV, dns.RcodeSuccess, []string{
			fmt.Sprintf("_http._tcp.test. 30 IN SRV 10 100 %d web.test.", httpPort),
			"web.test. 30 IN A 127.0.0.1",
			"web.test. 30 IN AAAA ::1",
		}},
		{"_ldap._tcp.test.", dns.TypeSRV, dns.RcodeSuccess, nil},
		{"foo.test.", dns.TypeTXT, dns.RcodeSuccess, nil},
		{"foo.test.", dns.TypeMX, dns.RcodeSuccess, nil},
		{"multi.test.", dns.TypeA, dns.RcodeSuccess, []string{"multi.test. 30 IN A 127.0.0.2", "multi.test. 30 IN A 127.0.0.3"}},
		{"multi.test.", dns.TypeAAAA, dns.RcodeSuccess, []string{"multi.test. 30 IN AAAA ::2"}},
		{"outside.other.", dns.TypeA, dns.RcodeSuccess, []string{"outside.other. 30 IN A 127.0.0.9"}},
		{"nxdomain.test.", dns.TypeA, dns.RcodeNameError, nil},
		{"alias.nxdomain.test.", dns.TypeA, dns.RcodeNameError, []string{"alias.nxdomain.test. 30 IN CNAME nxdomain.test."}},
		{"example.com.", dns.TypeA, dns.RcodeRefused, nil},
	}
	for _, network := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: network, Timeout: 5 * time.Second}
		for _, tt := range tests {
			t.Run(network+" "+dns.TypeToString[tt.qtype]+" "+tt.name, func(t *testing.T) {
				m := new(dns.Msg)
				m.SetQuestion(tt.name, tt.qtype)
				r, _, err := c.Exchange(m, s.DNSAddr())
				if err != nil {
					t.Fatal(err)
				}
				if r.Rcode != tt.rcode {
					t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
				}
				var got []string
				for _, rr := range append(r.Answer, r.Extra...) {
					got = append(got, strings.Join(strings.Fields(rr.String()), " "))
				}
				if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
					t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
				}
			})
		}
	}
}

func TestDNSZone(t *testing.T) {
	s := start(t, Options{Zone: "Lab.Example"})
	m := new(dns.Msg)
	m.SetQuestion("_http._tcp.lab.example.", dns.TypeSRV)
	r, err := dns.Exchange(m, s.DNSAddr())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Answer) != 1 || r.Answer[0].(*dns.SRV).Target != "web.lab.example." {
		t.Errorf("SRV answer %v, want web.lab.example.", r.Answer)
	}
	m.SetQuestion("foo.test.", dns.TypeA)
	if r, err = dns.Exchange(m, s.DNSAddr()); err != nil || r.Rcode != dns.RcodeRefused {
		t.Errorf("outside the zone: %v, %v; want REFUSED", r, err)
	}
}

func TestWindow(t *testing.T) {
	s := start(t, Options{})
	const d = 50 * time.Millisecond
	for i, f := range []Fault{HTTP503, Refuse, Hang, Refuse} {
		t.Run(string(f), func(t *testing.T) {
			rec := s.Window(f, d)
			if rec.Fault != f {
				t.Errorf("record of fault %q, want %q", rec.Fault, f)
			}
			if !rec.From.Before(rec.To) || rec.Duration() < d {
				t.Errorf("record from %v to %v (%v), want at least %v", rec.From, rec.To, rec.Duration(), d)
			}
			truth := s.Truth()
			if len(truth) != i+1 {
				t.Fatalf("Truth has %d records, want %d", len(truth), i+1)
			}
			if last := truth[i]; last != rec {
				t.Errorf("last truth record %+v, want %+v", last, rec)
			}
			if i > 0 && truth[i].From.Before(truth[i-1].To) {
				t.Errorf("record %d starts before record %d ends", i, i-1)
			}
			if got := observeAll(t, s, 10*time.Second); fmt.Sprint(got) != fmt.Sprint(allOK()) {
				t.Errorf("after window: %v", got)
			}
		})
	}
}

func TestSetStamps(t *testing.T) {
	s := start(t, Options{})
	before := time.Now()
	from := s.Set(Reset)
	if again := s.Set(Reset); !again.Equal(from) {
		t.Errorf("Set of the fault in force returned %v, want its start %v", again, from)
	}
	to := s.Set(DNSDrop)
	end := s.Set(Healthy)
	after := time.Now()
	want := []Record{{Reset, from, to}, {DNSDrop, to, end}}
	if got := s.Truth(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Truth() = %v, want %v", got, want)
	}
	if from.Before(before) || end.After(after) || !from.Before(to) || !to.Before(end) {
		t.Errorf("stamps %v, %v, %v not in order within [%v, %v]", from, to, end, before, after)
	}
}

func TestRun(t *testing.T) {
	s := start(t, Options{})
	plan := []Window{
		{Fault: Reset, At: 20 * time.Millisecond, Duration: 50 * time.Millisecond},
		{Fault: Healthy, At: 100 * time.Millisecond, Duration: 20 * time.Millisecond},
		{Fault: Refuse, At: 150 * time.Millisecond, Duration: 50 * time.Millisecond},
		{Fault: DNSGarbage, At: 200 * time.Millisecond, Duration: 50 * time.Millisecond},
	}
	begun := time.Now()
	if err := s.Run(context.Background(), plan); err != nil {
		t.Fatalf("Run: %v", err)
	}
	truth := s.Truth()
	want := []Window{plan[0], plan[2], plan[3]}
	if len(truth) != len(want) {
		t.Fatalf("Truth() = %v, want %d records", truth, len(want))
	}
	for i, w := range want {
		rec := truth[i]
		if rec.Fault != w.Fault || rec.From.Before(begun.Add(w.At)) || rec.Duration() < w.Duration {
			t.Errorf("record %d = %+v (%v), want %s from %v after start for %v", i, rec, rec.Duration(), w.Fault, w.At, w.Duration)
		}
		if i > 0 && rec.From.Before(truth[i-1].To) {
			t.Errorf("record %d starts before record %d ends", i, i-1)
		}
	}
	if got := s.current(); got != Healthy {
		t.Errorf("fault after Run: %q, want healthy", got)
	}
}

func TestRunStops(t *testing.T) {
	s := start(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := s.Run(ctx, []Window{{Fault: Hang, Duration: time.Hour}, {Fault: Reset, At: 2 * time.Hour, Duration: time.Second}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run: %v, want %v", err, context.DeadlineExceeded)
	}
	truth := s.Truth()
	if len(truth) != 1 || truth[0].Fault != Hang || truth[0].Duration() > time.Minute {
		t.Errorf("Truth() = %v, want one short hang", truth)
	}
	if got := s.current(); got != Healthy {
		t.Errorf("fault after Run: %q, want healthy", got)
	}
}

func TestRelistenFailure(t *testing.T) {
	s := start(t, Options{})
	s.Set(Refuse)
	squatter, err := net.Listen("tcp", s.HTTPAddr())
	if err != nil {
		t.Fatalf("listen on the refused port: %v", err)
	}
	defer squatter.Close()
	// Refuse is in force already: the window only ends it.
	err = s.Run(context.Background(), []Window{{Fault: Refuse, Duration: 10 * time.Millisecond}})
	if err == nil || !strings.Contains(err.Error(), "listen again on "+s.HTTPAddr()) {
		t.Errorf("Run: %v, want an error listening again on %s", err, s.HTTPAddr())
	}
	if got := observeTCP(s, 5*time.Second); got != ok {
		t.Errorf("tcp after the failed end of refuse: %s, want ok", got)
	}
	squatter.Close()
	s.Window(Refuse, 10*time.Millisecond)
	if got := observeHTTP(t, s, "http", 5*time.Second); got != ok {
		t.Errorf("http after a later refuse window: %s, want ok", got)
	}
}

func TestRunInvalidPlan(t *testing.T) {
	s := start(t, Options{})
	tests := []struct {
		plan []Window
		want string
	}{
		{[]Window{{Fault: "flood", Duration: time.Second}}, `plan[0]: unknown fault "flood"`},
		{[]Window{{Fault: Reset, At: -time.Second}}, "plan[0]: negative At or Duration"},
		{[]Window{{Fault: Reset, Duration: -time.Second}}, "plan[0]: negative At or Duration"},
		{[]Window{{Fault: Reset, Duration: time.Second}, {Fault: Hang, At: 500 * time.Millisecond}}, "plan[1]: starts at 500ms, before plan[0] ends at 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			err := s.Run(context.Background(), tt.plan)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run: %v, want an error with %q", err, tt.want)
			}
		})
	}
	if truth := s.Truth(); len(truth) != 0 {
		t.Errorf("invalid plans ran windows: %v", truth)
	}
}

func TestRecordJSON(t *testing.T) {
	from := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	rec := Record{Fault: Reset, From: from, To: from.Add(1500 * time.Millisecond)}
	got, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"fault":"reset","from":"2026-01-02T03:04:05.123456789Z","to":"2026-01-02T03:04:06.623456789Z"}`
	if string(got) != want {
		t.Errorf("JSON %s, want %s", got, want)
	}
}

func TestParseFault(t *testing.T) {
	tests := []struct {
		in      string
		want    Fault
		wantErr bool
	}{
		{"", Healthy, false},
		{"healthy", Healthy, false},
		{"refuse", Refuse, false},
		{"dns_garbage", DNSGarbage, false},
		{"http_500", Healthy, true},
	}
	for _, tt := range tests {
		got, err := ParseFault(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseFault(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestCertificates(t *testing.T) {
	s := start(t, Options{DNSNames: []string{"target.example"}, CertValidity: time.Hour})
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := s.WriteCAFile(path); err != nil {
		t.Fatal(err)
	}
	written, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(written, s.CAPEM()) {
		t.Error("CA file differs from CAPEM")
	}
	pool := caPool(t, s)
	leaf := func(serverName string) *x509.Certificate {
		t.Helper()
		cfg := &tls.Config{RootCAs: pool, ServerName: serverName, NextProtos: []string{"h2", "http/1.1"}}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", s.HTTPSAddr(), cfg)
		if err != nil {
			t.Fatalf("handshake for %s: %v", serverName, err)
		}
		defer c.Close()
		st := c.ConnectionState()
		if st.NegotiatedProtocol != "h2" {
			t.Errorf("ALPN %q, want h2", st.NegotiatedProtocol)
		}
		return st.PeerCertificates[0]
	}
	for _, name := range []string{"127.0.0.1", "::1", "localhost", "target.example"} {
		leaf(name)
	}
	before := leaf("localhost")
	if d := time.Until(before.NotAfter); d > time.Hour || d < 50*time.Minute {
		t.Errorf("certificate valid for %v more, want about 1h", d)
	}
	if err := s.RotateCert(); err != nil {
		t.Fatal(err)
	}
	after := leaf("target.example")
	if after.SerialNumber.Cmp(before.SerialNumber) == 0 {
		t.Error("RotateCert kept the serial")
	}
	if after.NotAfter.Before(before.NotAfter) {
		t.Errorf("RotateCert moved NotAfter back from %v to %v", before.NotAfter, after.NotAfter)
	}
	if bytes.Equal(after.RawSubjectPublicKeyInfo, before.RawSubjectPublicKeyInfo) {
		t.Error("RotateCert kept the key")
	}
}

func TestStartInvalidOptions(t *testing.T) {
	tests := []struct {
		opts Options
		want string
	}{
		{Options{Zone: "bad..zone"}, "Options.Zone"},
		{Options{Split: map[string]int{"blue": 0}}, `Options.Split["blue"]: weight must be positive`},
		{Options{Split: map[string]int{"": 1}}, "Options.Split: empty served-by value"},
		{Options{CertValidity: -time.Hour}, "Options.CertValidity"},
		{Options{Records: map[string][]string{"a.test.": {"not-an-ip"}}}, `Options.Records["a.test."]`},
		{Options{DNSNames: []string{""}}, "Options.DNSNames[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			s, err := Start(tt.opts)
			if err == nil {
				s.Close()
				t.Fatalf("Start succeeded, want an error with %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	diffOutcomes(t, "healthy", observeAll(t, s, 10*time.Second), allOK())
	// Leave a hung connection, a kept-alive one and a stream open.
	hung := dialKept(t, s, exchanges[0])
	kept := dialKept(t, s, exchanges[1])
	s.Set(Hang)
	io.WriteString(hung, exchanges[0].request)
	time.Sleep(50 * time.Millisecond)
	s.Set(Healthy)
	c, url := httpClient(t, s, "h2c", 10*time.Second)
	resp, err := c.Get(url + "/endless")
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10s")
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	closeIdle(c)
	hung.Close()
	kept.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestDropFaults: a drop fault ends the connections established before
// it, the way its name says, while new connections work during the window.
func TestDropFaults(t *testing.T) {
	s := start(t, Options{})
	tests := []struct {
		fault Fault
		want  string
	}{
		{DropFIN, reset}, // classify puts EOF with resets; FIN is checked below
		{DropRST, reset},
		{DropGraceful, reset},
		{DropBlackhole, timedOut},
	}
	for _, tt := range tests {
		for _, x := range exchanges {
			t.Run(string(tt.fault)+"/"+x.name, func(t *testing.T) {
				k := dialKept(t, s, x)
				s.Set(tt.fault)
				dialKept(t, s, x) // a new connection works in the window
				err := k.roundTrip(300*time.Millisecond, true)
				if err == nil && tt.fault == DropGraceful && x.name == "http" {
					// The reload caught the connection still finishing its
					// first answer: it answered this one "Connection:
					// close", and closes it now, as a draining server does:
					// nothing more to read.
					err = k.roundTrip(300*time.Millisecond, false)
				}
				s.Set(Healthy)
				if got := classify(err); got != tt.want {
					t.Errorf("established connection: got %s (%v), want %s", got, err, tt.want)
				}
				switch tt.fault {
				case DropRST:
					if !errors.Is(err, syscall.ECONNRESET) {
						t.Errorf("got %v, want a TCP reset", err)
					}
				case DropFIN, DropGraceful:
					if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Errorf("got %v, want the connection closed (EOF)", err)
					}
				}
			})
		}
	}
}

// TestStream: /stream writes a line every interval.
func TestStream(t *testing.T) {
	s := start(t, Options{})
	resp, err := http.Get("http://" + s.HTTPAddr() + "/stream?every=20ms")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	for i := range 3 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("tick %d\n", i); line != want {
			t.Errorf("line %d = %q, want %q", i, line, want)
		}
	}
	if resp, err := http.Get("http://" + s.HTTPAddr() + "/stream?every=0"); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("every=0: %v %v, want 400", resp, err)
	}
}
