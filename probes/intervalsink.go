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
//
// Records are written by a goroutine of its own, off the probe path,
// through a bounded queue: a slow disk delays the file, never a probe. A
// full queue makes the caller wait (a record is never dropped). Close
// writes what is queued and stops it.
type IntervalSink struct {
	w     *intervals.Writer
	log   *slog.Logger
	extra map[string]string

	queue chan func()
	done  chan struct{}
	once  sync.Once

	open    map[seriesID]string // interval ID of each series' open outage; the writing goroutine's
	probing map[seriesID]string // interval ID of each series' Probing interval; the writing goroutine's
}

// ProbingSource is the source of the interval that spans the time a
// series was probed: readers learn from it which backends were watched,
// and for how long, even those that never failed.
const ProbingSource = "Probing"

// sinkQueue is how many records may wait for the disk.
const sinkQueue = 4096

type seriesID struct {
	backend string
	conn    string
}

// NewIntervalSink returns a sink writing to w (which may be nil: log only).
func NewIntervalSink(w *intervals.Writer, log *slog.Logger, extra map[string]string) *IntervalSink {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	k := &IntervalSink{w: w, log: log, extra: extra, open: map[seriesID]string{}, probing: map[seriesID]string{},
		queue: make(chan func(), sinkQueue), done: make(chan struct{})}
	go func() {
		defer close(k.done)
		for f := range k.queue {
			f()
		}
	}()
	return k
}

// write queues f for the writing goroutine.
func (k *IntervalSink) write(f func()) {
	if k.w == nil {
		return
	}
	k.queue <- f // waits while the queue is full
}

// Close writes every queued record and stops the writing goroutine. Call
// it once the engine has stopped, before closing the intervals.Writer.
func (k *IntervalSink) Close() {
	k.once.Do(func() { close(k.queue) })
	<-k.done
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
	loc := k.locator(s)
	sid := seriesID{s.Backend, string(s.Connection)}
	k.write(func() {
		id, werr := k.w.Begin(intervals.Interval{
			From:    intervals.Time{Time: ev.Start},
			Level:   level(ev.Reason),
			Source:  source(ev.Reason),
			Locator: loc,
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
		k.open[sid] = id
	})
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
	sid := seriesID{s.Backend, string(s.Connection)}
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
	k.write(func() {
		id, ok := k.open[sid]
		delete(k.open, sid)
		if !ok {
			return
		}
		if werr := k.w.End(id, ev.End, msg); werr != nil {
			k.log.Error("writing interval", "err", werr)
		}
	})
}

// SeriesStarted implements LifecycleSink: it begins the series' Probing
// interval.
func (k *IntervalSink) SeriesStarted(s SeriesInfo, at time.Time) {
	loc := k.locator(s)
	loc.Type = ProbingSource
	sid := seriesID{s.Backend, string(s.Connection)}
	k.write(func() {
		id, err := k.w.Begin(intervals.Interval{
			From:    intervals.Time{Time: at},
			Level:   intervals.LevelInfo,
			Source:  ProbingSource,
			Locator: loc,
			Message: intervals.Message{Reason: "ProbingStarted",
				HumanMessage: fmt.Sprintf("%s probed over %s connections (%s)", s.Backend, s.Connection, s.Protocol)},
		})
		if err != nil {
			k.log.Error("writing interval", "err", err)
			return
		}
		k.probing[sid] = id
	})
}

// SeriesStopped implements LifecycleSink: it ends the Probing interval,
// annotated ended=removed|stopped.
func (k *IntervalSink) SeriesStopped(s SeriesInfo, at time.Time, why string) {
	sid := seriesID{s.Backend, string(s.Connection)}
	msg := &intervals.Message{Reason: "ProbingStopped", Annotations: map[string]string{"ended": why},
		HumanMessage: fmt.Sprintf("%s probed over %s connections (%s) until %s", s.Backend, s.Connection, s.Protocol, why)}
	k.write(func() {
		id, ok := k.probing[sid]
		delete(k.probing, sid)
		if !ok {
			return
		}
		if err := k.w.End(id, at, msg); err != nil {
			k.log.Error("writing interval", "err", err)
		}
	})
}

// CertChanged implements Sink.
func (k *IntervalSink) CertChanged(s SeriesInfo, at time.Time, old, cur *Cert) {
	k.log.Info("certificate changed", "backend", s.Backend, "connection", s.Connection,
		"old_serial", old.Serial, "new_serial", cur.Serial, "not_after", cur.NotAfter)
	loc := k.locator(s)
	loc.Type = "Certificate"
	k.write(func() {
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
	})
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

// ConnectionDropSource is the source of the interval of a dropped held
// connection: apart from request disruption.
const ConnectionDropSource = "ConnectionDrop"

// ConnectionDropped implements DropSink: a closed interval from the drop
// (for a timeout, from the connection's last sign of life) to when it was
// seen, annotated with the reason and the connection's lifetime.
func (k *IntervalSink) ConnectionDropped(d Drop) {
	k.log.Info("held connection dropped", "backend", d.Backend, "protocol", d.Protocol, "slot", d.Slot,
		"reason", d.Reason.String(), "lifetime", d.Lifetime(), "err", errText(d.Err))
	from := d.At
	if d.Reason == DropTimeout {
		from = d.LastAlive
	}
	keys := map[string]string{"backend": d.Backend, "protocol": d.Protocol, "slot": fmt.Sprint(d.Slot)}
	for n, v := range k.extra {
		keys[n] = v
	}
	iv := intervals.Interval{
		From:    intervals.Time{Time: from},
		To:      intervals.Time{Time: d.At},
		Level:   intervals.LevelError,
		Source:  ConnectionDropSource,
		Locator: intervals.Locator{Type: ConnectionDropSource, Keys: keys},
		Message: intervals.Message{
			Reason: "ConnectionDropped",
			Cause:  d.Reason.String(),
			HumanMessage: fmt.Sprintf("a long-lived %s connection to %s (#%d) was dropped (%s) after %s: %s",
				d.Protocol, d.Backend, d.Slot, d.Reason, d.Lifetime().Round(time.Millisecond), errText(d.Err)),
			Annotations: map[string]string{
				"lifetime_seconds": fmt.Sprintf("%.6f", d.Lifetime().Seconds()),
				"last_alive":       d.LastAlive.UTC().Format(time.RFC3339Nano),
			},
		},
	}
	k.write(func() {
		if err := k.w.Point(iv); err != nil {
			k.log.Error("writing interval", "err", err)
		}
	})
}
