// Package testpki makes a certificate authority and certificates it signs,
// as PEM files, for tests of TLS and mTLS on loopback. Only tests import it.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority whose files are in Dir.
type CA struct {
	Dir    string
	CAFile string
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	serial int64
}

// New makes a CA, valid for a day, in a temporary folder of the test.
func New(tb testing.TB) *CA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "zerodown test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &CA{Dir: tb.TempDir(), cert: cert, key: key, serial: 1}
	ca.CAFile = ca.write(tb, "ca.crt", "CERTIFICATE", der)
	return ca
}

// Issue signs a certificate for name: a server's for 127.0.0.1, ::1 and
// localhost, or a client's. It returns the certificate and key files.
func (ca *CA) Issue(tb testing.TB, name string, server bool) (certFile, keyFile string) {
	tb.Helper()
	if server {
		return ca.issue(tb, name, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, []string{"localhost"}, net.ParseIP("127.0.0.1"), net.ParseIP("::1"))
	}
	return ca.issue(tb, name, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil)
}

// IssueFor signs a server's certificate for dnsNames only (as the
// OpenShift service CA or cert-manager issue one for a Service's names):
// a client verifies it by server name, whatever address it dialled.
func (ca *CA) IssueFor(tb testing.TB, name string, dnsNames ...string) (certFile, keyFile string) {
	tb.Helper()
	return ca.issue(tb, name, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, dnsNames)
}

func (ca *CA) issue(tb testing.TB, name string, usage []x509.ExtKeyUsage, dnsNames []string, ips ...net.IP) (certFile, keyFile string) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	ca.serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(ca.serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: usage, DNSNames: dnsNames, IPAddresses: ips}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return ca.write(tb, name+".crt", "CERTIFICATE", der), ca.write(tb, name+".key", "EC PRIVATE KEY", kb)
}

func (ca *CA) write(tb testing.TB, name, typ string, der []byte) string {
	tb.Helper()
	path := filepath.Join(ca.Dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}
