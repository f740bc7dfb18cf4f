package probes

import (
	"context"
	"fmt"
	"net"
	"sort"
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

	expMu sync.Mutex
	equal map[string]bool // answers_equal; nil: no exact check
	// stale holds values expected earlier and no longer (bounded): an
	// answer with one of them is stale, not just wrong.
	stale map[string]bool
	// refresh, if set, gives the expected answers as they are now (from
	// discovery's caches): an answer that differs is checked again against
	// them before it fails, because the DNS server may have seen a change
	// before the target was updated.
	refresh func() ([]string, bool)
}

// maxStale bounds how many earlier-expected values are remembered.
const maxStale = 256

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
		equal:    valueSet(cfg.AnswersEqual),
	}, nil
}

func valueSet(vs []string) map[string]bool {
	if vs == nil {
		return nil
	}
	m := make(map[string]bool, len(vs))
	for _, v := range vs {
		m[normValue(v)] = true
	}
	return m
}

// normValue drops the root dot of names ("a.b." and "a.b", "t.:53" and
// "t:53" are the same value).
func normValue(v string) string {
	if i := strings.LastIndex(v, ".:"); i >= 0 {
		return v[:i] + v[i+1:]
	}
	return strings.TrimSuffix(v, ".")
}

// Update takes the new answers_equal of t (the rest of a target with the
// same Key is the same): values no longer expected become stale.
func (p *dnsProber) Update(t *config.Target) {
	if t.DNS != nil {
		p.expect(valueSet(t.DNS.AnswersEqual))
	}
}

// expect makes next the expected set if it differs from the current one.
func (p *dnsProber) expect(next map[string]bool) {
	p.expMu.Lock()
	defer p.expMu.Unlock()
	if (p.equal == nil) != (next == nil) || !sameSet(p.equal, next) {
		p.expectLocked(next)
	}
}

// expectLocked makes next the expected set; values no longer expected
// become stale.
func (p *dnsProber) expectLocked(next map[string]bool) {
	if p.stale == nil || len(p.stale) > maxStale {
		p.stale = map[string]bool{}
	}
	for v := range p.equal {
		if !next[v] {
			p.stale[v] = true
		}
	}
	for v := range next {
		delete(p.stale, v)
	}
	p.equal = next
}

// sameSet reports whether a and b hold the same values.
func sameSet(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for v := range a {
		if !b[v] {
			return false
		}
	}
	return true
}

func cfgOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func (p *dnsProber) Protocol() string { return "dns" }

func (p *dnsProber) Reasons() []Reason {
	// Over UDP too, a closed port answers with an ICMP port unreachable,
	// which reads as a refused connection.
	rs := []Reason{ReasonTimeout, ReasonDNSRcode, ReasonDNSAnswer, ReasonProtocol, ReasonOther, ReasonConnectRefused}
	if p.equal != nil {
		rs = append(rs, ReasonDNSStale)
	}
	if p.client.Net == "tcp" {
		rs = append(rs, ReasonConnectTimeout, ReasonReset)
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
	if reason, err := p.checkAnswer(in); err != nil {
		r.Reason, r.Err = reason, err
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
// answers are allowed), every value of answers_contain among them and,
// with answers_equal, exactly its values.
func (p *dnsProber) checkAnswer(in *dns.Msg) (Reason, error) {
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
		return ReasonDNSAnswer, fmt.Errorf("no %s record in the answer", dns.TypeToString[p.qtype])
	}
	if reason, err := p.checkEqual(got); err != nil {
		if p.refresh == nil {
			return reason, err
		}
		want, ok := p.refresh()
		if !ok {
			return reason, err
		}
		// Check again whatever the view: another probe (or an apply) may
		// have taken the current expectation in since this one checked.
		p.expect(valueSet(want))
		if reason, err := p.checkEqual(got); err != nil {
			return reason, err
		}
	}
	for _, w := range p.want {
		found := false
		for _, g := range got {
			if normValue(g) == normValue(w) {
				found = true
				break
			}
		}
		if !found {
			return ReasonDNSAnswer, fmt.Errorf("answer %v lacks %q", got, w)
		}
	}
	return ReasonNone, nil
}

// checkEqual compares the answer's values with answers_equal: a value
// expected earlier and no longer makes the answer stale; anything else
// amiss makes it wrong.
func (p *dnsProber) checkEqual(got []string) (Reason, error) {
	p.expMu.Lock()
	defer p.expMu.Unlock()
	if p.equal == nil {
		return ReasonNone, nil
	}
	seen := make(map[string]bool, len(got))
	var extra, old []string
	for _, g := range got {
		g = normValue(g)
		seen[g] = true
		if !p.equal[g] {
			extra = append(extra, g)
			if p.stale[g] {
				old = append(old, g)
			}
		}
	}
	var missing []string
	for w := range p.equal {
		if !seen[w] {
			missing = append(missing, w)
		}
	}
	if len(extra) == 0 && len(missing) == 0 {
		return ReasonNone, nil
	}
	sort.Strings(missing)
	want := make([]string, 0, len(p.equal))
	for w := range p.equal {
		want = append(want, w)
	}
	sort.Strings(want)
	if len(old) > 0 {
		return ReasonDNSStale, fmt.Errorf("stale answer %v: %v no longer expected; want %v", got, old, want)
	}
	return ReasonDNSAnswer, fmt.Errorf("answer %v, want exactly %v (missing %v, unexpected %v)", got, want, missing, extra)
}
