package discovery

import (
	"os"
	"slices"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/zerodown/zerodown/config"
)

// A client configuration's inline credentials become files (0600) the
// probes read; files stay files; an exec plugin cannot be used.
func TestCredentialsOf(t *testing.T) {
	dir := t.TempDir()
	c, err := credentialsOf(&rest.Config{BearerToken: "t0k3n", TLSClientConfig: rest.TLSClientConfig{CAData: []byte("CA"), CertData: []byte("CERT"), KeyData: []byte("KEY")}}, dir)
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{c.tls.CAFile: "CA", c.tls.CertFile: "CERT", c.tls.KeyFile: "KEY", c.token: "t0k3n"} {
		b, err := os.ReadFile(file)
		fi, _ := os.Stat(file)
		if err != nil || string(b) != want || fi.Mode().Perm() != 0o600 || !strings.HasPrefix(file, dir) {
			t.Errorf("%s: %q %v, mode %v; want %q, 0600, in %s", file, b, err, fi.Mode(), want, dir)
		}
	}
	c, err = credentialsOf(&rest.Config{BearerTokenFile: "/sa/token", TLSClientConfig: rest.TLSClientConfig{CAFile: "/sa/ca.crt"}}, "")
	if err != nil || c.token != "/sa/token" || c.tls.CAFile != "/sa/ca.crt" {
		t.Errorf("files: %+v, %v; want them used as they are, nothing written", c, err)
	}
	if _, err := credentialsOf(&rest.Config{ExecProvider: &clientcmdapi.ExecConfig{Command: "oc"}}, dir); err == nil {
		t.Error("an exec plugin was accepted")
	}
	if _, err := credentialsOf(&rest.Config{BearerToken: "x"}, ""); err == nil {
		t.Error("inline credentials without a folder were accepted")
	}
	// A file already there (planted, or left by another run) is never
	// reused: its mode and contents are someone else's.
	if _, err := credentialsOf(&rest.Config{BearerToken: "again"}, dir); err == nil {
		t.Error("an existing token file was written over")
	}
	// A key inline next to a certificate file, and the other way round.
	dir2 := t.TempDir()
	c, err = credentialsOf(&rest.Config{TLSClientConfig: rest.TLSClientConfig{CertFile: "/etc/client.crt", KeyData: []byte("KEY")}}, dir2)
	if b, _ := os.ReadFile(c.tls.KeyFile); err != nil || c.tls.CertFile != "/etc/client.crt" || string(b) != "KEY" {
		t.Errorf("a certificate file and an inline key: %+v, %v", c.tls, err)
	}
	c, err = credentialsOf(&rest.Config{TLSClientConfig: rest.TLSClientConfig{CertData: []byte("CERT"), KeyFile: "/etc/client.key"}}, t.TempDir())
	if err != nil || c.tls.KeyFile != "/etc/client.key" || c.tls.CertFile == "" {
		t.Errorf("an inline certificate and a key file: %+v, %v", c.tls, err)
	}
}

// One list of names: the constants, and what a configuration may disable.
func TestBuiltinNames(t *testing.T) {
	for _, n := range []string{KubeAPI, CacheKubeAPI, KubeAPIInternal, CacheKubeAPIInternal, KubeAPIService, CacheKubeAPIService,
		OpenShiftAPI, OAuthAPI, IngressToOAuthServer, IngressToConsole, IngressCanary, ImageRegistry} {
		if !slices.Contains(config.BuiltinBackends, n) {
			t.Errorf("%s is not in config.BuiltinBackends", n)
		}
	}
	if len(BuiltinNames()) != 12 {
		t.Errorf("BuiltinNames: %v", BuiltinNames())
	}
}
