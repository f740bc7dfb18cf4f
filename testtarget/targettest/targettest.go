// Package targettest starts the loopback test target for a test. It is a
// package of its own so that "testing" is linked only into tests, never
// into the zerodown binary.
package targettest

import (
	"testing"

	"github.com/zerodown/zerodown/testtarget"
)

// Start starts a target for one test and closes it when the test ends; a
// failure to start fails the test.
func Start(tb testing.TB, opts testtarget.Options) *testtarget.Server {
	tb.Helper()
	s, err := testtarget.Start(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}
