// Package probes measures disruption: one file per probe kind (http.go,
// tcp.go, dns.go), the scheduler that owns timing, and the accounting that
// turns samples into outages. It knows nothing of Kubernetes.
package probes

import (
	"context"
	"fmt"
	"time"

	"github.com/zerodown/zerodown/config"
)

// Phases is the time spent in each phase of one request. Zero means the
// phase did not happen (a reused connection has no connect or TLS phase).
type Phases struct {
	DNS, Connect, TLS, FirstByte, Transfer time.Duration
}

// Cert describes the leaf certificate a TLS server presented.
type Cert struct {
	NotAfter    time.Time
	Fingerprint string // SHA-256 of the DER, hex
	Subject     string
	Serial      string
}

// Result is what one probe attempt saw. The scheduler stamps the start time
// and the duration; a prober fills in the rest.
type Result struct {
	Start    time.Time
	Duration time.Duration
	Reason   Reason // ReasonNone on success
	Err      error  // the failure, for logs and intervals, never a label
	Phases   Phases
	// Status is the HTTP status code, or the DNS rcode.
	Status int
	// ServedBy names the backend that answered, from a bounded set (or "").
	ServedBy string
	// Cert is the server's leaf certificate on a new TLS handshake.
	Cert *Cert
}

// OK reports whether the probe succeeded.
func (r *Result) OK() bool { return r.Reason == ReasonNone }

// Prober does one attempt per call and reports what happened. It honours
// the context's deadline and is safe for concurrent use.
type Prober interface {
	Probe(ctx context.Context, r *Result)
	// Protocol is the value of the protocol label: http1, http2, h2c, tcp, dns.
	Protocol() string
	// Reasons lists the failure reasons this prober can report.
	Reasons() []Reason
	// Close releases kept-alive connections.
	Close()
}

// updater is a prober that takes the parts of its target that do not
// count in Target.Key without being rebuilt.
type updater interface {
	Update(t *config.Target)
}

// Check builds the probers of t (every connection mode) and closes them:
// what a target needs that validation cannot see (a readable CA file, a
// resolv.conf for DNS without a server) is there.
func Check(t *config.Target) error {
	for _, c := range t.Connections {
		p, err := New(t, c)
		if err != nil {
			return err
		}
		p.Close()
	}
	return nil
}

// New builds the prober of target t for one connection mode.
func New(t *config.Target, conn config.Connection) (Prober, error) {
	switch {
	case t.HTTP != nil:
		return newHTTP(t.HTTP, conn, time.Duration(t.Timeout))
	case t.TCP != nil:
		return newTCP(t.TCP, conn), nil
	case t.DNS != nil:
		return newDNS(t.DNS, conn)
	}
	return nil, fmt.Errorf("target %q: no probe kind set", t.Name)
}
