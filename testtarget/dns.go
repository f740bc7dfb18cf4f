package testtarget

import (
	"crypto/rand"
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

const (
	dnsTTL      = 30
	aliasPrefix = "alias."
	nxLabel     = "nxdomain"
	maxCNAMEs   = 8
)

var (
	defaultV4 = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	defaultV6 = netip.IPv6Loopback()
)

// serveDNS answers the zone:
//
//   - A and AAAA for any name of the zone: 127.0.0.1 and ::1, or the
//     addresses of Options.Records (which may also name names outside it);
//   - a CNAME for names "alias.NAME" to NAME, followed within the answer;
//   - SRV for "_http._tcp.ZONE": "web.ZONE" at the HTTP port;
//   - NXDOMAIN for names whose first label is "nxdomain";
//   - NOERROR without answers for other types;
//   - REFUSED for names outside the zone and Options.Records.
func (s *Server) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	switch s.current() {
	case DNSDrop:
		return
	case DNSServfail:
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeServerFailure)
		w.WriteMsg(m)
		return
	case DNSGarbage:
		w.Write(garbage())
		return
	}
	w.WriteMsg(s.answer(req))
}

func (s *Server) answer(req *dns.Msg) *dns.Msg {
	s.recMu.RLock()
	defer s.recMu.RUnlock()
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		return m
	}
	q := req.Question[0]
	name := dns.CanonicalName(q.Name)
	if _, listed := s.cfg.records[name]; !listed && !dns.IsSubDomain(s.cfg.zone, name) {
		m.Authoritative = false
		m.Rcode = dns.RcodeRefused
		return m
	}
	if !s.resolve(m, q.Name, q.Qtype, 0) {
		m.Rcode = dns.RcodeNameError
	}
	return m
}

// resolve appends the records of owner and type qtype to m and reports
// whether the name exists.
func (s *Server) resolve(m *dns.Msg, owner string, qtype uint16, depth int) bool {
	name := dns.CanonicalName(owner)
	addrs, listed := s.cfg.records[name]
	if !listed {
		if !dns.IsSubDomain(s.cfg.zone, name) || strings.HasPrefix(name, nxLabel+".") {
			return false
		}
		if target, ok := strings.CutPrefix(name, aliasPrefix); ok && dns.IsSubDomain(s.cfg.zone, target) && depth < maxCNAMEs {
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: header(owner, dns.TypeCNAME), Target: target})
			if qtype == dns.TypeCNAME {
				return true
			}
			return s.resolve(m, target, qtype, depth+1)
		}
		addrs = []netip.Addr{defaultV4, defaultV6}
	}
	switch qtype {
	case dns.TypeA, dns.TypeAAAA:
		m.Answer = append(m.Answer, addressRRs(owner, qtype, addrs)...)
	case dns.TypeSRV:
		if name != "_http._tcp."+s.cfg.zone {
			break
		}
		web := "web." + s.cfg.zone
		m.Answer = append(m.Answer, &dns.SRV{
			Hdr:      header(owner, dns.TypeSRV),
			Priority: 10,
			Weight:   100,
			Port:     portOf(s.HTTPAddr()),
			Target:   web,
		})
		webAddrs, ok := s.cfg.records[web]
		if !ok {
			webAddrs = []netip.Addr{defaultV4, defaultV6}
		}
		m.Extra = append(m.Extra, addressRRs(web, dns.TypeA, webAddrs)...)
		m.Extra = append(m.Extra, addressRRs(web, dns.TypeAAAA, webAddrs)...)
	}
	return true
}

func header(owner string, rrtype uint16) dns.RR_Header {
	return dns.RR_Header{Name: owner, Rrtype: rrtype, Class: dns.ClassINET, Ttl: dnsTTL}
}

func addressRRs(owner string, qtype uint16, addrs []netip.Addr) []dns.RR {
	var out []dns.RR
	for _, a := range addrs {
		switch {
		case qtype == dns.TypeA && a.Is4():
			out = append(out, &dns.A{Hdr: header(owner, dns.TypeA), A: a.AsSlice()})
		case qtype == dns.TypeAAAA && a.Is6():
			out = append(out, &dns.AAAA{Hdr: header(owner, dns.TypeAAAA), AAAA: a.AsSlice()})
		}
	}
	return out
}

// garbage returns 64 random bytes that do not unpack as a DNS message.
func garbage() []byte {
	b := make([]byte, 64)
	for {
		rand.Read(b)
		if new(dns.Msg).Unpack(b) != nil {
			return b
		}
	}
}

// SetRecords makes name (fully qualified or not) answer addrs from now on,
// as a cluster DNS follows a Service's endpoints; no addrs removes the
// name's own records.
func (s *Server) SetRecords(name string, addrs ...string) error {
	fqdn := dns.CanonicalName(name)
	if _, ok := dns.IsDomainName(fqdn); !ok || name == "" {
		return fmt.Errorf("testtarget: SetRecords: %q is not a domain name", name)
	}
	parsed := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return fmt.Errorf("testtarget: SetRecords(%q): %w", name, err)
		}
		parsed = append(parsed, ip.Unmap())
	}
	s.recMu.Lock()
	defer s.recMu.Unlock()
	if len(parsed) == 0 {
		delete(s.cfg.records, fqdn)
		return nil
	}
	s.cfg.records[fqdn] = parsed
	return nil
}
