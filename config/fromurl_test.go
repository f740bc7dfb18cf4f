package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestTargetFromURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Target
	}{
		{"http://127.0.0.1:8080/", Target{Name: "127.0.0.1_8080", HTTP: &HTTPProbe{URL: "http://127.0.0.1:8080/"}}},
		{"https://api.example.com/healthz?deep=1#x", Target{Name: "api.example.com_healthz", HTTP: &HTTPProbe{URL: "https://api.example.com/healthz?deep=1#x"}}},
		{"https://api.example.com/api/v1/health%20check/", Target{Name: "api.example.com_api_v1_health_check", HTTP: &HTTPProbe{URL: "https://api.example.com/api/v1/health%20check/"}}},
		{"h2c://127.0.0.1:8080", Target{Name: "h2c_127.0.0.1_8080", HTTP: &HTTPProbe{URL: "h2c://127.0.0.1:8080"}}},
		{"http://[::1]:8080/ready", Target{Name: "::1_8080_ready", HTTP: &HTTPProbe{URL: "http://[::1]:8080/ready"}}},
		{"tcp://db.example.com:5432", Target{Name: "tcp_db.example.com_5432", TCP: &TCPProbe{Address: "db.example.com:5432"}}},
		{"tcp://[::1]:5432/", Target{Name: "tcp_::1_5432", TCP: &TCPProbe{Address: "[::1]:5432"}}},
		{"dns:///example.com", Target{Name: "dns_example.com", DNS: &DNSProbe{Name: "example.com"}}},
		{"dns:///example.com.?type=a&transport=udp", Target{Name: "dns_example.com", DNS: &DNSProbe{Name: "example.com.", Type: "a", Transport: "udp"}}},
		{
			"dns://10.0.0.10/kubernetes.default.svc.cluster.local?type=SRV&transport=tcp&rcode=NOERROR",
			Target{Name: "dns_kubernetes.default.svc.cluster.local_SRV_tcp_10.0.0.10_53", DNS: &DNSProbe{
				Server: "10.0.0.10:53", Name: "kubernetes.default.svc.cluster.local", Type: "SRV", Transport: "tcp", Rcode: "NOERROR",
			}}},
		{"dns://[fd00::10]:5353/a.example.com", Target{Name: "dns_a.example.com_fd00::10_5353", DNS: &DNSProbe{Server: "[fd00::10]:5353", Name: "a.example.com"}}},
	} {
		got, err := TargetFromURL(tc.in)
		if err != nil {
			t.Errorf("TargetFromURL(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("TargetFromURL(%q)\n= %+v %+v %+v %+v\nwant %+v %+v %+v %+v", tc.in,
				got, got.HTTP, got.TCP, got.DNS, tc.want, tc.want.HTTP, tc.want.TCP, tc.want.DNS)
		}
	}
}

func TestTargetFromURLLongName(t *testing.T) {
	in := "https://a.example.com/" + strings.Repeat("segment/", 20)
	a, err := TargetFromURL(in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := TargetFromURL(in + "other")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Name) != 128 || len(b.Name) != 128 || a.Name == b.Name {
		t.Errorf("long names %q and %q: want 128 characters each, different", a.Name, b.Name)
	}
	if !strings.HasPrefix(a.Name, "a.example.com_segment_segment_") {
		t.Errorf("long name %q lost its start", a.Name)
	}
}

func TestTargetFromURLErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"example.com", `target "example.com": expected a URL starting with http://, https://, h2c://, tcp:// or dns://`},
		{"localhost:8080", `target "localhost:8080": expected a URL starting with http://, https://, h2c://, tcp:// or dns://`},
		{"ftp://a.example.com/", `target "ftp://a.example.com/": expected a URL starting with http://, https://, h2c://, tcp:// or dns://`},
		{"http://[::1", `target "http://[::1": invalid URL: missing ']' in host`},
		{"http:///x", `target "http:///x": http.url: missing host in "http:///x"`},
		{"https://user:secret@a.example.com/", `target "https://user:xxxxx@a.example.com/": http.url: must not contain user info; use headers or bearer_token_file`},
		{"tcp://db.example.com", `target "tcp://db.example.com": expected tcp://HOST:PORT`},
		{"tcp://db.example.com:5432/x", `target "tcp://db.example.com:5432/x": expected tcp://HOST:PORT`},
		{"tcp://db.example.com:0", `target "tcp://db.example.com:0": tcp.address: expected host:port with a numeric port between 1 and 65535, got "db.example.com:0"`},
		{"dns://10.0.0.10/", `target "dns://10.0.0.10/": expected dns://RESOLVER/NAME or dns:///NAME`},
		{"dns:example.com", `target "dns:example.com": expected dns://RESOLVER/NAME or dns:///NAME`},
		{"dns:///example.com?type=MX", `target "dns:///example.com?type=MX": dns.type: expected A, AAAA, CNAME or SRV, got "MX"`},
		{"dns:///example.com?class=IN", `target "dns:///example.com?class=IN": unknown parameter "class"; expected type, transport or rcode`},
		{"dns:///example.com?type=A&type=AAAA", `target "dns:///example.com?type=A&type=AAAA": parameter "type" given 2 times`},
	} {
		_, err := TargetFromURL(tc.in)
		if err == nil || err.Error() != tc.want {
			t.Errorf("TargetFromURL(%q): %v\nwant %s", tc.in, err, tc.want)
		}
	}
}

// Targets from the command line join a config and are checked with it.
func TestTargetFromURLInConfig(t *testing.T) {
	c, err := Parse([]byte("defaults:\n  interval: 250ms\ntargets:\n  - name: 127.0.0.1_8080\n    tcp: {address: '127.0.0.1:8080'}\n"), "z.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{"dns:///example.com", "http://127.0.0.1:8080/"} {
		tgt, err := TargetFromURL(arg)
		if err != nil {
			t.Fatal(err)
		}
		c.Targets = append(c.Targets, tgt)
	}
	c = c.Resolved()
	if d := c.Targets[1]; d.Interval != ms(250) || d.DNS.Name != "example.com." {
		t.Errorf("flag target resolved to %+v %+v", d, d.DNS)
	}
	want := `targets[2].name: duplicate name "127.0.0.1_8080", already used by targets[0]`
	if err := c.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate: %v\nwant %s", err, want)
	}
}
