package config

import (
	"errors"
	"testing"
)

// Validate works without a file: paths, no lines, all problems at once.
func TestValidateWithoutFile(t *testing.T) {
	c := &Config{
		Defaults: Schedule{FastInterval: ms(2000)},
		Targets: []Target{
			{Name: "a", HTTP: &HTTPProbe{URL: "foo"}},
			{Name: "a", TCP: &TCPProbe{Address: "b.example.com:80"}},
			{Name: "d", Connections: []Connection{ConnReused}, DNS: &DNSProbe{Name: "x.example.com"}},
		},
	}
	want := `defaults.fast_interval: must not exceed interval (1s), got 2s
targets[0].http.url: expected an absolute http://, https:// or h2c:// URL, got "foo"
targets[1].name: duplicate name "a", already used by targets[0]
targets[2].connections[0]: reused needs a DNS target with transport: tcp; udp has no connection to reuse`
	err := c.Validate()
	if err == nil || err.Error() != want {
		t.Fatalf("Validate:\n%v\nwant:\n%s", err, want)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "defaults.fast_interval" || fe.Line != 0 || fe.File != "" {
		t.Errorf("first problem %+v", fe)
	}
	// Resolved, it has the same problems: Defaults stays as written, and
	// the targets inherit its fast_interval capped at their interval.
	if err := c.Resolved().Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate of the resolved config:\n%v\nwant:\n%s", err, want)
	}
}

func TestValidateParts(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"schedule", Schedule{Interval: ms(5), MaxInFlight: 2000}.Validate(),
			"interval: must be at least 10ms, got 5ms\nmax_in_flight: must be between 0 and 1024, got 2000"},
		{"schedule fast over built-in interval", Schedule{FastInterval: ms(1500)}.Validate(),
			"fast_interval: must not exceed interval (1s), got 1.5s"},
		{"target", Target{Name: "x"}.Validate(),
			"exactly one of http, tcp or dns must be set, got none"},
		{"http", (&HTTPProbe{URL: "https://a.example.com/", Method: "DELETE"}).Validate(),
			`method: expected GET or HEAD, got "DELETE"`},
		{"tls", TLS{CertFile: "testdata/files/client.pem"}.Validate(),
			"key_file: required when cert_file is set"},
		{"served_by", (&ServedBy{Header: "X-B", Values: []string{"other"}}).Validate(),
			`values[0]: "other" is reserved for backends not in this list`},
		{"tcp", (&TCPProbe{Address: "[::1]:99999"}).Validate(),
			`address: expected host:port with a numeric port between 1 and 65535, got "[::1]:99999"`},
		{"dns", (&DNSProbe{Name: "a", Server: "[fd00::10]:53", Type: "srv", Transport: "TCP", Rcode: "servfail"}).Validate(), ""},
		{"valid", Target{Name: "a.b:c_d-1", TCP: &TCPProbe{Address: "[::1]:80"}}.Validate(), ""},
	} {
		got := ""
		if tc.err != nil {
			got = tc.err.Error()
		}
		if got != tc.want {
			t.Errorf("%s:\n%s\nwant:\n%s", tc.name, got, tc.want)
		}
	}
}
