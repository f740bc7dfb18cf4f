package testtarget

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// caLifetime is how much longer than a certificate the CA is valid, so
// that certificates issued by RotateCert later on still chain.
const caLifetime = 10 * 365 * 24 * time.Hour

// authority is the target's throw-away CA and the certificate it serves.
type authority struct {
	key      *ecdsa.PrivateKey
	cert     *x509.Certificate
	pem      []byte
	names    []string
	validity time.Duration
	leaf     atomic.Pointer[tls.Certificate]
}

func newAuthority(dnsNames []string, validity time.Duration) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testtarget: generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"zerodown"}, CommonName: "zerodown testtarget CA"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(validity + caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("testtarget: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("testtarget: parse CA certificate: %w", err)
	}
	a := &authority{
		key:      key,
		cert:     cert,
		pem:      pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		names:    append([]string{"localhost"}, dnsNames...),
		validity: validity,
	}
	if err := a.issue(); err != nil {
		return nil, err
	}
	return a, nil
}

// issue makes a new key and certificate and serves them from now on.
func (a *authority) issue() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("testtarget: generate key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"zerodown"}, CommonName: "zerodown testtarget"},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(a.validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     a.names,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return fmt.Errorf("testtarget: create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("testtarget: parse certificate: %w", err)
	}
	a.leaf.Store(&tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf})
	return nil
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("testtarget: generate serial: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil
}

func (a *authority) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return a.leaf.Load(), nil
		},
	}
}

// CAPEM returns the PEM of the CA certificate that signs the served
// certificates.
func (s *Server) CAPEM() []byte { return append([]byte(nil), s.ca.pem...) }

// WriteCAFile writes CAPEM to path.
func (s *Server) WriteCAFile(path string) error {
	if err := os.WriteFile(path, s.ca.pem, 0o644); err != nil {
		return fmt.Errorf("testtarget: write CA file: %w", err)
	}
	return nil
}

// RotateCert issues a new key and certificate (new serial, NotAfter from
// now) signed by the same CA; new TLS handshakes get it from now on.
func (s *Server) RotateCert() error { return s.ca.issue() }
