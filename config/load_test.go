package config

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// invalidFiles holds the exact error expected from each
// testdata/invalid-*.yaml; every such file must have an entry.
var invalidFiles = map[string]string{
	"invalid-syntax.yaml": `
testdata/invalid-syntax.yaml:1: did not find expected key`,

	"invalid-multidoc.yaml": `
testdata/invalid-multidoc.yaml:2: only one YAML document is allowed`,

	"invalid-scalar.yaml": `
testdata/invalid-scalar.yaml:1: expected a mapping, got "just a string"`,

	"invalid-root.yaml": `
testdata/invalid-root.yaml:2: targets: expected a list, got a mapping`,

	"invalid-unknown-field.yaml": `
testdata/invalid-unknown-field.yaml:2: defaults.intervall: unknown field; did you mean "interval"?
testdata/invalid-unknown-field.yaml:5: targets[0].fast_intreval: unknown field; did you mean "fast_interval"?
testdata/invalid-unknown-field.yaml:7: targets[0].http.urll: unknown field; did you mean "url"?
testdata/invalid-unknown-field.yaml:10: targets[1].url: unknown field; url belongs under http:`,

	"invalid-types.yaml": `
testdata/invalid-types.yaml:2: targets[0].name: expected a string, got a list
testdata/invalid-types.yaml:3: targets[0].max_in_flight: expected an integer, got "many"
testdata/invalid-types.yaml:4: targets[0].connections: expected a list, got "new"
testdata/invalid-types.yaml:7: targets[0].http.valid_status_codes[1]: expected an integer, got "abc"
testdata/invalid-types.yaml:8: targets[0].http.tls: expected a mapping, got "yes-please"
testdata/invalid-types.yaml:9: targets[0].http.headers: expected a mapping, got a list`,

	"invalid-duplicate-key.yaml": `
testdata/invalid-duplicate-key.yaml:5: targets[0].tcp.address: duplicate key, first defined at line 4
testdata/invalid-duplicate-key.yaml:8: targets[1].tcp.address: expected host:port with a numeric port between 1 and 65535, got "b.example.com:0"`,

	"invalid-duration.yaml": `
testdata/invalid-duration.yaml:2: defaults.interval: expected a duration with a unit, like "100ms" or "100s", got "100"
testdata/invalid-duration.yaml:5: targets[0].fast_interval: expected a duration like "100ms" or "1s", got "fast"
testdata/invalid-duration.yaml:6: targets[0].timeout: must be positive, got -1s`,

	"invalid-regexp.yaml": `
testdata/invalid-regexp.yaml:5: targets[0].http.body_regex: invalid regular expression: missing closing ): "(unclosed"
testdata/invalid-regexp.yaml:7: targets[0].http.served_by.body_regex: must have exactly one capture group, got 2
testdata/invalid-regexp.yaml:13: targets[1].http.served_by.body_regex: invalid regular expression: invalid nested repetition operator: "**"`,

	"invalid-name.yaml": `
testdata/invalid-name.yaml:2: targets[0].name: required
testdata/invalid-name.yaml:4: targets[1].name: must match [a-zA-Z0-9_.:-]+, got "has space"
testdata/invalid-name.yaml:7: targets[2].name: must be at most 128 characters, got 129
testdata/invalid-name.yaml:13: targets[4].name: duplicate name "dup", already used by targets[3]`,

	"invalid-kind.yaml": `
testdata/invalid-kind.yaml:2: targets[0]: exactly one of http, tcp or dns must be set, got none
testdata/invalid-kind.yaml:3: targets[1]: exactly one of http, tcp or dns must be set, got http and tcp
testdata/invalid-kind.yaml:8: targets[2]: exactly one of http, tcp or dns must be set, got http and tcp and dns`,

	"invalid-schedule.yaml": `
testdata/invalid-schedule.yaml:2: defaults.interval: must be at least 10ms, got 5ms
testdata/invalid-schedule.yaml:3: defaults.max_in_flight: must be between 0 and 1024, got -1
testdata/invalid-schedule.yaml:6: targets[0].fast_interval: must be at least 1ms, got 500µs
testdata/invalid-schedule.yaml:7: targets[0].timeout: must be positive, got -1s
testdata/invalid-schedule.yaml:12: targets[1].fast_interval: must not exceed interval (100ms), got 200ms
testdata/invalid-schedule.yaml:13: targets[1].max_in_flight: must be between 0 and 1024, got 2000
testdata/invalid-schedule.yaml:14: targets[1].objective: must be between 0 and 1 (exclusive), such as 0.999, got 99.9
testdata/invalid-schedule.yaml:15: targets[1].budget: must be positive, got -5s`,

	"invalid-schedule-inherited.yaml": `
testdata/invalid-schedule-inherited.yaml:6: targets[0].fast_interval: must not exceed interval (100ms), got 150ms`,

	"invalid-connections.yaml": `
testdata/invalid-connections.yaml:3: targets[0].connections[1]: expected new or reused, got "old"
testdata/invalid-connections.yaml:3: targets[0].connections[2]: duplicate connection "new"
testdata/invalid-connections.yaml:7: targets[1].connections[1]: reused needs a DNS target with transport: tcp; udp has no connection to reuse
testdata/invalid-connections.yaml:11: targets[2].connections[0]: reused needs a DNS target with transport: tcp; udp has no connection to reuse`,

	"invalid-http.yaml": `
testdata/invalid-http.yaml:4: targets[0].http.url: expected an absolute http://, https:// or h2c:// URL, got "foo"
testdata/invalid-http.yaml:7: targets[1].http.url: expected an absolute http://, https:// or h2c:// URL, got "ftp://a.example.com/"
testdata/invalid-http.yaml:10: targets[2].http.url: must not contain user info; use headers or bearer_token_file
testdata/invalid-http.yaml:13: targets[3].http.url: missing host in "http:///path"
testdata/invalid-http.yaml:16: targets[4].http.url: expected a port between 1 and 65535, got "70000"
testdata/invalid-http.yaml:18: targets[5].http.url: required
testdata/invalid-http.yaml:19: targets[5].http.method: expected GET or HEAD, got "POST"
testdata/invalid-http.yaml:20: targets[5].http.http_version: expected "1.1", "2" or empty, got "3"
testdata/invalid-http.yaml:21: targets[5].http.valid_status_codes[1]: expected a status code between 100 and 599, got 99
testdata/invalid-http.yaml:21: targets[5].http.valid_status_codes[2]: expected a status code between 100 and 599, got 600
testdata/invalid-http.yaml:22: targets[5].http.max_body_bytes: must not be negative, got -1
testdata/invalid-http.yaml:24: targets[5].http.headers.Bad Header: invalid header name "Bad Header"
testdata/invalid-http.yaml:25: targets[5].http.headers.Host: use host: to set the Host header
testdata/invalid-http.yaml:29: targets[6].http.http_version: "2" needs an https:// URL; use h2c:// for HTTP/2 without TLS
testdata/invalid-http.yaml:30: targets[6].http.tls: only allowed with https:// URLs, got http://
testdata/invalid-http.yaml:35: targets[7].http.http_version: h2c:// is always HTTP/2, got "1.1"
testdata/invalid-http.yaml:39: targets[8].http.tls.key_file: required when cert_file is set
testdata/invalid-http.yaml:40: targets[8].http.tls.ca_file: cannot read "testdata/files/missing-ca.pem": no such file or directory
testdata/invalid-http.yaml:41: targets[8].http.tls.cert_file: cannot read "testdata/files": is a directory
testdata/invalid-http.yaml:42: targets[8].http.bearer_token_file: cannot read "testdata/files/missing-token": no such file or directory
testdata/invalid-http.yaml:46: targets[9].http.tls.cert_file: required when key_file is set`,

	"invalid-strict.yaml": `
testdata/invalid-strict.yaml:6: targets[0].http.max_body_bytes: must be at most 67108864 (64 MiB), got 4000000000
testdata/invalid-strict.yaml:9: targets[1].http.url: h2c:// needs a port (HTTP/2 without TLS has no default), got "h2c://127.0.0.1/"
testdata/invalid-strict.yaml:13: targets[2].http.host: expected a host name (and port), got "b.example.com\nX-Injected: y"
testdata/invalid-strict.yaml:15: targets[2].http.headers.X-Test: value must not contain CR, LF or NUL
testdata/invalid-strict.yaml:18: targets[3].dns.name: has an empty label, got "a..b"
testdata/invalid-strict.yaml:21: targets[4].dns.name: must not contain spaces or control characters, got "a b.example.com"
testdata/invalid-strict.yaml:25: targets[5].tcp.expect: must be at most 65536 bytes, got 70000`,

	"invalid-served-by.yaml": `
testdata/invalid-served-by.yaml:5: targets[0].http.served_by: exactly one of header or body_regex must be set, got both
testdata/invalid-served-by.yaml:12: targets[1].http.served_by: exactly one of header or body_regex must be set, got neither
testdata/invalid-served-by.yaml:18: targets[2].http.served_by.header: invalid header name "Bad Header"
testdata/invalid-served-by.yaml:19: targets[2].http.served_by.values[1]: must not be empty
testdata/invalid-served-by.yaml:19: targets[2].http.served_by.values[2]: "other" is reserved for backends not in this list
testdata/invalid-served-by.yaml:19: targets[2].http.served_by.values[3]: must match [a-zA-Z0-9_.:-]+, got "a b"
testdata/invalid-served-by.yaml:19: targets[2].http.served_by.values[4]: duplicate value "blue"
testdata/invalid-served-by.yaml:23: targets[3].http.served_by.values: required: list the backend names to expect
testdata/invalid-served-by.yaml:24: targets[3].http.served_by.body_regex: must have exactly one capture group, got 0`,

	"invalid-tcp.yaml": `
testdata/invalid-tcp.yaml:4: targets[0].tcp.address: expected host:port with a numeric port between 1 and 65535, got "a.example.com"
testdata/invalid-tcp.yaml:7: targets[1].tcp.address: expected host:port with a numeric port between 1 and 65535, got "a.example.com:0"
testdata/invalid-tcp.yaml:10: targets[2].tcp.address: expected host:port with a numeric port between 1 and 65535, got "a.example.com:65536"
testdata/invalid-tcp.yaml:13: targets[3].tcp.address: expected host:port with a numeric port between 1 and 65535, got "a.example.com:http"
testdata/invalid-tcp.yaml:16: targets[4].tcp.address: expected host:port with a numeric port between 1 and 65535, got ":80"
testdata/invalid-tcp.yaml:18: targets[5].tcp.address: required`,

	"invalid-hold.yaml": `
testdata/invalid-hold.yaml:5: targets[0].hold: needs an http or tcp target: DNS has no connection to hold
testdata/invalid-hold.yaml:11: targets[1].hold.connections: must be between 1 and 64, got 0
testdata/invalid-hold.yaml:16: targets[2].hold.connections: must be between 1 and 64, got 65
testdata/invalid-hold.yaml:17: targets[2].hold.check: must be between 100ms and 10m0s, got 10ms
testdata/invalid-hold.yaml:23: targets[3].hold.stream: needs an http target
testdata/invalid-hold.yaml:29: targets[4].hold.stream: expected a path starting with /, without spaces, got "events"
testdata/invalid-hold.yaml:30: targets[4].hold.objective: must be between 0 and 1 (exclusive), such as 0.999, got 1.5
testdata/invalid-hold.yaml:31: targets[4].hold.budget: must not be negative, got -1`,

	"invalid-dns-answers.yaml": `
testdata/invalid-dns-answers.yaml:5: targets[0].dns.answers_contain[1]: must not be empty
testdata/invalid-dns-answers.yaml:6: targets[0].dns.answers_equal[1]: must not be empty`,
	"invalid-dns.yaml": `
testdata/invalid-dns.yaml:3: targets[0].dns.name: required
testdata/invalid-dns.yaml:4: targets[0].dns.type: expected A, AAAA, CNAME or SRV, got "MX"
testdata/invalid-dns.yaml:5: targets[0].dns.transport: expected udp or tcp, got "quic"
testdata/invalid-dns.yaml:6: targets[0].dns.rcode: expected one of NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, YXDOMAIN, YXRRSET, NXRRSET, NOTAUTH, NOTZONE, got "NOPE"
testdata/invalid-dns.yaml:7: targets[0].dns.server: expected host:port, such as 10.0.0.10:53, got "10.0.0.10"`,
}

func TestLoadInvalid(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := invalidFiles[filepath.Base(f)]; !ok {
			t.Errorf("%s has no expected error in invalidFiles", f)
		}
	}
	for name, want := range invalidFiles {
		t.Run(name, func(t *testing.T) {
			want = strings.TrimPrefix(want, "\n")
			c, err := Load(filepath.Join("testdata", name))
			if err == nil {
				t.Fatalf("Load succeeded, want error:\n%s", want)
			}
			if c != nil {
				t.Errorf("Load returned a config along with an error")
			}
			if got := err.Error(); got != want {
				t.Errorf("error:\n%s\nwant:\n%s", got, want)
			}
			// Every line is one *FieldError carrying the file and a line.
			errs := []error{err}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			}
			if n := strings.Count(want, "\n") + 1; len(errs) != n {
				t.Errorf("got %d errors, want %d", len(errs), n)
			}
			for _, e := range errs {
				var fe *FieldError
				if !errors.As(e, &fe) {
					t.Errorf("%v (%T) is not a *FieldError", e, e)
					continue
				}
				if fe.File != filepath.Join("testdata", name) || fe.Line == 0 {
					t.Errorf("%v: File %q Line %d, want the file and a line", e, fe.File, fe.Line)
				}
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yaml")
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load of a missing file: %v, want an os.ErrNotExist", err)
	}
}

func ms(n int) Duration { return Duration(time.Duration(n) * time.Millisecond) }

func re(expr string) Regexp { return Regexp{regexp.MustCompile(expr)} }

func TestLoadValid(t *testing.T) {
	want := &Config{
		Defaults: Schedule{Interval: ms(500), FastInterval: ms(50), Timeout: ms(2000), MaxInFlight: 16},
		Targets: []Target{
			{
				Name:        "api-https",
				Connections: []Connection{ConnReused, ConnNew},
				Schedule:    Schedule{FastFor: ms(2000), Interval: ms(250), FastInterval: ms(20), Timeout: ms(1500), MaxInFlight: 8},
				HTTP: &HTTPProbe{
					URL:              "https://api.example.com:8443/healthz?deep=1",
					Method:           "HEAD",
					HTTPVersion:      "2",
					ValidStatusCodes: []int{200, 204},
					BodyContains:     "ok",
					BodyRegex:        re(`status: (up|degraded)`),
					Headers:          map[string]string{"X-Probe": "zerodown"},
					Host:             "api.apps.example.com",
					TLS: TLS{
						CAFile:             "testdata/files/ca.pem",
						CertFile:           "testdata/files/client.pem",
						KeyFile:            "testdata/files/client-key.pem",
						ServerName:         "api.apps.example.com",
						InsecureSkipVerify: true,
					},
					BearerTokenFile: "testdata/files/token",
					MaxBodyBytes:    1024,
					ServedBy:        &ServedBy{Header: "X-Served-By", Values: []string{"blue", "green"}},
				},
			},
			{
				Name:        "web-h2c",
				Connections: []Connection{ConnNew, ConnReused},
				Schedule:    Schedule{FastFor: ms(2000), Interval: ms(500), FastInterval: ms(50), Timeout: ms(2000), MaxInFlight: 16},
				HTTP: &HTTPProbe{
					URL:          "h2c://127.0.0.1:8080/",
					Method:       "GET",
					MaxBodyBytes: 64 << 10,
					ServedBy:     &ServedBy{BodyRegex: re(`version=(v[0-9]+)`), Values: []string{"v1", "v2"}},
				},
			},
			{
				Name:        "db",
				Connections: []Connection{ConnReused},
				Schedule:    Schedule{FastFor: ms(2000), Interval: ms(500), FastInterval: ms(50), Timeout: ms(40), MaxInFlight: 16},
				TCP:         &TCPProbe{Address: "db.example.com:5432", Send: "PING\r\n", Expect: "+PONG"},
			},
			{
				Name:        "dns-kubernetes",
				Connections: []Connection{ConnNew, ConnReused},
				// fast_interval from defaults (50ms), capped at the interval.
				Schedule: Schedule{FastFor: ms(2000), Interval: ms(20), FastInterval: ms(20), Timeout: ms(2000), MaxInFlight: 16},
				DNS: &DNSProbe{
					Server:         "10.0.0.10:53",
					Name:           "kubernetes.default.svc.cluster.local.",
					Type:           "SRV",
					Transport:      "tcp",
					Rcode:          "NXDOMAIN",
					AllowEmpty:     true,
					AnswersContain: []string{"10.0.0.1"},
				},
			},
			{
				Name:        "dns-system",
				Connections: []Connection{ConnNew},
				Schedule:    Schedule{FastFor: ms(2000), Interval: ms(500), FastInterval: ms(50), Timeout: ms(2000), MaxInFlight: 16},
				DNS:         &DNSProbe{Name: "example.com.", Type: "A", Transport: "udp", Rcode: "NOERROR"},
			},
		},
	}
	got, err := Load("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if g, w := dump(t, got), dump(t, want); g != w {
		t.Errorf("resolved config:\n%s\nwant:\n%s", g, w)
	}
	for i := range want.Targets {
		if g, w := got.Targets[i].Key(), want.Targets[i].Key(); g != w {
			t.Errorf("targets[%d].Key() = %s, want %s", i, g, w)
		}
	}
}

// dump renders c as YAML, for comparisons with a readable diff.
func dump(t *testing.T, c *Config) string {
	t.Helper()
	b, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLoadExample(t *testing.T) {
	c, err := Load("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Targets) == 0 {
		t.Fatal("example.yaml has no targets")
	}
	// The comments in example.yaml state these.
	if got := c.Targets[0].MaxInFlight; got != 80 {
		t.Errorf("kube-apiserver max_in_flight = %d, want 80", got)
	}
	if got := c.Targets[0].Connections; !slices.Equal(got, []Connection{ConnNew, ConnReused}) {
		t.Errorf("kube-apiserver connections = %v, want [new reused]", got)
	}
}

// A resolved config written out as YAML parses back to the same targets.
func TestResolvedRoundTrip(t *testing.T) {
	c, err := Load("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse([]byte(dump(t, c)), "dump.yaml")
	if err != nil {
		t.Fatalf("parse of the dump: %v", err)
	}
	for i := range c.Targets {
		if g, w := again.Targets[i].Key(), c.Targets[i].Key(); g != w {
			t.Errorf("targets[%d] changed in the round trip", i)
		}
	}
}

func TestParseEmpty(t *testing.T) {
	for _, doc := range []string{"", "\n", "# only comments\n", "---\n", "targets: []\n", "defaults:\n  interval: 2s\n"} {
		c, err := Parse([]byte(doc), "empty.yaml")
		if err != nil {
			t.Errorf("Parse(%q): %v", doc, err)
			continue
		}
		if len(c.Targets) != 0 {
			t.Errorf("Parse(%q): %d targets, want 0", doc, len(c.Targets))
		}
	}
	if err := (&Config{}).Validate(); err != nil {
		t.Errorf("Validate of an empty Config: %v", err)
	}
}

func TestParseRelativeFiles(t *testing.T) {
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("t"), 0o600); err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(abs, []byte("c"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := `
targets:
  - name: a
    http:
      url: https://a.example.com/
      bearer_token_file: token
      tls:
        ca_file: ` + abs + `
`
	c, err := Parse([]byte(doc), filepath.Join(dir, "zerodown.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	h := c.Targets[0].HTTP
	if h.BearerTokenFile != token {
		t.Errorf("bearer_token_file = %q, want %q (relative to the file)", h.BearerTokenFile, token)
	}
	if h.TLS.CAFile != abs {
		t.Errorf("ca_file = %q, want %q (absolute, unchanged)", h.TLS.CAFile, abs)
	}
	// The same document read as if in the working directory misses the token.
	_, err = Parse([]byte(doc), "zerodown.yaml")
	want := `zerodown.yaml:6: targets[0].http.bearer_token_file: cannot read "token": no such file or directory`
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Duration
		err  string
	}{
		{in: "100ms", want: ms(100)},
		{in: "1s", want: ms(1000)},
		{in: "1m30s", want: ms(90000)},
		{in: "0", want: 0},
		{in: `"250us"`, want: Duration(250 * time.Microsecond)},
		{in: "100", err: `line 1: column 4: expected a duration with a unit, like "100ms" or "100s", got "100"`},
		{in: "fast", err: `line 1: column 4: expected a duration like "100ms" or "1s", got "fast"`},
		{in: "[1s]", err: `line 1: column 4: expected a duration like "100ms" or "1s", got a list`},
	} {
		var v struct{ D Duration }
		err := yaml.Unmarshal([]byte("d: "+tc.in), &v)
		switch {
		case tc.err != "":
			var te *yaml.TypeError
			if !errors.As(err, &te) || len(te.Errors) != 1 || te.Errors[0] != tc.err {
				t.Errorf("%s: error %v, want %s", tc.in, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.in, err)
		case v.D != tc.want:
			t.Errorf("%s = %v, want %v", tc.in, v.D, tc.want)
		}
	}
}

func TestRegexp(t *testing.T) {
	var v struct{ R Regexp }
	if err := yaml.Unmarshal([]byte(`r: "^v([0-9]+)$"`), &v); err != nil {
		t.Fatal(err)
	}
	if m := v.R.FindStringSubmatch("v12"); len(m) != 2 || m[1] != "12" {
		t.Errorf("match = %q", m)
	}
	if err := yaml.Unmarshal([]byte(`r: ""`), &v); err != nil || v.R.Regexp != nil {
		t.Errorf(`"" gives %v, %v; want an unset Regexp`, v.R, err)
	}
	if b, err := (Regexp{}).MarshalText(); err != nil || len(b) != 0 {
		t.Errorf("MarshalText of an unset Regexp = %q, %v", b, err)
	}
}

func TestFieldErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		e    FieldError
		want string
	}{
		{FieldError{File: "z.yaml", Line: 12, Path: "targets[2].http.url", Msg: "m"}, "z.yaml:12: targets[2].http.url: m"},
		{FieldError{File: "z.yaml", Path: "targets", Msg: "m"}, "z.yaml: targets: m"},
		{FieldError{File: "z.yaml", Line: 3, Msg: "m"}, "z.yaml:3: m"},
		{FieldError{Line: 3, Path: "a", Msg: "m"}, "line 3: a: m"},
		{FieldError{Path: "a", Msg: "m"}, "a: m"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.e, got, tc.want)
		}
	}
}

// max_body_bytes takes sizes as the README writes them ("64KiB").
func TestMaxBodyBytesUnits(t *testing.T) {
	for in, want := range map[string]Bytes{"4096": 4096, `"64KiB"`: 64 << 10, "1MiB": 1 << 20, "2KB": 2048} {
		c, err := Parse([]byte("targets:\n  - name: a\n    http:\n      url: http://127.0.0.1:1/\n      max_body_bytes: "+in+"\n"), "z.yaml")
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got := c.Targets[0].HTTP.MaxBodyBytes; got != want {
			t.Errorf("%s: %d, want %d", in, got, want)
		}
	}
	_, err := Parse([]byte("targets:\n  - name: a\n    http:\n      url: http://127.0.0.1:1/\n      max_body_bytes: lots\n"), "z.yaml")
	if err == nil || !strings.Contains(err.Error(), `z.yaml:5`) || !strings.Contains(err.Error(), `expected a size in bytes, like 65536 or "64KiB", got "lots"`) {
		t.Errorf("max_body_bytes: lots: %v", err)
	}
}
