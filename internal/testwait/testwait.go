// Package testwait lets tests wait on a condition instead of sleeping for a
// guessed time: what holds on a quiet machine holds on a busy one too,
// only later.
package testwait

import (
	"testing"
	"time"
)

// Bound is how long Until waits before it fails the test: a bound for a
// stuck test, not a measurement.
const Bound = 20 * time.Second

// Until polls cond until it holds, failing the test after Bound.
func Until(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(Bound)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("not within %s: %s", Bound, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
