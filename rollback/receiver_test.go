package rollback

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"
)

// What Alertmanager itself marshals (its notify/webhook.Message) decodes,
// with the fields newer versions add.
func TestDecodeAlertmanagersMessage(t *testing.T) {
	data := &template.Data{
		Receiver: "zerodown", Status: "firing",
		Alerts: template.Alerts{{Status: "firing", Labels: template.KV(storefront), Annotations: template.KV{"summary": "down"},
			StartsAt: t0, Fingerprint: "abc"}},
		GroupLabels: template.KV{"alertname": "ZerodownBackendDisrupted"}, CommonLabels: template.KV(storefront),
		CommonAnnotations: template.KV{}, ExternalURL: "http://127.0.0.1:9093",
	}
	b, err := json.Marshal(&webhook.Message{Data: data, Version: "4", GroupKey: "{}:{alertname=\"ZerodownBackendDisrupted\"}", TruncatedAlerts: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Fields of newer Alertmanagers.
	b = bytes.Replace(b, []byte(`{"receiver"`), []byte(`{"notification_reason":"new","routeLabels":{"team":"shop"},"receiver"`), 1)
	m, err := Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	a := m.Alerts[0]
	if m.TruncatedAlerts != 2 || a.Labels["backend"] != "shop-storefront" || !a.StartsAt.Equal(t0) || !a.EndsAt.IsZero() || a.Status != "firing" {
		t.Errorf("decoded %+v", m)
	}
}

func TestReceiver(t *testing.T) {
	p, err := LoadPolicy("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newFake()
	e := NewExecutor(Options{Policy: p, Cluster: c, Now: func() time.Time { return t0 }})
	srv := httptest.NewServer(&Receiver{Executor: e, TokenFile: tokenFile})
	defer srv.Close()
	good, _ := json.Marshal(message("firing", t0, storefront))
	post := func(method, token string, body []byte) (int, Answer) {
		req, _ := http.NewRequest(method, srv.URL+Path, bytes.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a Answer
		raw, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(raw, &a)
		return resp.StatusCode, a
	}
	for _, tc := range []struct {
		name, method, token string
		body                []byte
		code                int
		err                 string
	}{
		{"no token", "POST", "", good, 401, "a valid bearer token is required"},
		{"wrong token", "POST", "guess", good, 401, "a valid bearer token is required"},
		{"GET", "GET", "s3cret", nil, 405, "POST"},
		{"not JSON", "POST", "s3cret", []byte("{alerts"), 400, "not an Alertmanager webhook message"},
		{"no alerts", "POST", "s3cret", []byte(`{"version":"4","alerts":[]}`), 400, "without alerts"},
		{"version 3", "POST", "s3cret", []byte(`{"version":"3","alerts":[{"status":"firing","labels":{"alertname":"A"}}]}`), 400, `version "3"`},
		{"no alertname", "POST", "s3cret", []byte(`{"version":"4","alerts":[{"status":"firing","labels":{}}]}`), 400, "no alertname"},
		{"oversized", "POST", "s3cret", append([]byte(`{"version":"4","groupKey":"`), bytes.Repeat([]byte("x"), MaxBody)...), 413, "too large"},
	} {
		code, a := post(tc.method, tc.token, tc.body)
		if code != tc.code || !strings.Contains(a.Error, tc.err) {
			t.Errorf("%s: %d %q, want %d and %q", tc.name, code, a.Error, tc.code, tc.err)
		}
	}
	if n := len(c.actions()); n != 0 {
		t.Fatalf("refused requests acted %d times", n)
	}
	code, a := post("POST", "s3cret", good)
	if code != 200 || len(a.Decisions) != 1 || a.Decisions[0].Result != ResultDone || a.Decisions[0].Target != "Deployment shop/storefront" {
		t.Fatalf("good request: %d %+v", code, a)
	}
	e.Close()
	if got := c.actions(); len(got) != 1 {
		t.Fatalf("actions %v", got)
	}
}

// A follower (or an action failed in passing) answers 503 and closes the
// connection: Alertmanager retries, and through a Service the retry may
// reach the leader. A 2xx would tell Alertmanager it was delivered.
func TestFollowerAsksForRetry(t *testing.T) {
	p, err := LoadPolicy("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := newFake()
	var leading atomic.Bool
	e := NewExecutor(Options{Policy: p, Cluster: c, Leader: func() (time.Time, bool) { return time.Time{}, leading.Load() }})
	defer e.Close()
	srv := httptest.NewServer(&Receiver{Executor: e})
	defer srv.Close()
	body, _ := json.Marshal(message("firing", t0, storefront))
	post := func() (*http.Response, Answer) {
		resp, err := http.Post(srv.URL+Path, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a Answer
		_ = json.NewDecoder(resp.Body).Decode(&a)
		return resp, a
	}
	resp, a := post()
	if resp.StatusCode != 503 || !resp.Close || resp.Header.Get("Retry-After") == "" || results(a.Decisions) != ResultFollower {
		t.Errorf("a follower answered %d (close %v, Retry-After %q) %+v, want 503, a closed connection and a Retry-After", resp.StatusCode, resp.Close, resp.Header.Get("Retry-After"), a)
	}
	if n := len(c.actions()); n != 0 {
		t.Fatalf("a follower acted %d times", n)
	}
	leading.Store(true)
	if resp, a := post(); resp.StatusCode != 200 || results(a.Decisions) != ResultDone {
		t.Errorf("the leader answered %d %+v", resp.StatusCode, a)
	}
}

// An empty token file admits nobody: the controller refuses to start with
// it (ReadToken), a receiver whose file was emptied answers 503, and an
// empty credential is never a match.
func TestEmptyToken(t *testing.T) {
	dir := t.TempDir()
	for _, content := range []string{"", "\n", " \t\n", "\u00a0\n"} {
		f := filepath.Join(dir, "token")
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadToken(f); err == nil || !strings.Contains(err.Error(), "the token file is empty") {
			t.Errorf("token file %q: %v, want an error", content, err)
		}
	}
	if _, err := ReadToken(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing token file read without error")
	}
	p, err := LoadPolicy("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := newFake()
	e := NewExecutor(Options{Policy: p, Cluster: c})
	defer e.Close()
	tokenFile := filepath.Join(dir, "token")
	srv := httptest.NewServer(&Receiver{Executor: e, TokenFile: tokenFile})
	defer srv.Close()
	body, _ := json.Marshal(message("firing", t0, storefront))
	post := func(auth string) int {
		req, _ := http.NewRequest("POST", srv.URL+Path, bytes.NewReader(body))
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if err := os.WriteFile(tokenFile, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, auth := range []string{"Bearer ", "Bearer \u00a0", ""} {
		if code := post(auth); code != 503 {
			t.Errorf("an emptied token file, credential %q: %d, want 503", auth, code)
		}
	}
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, auth := range []string{"Bearer ", "Bearer \u00a0", "Bearer  ", "s3cret"} {
		if code := post(auth); code != 401 {
			t.Errorf("credential %q: %d, want 401", auth, code)
		}
	}
	if n := len(c.actions()); n != 0 {
		t.Errorf("%d actions without a credential", n)
	}
}
