package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
)

// recorder is a loopback HTTP server that answers with the given codes in
// turn (then 200) and keeps the bodies.
type recorder struct {
	mu     sync.Mutex
	codes  []int
	bodies [][]byte
	srv    *httptest.Server
}

func newRecorder(t *testing.T, codes ...int) *recorder {
	r := &recorder{codes: codes}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, body)
		code := http.StatusOK
		if len(r.codes) > 0 {
			code, r.codes = r.codes[0], r.codes[1:]
		}
		r.mu.Unlock()
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
			code = http.StatusMethodNotAllowed
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) got() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...)
}

var (
	t0     = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	firing = Alert{Labels: map[string]string{"alertname": "ZerodownBackendDisrupted", "backend": "api", "severity": "critical"},
		Annotations: map[string]string{"summary": "api is down"}, StartsAt: t0, EndsAt: t0.Add(4 * time.Minute),
		GeneratorURL: "http://127.0.0.1:9090/graph?g0.expr=up"}
)

// What the Alertmanager sender posts is what Alertmanager's v2 API
// accepts: its own PostableAlerts type decodes and validates it.
func TestAlertmanagerPostsV2Alerts(t *testing.T) {
	rec := newRecorder(t)
	am, err := NewAlertmanager(rec.srv.URL+"/", Options{})
	if err != nil {
		t.Fatal(err)
	}
	am.Send([]Alert{firing})
	am.Send(nil) // nothing to send: no request
	if err := am.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	bodies := rec.got()
	if len(bodies) != 1 {
		t.Fatalf("%d posts, want 1", len(bodies))
	}
	var pa models.PostableAlerts
	dec := json.NewDecoder(bytes.NewReader(bodies[0]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pa); err != nil {
		t.Fatalf("Alertmanager's type does not decode %s: %v", bodies[0], err)
	}
	if err := pa.Validate(strfmt.Default); err != nil {
		t.Fatalf("Alertmanager's validation refuses %s: %v", bodies[0], err)
	}
	if len(pa) != 1 || pa[0].Labels["backend"] != "api" || time.Time(pa[0].StartsAt) != t0 || time.Time(pa[0].EndsAt) != t0.Add(4*time.Minute) {
		t.Errorf("decoded %+v", pa[0])
	}
	if err := testutil.CollectAndCompare(am, bytes.NewReader([]byte(`
# HELP zerodown_alert_notifications_total Notifications of the embedded evaluator's alerts, by receiver and result: sent, failed (after retries) or dropped (queue full).
# TYPE zerodown_alert_notifications_total counter
zerodown_alert_notifications_total{receiver="alertmanager",result="dropped"} 0
zerodown_alert_notifications_total{receiver="alertmanager",result="failed"} 0
zerodown_alert_notifications_total{receiver="alertmanager",result="sent"} 1
`))); err != nil {
		t.Error(err)
	}
}

// 5xx answers are retried; a 4xx is final (retrying cannot fix it).
func TestRetries(t *testing.T) {
	rec := newRecorder(t, 503, 502)
	am, err := NewAlertmanager(rec.srv.URL, Options{Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	am.Send([]Alert{firing})
	_ = am.Close(context.Background())
	if n := len(rec.got()); n != 3 {
		t.Errorf("%d attempts after 503, 502, 200; want 3", n)
	}
	if r := results(t, am); r["sent"] != 1 || r["failed"] != 0 {
		t.Errorf("results %v, want 1 sent", r)
	}

	rec = newRecorder(t, 400)
	am, _ = NewAlertmanager(rec.srv.URL, Options{Backoff: time.Millisecond})
	am.Send([]Alert{firing})
	_ = am.Close(context.Background())
	if n := len(rec.got()); n != 1 {
		t.Errorf("%d attempts after a 400; want 1", n)
	}
	if r := results(t, am); r["sent"] != 0 || r["failed"] != 1 {
		t.Errorf("results %v, want 1 failed", r)
	}
}

// results returns a sender's counters by result.
func results(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" {
					out[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// A webhook message is Alertmanager's own: its webhook.Message decodes it
// with no field left over; a firing alert has a zero endsAt, a resolved
// one its end; the fingerprint is Alertmanager's.
func TestWebhookMessage(t *testing.T) {
	rec := newRecorder(t)
	wh, err := NewWebhook(rec.srv.URL, "http://zerodown.example:9947", Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := firing
	f.EndsAt = time.Time{}
	wh.Notify(f)
	r := firing
	r.EndsAt = t0.Add(90 * time.Second)
	wh.Notify(r)
	if err := wh.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	bodies := rec.got()
	if len(bodies) != 2 {
		t.Fatalf("%d posts, want 2", len(bodies))
	}
	for i, want := range []struct {
		status string
		endsAt time.Time
	}{{"firing", time.Time{}}, {"resolved", t0.Add(90 * time.Second)}} {
		var m webhook.Message
		dec := json.NewDecoder(bytes.NewReader(bodies[i]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("Alertmanager's webhook.Message does not decode %s: %v", bodies[i], err)
		}
		a := m.Alerts[0]
		if m.Version != "4" || m.Status != want.status || a.Status != want.status || !a.EndsAt.Equal(want.endsAt) ||
			m.ExternalURL != "http://zerodown.example:9947" || m.CommonLabels["backend"] != "api" || a.Annotations["summary"] != "api is down" {
			t.Errorf("message %d: %s", i, bodies[i])
		}
		ls := model.LabelSet{}
		for k, v := range firing.Labels {
			ls[model.LabelName(k)] = model.LabelValue(v)
		}
		if a.Fingerprint != ls.Fingerprint().String() {
			t.Errorf("fingerprint %s, want %s", a.Fingerprint, ls.Fingerprint())
		}
	}
}

func TestBadURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:9093", "ftp://x/", "http://"} {
		if _, err := NewAlertmanager(u, Options{}); err == nil {
			t.Errorf("NewAlertmanager(%q) accepted", u)
		}
		if _, err := NewWebhook(u, "", Options{}); err == nil {
			t.Errorf("NewWebhook(%q) accepted", u)
		}
	}
}
