package probes

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/miekg/dns"
	"golang.org/x/net/http2"
)

// Reason classifies a failed probe. The set is closed and small, so it can
// be a label value; the error text itself goes to logs and intervals only.
type Reason uint8

// The reasons, in the order they are exported. ReasonNone means success.
const (
	ReasonNone           Reason = iota
	ReasonDNS                   // resolving the target's host name failed
	ReasonConnectRefused        // the connection was refused
	ReasonConnectTimeout        // no connection within the timeout
	ReasonTLS                   // TLS handshake or certificate verification failed
	ReasonReset                 // the connection was reset or closed by the peer
	ReasonTimeout               // connected, but no complete answer within the timeout
	ReasonHTTPStatus            // an HTTP status code outside the expected set
	ReasonBodyMismatch          // the body (or TCP reply) did not match
	ReasonProtocol              // a malformed or unexpected answer (HTTP version, garbage DNS)
	ReasonDNSRcode              // a DNS answer with an unexpected rcode
	ReasonDNSAnswer             // a DNS answer without the expected records
	ReasonDNSStale              // a DNS answer holding records expected earlier, no longer
	ReasonOther                 // anything else
	// ReasonObserver marks a failure seen while the observer itself was
	// impaired (the poller's own node cordoned, draining or not Ready):
	// counted apart, never as the target's disruption.
	ReasonObserver
	numReasons
)

var reasonNames = [numReasons]string{
	"", "dns", "connect_refused", "connect_timeout", "tls", "reset", "timeout",
	"http_status", "body_mismatch", "protocol", "dns_rcode", "dns_answer", "dns_stale", "other", "observer",
}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "other"
}

// ParseReason returns the reason named s.
func ParseReason(s string) (Reason, bool) {
	for i, n := range reasonNames {
		if n == s && i != 0 {
			return Reason(i), true
		}
	}
	return ReasonNone, false
}

// AllReasons lists every failure reason.
func AllReasons() []Reason {
	rs := make([]Reason, 0, numReasons-1)
	for r := ReasonDNS; r < numReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}

// classify maps a transport error to a reason. connected says whether a
// connection had been established when err happened: a timeout before it
// is connect_timeout, after it timeout.
func classify(err error, connected bool) Reason {
	if err == nil {
		return ReasonNone
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return ReasonDNS
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return ReasonConnectRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNABORTED):
		return ReasonReset
	}
	if isTimeout(err) {
		if connected {
			return ReasonTimeout
		}
		return ReasonConnectTimeout
	}
	var (
		recErr   tls.RecordHeaderError
		alertErr tls.AlertError
		verErr   *tls.CertificateVerificationError
		unkAuth  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invErr   x509.CertificateInvalidError
	)
	if errors.As(err, &recErr) || errors.As(err, &alertErr) || errors.As(err, &verErr) ||
		errors.As(err, &unkAuth) || errors.As(err, &hostErr) || errors.As(err, &invErr) {
		return ReasonTLS
	}
	var (
		streamErr http2.StreamError
		connErr   http2.ConnectionError
		goAway    http2.GoAwayError
	)
	if errors.As(err, &streamErr) || errors.As(err, &connErr) || errors.As(err, &goAway) {
		return ReasonReset
	}
	if errors.Is(err, dns.ErrId) || errors.Is(err, dns.ErrShortRead) || errors.Is(err, dns.ErrBuf) {
		return ReasonProtocol
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "connection reset"), strings.Contains(msg, "server closed idle connection"),
		strings.Contains(msg, "broken pipe"), strings.Contains(msg, "client connection lost"),
		strings.Contains(msg, "http2: client connection force closed"),
		strings.Contains(msg, "http2: client conn could not be established"):
		return ReasonReset
	case strings.Contains(msg, "malformed HTTP"), strings.Contains(msg, "dns: "):
		return ReasonProtocol
	case strings.Contains(msg, "tls: "), strings.Contains(msg, "x509: "):
		return ReasonTLS
	}
	return ReasonOther
}

// peerClosed reports whether err says the peer closed or reset the
// connection.
func peerClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
