package testtarget

import "testing"

// StartForTest starts a target for one test and closes it when the test
// ends; a failure to start fails the test.
func StartForTest(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := Start(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}
