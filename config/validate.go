package config

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zerodown/zerodown/internal/yamlerr"
)

// FieldError is one problem in a configuration. Validate and Parse return
// all problems at once, joined with errors.Join; each one is a
// *FieldError, and the joined text has one problem per line:
//
//	zerodown.yaml:12: targets[2].http.url: expected an absolute http://, https:// or h2c:// URL, got "foo"
//
// It is the error of every YAML file zerodown reads (budgets, rollback
// policies too): File is empty from Validate, and so is Line.
type FieldError = yamlerr.Error

// problems collects FieldErrors; paths are full from the root of the file.
type problems struct{ list []*FieldError }

func (p *problems) add(path, format string, args ...any) {
	p.list = append(p.list, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	errs := make([]error, len(p.list))
	for i, e := range p.list {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// join appends a field to a path.
func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// MinInterval is the least steady interval a target may have.
const MinInterval = Duration(10 * time.Millisecond)

const (
	minFastInterval = Duration(time.Millisecond)
	maxMaxInFlight  = 1024
	maxNameLen      = 128
	// reservedValue counts served_by answers outside the listed values.
	reservedValue = "other"
)

// labelValueRE is the charset of backend names and served_by values.
var labelValueRE = regexp.MustCompile(`^[a-zA-Z0-9_.:-]+$`)

// Validate checks the whole configuration, as written or resolved, and
// returns every problem at once (see FieldError). A configuration without
// targets is valid: the CLI may add targets from flags, and a caller that
// needs targets checks len(c.Targets) itself. Relative file names are
// checked against the working directory (Load and Parse first make them
// relative to the file).
func (c *Config) Validate() error {
	var p problems
	c.validate(&p)
	return p.err()
}

func (c *Config) validate(p *problems) {
	c.Defaults.validate(p, "defaults", defaultInterval)
	for i, n := range c.Builtin.Disable {
		if !slices.Contains(BuiltinBackends, n) {
			p.add(fmt.Sprintf("builtin.disable[%d]", i), "expected one of %s, got %q", strings.Join(BuiltinBackends, ", "), n)
		}
	}
	seen := make(map[string]int, len(c.Targets))
	for i, t := range c.Targets {
		path := fmt.Sprintf("targets[%d]", i)
		t.validate(p, path, c.Defaults)
		if t.Name == "" {
			continue
		}
		if j, dup := seen[t.Name]; dup {
			p.add(join(path, "name"), "duplicate name %q, already used by targets[%d]", t.Name, j)
		} else {
			seen[t.Name] = i
		}
	}
}

// Validate checks the fields of s that are set; zero fields are unset and
// take defaults. FastInterval is compared with the built-in interval when
// s sets no interval.
func (s Schedule) Validate() error {
	var p problems
	s.validate(&p, "", defaultInterval)
	return p.err()
}

// validate checks the fields that are set. inherited is the interval that
// applies when s sets none: a fast_interval set here must not exceed it.
func (s Schedule) validate(p *problems, path string, inherited Duration) {
	intervalOK := true
	if s.Interval != 0 && s.Interval < MinInterval {
		p.add(join(path, "interval"), "must be at least %s, got %s", MinInterval, s.Interval)
		intervalOK = false
	}
	if s.FastInterval != 0 {
		interval := first(s.Interval, inherited)
		switch {
		case s.FastInterval < minFastInterval:
			p.add(join(path, "fast_interval"), "must be at least %s, got %s", minFastInterval, s.FastInterval)
		case intervalOK && s.FastInterval > interval:
			p.add(join(path, "fast_interval"), "must not exceed interval (%s), got %s", interval, s.FastInterval)
		}
	}
	if s.Timeout < 0 {
		p.add(join(path, "timeout"), "must be positive, got %s", s.Timeout)
	}
	if s.FastFor < 0 {
		p.add(join(path, "fast_for"), "must be positive, got %s", s.FastFor)
	}
	if s.Budget < 0 {
		p.add(join(path, "budget"), "must be positive, got %s", s.Budget)
	}
	if s.Objective != 0 && !(s.Objective > 0 && s.Objective < 1) {
		p.add(join(path, "objective"), "must be between 0 and 1 (exclusive), such as 0.999, got %v", s.Objective)
	}
	if s.MaxInFlight < 0 || s.MaxInFlight > maxMaxInFlight {
		p.add(join(path, "max_in_flight"), "must be between 0 and %d, got %d", maxMaxInFlight, s.MaxInFlight)
	}
}

// Validate checks t, as written or resolved, against the built-in
// defaults. Paths in its errors start at the target (name, http.url).
func (t Target) Validate() error {
	var p problems
	t.validate(&p, "", Schedule{})
	return p.err()
}

func (t Target) validate(p *problems, path string, defaults Schedule) {
	if t.Name == "" {
		p.add(join(path, "name"), "required")
	} else {
		checkLabelValue(p, join(path, "name"), t.Name)
	}

	var kinds []string
	if t.HTTP != nil {
		kinds = append(kinds, "http")
	}
	if t.TCP != nil {
		kinds = append(kinds, "tcp")
	}
	if t.DNS != nil {
		kinds = append(kinds, "dns")
	}
	switch len(kinds) {
	case 0:
		p.add(path, "exactly one of http, tcp or dns must be set, got none")
	case 1:
	default:
		p.add(path, "exactly one of http, tcp or dns must be set, got %s", strings.Join(kinds, " and "))
	}

	t.Schedule.validate(p, path, first(defaults.Interval, defaultInterval))

	seen := make(map[Connection]bool, len(t.Connections))
	for i, c := range t.Connections {
		cpath := fmt.Sprintf("%s[%d]", join(path, "connections"), i)
		switch {
		case c != ConnNew && c != ConnReused:
			p.add(cpath, "expected %s or %s, got %q", ConnNew, ConnReused, c)
		case seen[c]:
			p.add(cpath, "duplicate connection %q", c)
		case c == ConnReused && t.DNS != nil && len(kinds) == 1 && udp(t.DNS.Transport):
			p.add(cpath, "reused needs a DNS target with transport: tcp; udp has no connection to reuse")
		}
		seen[c] = true
	}

	if t.HTTP != nil {
		t.HTTP.validate(p, join(path, "http"))
	}
	if t.TCP != nil {
		t.TCP.validate(p, join(path, "tcp"))
	}
	if t.DNS != nil {
		t.DNS.validate(p, join(path, "dns"))
	}
	if t.Hold != nil {
		t.Hold.validate(p, join(path, "hold"), t)
	}
}

const (
	maxHoldConnections = 64
	minHoldCheck       = Duration(100 * time.Millisecond)
	maxHoldCheck       = Duration(10 * time.Minute)
)

func (h *Hold) validate(p *problems, path string, t Target) {
	if t.DNS != nil {
		p.add(path, "needs an http or tcp target: DNS has no connection to hold")
	}
	if h.Connections < 1 || h.Connections > maxHoldConnections {
		p.add(join(path, "connections"), "must be between 1 and %d, got %d", maxHoldConnections, h.Connections)
	}
	if h.Check != 0 && (h.Check < minHoldCheck || h.Check > maxHoldCheck) {
		p.add(join(path, "check"), "must be between %s and %s, got %s", minHoldCheck, maxHoldCheck, h.Check)
	}
	if h.Stream != "" {
		switch {
		case t.HTTP == nil:
			p.add(join(path, "stream"), "needs an http target")
		case !strings.HasPrefix(h.Stream, "/") || strings.ContainsAny(h.Stream, " \r\n"):
			p.add(join(path, "stream"), "expected a path starting with /, without spaces, got %q", h.Stream)
		}
	}
	if h.Objective != 0 && !(h.Objective > 0 && h.Objective < 1) {
		p.add(join(path, "objective"), "must be between 0 and 1 (exclusive), such as 0.999, got %v", h.Objective)
	}
	if h.Budget < 0 {
		p.add(join(path, "budget"), "must not be negative, got %d", h.Budget)
	}
}

// checkLabelValue checks a non-empty backend name or served_by value.
func checkLabelValue(p *problems, path, v string) {
	switch {
	case len(v) > maxNameLen:
		p.add(path, "must be at most %d characters, got %d", maxNameLen, len(v))
	case !labelValueRE.MatchString(v):
		p.add(path, "must match [a-zA-Z0-9_.:-]+, got %q", v)
	}
}

func udp(transport string) bool {
	t := strings.ToLower(transport)
	return t == "" || t == "udp"
}

// Validate checks h on its own; paths in its errors start at its fields.
func (h *HTTPProbe) Validate() error {
	var p problems
	h.validate(&p, "")
	return p.err()
}

func (h *HTTPProbe) validate(p *problems, path string) {
	scheme := checkHTTPURL(p, join(path, "url"), h.URL)

	if m := strings.ToUpper(h.Method); m != "" && m != "GET" && m != "HEAD" {
		p.add(join(path, "method"), "expected GET or HEAD, got %q", h.Method)
	}

	vpath := join(path, "http_version")
	switch h.HTTPVersion {
	case "", "1.1", "2":
	default:
		p.add(vpath, `expected "1.1", "2" or empty, got %q`, h.HTTPVersion)
	}
	switch {
	case h.HTTPVersion == "2" && scheme == "http":
		p.add(vpath, `"2" needs an https:// URL; use h2c:// for HTTP/2 without TLS`)
	case h.HTTPVersion == "1.1" && scheme == "h2c":
		p.add(vpath, `h2c:// is always HTTP/2, got "1.1"`)
	}

	for i, code := range h.ValidStatusCodes {
		if code < 100 || code > 599 {
			p.add(fmt.Sprintf("%s[%d]", join(path, "valid_status_codes"), i), "expected a status code between 100 and 599, got %d", code)
		}
	}

	for _, k := range slices.Sorted(maps.Keys(h.Headers)) {
		switch {
		case !validHeaderName(k):
			p.add(join(join(path, "headers"), k), "invalid header name %q", k)
		case strings.EqualFold(k, "Host"):
			p.add(join(join(path, "headers"), k), "use host: to set the Host header")
		}
	}

	for _, k := range slices.Sorted(maps.Keys(h.Headers)) {
		if strings.ContainsAny(h.Headers[k], "\r\n\x00") {
			p.add(join(join(path, "headers"), k), "value must not contain CR, LF or NUL")
		}
	}
	if strings.ContainsAny(h.Host, "\r\n\x00 \t/") {
		p.add(join(path, "host"), "expected a host name (and port), got %q", h.Host)
	}

	switch {
	case h.MaxBodyBytes < 0:
		p.add(join(path, "max_body_bytes"), "must not be negative, got %d", h.MaxBodyBytes)
	case h.MaxBodyBytes > MaxBodyBytesLimit:
		p.add(join(path, "max_body_bytes"), "must be at most %d (64 MiB), got %d", MaxBodyBytesLimit, h.MaxBodyBytes)
	}

	if h.TLS != (TLS{}) && scheme != "" && scheme != "https" {
		p.add(join(path, "tls"), "only allowed with https:// URLs, got %s://", scheme)
	}
	h.TLS.validate(p, join(path, "tls"))
	checkFile(p, join(path, "bearer_token_file"), h.BearerTokenFile)

	if h.ServedBy != nil {
		h.ServedBy.validate(p, join(path, "served_by"))
	}
}

// checkHTTPURL checks an HTTP target URL and returns its scheme, or ""
// when the URL is unusable.
func checkHTTPURL(p *problems, path, raw string) string {
	if raw == "" {
		p.add(path, "required")
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		p.add(path, "invalid URL: %v", err)
		return ""
	}
	if u.User != nil {
		// The URL is not repeated: it holds a password.
		p.add(path, "must not contain user info; use headers or bearer_token_file")
		return ""
	}
	switch u.Scheme {
	case "http", "https", "h2c":
	default:
		p.add(path, "expected an absolute http://, https:// or h2c:// URL, got %q", raw)
		return ""
	}
	if u.Host == "" {
		p.add(path, "missing host in %q", raw)
		return ""
	}
	if port := u.Port(); port != "" && !validPort(port) {
		p.add(path, "expected a port between 1 and 65535, got %q", port)
		return ""
	}
	if u.Scheme == "h2c" && u.Port() == "" {
		p.add(path, "h2c:// needs a port (HTTP/2 without TLS has no default), got %q", raw)
		return ""
	}
	return u.Scheme
}

// Validate checks the pairing of cert_file and key_file and that every
// named file can be opened. Whether TLS applies at all (https only) is
// checked by HTTPProbe.Validate.
func (t TLS) Validate() error {
	var p problems
	t.validate(&p, "")
	return p.err()
}

func (t TLS) validate(p *problems, path string) {
	if t.CertFile != "" && t.KeyFile == "" {
		p.add(join(path, "key_file"), "required when cert_file is set")
	}
	if t.KeyFile != "" && t.CertFile == "" {
		p.add(join(path, "cert_file"), "required when key_file is set")
	}
	checkFile(p, join(path, "ca_file"), t.CAFile)
	checkFile(p, join(path, "cert_file"), t.CertFile)
	checkFile(p, join(path, "key_file"), t.KeyFile)
}

// checkFile reports a named file that cannot be opened for reading.
func checkFile(p *problems, path, name string) {
	if name == "" {
		return
	}
	f, err := os.Open(name)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		p.add(path, "cannot read %q: %v", name, err)
		return
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		p.add(path, "cannot read %q: is a directory", name)
	}
}

// Validate checks s on its own; paths in its errors start at its fields.
func (s *ServedBy) Validate() error {
	var p problems
	s.validate(&p, "")
	return p.err()
}

func (s *ServedBy) validate(p *problems, path string) {
	hasHeader, hasRegex := s.Header != "", s.BodyRegex.Regexp != nil
	switch {
	case hasHeader && hasRegex:
		p.add(path, "exactly one of header or body_regex must be set, got both")
	case !hasHeader && !hasRegex:
		p.add(path, "exactly one of header or body_regex must be set, got neither")
	}
	if hasHeader && !validHeaderName(s.Header) {
		p.add(join(path, "header"), "invalid header name %q", s.Header)
	}
	if hasRegex {
		if n := s.BodyRegex.NumSubexp(); n != 1 {
			p.add(join(path, "body_regex"), "must have exactly one capture group, got %d", n)
		}
	}
	if len(s.Values) == 0 {
		p.add(join(path, "values"), "required: list the backend names to expect")
	}
	seen := make(map[string]bool, len(s.Values))
	for i, v := range s.Values {
		vpath := fmt.Sprintf("%s[%d]", join(path, "values"), i)
		switch {
		case v == "":
			p.add(vpath, "must not be empty")
		case v == reservedValue:
			p.add(vpath, "%q is reserved for backends not in this list", reservedValue)
		case seen[v]:
			p.add(vpath, "duplicate value %q", v)
		default:
			checkLabelValue(p, vpath, v)
		}
		seen[v] = true
	}
}

// Validate checks t on its own; paths in its errors start at its fields.
func (t *TCPProbe) Validate() error {
	var p problems
	t.validate(&p, "")
	return p.err()
}

func (t *TCPProbe) validate(p *problems, path string) {
	apath := join(path, "address")
	if t.Address == "" {
		p.add(apath, "required")
		return
	}
	if !validHostPort(t.Address) {
		p.add(apath, "expected host:port with a numeric port between 1 and 65535, got %q", t.Address)
	}
	for _, f := range []struct{ name, v string }{{"send", t.Send}, {"expect", t.Expect}} {
		if len(f.v) > maxTCPPayload {
			p.add(join(path, f.name), "must be at most %d bytes, got %d", maxTCPPayload, len(f.v))
		}
	}
}

// maxTCPPayload bounds a TCP target's send and expect (and so the reply
// buffer a probe may grow).
const maxTCPPayload = 64 << 10

// MaxBodyBytesLimit is the largest max_body_bytes: every probe of a
// target may hold that much.
const MaxBodyBytesLimit = 64 << 20

// dnsTypes and dnsRcodes are the accepted spellings (upper case).
var (
	dnsTypes  = []string{"A", "AAAA", "CNAME", "SRV"}
	dnsRcodes = []string{
		"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
		"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE",
	}
)

// Validate checks d on its own; paths in its errors start at its fields.
func (d *DNSProbe) Validate() error {
	var p problems
	d.validate(&p, "")
	return p.err()
}

func (d *DNSProbe) validate(p *problems, path string) {
	if d.Name == "" {
		p.add(join(path, "name"), "required")
	} else if err := checkDNSName(d.Name); err != "" {
		p.add(join(path, "name"), "%s, got %q", err, d.Name)
	}
	if t := strings.ToUpper(d.Type); t != "" && !slices.Contains(dnsTypes, t) {
		p.add(join(path, "type"), "expected A, AAAA, CNAME or SRV, got %q", d.Type)
	}
	if t := strings.ToLower(d.Transport); t != "" && t != "udp" && t != "tcp" {
		p.add(join(path, "transport"), "expected udp or tcp, got %q", d.Transport)
	}
	if r := strings.ToUpper(d.Rcode); r != "" && !slices.Contains(dnsRcodes, r) {
		p.add(join(path, "rcode"), "expected one of %s, got %q", strings.Join(dnsRcodes, ", "), d.Rcode)
	}
	if d.Server != "" && !validHostPort(d.Server) {
		p.add(join(path, "server"), "expected host:port, such as 10.0.0.10:53, got %q", d.Server)
	}
	for _, f := range []struct {
		name string
		vals []string
	}{{"answers_contain", d.AnswersContain}, {"answers_equal", d.AnswersEqual}} {
		for i, v := range f.vals {
			if v == "" {
				p.add(fmt.Sprintf("%s[%d]", join(path, f.name), i), "must not be empty")
			}
		}
	}
}

// checkDNSName checks a DNS name as a resolver would take it: labels of 1
// to 63 characters without spaces or control characters, 253 in all (a
// trailing dot is the root). It returns what is wrong, or "".
func checkDNSName(name string) string {
	n := strings.TrimSuffix(name, ".")
	switch {
	case n == "":
		return "expected a DNS name, not the root"
	case len(n) > 253:
		return "must be at most 253 characters"
	}
	for _, label := range strings.Split(n, ".") {
		switch {
		case label == "":
			return "has an empty label"
		case len(label) > 63:
			return "has a label longer than 63 characters"
		case strings.ContainsFunc(label, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			return "must not contain spaces or control characters"
		}
	}
	return ""
}

// validHostPort accepts host:port with a non-empty host and a numeric
// port in 1-65535 (IPv6 hosts in brackets).
func validHostPort(s string) bool {
	host, port, err := net.SplitHostPort(s)
	return err == nil && host != "" && validPort(port)
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535 && s[0] != '+'
}

// validHeaderName reports whether s is an HTTP token (RFC 9110).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}
