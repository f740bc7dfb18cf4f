// Package promapi makes clients of Prometheus's HTTP query API, with a
// bearer token read from a file for every request (tokens rotate).
package promapi

import (
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// New returns a client of the Prometheus at url; tokenFile may be empty.
func New(url, tokenFile string) (v1.API, error) {
	rt := api.DefaultRoundTripper
	if tokenFile != "" {
		rt = bearer{file: tokenFile, next: rt}
	}
	c, err := api.NewClient(api.Config{Address: url, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("Prometheus URL %q: %w", url, err)
	}
	return v1.NewAPI(c), nil
}

// bearer adds the token in file to every request.
type bearer struct {
	file string
	next http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	tok, err := os.ReadFile(b.file)
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	return b.next.RoundTrip(r)
}
