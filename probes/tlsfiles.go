package probes

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/zerodown/zerodown/config"
)

// fileCache holds what was loaded from a set of files and loads it again
// when one of them changes (size or modification time, looked at no more
// than once per fileRecheck). A load that fails (a file caught half
// written) keeps the previous value: a CA bundle or client certificate
// rotated on disk, as routinely happens during upgrades, is used from the
// next connection on.
type fileCache[T any] struct {
	paths []string
	load  func() (T, error)

	mu      sync.Mutex
	val     T
	stamp   string
	checked time.Time
}

const fileRecheck = time.Second

func newFileCache[T any](load func() (T, error), paths ...string) (*fileCache[T], error) {
	c := &fileCache[T]{paths: paths, load: load}
	v, err := load()
	if err != nil {
		return nil, err
	}
	c.val, c.stamp, c.checked = v, c.stampNow(), time.Now()
	return c, nil
}

func (c *fileCache[T]) stampNow() string {
	var b strings.Builder
	for _, p := range c.paths {
		if st, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%s:%d:%d;", p, st.Size(), st.ModTime().UnixNano())
		}
	}
	return b.String()
}

func (c *fileCache[T]) get() T {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.checked) >= fileRecheck {
		c.checked = now
		if st := c.stampNow(); st != c.stamp {
			if v, err := c.load(); err == nil {
				c.val, c.stamp = v, st
			}
		}
	}
	return c.val
}

// applyTLSFiles makes tc use cfg's CA bundle and client certificate, read
// again whenever the files change.
func applyTLSFiles(tc *tls.Config, cfg config.TLS) error {
	if cfg.CAFile != "" {
		ca, err := newFileCache(func() (*x509.CertPool, error) {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("tls.ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tls.ca_file %s: no PEM certificate found", cfg.CAFile)
			}
			return pool, nil
		}, cfg.CAFile)
		if err != nil {
			return err
		}
		if !tc.InsecureSkipVerify {
			// The chain is verified here, against the bundle as it is now;
			// the standard verification would keep the first one forever.
			tc.InsecureSkipVerify = true //nolint:gosec // verified in VerifyConnection
			tc.VerifyConnection = func(cs tls.ConnectionState) error {
				return verifyChain(cs, ca.get())
			}
		}
	}
	if cfg.CertFile != "" {
		cert, err := newFileCache(func() (*tls.Certificate, error) {
			c, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("tls.cert_file/key_file: %w", err)
			}
			return &c, nil
		}, cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return err
		}
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return cert.get(), nil
		}
	}
	return nil
}

// verifyChain verifies the peer's chain against roots for the name the
// client asked for, as crypto/tls would.
func verifyChain(cs tls.ConnectionState, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return &tls.CertificateVerificationError{Err: fmt.Errorf("no certificate")}
	}
	opts := x509.VerifyOptions{Roots: roots, DNSName: cs.ServerName, Intermediates: x509.NewCertPool()}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
	}
	return nil
}
