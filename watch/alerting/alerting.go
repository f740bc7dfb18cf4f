// Package alerting is the embedded rule evaluator of a zerodown watch run
// and where its alerts go: the run's interval stream, its log, an
// Alertmanager and a webhook. It is apart from package watch so that a
// build without the PromQL engine (the in-cluster binary) does not link
// it: watch takes it as a watch.Alerting.
package alerting

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zerodown/zerodown/intervals"
	"github.com/zerodown/zerodown/rules/alert"
	"github.com/zerodown/zerodown/rules/eval"
	"github.com/zerodown/zerodown/rules/notify"
)

// AlertSource is the interval source of the evaluator's alerts.
const AlertSource = "Alert"

// Options say which rules to evaluate and where the alerts go.
type Options struct {
	// Interval is the evaluation step.
	Interval time.Duration
	// RuleFiles to evaluate (see rules/eval's Options.Files; empty: the
	// shipped rules).
	RuleFiles []string
	// AlertmanagerURL, if set, receives the alerts (its v2 API).
	AlertmanagerURL string
	// Webhook, if set, receives Alertmanager's webhook payload for every
	// alert that fires or resolves.
	Webhook string
	// ExternalURL is the base of the alerts' generator URLs.
	ExternalURL string
	// Hook, if set, gets the webhook message (as Alertmanager would send
	// it) of every alert that fires or resolves, during the evaluation
	// step: it must not block (the rollback receiver of watch
	// --rollback.policy queues and returns).
	Hook func(notify.Message)
	// Cause, if set, names the change that caused what an alert fires
	// about (watch.AlertingEnv's Cause): asked once when it fires, and
	// added to its annotations as "cause" wherever the alert goes.
	Cause func(labels map[string]string) string
}

// CauseAnnotation is the annotation that carries an alert's cause.
const CauseAnnotation = "cause"

// Alerting is the embedded evaluator of a run and where its alerts go:
// the interval stream, the log, an Alertmanager and a webhook. It is a
// watch.Alerting.
type Alerting struct {
	ev  *eval.Evaluator
	am  *notify.Alertmanager
	wh  *notify.Webhook
	iw  *intervals.Writer
	log *slog.Logger
	// hook, if set, gets the webhook message of every alert that fires
	// or resolves (Options.AlertHook).
	hook        func(notify.Message)
	externalURL string

	cause func(map[string]string) string

	mu     sync.Mutex
	ids    map[string]string // alert key → open interval ID
	causes map[string]string // alert key → its cause, while it fires
}

// Start loads the rules; nothing is evaluated before Run. The evaluator's
// and the senders' metrics go to reg, the alerts' intervals to iw (nil:
// none).
func Start(o Options, reg *prometheus.Registry, iw *intervals.Writer, log *slog.Logger) (*Alerting, error) {
	a := &Alerting{iw: iw, log: log, ids: map[string]string{}, hook: o.Hook, externalURL: o.ExternalURL, cause: o.Cause, causes: map[string]string{}}
	nopts := notify.Options{Logger: log}
	var err error
	if o.AlertmanagerURL != "" {
		if a.am, err = notify.NewAlertmanager(o.AlertmanagerURL, nopts); err != nil {
			return nil, err
		}
	}
	if o.Webhook != "" {
		if a.wh, err = notify.NewWebhook(o.Webhook, o.ExternalURL, nopts); err != nil {
			a.closeSenders(context.Background())
			return nil, err
		}
	}
	if a.am != nil || a.wh != nil {
		// One collector for both senders: their counters are one metric,
		// told apart by the receiver label.
		reg.MustRegister(senderMetrics{a})
	}
	eo := eval.Options{Files: o.RuleFiles, Gatherer: reg, Registerer: reg, Interval: o.Interval, ExternalURL: o.ExternalURL,
		Logger: log, OnAlert: a.changed}
	if a.am != nil {
		eo.Notify = func(alerts []notify.Alert) { a.am.Send(a.withCauses(alerts)) }
	}
	if a.ev, err = eval.New(eo); err != nil {
		a.closeSenders(context.Background())
		return nil, err
	}
	groups, rules := a.ev.Groups()
	log.Info("evaluating rules", "groups", groups, "rules", rules, "interval", o.Interval)
	return a, nil
}

// changed is told of every alert that begins or stops firing.
func (a *Alerting) changed(al eval.Alert) {
	key := al.Key()
	summary := al.Annotations["summary"]
	if al.State == eval.StateFiring {
		if a.cause != nil {
			if c := a.cause(al.Labels); c != "" {
				a.mu.Lock()
				a.causes[key] = c
				a.mu.Unlock()
			}
		}
		al.Annotations = a.annotated(key, al.Annotations)
		a.log.Warn("alert firing", "alertname", al.Name, "severity", al.Labels["severity"], "summary", summary, "cause", al.Annotations[CauseAnnotation])
		a.webhook(al, time.Time{})
		if a.iw == nil {
			return
		}
		id, err := a.iw.Begin(intervals.Interval{
			From:    intervals.Time{Time: al.FiredAt},
			Level:   alertLevel(al.Labels["severity"]),
			Source:  AlertSource,
			Locator: intervals.Locator{Type: "Alert", Keys: maps.Clone(al.Labels)},
			Message: intervals.Message{Reason: "AlertFiring", HumanMessage: summary, Annotations: maps.Clone(al.Annotations)},
		})
		if err != nil {
			a.log.Error("writing interval", "err", err)
			return
		}
		a.mu.Lock()
		a.ids[key] = id
		a.mu.Unlock()
		return
	}
	a.log.Info("alert resolved", "alertname", al.Name, "firing_for", al.ResolvedAt.Sub(al.FiredAt).Round(time.Millisecond))
	a.webhook(al, al.ResolvedAt)
	a.mu.Lock()
	delete(a.causes, key)
	a.mu.Unlock()
	a.endInterval(key, al.ResolvedAt)
}

// annotated returns the annotations with the alert's cause, if it has
// one.
func (a *Alerting) annotated(key string, ann map[string]string) map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.causes[key]
	if !ok || ann[CauseAnnotation] == c {
		return ann
	}
	ann = maps.Clone(ann)
	if ann == nil {
		ann = map[string]string{}
	}
	ann[CauseAnnotation] = c
	return ann
}

// withCauses adds the cause of every alert that has one to its
// annotations (the alerts are Alertmanager's copies, sent every step).
func (a *Alerting) withCauses(alerts []notify.Alert) []notify.Alert {
	for i, n := range alerts {
		alerts[i].Annotations = a.annotated(alertKey(n.Labels), n.Annotations)
	}
	return alerts
}

// webhook tells the webhook and the hook (the rollback receiver of
// watch --rollback.policy) of an alert that fires (endsAt zero) or
// resolves, and returns it as Alertmanager takes it.
func (a *Alerting) webhook(al eval.Alert, endsAt time.Time) notify.Alert {
	n := notify.Alert{Labels: al.Labels, Annotations: a.annotated(al.Key(), al.Annotations), StartsAt: al.FiredAt, EndsAt: endsAt,
		GeneratorURL: a.ev.GeneratorURL(al.Expr)}
	if a.wh != nil {
		a.wh.Notify(n)
	}
	if a.hook != nil {
		a.hook(notify.MessageFor(n, a.externalURL))
	}
	return n
}

func (a *Alerting) endInterval(key string, at time.Time) {
	a.mu.Lock()
	id, ok := a.ids[key]
	delete(a.ids, key)
	a.mu.Unlock()
	if ok && a.iw != nil {
		if err := a.iw.End(id, at, nil); err != nil {
			a.log.Error("writing interval", "err", err)
		}
	}
}

func alertLevel(severity string) intervals.Level {
	switch severity {
	case "critical":
		return intervals.LevelError
	case "warning":
		return intervals.LevelWarning
	}
	return intervals.LevelInfo
}

// Active returns the alerts pending or firing now.
func (a *Alerting) Active() []alert.Alert { return a.ev.Active() }

// Run evaluates until ctx ends.
func (a *Alerting) Run(ctx context.Context) { a.ev.Run(ctx) }

// Stop resolves what still fires at now (Alertmanager and the webhook are
// told, intervals end), sends what is queued (for up to 10 s), and
// releases the evaluator. It returns every alert episode that fired.
func (a *Alerting) Stop(now time.Time) ([]alert.Alert, error) {
	fired := a.ev.Fired()
	var resolved []notify.Alert
	for _, al := range a.ev.Active() {
		if al.State != eval.StateFiring {
			continue
		}
		resolved = append(resolved, a.webhook(al, now))
		a.endInterval(al.Key(), now)
	}
	if a.am != nil {
		a.am.Send(resolved)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := []error{a.closeSenders(ctx), a.ev.Close()}
	return fired, errors.Join(errs...)
}

func (a *Alerting) closeSenders(ctx context.Context) error {
	var errs []error
	if a.am != nil {
		errs = append(errs, a.am.Close(ctx))
	}
	if a.wh != nil {
		errs = append(errs, a.wh.Close(ctx))
	}
	return errors.Join(errs...)
}

// senderMetrics exports the notifications of the alerting's senders.
type senderMetrics struct{ a *Alerting }

func (m senderMetrics) Describe(ch chan<- *prometheus.Desc) { notify.Describe(ch) }

func (m senderMetrics) Collect(ch chan<- prometheus.Metric) {
	if m.a.am != nil {
		m.a.am.Collect(ch)
	}
	if m.a.wh != nil {
		m.a.wh.Collect(ch)
	}
}

// alertKey is the key of the alert with these labels (alert.Alert.Key).
func alertKey(labels map[string]string) string { return alert.Alert{Labels: labels}.Key() }
