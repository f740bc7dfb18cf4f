// Package config holds zerodown's probe configuration: the YAML schema,
// its defaults (defaults.go, the only place they live) and validation.
// It imports nothing heavier than yaml, so every part of zerodown can use it.
//
// Load (or Parse) reads a file strictly, validates it, and returns it
// resolved: every target carries every default, ready to probe. Targets
// built elsewhere (TargetFromURL for the command line, discovery) join a
// Config and go through Config.Resolved and Config.Validate. Target.Key
// tells a reload which targets changed.
package config

import (
	"regexp"
	"time"
)

// Connection says how an HTTP or TCP target is sampled.
type Connection string

const (
	// ConnNew opens a new connection for every request.
	ConnNew Connection = "new"
	// ConnReused keeps one connection alive and reuses it.
	ConnReused Connection = "reused"
)

// Config is a whole zerodown probe configuration file.
type Config struct {
	// Defaults apply to every target that does not set the field itself.
	// It is kept as written, also in a resolved Config.
	Defaults Schedule `yaml:"defaults"`
	// Targets may be empty: the command line may add targets.
	Targets []Target `yaml:"targets"`
	// Builtin turns built-in backends of zerodown poller off.
	Builtin Builtin `yaml:"builtin"`
}

// Builtin configures the poller's built-in backends (BuiltinBackends).
type Builtin struct {
	// Disable names built-in backends not to probe.
	Disable []string `yaml:"disable"`
}

// BuiltinBackends are the names of the poller's built-in backends.
var BuiltinBackends = []string{"kube-api", "cache-kube-api", "kube-api-internal", "cache-kube-api-internal", "kube-api-service",
	"cache-kube-api-service", "openshift-api", "oauth-api", "ingress-to-oauth-server", "ingress-to-console", "ingress-canary", "image-registry"}

// Schedule is the timing of a target's probes.
type Schedule struct {
	// Interval between probes in steady state (>= 10ms).
	Interval Duration `yaml:"interval"`
	// FastInterval between probes while a target is failing, to pin down
	// the end of an outage (>= 1ms, <= Interval).
	FastInterval Duration `yaml:"fast_interval"`
	// FastFor is how long a failing target is probed every FastInterval
	// (where the edges of short outages are measured) before the step
	// backs off exponentially, with jitter, towards Interval: a long
	// outage costs no more than steady state (default 2s).
	FastFor Duration `yaml:"fast_for"`
	// Timeout of one probe; a probe still running after it fails with
	// reason timeout, from its start (an answer slower than Interval but
	// within Timeout is slow, not down).
	Timeout Duration `yaml:"timeout"`
	// MaxInFlight bounds the requests running at once per target and
	// connection; 0 picks 2*ceil(Timeout/FastInterval), capped at 256.
	MaxInFlight int `yaml:"max_in_flight"`
	// Objective is the availability objective of the target's SLO
	// alerts, such as 0.999 (0 < objective < 1), exported as
	// zerodown_slo_objective; unset, the shipped rules assume 99.9 %.
	Objective float64 `yaml:"objective"`
	// Budget is the disruption the target may have during an upgrade,
	// exported as zerodown_budget_seconds for the budget alert (0: none;
	// watch's --budget sets it for targets without their own).
	Budget Duration `yaml:"budget"`
}

// Target is one thing to probe: exactly one of HTTP, TCP, DNS is set.
type Target struct {
	// Name is the backend label value: [a-zA-Z0-9_.:-]+, unique in the file.
	Name string `yaml:"name"`
	// Connections lists the connection modes to sample; HTTP and TCP
	// default to both, DNS to new only.
	Connections []Connection `yaml:"connections"`
	// Schedule fields left zero take the file's defaults.
	Schedule `yaml:",inline"`

	HTTP *HTTPProbe `yaml:"http"`
	TCP  *TCPProbe  `yaml:"tcp"`
	DNS  *DNSProbe  `yaml:"dns"`

	// Hold keeps long-lived connections open to an HTTP or TCP target
	// and counts how they end (nil: none).
	Hold *Hold `yaml:"hold"`
}

// Hold keeps Connections long-lived connections open to a target, uses
// each of them every Check, and counts every one that is dropped: what
// users of WebSockets, gRPC streams and database clients lose when a
// router reloads or a backend restarts. A dropped connection is replaced
// at once. It does not count in Target.Key: changing it restarts the held
// connections, not the target's request series.
type Hold struct {
	// Connections is how many connections to hold open (1 to 64).
	Connections int `yaml:"connections"`
	// Check is how often each connection is used (default 5s): an
	// HTTP/1.1 request, an HTTP/2 PING, or a TCP target's send and expect.
	// A check not answered within the target's timeout drops the
	// connection with reason timeout: the path went silent.
	Check Duration `yaml:"check"`
	// Stream is a path requested once on each HTTP connection and read
	// for as long as it streams (server-sent events, a watch, a gRPC
	// stream): its end drops the connection. On HTTP/2 the connection is
	// also PINGed every Check; on HTTP/1.1 the stream's data is the only
	// sign of life, and Check plus the timeout without any is a drop.
	Stream string `yaml:"stream"`
	// Objective is the share of checks that must find the connection
	// alive (0 < objective < 1; unset, the shipped rules assume 0.999),
	// exported as zerodown_connection_slo_objective.
	Objective float64 `yaml:"objective"`
	// Budget is how many drops of held connections the target may have
	// during an upgrade (summed over its connections), exported as
	// zerodown_connection_drop_budget for the upgrade alert (0: none).
	Budget int `yaml:"budget"`
}

// HTTPProbe probes an http://, https:// or h2c:// URL.
type HTTPProbe struct {
	// URL is http://, https:// (HTTP/1.1 or HTTP/2 by ALPN) or h2c://
	// (HTTP/2 without TLS, prior knowledge).
	URL string `yaml:"url"`
	// Method is GET (default) or HEAD.
	Method string `yaml:"method"`
	// HTTPVersion forces "1.1" or "2" for https; empty lets ALPN choose.
	HTTPVersion string `yaml:"http_version"`
	// ValidStatusCodes defaults to 200-399 when empty.
	ValidStatusCodes []int `yaml:"valid_status_codes"`
	// BodyContains must appear in the body (read up to MaxBodyBytes).
	BodyContains string `yaml:"body_contains"`
	// BodyRegex must match the body (read up to MaxBodyBytes).
	BodyRegex Regexp `yaml:"body_regex"`
	// Headers are added to every request.
	Headers map[string]string `yaml:"headers"`
	// Host overrides the Host header and the TLS SNI: a route reached
	// through a router address.
	Host string `yaml:"host"`
	TLS  TLS    `yaml:"tls"`
	// BearerTokenFile is read at every probe (tokens rotate).
	BearerTokenFile string `yaml:"bearer_token_file"`
	// MaxBodyBytes bounds how much of a body is read (default 64KiB; a
	// number of bytes or a size such as "1MiB").
	MaxBodyBytes Bytes `yaml:"max_body_bytes"`
	// ServedBy identifies which backend answered (blue/green, canary).
	ServedBy *ServedBy `yaml:"served_by"`
}

// TLS options of an https target.
type TLS struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// ServedBy names where the identity of the serving backend is found.
// Values outside Values are counted as "other", so labels stay bounded.
type ServedBy struct {
	// Header is a response header whose value names the backend.
	Header string `yaml:"header"`
	// BodyRegex has one capture group naming the backend.
	BodyRegex Regexp `yaml:"body_regex"`
	// Values is the closed set of expected backend names.
	Values []string `yaml:"values"`
}

// TCPProbe connects to Address, optionally sends Send and expects a reply
// that starts with Expect.
type TCPProbe struct {
	Address string `yaml:"address"`
	Send    string `yaml:"send"`
	Expect  string `yaml:"expect"`
}

// DNSProbe asks Server (host:port; empty = the system's resolver) for Name.
type DNSProbe struct {
	Server string `yaml:"server"`
	Name   string `yaml:"name"`
	// Type is A (default), AAAA, CNAME or SRV.
	Type string `yaml:"type"`
	// Transport is udp (default) or tcp.
	Transport string `yaml:"transport"`
	// Rcode expected, NOERROR by default.
	Rcode string `yaml:"rcode"`
	// AllowEmpty accepts an answer section without records of Type.
	AllowEmpty bool `yaml:"allow_empty"`
	// AnswersContain lists values that must all be in the answer
	// (addresses for A/AAAA, the target name for CNAME, "target:port" for SRV).
	AnswersContain []string `yaml:"answers_contain"`
	// AnswersEqual, when set, is the exact set of values the answer must
	// hold (same forms as AnswersContain): a Service's cluster IP, its
	// ready endpoints, its ExternalName. Discovery keeps it current; a
	// change does not restart the target (see Target.Key). An answer that
	// still holds values expected earlier fails with reason dns_stale, any
	// other mismatch with dns_answer.
	AnswersEqual []string `yaml:"answers_equal"`
}

// Duration is a time.Duration written as "100ms", "1s", "2m"; a number
// without a unit is an error.
type Duration time.Duration

// Regexp is a compiled regular expression written as a string; it is
// compiled while decoding. The zero Regexp (or "") is unset.
type Regexp struct {
	*regexp.Regexp
}
