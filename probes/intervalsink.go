package probes

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/zerodown/zerodown/intervals"
)

// IntervalSink writes outages and certificate changes as intervals, an
// outage's beginning when it begins and its end when it ends, and logs
// them at Info. Extra keys (e.g. the poller's node) go into every locator.
type IntervalSink struct {
	w     *intervals.Writer
	log   *slog.Logger
	extra map[string]string

	mu   sync.Mutex
	open map[seriesID]string // interval ID of each series' open outage
}

type seriesID struct {
	backend string
	conn    string
}

// NewIntervalSink returns a sink writing to w (which may be nil: log only).
func NewIntervalSink(w *intervals.Writer, log *slog.Logger, extra map[string]string) *IntervalSink {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &IntervalSink{w: w, log: log, extra: extra, open: map[seriesID]string{}}
}

func (k *IntervalSink) locator(s SeriesInfo) intervals.Locator {
	keys := map[string]string{
		"backend":    s.Backend,
		"connection": string(s.Connection),
		"protocol":   s.Protocol,
	}
	for n, v := range k.extra {
		keys[n] = v
	}
	return intervals.Locator{Type: "Disruption", Keys: keys}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// OutageBegan implements Sink.
func (k *IntervalSink) OutageBegan(s SeriesInfo, ev Event) {
	k.log.Info("outage began", "backend", s.Backend, "connection", s.Connection,
		"start", ev.Start.UTC().Format(time.RFC3339Nano), "reason", ev.Reason.String(), "err", ev.Err)
	if k.w == nil {
		return
	}
	id, werr := k.w.Begin(intervals.Interval{
		From:    intervals.Time{Time: ev.Start},
		Level:   level(ev.Reason),
		Source:  source(ev.Reason),
		Locator: k.locator(s),
		Message: intervals.Message{
			Reason:       "DisruptionBegan",
			Cause:        ev.Reason.String(),
			HumanMessage: fmt.Sprintf("%s over %s connections stopped responding: %s", s.Backend, s.Connection, errText(ev.Err)),
		},
	})
	if werr != nil {
		k.log.Error("writing interval", "err", werr)
		return
	}
	k.mu.Lock()
	k.open[seriesID{s.Backend, string(s.Connection)}] = id
	k.mu.Unlock()
}

// OutageEnded implements Sink. The closing record carries the outage's
// cause (the reason that saw most of its time), its duration, the last
// failure's reason and the time of each reason (seconds_<reason>); one
// ended without a success says why (ended=removed|stopped).
func (k *IntervalSink) OutageEnded(s SeriesInfo, ev Event) {
	d := ev.Duration()
	args := []any{"backend", s.Backend, "connection", s.Connection, "duration", d, "reason", ev.Reason.String()}
	if ev.Ended != "" {
		args = append(args, "ended", ev.Ended)
	}
	k.log.Info("outage ended", args...)
	if k.w == nil {
		return
	}
	sid := seriesID{s.Backend, string(s.Connection)}
	k.mu.Lock()
	id, ok := k.open[sid]
	delete(k.open, sid)
	k.mu.Unlock()
	if !ok {
		return
	}
	ann := map[string]string{
		"duration_seconds": fmt.Sprintf("%.6f", d.Seconds()),
		"last_reason":      ev.Last.String(),
	}
	for r, t := range ev.Split {
		if t > 0 {
			ann["seconds_"+Reason(r).String()] = fmt.Sprintf("%.6f", t.Seconds())
		}
	}
	human := fmt.Sprintf("%s over %s connections was disrupted for %s, mostly %s; last error: %s",
		s.Backend, s.Connection, d, ev.Reason, errText(ev.Err))
	if ev.Ended != "" {
		ann["ended"] = ev.Ended
		until := "its target was removed"
		if ev.Ended == "stopped" {
			until = "probing stopped"
		}
		human = fmt.Sprintf("%s over %s connections was disrupted for %s, mostly %s, until %s; last error: %s",
			s.Backend, s.Connection, d, ev.Reason, until, errText(ev.Err))
	}
	msg := &intervals.Message{Reason: "DisruptionEnded", Cause: ev.Reason.String(), HumanMessage: human, Annotations: ann}
	if werr := k.w.End(id, ev.End, msg); werr != nil {
		k.log.Error("writing interval", "err", werr)
	}
}

// CertChanged implements Sink.
func (k *IntervalSink) CertChanged(s SeriesInfo, at time.Time, old, cur *Cert) {
	k.log.Info("certificate changed", "backend", s.Backend, "connection", s.Connection,
		"old_serial", old.Serial, "new_serial", cur.Serial, "not_after", cur.NotAfter)
	if k.w == nil {
		return
	}
	loc := k.locator(s)
	loc.Type = "Certificate"
	if err := k.w.Point(intervals.Interval{
		From:    intervals.Time{Time: at},
		To:      intervals.Time{Time: at},
		Level:   intervals.LevelWarning,
		Source:  "Certificate",
		Locator: loc,
		Message: intervals.Message{
			Reason:       "CertificateChanged",
			HumanMessage: fmt.Sprintf("%s presented a new certificate (serial %s, expires %s)", s.Backend, cur.Serial, cur.NotAfter.UTC().Format(time.RFC3339)),
			Annotations: map[string]string{
				"old_fingerprint": old.Fingerprint, "new_fingerprint": cur.Fingerprint,
				"old_serial": old.Serial, "new_serial": cur.Serial,
			},
		},
	}); err != nil {
		k.log.Error("writing interval", "err", err)
	}
}

// source is the interval source of an outage: the observer's own trouble
// is kept apart from the backend's disruption.
func source(first Reason) string {
	if first == ReasonObserver {
		return "ObserverDisruption"
	}
	return "Disruption"
}

func level(first Reason) intervals.Level {
	if first == ReasonObserver {
		return intervals.LevelWarning
	}
	return intervals.LevelError
}
