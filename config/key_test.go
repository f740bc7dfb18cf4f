package config

import (
	"regexp"
	"testing"
)

func keyBase() Target {
	return Target{
		Name:        "a",
		Connections: []Connection{ConnNew, ConnReused},
		Schedule:    Schedule{Interval: ms(500)},
		HTTP: &HTTPProbe{
			URL:              "https://a.example.com/",
			ValidStatusCodes: []int{200, 204},
			BodyRegex:        re("ok"),
			Headers:          map[string]string{"X-A": "1", "X-B": "2"},
			TLS:              TLS{CAFile: "ca.pem"},
			ServedBy:         &ServedBy{Header: "X-Served-By", Values: []string{"blue", "green"}},
		},
	}
}

func TestKeySame(t *testing.T) {
	base := keyBase().Key()
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(base) {
		t.Fatalf("Key() = %q, want 64 hex digits", base)
	}
	for name, mod := range map[string]func(*Target){
		"unchanged":                  func(*Target) {},
		"resolved":                   func(t *Target) { *t = t.Resolved(Schedule{}) },
		"built-in value written out": func(t *Target) { t.Timeout = ms(1000); t.HTTP.Method = "GET" },
		"method case":                func(t *Target) { t.HTTP.Method = "get" },
		"connections order":          func(t *Target) { t.Connections = []Connection{ConnReused, ConnNew} },
		"status codes order":         func(t *Target) { t.HTTP.ValidStatusCodes = []int{204, 200} },
		"served_by values order":     func(t *Target) { t.HTTP.ServedBy.Values = []string{"green", "blue"} },
		"headers built in another order": func(t *Target) {
			t.HTTP.Headers = map[string]string{"X-B": "2", "X-A": "1"}
		},
	} {
		tgt := keyBase()
		mod(&tgt)
		if got := tgt.Key(); got != base {
			t.Errorf("%s: key changed", name)
		}
	}
	dns := Target{Name: "d", DNS: &DNSProbe{Name: "a.example.com"}}
	dot := Target{Name: "d", DNS: &DNSProbe{Name: "a.example.com.", Type: "A", Transport: "udp"}}
	if dns.Key() != dot.Key() {
		t.Errorf("DNS name with and without the final dot: keys differ")
	}
}

func TestKeyDiffers(t *testing.T) {
	base := keyBase().Key()
	for name, mod := range map[string]func(*Target){
		"name":              func(t *Target) { t.Name = "b" },
		"interval":          func(t *Target) { t.Interval = ms(250) },
		"fast_interval":     func(t *Target) { t.FastInterval = ms(5) },
		"max_in_flight":     func(t *Target) { t.MaxInFlight = 3 },
		"connections":       func(t *Target) { t.Connections = []Connection{ConnNew} },
		"url":               func(t *Target) { t.HTTP.URL = "https://b.example.com/" },
		"method":            func(t *Target) { t.HTTP.Method = "HEAD" },
		"status codes":      func(t *Target) { t.HTTP.ValidStatusCodes = []int{200} },
		"body_regex":        func(t *Target) { t.HTTP.BodyRegex = re("ok2") },
		"header value":      func(t *Target) { t.HTTP.Headers["X-A"] = "2" },
		"tls ca_file":       func(t *Target) { t.HTTP.TLS.CAFile = "other.pem" },
		"insecure":          func(t *Target) { t.HTTP.TLS.InsecureSkipVerify = true },
		"bearer_token_file": func(t *Target) { t.HTTP.BearerTokenFile = "token" },
		"served_by values":  func(t *Target) { t.HTTP.ServedBy.Values = append(t.HTTP.ServedBy.Values, "red") },
		"kind":              func(t *Target) { t.HTTP = nil; t.TCP = &TCPProbe{Address: "a.example.com:443"} },
	} {
		tgt := keyBase()
		mod(&tgt)
		if tgt.Key() == base {
			t.Errorf("%s changed but the key did not", name)
		}
	}
}

// answers_equal is kept current by discovery: a change must not make the
// target new (and reset its counters).
func TestKeyIgnoresAnswersEqual(t *testing.T) {
	a := Target{Name: "svc", DNS: &DNSProbe{Server: "127.0.0.1:53", Name: "svc.ns.svc.cluster.local", AnswersEqual: []string{"10.96.0.1"}}}
	b := a
	b.DNS = &DNSProbe{Server: "127.0.0.1:53", Name: "svc.ns.svc.cluster.local", AnswersEqual: []string{"10.96.0.2"}}
	if a.Key() != b.Key() {
		t.Error("targets differing only in answers_equal have different keys")
	}
	c := a
	c.DNS = &DNSProbe{Server: "127.0.0.1:53", Name: "other.ns.svc.cluster.local", AnswersEqual: []string{"10.96.0.1"}}
	if a.Key() == c.Key() {
		t.Error("targets asking different names have the same key")
	}
}

func TestHoldKey(t *testing.T) {
	plain := keyBase()
	if plain.HoldKey() != "" {
		t.Fatalf("HoldKey() of a target without hold = %q, want empty", plain.HoldKey())
	}
	held := keyBase()
	held.Hold = &Hold{Connections: 2}
	if held.Key() != plain.Key() {
		t.Error("hold changed Key(): the request series would restart when only the held connections change")
	}
	written := keyBase()
	written.Hold = &Hold{Connections: 2, Check: Duration(defaultHoldCheck)}
	if held.HoldKey() != written.HoldKey() {
		t.Error("HoldKey differs between the default check and the same check written out")
	}
	more := keyBase()
	more.Hold = &Hold{Connections: 3}
	if more.HoldKey() == held.HoldKey() {
		t.Error("HoldKey is the same for 2 and 3 connections")
	}
	moved := keyBase()
	moved.HTTP.URL = "https://b.example.com/"
	moved.Hold = &Hold{Connections: 2}
	if moved.HoldKey() == held.HoldKey() {
		t.Error("HoldKey is the same for two URLs")
	}
}
