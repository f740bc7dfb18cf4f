package kube

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The guard's answers, and its cache: fresh for a minute; while the API
// server cannot answer, an earlier allow holds for an hour and nothing
// else does.
func TestDelegated(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	answers := map[string]int{"prometheus": 200, "nobody": 403}
	var down bool
	asked := 0
	d := &Delegated{now: func() time.Time { return now }, cache: map[[32]byte]verdict{}}
	d.ask = func(_ context.Context, token, path string) (int, error) {
		asked++
		if down {
			return 0, errors.New("the API server is being upgraded")
		}
		if code, ok := answers[token]; ok {
			return code, nil
		}
		return 401, nil
	}
	h := d.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("metrics")) }))
	get := func(auth string) int {
		r := httptest.NewRequest("GET", "/metrics", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for _, tc := range []struct {
		auth string
		code int
	}{{"", 401}, {"Bearer ", 401}, {"Basic cHJvbWV0aGV1czo=", 401}, {"Bearer stolen", 401}, {"Bearer nobody", 403}, {"Bearer prometheus", 200}} {
		if code := get(tc.auth); code != tc.code {
			t.Errorf("%q: %d, want %d", tc.auth, code, tc.code)
		}
	}
	n := asked
	get("Bearer prometheus")
	if asked != n {
		t.Errorf("a fresh answer was asked again")
	}
	now = now.Add(2 * time.Minute)
	down = true
	if code := get("Bearer prometheus"); code != 200 {
		t.Errorf("an allow while the API server cannot answer: %d, want 200 (kept for an hour)", code)
	}
	if code := get("Bearer nobody"); code != 503 {
		t.Errorf("a denial while the API server cannot answer: %d, want 503", code)
	}
	if code := get("Bearer new"); code != 503 {
		t.Errorf("an unknown token while the API server cannot answer: %d, want 503", code)
	}
	now = now.Add(time.Hour)
	if code := get("Bearer prometheus"); code != 503 {
		t.Errorf("an allow older than an hour: %d, want 503", code)
	}
}
