//go:build !noeval

package watch

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

// alerting is the embedded evaluator of a run and where its alerts go:
// the interval stream, the log, an Alertmanager and a webhook.
type alerting struct {
	ev  *eval.Evaluator
	am  *notify.Alertmanager
	wh  *notify.Webhook
	iw  *intervals.Writer
	log *slog.Logger
	// hook, if set, gets the webhook message of every alert that fires
	// or resolves (Options.AlertHook).
	hook        func(notify.Message)
	externalURL string

	mu  sync.Mutex
	ids map[string]string // alert key → open interval ID
}

// startAlerting loads the rules; nothing is evaluated before run.
func startAlerting(o Options, reg *prometheus.Registry, iw *intervals.Writer, log *slog.Logger) (*alerting, error) {
	a := &alerting{iw: iw, log: log, ids: map[string]string{}, hook: o.AlertHook, externalURL: o.ExternalURL}
	nopts := notify.Options{Logger: log}
	var err error
	if o.AlertmanagerURL != "" {
		if a.am, err = notify.NewAlertmanager(o.AlertmanagerURL, nopts); err != nil {
			return nil, err
		}
	}
	if o.AlertWebhook != "" {
		if a.wh, err = notify.NewWebhook(o.AlertWebhook, o.ExternalURL, nopts); err != nil {
			a.closeSenders(context.Background())
			return nil, err
		}
	}
	if a.am != nil || a.wh != nil {
		// One collector for both senders: their counters are one metric,
		// told apart by the receiver label.
		reg.MustRegister(senderMetrics{a})
	}
	eo := eval.Options{Files: o.RuleFiles, Gatherer: reg, Registerer: reg, Interval: o.RulesInterval, ExternalURL: o.ExternalURL,
		Logger: log, OnAlert: a.changed}
	if a.am != nil {
		eo.Notify = a.am.Send
	}
	if a.ev, err = eval.New(eo); err != nil {
		a.closeSenders(context.Background())
		return nil, err
	}
	groups, rules := a.ev.Groups()
	log.Info("evaluating rules", "groups", groups, "rules", rules, "interval", o.RulesInterval)
	return a, nil
}

// changed is told of every alert that begins or stops firing.
func (a *alerting) changed(al eval.Alert) {
	key := al.Key()
	summary := al.Annotations["summary"]
	if al.State == eval.StateFiring {
		a.log.Warn("alert firing", "alertname", al.Name, "severity", al.Labels["severity"], "summary", summary)
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
	a.endInterval(key, al.ResolvedAt)
}

// webhook tells the webhook and the hook (the rollback receiver of
// watch --rollback.policy) of an alert that fires (endsAt zero) or
// resolves, and returns it as Alertmanager takes it.
func (a *alerting) webhook(al eval.Alert, endsAt time.Time) notify.Alert {
	n := notify.Alert{Labels: al.Labels, Annotations: al.Annotations, StartsAt: al.FiredAt, EndsAt: endsAt,
		GeneratorURL: a.ev.GeneratorURL(al.Expr)}
	if a.wh != nil {
		a.wh.Notify(n)
	}
	if a.hook != nil {
		a.hook(notify.MessageFor(n, a.externalURL))
	}
	return n
}

func (a *alerting) endInterval(key string, at time.Time) {
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

// active returns the alerts pending or firing now.
func (a *alerting) active() []alert.Alert { return a.ev.Active() }

// run evaluates until ctx ends.
func (a *alerting) run(ctx context.Context) { a.ev.Run(ctx) }

// stop resolves what still fires at now (Alertmanager and the webhook are
// told, intervals end), sends what is queued (for up to 10 s), and
// releases the evaluator. It returns every alert episode that fired.
func (a *alerting) stop(now time.Time) ([]alert.Alert, error) {
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

func (a *alerting) closeSenders(ctx context.Context) error {
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
type senderMetrics struct{ a *alerting }

func (m senderMetrics) Describe(ch chan<- *prometheus.Desc) { notify.Describe(ch) }

func (m senderMetrics) Collect(ch chan<- prometheus.Metric) {
	if m.a.am != nil {
		m.a.am.Collect(ch)
	}
	if m.a.wh != nil {
		m.a.wh.Collect(ch)
	}
}
