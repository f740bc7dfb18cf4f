package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// TargetFromURL turns a command-line target into a Target, unresolved
// (defaults apply when it joins a Config, see Config.Resolved) and
// validated on its own (duplicate names show when the Config is
// validated):
//
//	http://HOST[:PORT]/PATH, https://..., h2c://...   an HTTP target, the URL as given
//	tcp://HOST:PORT                                   a TCP target
//	dns://[RESOLVER[:PORT]]/NAME[?type=A&transport=udp&rcode=NOERROR]
//	                                                  a DNS target; dns:///NAME asks the
//	                                                  system resolver, a RESOLVER without
//	                                                  port gets :53
//
// The name (backend label) is derived from the URL: its parts joined with
// "_", each run of characters outside [a-zA-Z0-9_.:-] replaced by "_":
//
//	http(s)://HOST[:PORT]/PATH  ->  HOST[_PORT][_PATH]    http://127.0.0.1:8080/ -> 127.0.0.1_8080
//	h2c://HOST[:PORT]/PATH      ->  h2c_HOST[_PORT][_PATH]
//	tcp://HOST:PORT             ->  tcp_HOST_PORT
//	dns://RESOLVER/NAME?...     ->  dns_NAME[_TYPE unless A][_tcp][_RESOLVER_PORT]
//
// Query, fragment and user info never enter the name. A name longer than
// 128 characters is cut and ends with 8 hex digits of a hash of the whole.
// Errors name the argument.
func TargetFromURL(raw string) (Target, error) {
	t, err := targetFromURL(raw)
	if err != nil {
		return Target{}, fmt.Errorf("target %q: %w", redact(raw), err)
	}
	return t, nil
}

func targetFromURL(raw string) (Target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Target{}, fmt.Errorf("invalid URL: %w", err)
	}
	var t Target
	switch u.Scheme {
	case "http", "https", "h2c":
		t = Target{HTTP: &HTTPProbe{URL: raw}}
		// Name from whatever is there; Validate below reports what is wrong.
		parts := []string{u.Hostname(), u.Port(), u.Path}
		if u.Scheme == "h2c" {
			parts = append([]string{"h2c"}, parts...)
		}
		t.Name = deriveName(parts...)
	case "tcp":
		if u.Host == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return Target{}, errors.New("expected tcp://HOST:PORT")
		}
		t = Target{Name: deriveName("tcp", u.Hostname(), u.Port()), TCP: &TCPProbe{Address: u.Host}}
	case "dns":
		d, err := dnsFromURL(u)
		if err != nil {
			return Target{}, err
		}
		parts := []string{"dns", strings.TrimSuffix(d.Name, ".")}
		if typ := strings.ToUpper(d.Type); typ != "" && typ != defaultDNSType {
			parts = append(parts, typ)
		}
		if strings.ToLower(d.Transport) == "tcp" {
			parts = append(parts, "tcp")
		}
		if d.Server != "" {
			host, port, _ := net.SplitHostPort(d.Server)
			parts = append(parts, host, port)
		}
		t = Target{Name: deriveName(parts...), DNS: d}
	default:
		return Target{}, errors.New("expected a URL starting with http://, https://, h2c://, tcp:// or dns://")
	}
	if err := t.Validate(); err != nil {
		return Target{}, err
	}
	return t, nil
}

func dnsFromURL(u *url.URL) (*DNSProbe, error) {
	const want = "expected dns://RESOLVER/NAME or dns:///NAME"
	if u.Opaque != "" || u.User != nil || u.Fragment != "" {
		return nil, errors.New(want)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" || strings.Contains(name, "/") {
		return nil, errors.New(want)
	}
	d := &DNSProbe{Name: name}
	if u.Host != "" {
		if u.Port() == "" {
			d.Server = net.JoinHostPort(u.Hostname(), "53")
		} else {
			d.Server = u.Host
		}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("invalid query: %w", err)
	}
	for k, vs := range q {
		if len(vs) != 1 {
			return nil, fmt.Errorf("parameter %q given %d times", k, len(vs))
		}
		switch k {
		case "type":
			d.Type = vs[0]
		case "transport":
			d.Transport = vs[0]
		case "rcode":
			d.Rcode = vs[0]
		default:
			return nil, fmt.Errorf("unknown parameter %q; expected type, transport or rcode", k)
		}
	}
	return d, nil
}

var nameRunRE = regexp.MustCompile(`[^a-zA-Z0-9_.:-]+`)

// deriveName joins the non-empty parts with "_" and sanitises the result
// to the label charset, at most 128 characters.
func deriveName(parts ...string) string {
	var kept []string
	for _, p := range parts {
		if p = strings.Trim(nameRunRE.ReplaceAllString(p, "_"), "_"); p != "" {
			kept = append(kept, p)
		}
	}
	name := strings.Join(kept, "_")
	if len(name) > maxNameLen {
		sum := sha256.Sum256([]byte(name))
		name = name[:maxNameLen-9] + "_" + hex.EncodeToString(sum[:4])
	}
	return name
}

// redact hides the password of a URL that has one.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return u.Redacted()
	}
	return raw
}
