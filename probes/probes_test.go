package probes

import (
	"context"
	"net"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/testtarget"
	"github.com/zerodown/zerodown/testtarget/targettest"
)

// startTarget starts a loopback test target for one test and writes its CA.
func startTarget(t testing.TB, o testtarget.Options) (*testtarget.Server, string) {
	t.Helper()
	tt := targettest.Start(t, o)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := tt.WriteCAFile(ca); err != nil {
		t.Fatal(err)
	}
	return tt, ca
}

func resolved(t *testing.T, tg config.Target) *config.Target {
	t.Helper()
	if tg.Name == "" {
		tg.Name = "t"
	}
	// Generous: under -race on a loaded two-core machine a TLS handshake
	// took over 300 ms, and a check meant to fail "tls" failed "timeout".
	r := tg.Resolved(config.Schedule{Timeout: config.Duration(2 * time.Second)})
	if err := r.Validate(); err != nil {
		t.Fatalf("target: %v", err)
	}
	return &r
}

// probeOnce builds the prober and runs one probe with the target's timeout.
func probeOnce(t *testing.T, tg *config.Target, c config.Connection) Result {
	t.Helper()
	p, err := New(tg, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return probeWith(p, time.Duration(tg.Timeout))
}

func probeWith(p Prober, timeout time.Duration) Result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r := Result{Start: time.Now()}
	p.Probe(ctx, &r)
	r.Duration = time.Since(r.Start)
	return r
}

type kindCase struct {
	name   string
	target func(tt *testtarget.Server, ca string) config.Target
}

func httpKinds() []kindCase {
	return []kindCase{
		{"http1", func(tt *testtarget.Server, _ string) config.Target {
			return config.Target{HTTP: &config.HTTPProbe{URL: "http://" + tt.HTTPAddr() + "/"}}
		}},
		{"https-alpn", func(tt *testtarget.Server, ca string) config.Target {
			return config.Target{HTTP: &config.HTTPProbe{URL: "https://" + tt.HTTPSAddr() + "/", TLS: config.TLS{CAFile: ca}}}
		}},
		{"h2-forced", func(tt *testtarget.Server, ca string) config.Target {
			return config.Target{HTTP: &config.HTTPProbe{URL: "https://" + tt.HTTPSAddr() + "/", HTTPVersion: "2", TLS: config.TLS{CAFile: ca}}}
		}},
		{"h2c", func(tt *testtarget.Server, _ string) config.Target {
			return config.Target{HTTP: &config.HTTPProbe{URL: "h2c://" + tt.H2CAddr() + "/"}}
		}},
	}
}

func allKinds() []kindCase {
	return append(httpKinds(),
		kindCase{"tcp", func(tt *testtarget.Server, _ string) config.Target {
			return config.Target{TCP: &config.TCPProbe{Address: tt.TCPAddr(), Send: "ping\n", Expect: "pong"}}
		}},
		kindCase{"dns-tcp", func(tt *testtarget.Server, _ string) config.Target {
			return config.Target{Connections: []config.Connection{config.ConnNew, config.ConnReused},
				DNS: &config.DNSProbe{Server: tt.DNSAddr(), Name: "web.test.", Transport: "tcp"}}
		}},
	)
}

// Every probe kind, over new and reused connections, against every fault
// that applies to it: success when healthy, the right reason in the fault,
// success again after it.
func TestProbeFaults(t *testing.T) {
	tt, ca := startTarget(t, testtarget.Options{})
	faults := []struct {
		fault testtarget.Fault
		want  Reason
		http  bool // applies to HTTP only
	}{
		{testtarget.Refuse, ReasonConnectRefused, false},
		{testtarget.Reset, ReasonReset, false},
		{testtarget.Hang, ReasonTimeout, false},
		{testtarget.HTTP503, ReasonHTTPStatus, true},
	}
	for _, k := range allKinds() {
		for _, c := range []config.Connection{config.ConnNew, config.ConnReused} {
			tg := resolved(t, k.target(tt, ca))
			p, err := New(tg, c)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range faults {
				if f.http && tg.HTTP == nil {
					continue
				}
				t.Run(k.name+"/"+string(c)+"/"+string(f.fault), func(t *testing.T) {
					if r := probeWith(p, 300*time.Millisecond); !r.OK() {
						t.Fatalf("healthy: %s: %v", r.Reason, r.Err)
					}
					tt.Set(f.fault)
					r := probeWith(p, 300*time.Millisecond)
					tt.Set(testtarget.Healthy)
					want := f.want
					if f.fault == testtarget.Refuse && c == config.ConnReused && tg.HTTP != nil {
						// A kept-alive connection reset at the window's start may be
						// seen as a reset before the refused redial.
						if r.Reason == ReasonReset {
							want = ReasonReset
						}
					}
					if r.Reason != want {
						t.Fatalf("in %s: reason %q (%v), want %q", f.fault, r.Reason, r.Err, want)
					}
					if r.Err == nil {
						t.Errorf("in %s: failure without an error", f.fault)
					}
					// A kept-alive connection reset as the window ends may fail the
					// first request after it; the one after that must succeed.
					var after Result
					for range 2 {
						if after = probeWith(p, 300*time.Millisecond); after.OK() {
							break
						}
						time.Sleep(20 * time.Millisecond)
					}
					if !after.OK() {
						t.Fatalf("after %s: %s: %v", f.fault, after.Reason, after.Err)
					}
				})
			}
			p.Close()
		}
	}
}

func TestProbeProtocols(t *testing.T) {
	tt, ca := startTarget(t, testtarget.Options{})
	for _, k := range allKinds() {
		tg := resolved(t, k.target(tt, ca))
		p, err := New(tg, config.ConnNew)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"http1": "http", "https-alpn": "https", "h2-forced": "h2", "h2c": "h2c", "tcp": "tcp", "dns-tcp": "dns"}[k.name]
		if p.Protocol() != want {
			t.Errorf("%s: protocol %q, want %q", k.name, p.Protocol(), want)
		}
		r := probeWith(p, time.Second)
		if !r.OK() {
			t.Errorf("%s: %s %v", k.name, r.Reason, r.Err)
		}
		if tg.HTTP != nil && r.Phases.FirstByte <= 0 {
			t.Errorf("%s: no first-byte phase: %+v", k.name, r.Phases)
		}
		if tg.HTTP != nil && tg.HTTP.URL[:5] == "https" && (r.Phases.TLS <= 0 || r.Cert == nil) {
			t.Errorf("%s: no TLS phase or certificate: %+v", k.name, r)
		}
		p.Close()
	}
}

func TestHTTPChecks(t *testing.T) {
	tt, ca := startTarget(t, testtarget.Options{})
	base := "http://" + tt.HTTPAddr()
	tests := []struct {
		name string
		h    config.HTTPProbe
		want Reason
	}{
		{"status outside default 200-399", config.HTTPProbe{URL: base + "/status/500"}, ReasonHTTPStatus},
		{"redirect status is fine by default", config.HTTPProbe{URL: base + "/status/302"}, ReasonNone},
		{"explicit status list", config.HTTPProbe{URL: base + "/status/404", ValidStatusCodes: []int{404}}, ReasonNone},
		{"body contains", config.HTTPProbe{URL: base + "/", BodyContains: "served-by="}, ReasonNone},
		{"body lacks", config.HTTPProbe{URL: base + "/", BodyContains: "nope"}, ReasonBodyMismatch},
		{"HEAD", config.HTTPProbe{URL: base + "/", Method: "HEAD"}, ReasonNone},
		{"endless body is cut, not hung", config.HTTPProbe{URL: base + "/endless", MaxBodyBytes: 1 << 20}, ReasonNone},
		{"slow answer times out", config.HTTPProbe{URL: base + "/slow?d=6s"}, ReasonTimeout},
		{"TLS without the CA", config.HTTPProbe{URL: "https://" + tt.HTTPSAddr() + "/"}, ReasonTLS},
		{"TLS with skip verify", config.HTTPProbe{URL: "https://" + tt.HTTPSAddr() + "/", TLS: config.TLS{InsecureSkipVerify: true}}, ReasonNone},
		{"TLS with a wrong server name", config.HTTPProbe{URL: "https://" + tt.HTTPSAddr() + "/", Host: "wrong.example", TLS: config.TLS{CAFile: ca}}, ReasonTLS},
		{"nothing listens", config.HTTPProbe{URL: "http://127.0.0.1:1/"}, ReasonConnectRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.h
			tg := resolved(t, config.Target{HTTP: &h})
			r := probeOnce(t, tg, config.ConnNew)
			if r.Reason != tc.want {
				t.Fatalf("reason %q (%v), want %q", r.Reason, r.Err, tc.want)
			}
		})
	}
}

func TestHTTPBodyRegexAndServedBy(t *testing.T) {
	tt, _ := startTarget(t, testtarget.Options{Split: map[string]int{"blue": 90, "green": 10}})
	body := config.Regexp{Regexp: regexp.MustCompile(`served-by=(blue|green)`)}
	sb := config.Regexp{Regexp: regexp.MustCompile(`served-by=(\w+)`)}
	for _, src := range []string{"header", "body"} {
		t.Run(src, func(t *testing.T) {
			h := &config.HTTPProbe{URL: "http://" + tt.HTTPAddr() + "/", BodyRegex: body,
				ServedBy: &config.ServedBy{Values: []string{"blue"}}}
			if src == "header" {
				h.ServedBy.Header = "X-Served-By"
			} else {
				h.ServedBy.BodyRegex = sb
			}
			tg := resolved(t, config.Target{HTTP: h})
			p, err := New(tg, config.ConnReused)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			got := map[string]int{}
			for range 100 {
				r := probeWith(p, time.Second)
				if !r.OK() {
					t.Fatalf("%s %v", r.Reason, r.Err)
				}
				got[r.ServedBy]++
			}
			// green is not in values: it is bounded to "other".
			if got["blue"] != 90 || got[OtherServedBy] != 10 || len(got) != 2 {
				t.Fatalf("served by %v, want blue 90, other 10", got)
			}
		})
	}
}

func TestCertificateRotation(t *testing.T) {
	tt, ca := startTarget(t, testtarget.Options{})
	tg := resolved(t, config.Target{HTTP: &config.HTTPProbe{URL: "https://" + tt.HTTPSAddr() + "/", TLS: config.TLS{CAFile: ca}}})
	p, err := New(tg, config.ConnNew)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	first := probeWith(p, time.Second)
	if first.Cert == nil || first.Cert.NotAfter.Before(time.Now()) {
		t.Fatalf("first probe: cert %+v", first.Cert)
	}
	if again := probeWith(p, time.Second); again.Cert != nil {
		t.Fatalf("same certificate reported as new: %+v", again.Cert)
	}
	if err := tt.RotateCert(); err != nil {
		t.Fatal(err)
	}
	rot := probeWith(p, time.Second)
	if rot.Cert == nil || rot.Cert.Fingerprint == first.Cert.Fingerprint || rot.Cert.Serial == first.Cert.Serial {
		t.Fatalf("rotation not noticed: before %+v after %+v", first.Cert, rot.Cert)
	}
}

func TestTCPChecks(t *testing.T) {
	tt, _ := startTarget(t, testtarget.Options{})
	tests := []struct {
		name string
		tcp  config.TCPProbe
		conn config.Connection
		want Reason
	}{
		{"connect only", config.TCPProbe{Address: tt.TCPAddr()}, config.ConnNew, ReasonNone},
		{"connect only, kept alive", config.TCPProbe{Address: tt.TCPAddr()}, config.ConnReused, ReasonNone},
		{"wrong reply", config.TCPProbe{Address: tt.TCPAddr(), Send: "ping\n", Expect: "PONG"}, config.ConnNew, ReasonBodyMismatch},
		{"nothing listens", config.TCPProbe{Address: "127.0.0.1:1"}, config.ConnNew, ReasonConnectRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.tcp
			r := probeOnce(t, resolved(t, config.Target{TCP: &c}), tc.conn)
			if r.Reason != tc.want {
				t.Fatalf("reason %q (%v), want %q", r.Reason, r.Err, tc.want)
			}
		})
	}
}

func TestDNS(t *testing.T) {
	tt, _ := startTarget(t, testtarget.Options{})
	type dcase struct {
		name  string
		dns   config.DNSProbe
		fault testtarget.Fault
		want  Reason
	}
	var tests []dcase
	for _, tr := range []string{"udp", "tcp"} {
		s := tt.DNSAddr()
		tests = append(tests,
			dcase{"A/" + tr, config.DNSProbe{Server: s, Name: "web.test", Transport: tr, AnswersContain: []string{"127.0.0.1"}}, "", ReasonNone},
			dcase{"AAAA/" + tr, config.DNSProbe{Server: s, Name: "web.test", Type: "AAAA", Transport: tr, AnswersContain: []string{"::1"}}, "", ReasonNone},
			dcase{"CNAME/" + tr, config.DNSProbe{Server: s, Name: "alias.web.test", Type: "CNAME", Transport: tr, AnswersContain: []string{"web.test."}}, "", ReasonNone},
			dcase{"SRV/" + tr, config.DNSProbe{Server: s, Name: "_http._tcp.test", Type: "SRV", Transport: tr}, "", ReasonNone},
			dcase{"missing answer/" + tr, config.DNSProbe{Server: s, Name: "web.test", Transport: tr, AnswersContain: []string{"10.9.9.9"}}, "", ReasonDNSAnswer},
			dcase{"SERVFAIL/" + tr, config.DNSProbe{Server: s, Name: "web.test", Transport: tr}, testtarget.DNSServfail, ReasonDNSRcode},
			dcase{"drop/" + tr, config.DNSProbe{Server: s, Name: "web.test", Transport: tr}, testtarget.DNSDrop, ReasonTimeout},
			dcase{"garbage/" + tr, config.DNSProbe{Server: s, Name: "web.test", Transport: tr}, testtarget.DNSGarbage, ReasonProtocol},
		)
	}
	tests = append(tests, dcase{"refused/tcp", config.DNSProbe{Server: tt.DNSAddr(), Name: "web.test", Transport: "tcp"}, testtarget.Refuse, ReasonConnectRefused})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.dns
			tg := resolved(t, config.Target{DNS: &d})
			p, err := New(tg, config.ConnNew)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if tc.fault != "" {
				tt.Set(tc.fault)
				defer tt.Set(testtarget.Healthy)
			}
			r := probeWith(p, 300*time.Millisecond)
			if r.Reason != tc.want {
				t.Fatalf("reason %q (%v), want %q", r.Reason, r.Err, tc.want)
			}
		})
	}
}

// Every reason a prober reports is one it lists in Reasons (exported at
// zero from the start, so increase() sees its first failures): each kind
// against a closed port and against the target's faults.
func TestReasonsListed(t *testing.T) {
	tt, ca := startTarget(t, testtarget.Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedTCP := l.Addr().String()
	l.Close()
	u, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedUDP := u.LocalAddr().String()
	u.Close()
	kinds := append(allKinds(),
		kindCase{"dns-udp", func(tt *testtarget.Server, _ string) config.Target {
			return config.Target{DNS: &config.DNSProbe{Server: tt.DNSAddr(), Name: "web.test."}}
		}},
		kindCase{"dns-udp-closed", func(*testtarget.Server, string) config.Target {
			return config.Target{DNS: &config.DNSProbe{Server: closedUDP, Name: "web.test."}}
		}},
		kindCase{"http-closed", func(*testtarget.Server, string) config.Target {
			return config.Target{HTTP: &config.HTTPProbe{URL: "http://" + closedTCP + "/"}}
		}},
		kindCase{"tcp-closed", func(*testtarget.Server, string) config.Target {
			return config.Target{TCP: &config.TCPProbe{Address: closedTCP}}
		}},
	)
	for _, k := range kinds {
		tg := resolved(t, k.target(tt, ca))
		for _, c := range tg.Connections {
			p, err := New(tg, c)
			if err != nil {
				t.Fatal(err)
			}
			listed := map[Reason]bool{}
			for _, r := range p.Reasons() {
				listed[r] = true
			}
			for _, f := range []testtarget.Fault{testtarget.Healthy, testtarget.Refuse, testtarget.Reset, testtarget.Hang, testtarget.HTTP503} {
				tt.Set(f)
				r := probeWith(p, 200*time.Millisecond)
				tt.Set(testtarget.Healthy)
				if r.Reason != ReasonNone && !listed[r.Reason] {
					t.Errorf("%s/%s in %s: reason %s (%v) is not in Reasons() %v", k.name, c, f, r.Reason, r.Err, p.Reasons())
				}
			}
			p.Close()
		}
	}
}

// A CA bundle rotated on disk is used from the next connection on: the
// file first holds another CA (TLS failures), then the target's own.
func TestCAFileReloaded(t *testing.T) {
	tt, _ := startTarget(t, testtarget.Options{})
	other := targettest.Start(t, testtarget.Options{})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := other.WriteCAFile(ca); err != nil {
		t.Fatal(err)
	}
	tg := resolved(t, config.Target{HTTP: &config.HTTPProbe{URL: "https://" + tt.HTTPSAddr() + "/", TLS: config.TLS{CAFile: ca}}})
	p, err := New(tg, config.ConnNew)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if r := probeWith(p, time.Second); r.Reason != ReasonTLS {
		t.Fatalf("with another CA: %s (%v), want tls", r.Reason, r.Err)
	}
	if err := tt.WriteCAFile(ca); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := probeWith(p, time.Second)
		if r.OK() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rotated CA file not picked up: %s (%v)", r.Reason, r.Err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A name the certificate does not hold still fails verification.
	bad := resolved(t, config.Target{HTTP: &config.HTTPProbe{URL: "https://" + tt.HTTPSAddr() + "/", TLS: config.TLS{CAFile: ca, ServerName: "not-this.test"}}})
	pb, err := New(bad, config.ConnNew)
	if err != nil {
		t.Fatal(err)
	}
	defer pb.Close()
	if r := probeWith(pb, time.Second); r.Reason != ReasonTLS {
		t.Errorf("wrong server name: %s (%v), want tls", r.Reason, r.Err)
	}
}
