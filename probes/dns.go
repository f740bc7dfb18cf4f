package probes

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/miekg/dns"

	"github.com/zerodown/zerodown/config"
)

// dnsProber asks one resolver one question over UDP or TCP and checks the
// rcode and the answer. Over TCP in reused mode it keeps connections alive.
type dnsProber struct {
	server   string
	name     string
	qtype    uint16
	rcode    int
	allowNil bool
	want     []string
	client   dns.Client
	reuse    bool

	mu   sync.Mutex
	idle []*dns.Conn
}

func newDNS(cfg *config.DNSProbe, conn config.Connection) (*dnsProber, error) {
	qtype, ok := dns.StringToType[strings.ToUpper(cfgOr(cfg.Type, "A"))]
	if !ok {
		return nil, fmt.Errorf("dns type %q unknown", cfg.Type)
	}
	rcode, ok := dns.StringToRcode[strings.ToUpper(cfgOr(cfg.Rcode, "NOERROR"))]
	if !ok {
		return nil, fmt.Errorf("dns rcode %q unknown", cfg.Rcode)
	}
	server := cfg.Server
	if server == "" {
		cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil || len(cc.Servers) == 0 {
			return nil, fmt.Errorf("no dns server given and none found in /etc/resolv.conf: %v", err)
		}
		server = net.JoinHostPort(cc.Servers[0], cc.Port)
	}
	transport := cfgOr(cfg.Transport, "udp")
	return &dnsProber{
		server:   server,
		name:     dns.Fqdn(cfg.Name),
		qtype:    qtype,
		rcode:    rcode,
		allowNil: cfg.AllowEmpty,
		want:     cfg.AnswersContain,
		client:   dns.Client{Net: transport, UDPSize: dns.DefaultMsgSize},
		reuse:    conn == config.ConnReused && transport == "tcp",
	}, nil
}

func cfgOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func (p *dnsProber) Protocol() string { return "dns" }

func (p *dnsProber) Reasons() []Reason {
	rs := []Reason{ReasonTimeout, ReasonDNSRcode, ReasonDNSAnswer, ReasonProtocol, ReasonOther}
	if p.client.Net == "tcp" {
		rs = append(rs, ReasonConnectRefused, ReasonConnectTimeout, ReasonReset)
	}
	return rs
}

func (p *dnsProber) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.idle {
		c.Close()
	}
	p.idle = nil
}

func (p *dnsProber) Probe(ctx context.Context, r *Result) {
	m := new(dns.Msg)
	m.SetQuestion(p.name, p.qtype)
	m.RecursionDesired = true
	var (
		in        *dns.Msg
		err       error
		connected = true
	)
	if p.client.Net == "tcp" {
		in, connected, err = p.exchangeTCP(ctx, m)
	} else {
		in, _, err = p.client.ExchangeContext(ctx, m, p.server)
	}
	if err != nil {
		r.Err, r.Reason = err, classify(err, connected)
		if r.Reason == ReasonOther && strings.Contains(err.Error(), "dns") {
			r.Reason = ReasonProtocol
		}
		return
	}
	r.Status = in.Rcode
	if in.Rcode != p.rcode {
		r.Reason = ReasonDNSRcode
		r.Err = fmt.Errorf("rcode %s, want %s", dns.RcodeToString[in.Rcode], dns.RcodeToString[p.rcode])
		return
	}
	if p.rcode != dns.RcodeSuccess {
		return
	}
	if err := p.checkAnswer(in); err != nil {
		r.Reason, r.Err = ReasonDNSAnswer, err
	}
}

// exchangeTCP asks over a TCP connection: a new one, or in reused mode an
// idle one. A kept-alive connection the server closed while it was idle
// (DNS servers close idle TCP connections after a few seconds) is retried
// once over a new connection, as HTTP clients do; a server that resets
// every connection still fails. connected reports whether a connection
// was established, to tell connect_timeout from timeout.
func (p *dnsProber) exchangeTCP(ctx context.Context, m *dns.Msg) (*dns.Msg, bool, error) {
	var co *dns.Conn
	if p.reuse {
		p.mu.Lock()
		if n := len(p.idle); n > 0 {
			co, p.idle = p.idle[n-1], p.idle[:n-1]
		}
		p.mu.Unlock()
	}
	for {
		reused := co != nil
		if co == nil {
			var err error
			if co, err = p.client.DialContext(ctx, p.server); err != nil {
				return nil, false, err
			}
		}
		in, _, err := p.client.ExchangeWithConnContext(ctx, m, co)
		if err != nil {
			co.Close()
			if reused && peerClosed(err) && ctx.Err() == nil {
				co = nil
				continue
			}
			return nil, true, err
		}
		if !p.reuse {
			co.Close()
			return in, true, nil
		}
		p.mu.Lock()
		if len(p.idle) < maxIdleTCP {
			p.idle, co = append(p.idle, co), nil
		}
		p.mu.Unlock()
		if co != nil {
			co.Close()
		}
		return in, true, nil
	}
}

// checkAnswer wants at least one record of the asked type (unless empty
// answers are allowed) and every value of answers_contain among them.
func (p *dnsProber) checkAnswer(in *dns.Msg) error {
	var got []string
	for _, rr := range in.Answer {
		if rr.Header().Rrtype != p.qtype {
			continue
		}
		switch v := rr.(type) {
		case *dns.A:
			got = append(got, v.A.String())
		case *dns.AAAA:
			got = append(got, v.AAAA.String())
		case *dns.CNAME:
			got = append(got, v.Target)
		case *dns.SRV:
			got = append(got, v.Target+":"+strconv.Itoa(int(v.Port)))
		default:
			got = append(got, rr.String())
		}
	}
	if len(got) == 0 && !p.allowNil {
		return fmt.Errorf("no %s record in the answer", dns.TypeToString[p.qtype])
	}
	for _, w := range p.want {
		found := false
		for _, g := range got {
			if g == w || (strings.HasSuffix(g, ".") && strings.TrimSuffix(g, ".") == w) ||
				strings.Replace(g, ".:", ":", 1) == w {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("answer %v lacks %q", got, w)
		}
	}
	return nil
}
