// Package notify sends the embedded evaluator's alerts on: to an
// Alertmanager through its v2 API (POST /api/v2/alerts), as Prometheus's
// notifier does, or straight to a webhook receiver as Alertmanager's
// webhook payload (version 4), for setups without an Alertmanager.
//
// Sending never blocks evaluation: alerts go through a bounded queue to
// one goroutine per receiver, which retries a failed post a few times;
// what cannot be sent is counted, never waited for.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Alert is an alert as Alertmanager's v2 API takes it.
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Receiver names, the values of the receiver label.
const (
	ReceiverAlertmanager = "alertmanager"
	ReceiverWebhook      = "webhook"
)

var notificationsDesc = prometheus.NewDesc("zerodown_alert_notifications_total",
	"Notifications of the embedded evaluator's alerts, by receiver and result: sent, failed (after retries) or dropped (queue full).",
	[]string{"receiver", "result"}, nil)

// Describe sends the descriptions of the senders' metrics: part of the
// metric contract.
func Describe(ch chan<- *prometheus.Desc) { ch <- notificationsDesc }

// Options of a sender.
type Options struct {
	// Client posts (default: a client with a 10 s timeout).
	Client *http.Client
	// Retries of a failed post (default 3), after 1 s, 2 s, 4 s.
	Retries int
	// QueueSize bounds the posts waiting (default 256); beyond it the
	// oldest is dropped.
	QueueSize int
	Logger    *slog.Logger
	// Backoff before the first retry (default 1s; tests shorten it).
	Backoff time.Duration
}

// sender posts JSON bodies to one URL from a queue.
type sender struct {
	receiver string
	url      string
	o        Options

	mu      sync.Mutex
	queue   [][]byte
	closing bool
	wake    chan struct{}
	done    chan struct{}

	sent, failed, dropped uint64
}

// checkURL accepts an absolute http:// or https:// URL.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("expected an http:// or https:// URL, got %q", raw)
	}
	return nil
}

func newSender(receiver, rawURL string, o Options) (*sender, error) {
	if err := checkURL(rawURL); err != nil {
		return nil, err
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Retries <= 0 {
		o.Retries = 3
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 256
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &sender{receiver: receiver, url: rawURL, o: o, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go s.loop()
	return s, nil
}

// enqueue adds a body; a full queue drops its oldest.
func (s *sender) enqueue(body []byte) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	if len(s.queue) >= s.o.QueueSize {
		s.queue = s.queue[1:]
		s.dropped++
	}
	s.queue = append(s.queue, body)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *sender) loop() {
	defer close(s.done)
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return
			}
			<-s.wake
			continue
		}
		body := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()
		err := s.post(body)
		s.mu.Lock()
		if err != nil {
			s.failed++
		} else {
			s.sent++
		}
		s.mu.Unlock()
		if err != nil {
			s.o.Logger.Warn("sending alerts failed", "receiver", s.receiver, "url", s.url, "err", err)
		}
	}
}

// post sends body, retrying transient failures: a 4xx answer is final.
func (s *sender) post(body []byte) error {
	wait := s.o.Backoff
	var err error
	for attempt := 0; attempt <= s.o.Retries; attempt++ {
		if attempt > 0 {
			time.Sleep(wait)
			wait *= 2
		}
		var resp *http.Response
		resp, err = s.o.Client.Post(s.url, "application/json", bytes.NewReader(body))
		if err != nil {
			continue
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		switch {
		case resp.StatusCode/100 == 2:
			return nil
		case resp.StatusCode/100 == 4:
			return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
		}
		err = fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return err
}

// close sends what is queued, until ctx ends.
func (s *sender) close(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: notifications still queued at exit: %w", s.receiver, ctx.Err())
	}
}

func (s *sender) collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range []struct {
		result string
		n      uint64
	}{{"sent", s.sent}, {"failed", s.failed}, {"dropped", s.dropped}} {
		ch <- prometheus.MustNewConstMetric(notificationsDesc, prometheus.CounterValue, float64(r.n), s.receiver, r.result)
	}
}

// Alertmanager sends alerts to one Alertmanager's v2 API.
type Alertmanager struct{ s *sender }

// NewAlertmanager sends to the Alertmanager at base (e.g.
// http://127.0.0.1:9093); alerts go to base/api/v2/alerts.
func NewAlertmanager(base string, o Options) (*Alertmanager, error) {
	if err := checkURL(base); err != nil {
		return nil, fmt.Errorf("--alertmanager.url: %w", err)
	}
	s, err := newSender(ReceiverAlertmanager, strings.TrimSuffix(base, "/")+"/api/v2/alerts", o)
	if err != nil {
		return nil, fmt.Errorf("--alertmanager.url: %w", err)
	}
	return &Alertmanager{s}, nil
}

// Send queues alerts (firing ones with an EndsAt in the future, resolved
// ones with EndsAt at their resolution).
func (a *Alertmanager) Send(alerts []Alert) {
	if len(alerts) == 0 {
		return
	}
	body, err := json.Marshal(alerts)
	if err != nil {
		a.s.o.Logger.Error("encoding alerts", "err", err)
		return
	}
	a.s.enqueue(body)
}

// Close sends what is queued (until ctx ends) and stops.
func (a *Alertmanager) Close(ctx context.Context) error { return a.s.close(ctx) }

// Describe and Collect make it a prometheus.Collector.
func (a *Alertmanager) Describe(ch chan<- *prometheus.Desc) { Describe(ch) }
func (a *Alertmanager) Collect(ch chan<- prometheus.Metric) { a.s.collect(ch) }
