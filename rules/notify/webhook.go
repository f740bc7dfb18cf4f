package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
)

// Message is Alertmanager's webhook payload, version 4 (its
// notify/webhook.Message), as receivers such as the rollback webhook read
// it.
type Message struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   uint64            `json:"truncatedAlerts"`
	Status            string            `json:"status"` // firing or resolved
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []WebhookAlert    `json:"alerts"`
}

// WebhookAlert is one alert of a Message. A firing alert has a zero
// EndsAt.
type WebhookAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Fingerprint is Alertmanager's fingerprint of a label set.
func Fingerprint(labels map[string]string) string { return toLabelSet(labels).Fingerprint().String() }

// Webhook posts a Message for every alert that begins or stops firing,
// one alert per message, grouped by all its labels: what an Alertmanager
// route with group_by: ['...'] and no waits would send.
type Webhook struct {
	s           *sender
	externalURL string
}

// NewWebhook posts to url; externalURL names the sender in messages.
func NewWebhook(url, externalURL string, o Options) (*Webhook, error) {
	s, err := newSender(ReceiverWebhook, url, o)
	if err != nil {
		return nil, fmt.Errorf("--alert.webhook: %w", err)
	}
	return &Webhook{s: s, externalURL: externalURL}, nil
}

// Notify queues the message for one alert: firing (EndsAt zero) or
// resolved.
func (w *Webhook) Notify(a Alert) {
	body, err := json.Marshal(MessageFor(a, w.externalURL))
	if err != nil {
		w.s.o.Logger.Error("encoding a webhook message", "err", err)
		return
	}
	w.s.enqueue(body)
}

// MessageFor is the webhook message of one alert, as Alertmanager would
// send it for a route grouping by all labels: firing while EndsAt is
// zero, else resolved.
func MessageFor(a Alert, externalURL string) Message {
	status := "firing"
	if !a.EndsAt.IsZero() {
		status = "resolved"
	}
	groupKey := "{}:" + toLabelSet(a.Labels).String()
	m := Message{
		Version: "4", GroupKey: groupKey, Status: status, Receiver: ReceiverWebhook,
		GroupLabels: maps.Clone(a.Labels), CommonLabels: maps.Clone(a.Labels), CommonAnnotations: maps.Clone(a.Annotations),
		ExternalURL: externalURL,
		Alerts: []WebhookAlert{{Status: status, Labels: a.Labels, Annotations: a.Annotations, StartsAt: a.StartsAt, EndsAt: a.EndsAt,
			GeneratorURL: a.GeneratorURL, Fingerprint: Fingerprint(a.Labels)}},
	}
	if m.CommonAnnotations == nil {
		m.CommonAnnotations = map[string]string{}
	}
	if m.Alerts[0].Annotations == nil {
		m.Alerts[0].Annotations = map[string]string{}
	}
	return m
}

func toLabelSet(m map[string]string) model.LabelSet {
	ls := make(model.LabelSet, len(m))
	for k, v := range m {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls
}

// Close sends what is queued (until ctx ends) and stops.
func (w *Webhook) Close(ctx context.Context) error { return w.s.close(ctx) }

// Describe and Collect make it a prometheus.Collector.
func (w *Webhook) Describe(ch chan<- *prometheus.Desc) { Describe(ch) }
func (w *Webhook) Collect(ch chan<- prometheus.Metric) { w.s.collect(ch) }
