package config

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// This file is the one place where defaults live.
//
// Precedence, field by field: a target's own value, else the file's
// `defaults`, else the built-in value below. Zero means "not set".
//
// Load and Parse return a resolved Config: every target has every default
// applied (see Target.Resolved), while Config.Defaults stays as written, so
// targets added later (from flags, from discovery) resolve the same way
// through Config.Resolved.

const (
	defaultInterval     = Duration(time.Second)
	defaultFastInterval = Duration(10 * time.Millisecond)
	defaultTimeout      = Duration(time.Second)
	defaultFastFor      = Duration(2 * time.Second)
	// maxInFlightCap caps the computed default of MaxInFlight.
	maxInFlightCap = 256

	defaultMethod       = "GET"
	defaultMaxBodyBytes = 64 << 10

	defaultHoldCheck = Duration(5 * time.Second)

	defaultDNSType      = "A"
	defaultDNSTransport = "udp"
	defaultDNSRcode     = "NOERROR"
)

// Default returns the built-in schedule: interval 1s, fast_interval 10ms
// for the first fast_for 2s of an outage, timeout 1s and max_in_flight
// computed from those (200).
//
// Two built-ins depend on the target's resolved schedule rather than
// being copied from here: an inherited fast_interval never exceeds the
// target's interval, and an unset max_in_flight is
// 2*ceil(timeout/fast_interval), capped at 256.
func Default() Schedule {
	return Schedule{
		Interval:     defaultInterval,
		FastInterval: defaultFastInterval,
		FastFor:      defaultFastFor,
		Timeout:      defaultTimeout,
		MaxInFlight:  defaultMaxInFlight(defaultTimeout, defaultFastInterval),
	}
}

// defaultMaxInFlight is 2*ceil(timeout/fast), between 1 and 256: twice
// the requests needed to keep probing every fast interval while earlier
// ones hang until their timeout, so jitter never makes a probe wait for a
// free slot (which would blur the end of a hang).
func defaultMaxInFlight(timeout, fast Duration) int {
	if fast <= 0 || timeout <= 0 {
		return 1
	}
	n := timeout / fast
	if timeout%fast != 0 {
		n++
	}
	return int(min(2*n, maxInFlightCap))
}

// defaultConnections are the connection modes sampled when a target lists
// none: HTTP and TCP both new and reused, DNS new only.
func defaultConnections(t Target) []Connection {
	if t.DNS != nil {
		return []Connection{ConnNew}
	}
	return []Connection{ConnNew, ConnReused}
}

// ValidStatus reports whether code is a valid status for h:
// ValidStatusCodes, or 200-399 when that is empty. Resolving leaves an
// empty list empty; probes ask here.
func (h *HTTPProbe) ValidStatus(code int) bool {
	if len(h.ValidStatusCodes) == 0 {
		return code >= 200 && code <= 399
	}
	return slices.Contains(h.ValidStatusCodes, code)
}

// Resolved returns a copy of c in which every target is resolved against
// c.Defaults (Target.Resolved). c.Defaults is copied as written. Resolving
// twice changes nothing.
func (c *Config) Resolved() *Config {
	r := &Config{Defaults: c.Defaults, Builtin: Builtin{Disable: slices.Clone(c.Builtin.Disable)}}
	if c.Targets != nil {
		r.Targets = make([]Target, len(c.Targets))
		for i, t := range c.Targets {
			r.Targets[i] = t.Resolved(c.Defaults)
		}
	}
	return r
}

// Resolved returns a deep copy of t with every default applied: schedule
// fields from defaults (a file's `defaults` block; pass the zero Schedule
// for built-ins only), then the built-ins of Default; connections; HTTP
// method (upper-cased) and max_body_bytes; DNS type, transport, rcode
// (case normalised), and the DNS name made fully qualified. An empty
// ValidStatusCodes stays empty (see HTTPProbe.ValidStatus). Resolving twice
// changes nothing.
func (t Target) Resolved(defaults Schedule) Target {
	r := t
	r.Schedule = resolveSchedule(t.Schedule, defaults)
	if len(t.Connections) == 0 {
		r.Connections = defaultConnections(t)
	} else {
		r.Connections = slices.Clone(t.Connections)
	}
	if t.HTTP != nil {
		h := *t.HTTP
		h.Method = strings.ToUpper(h.Method)
		if h.Method == "" {
			h.Method = defaultMethod
		}
		if h.MaxBodyBytes == 0 {
			h.MaxBodyBytes = defaultMaxBodyBytes
		}
		h.ValidStatusCodes = slices.Clone(h.ValidStatusCodes)
		h.Headers = maps.Clone(h.Headers)
		if h.ServedBy != nil {
			sb := *h.ServedBy
			sb.Values = slices.Clone(sb.Values)
			h.ServedBy = &sb
		}
		r.HTTP = &h
	}
	if t.TCP != nil {
		p := *t.TCP
		r.TCP = &p
	}
	if t.Hold != nil {
		h := *t.Hold
		h.Check = first(h.Check, defaultHoldCheck)
		r.Hold = &h
	}
	if t.DNS != nil {
		d := *t.DNS
		d.Type = orDefault(strings.ToUpper(d.Type), defaultDNSType)
		d.Transport = orDefault(strings.ToLower(d.Transport), defaultDNSTransport)
		d.Rcode = orDefault(strings.ToUpper(d.Rcode), defaultDNSRcode)
		if d.Name != "" && !strings.HasSuffix(d.Name, ".") {
			d.Name += "."
		}
		d.AnswersContain = slices.Clone(d.AnswersContain)
		d.AnswersEqual = slices.Clone(d.AnswersEqual)
		r.DNS = &d
	}
	return r
}

// resolveSchedule applies the precedence own > defaults > built-in, field
// by field.
// Over returns base with the non-zero fields of s in place of its own.
func (s Schedule) Over(base Schedule) Schedule {
	return Schedule{
		Interval:     first(s.Interval, base.Interval),
		FastInterval: first(s.FastInterval, base.FastInterval),
		FastFor:      first(s.FastFor, base.FastFor),
		Timeout:      first(s.Timeout, base.Timeout),
		MaxInFlight:  first(s.MaxInFlight, base.MaxInFlight),
		Objective:    first(s.Objective, base.Objective),
		Budget:       first(s.Budget, base.Budget),
	}
}

func resolveSchedule(own, defaults Schedule) Schedule {
	b := Default()
	s := Schedule{
		Interval:     first(own.Interval, defaults.Interval, b.Interval),
		FastInterval: own.FastInterval,
		Timeout:      first(own.Timeout, defaults.Timeout, b.Timeout),
		FastFor:      first(own.FastFor, defaults.FastFor, b.FastFor),
		Objective:    first(own.Objective, defaults.Objective),
		Budget:       first(own.Budget, defaults.Budget),
	}
	if s.FastInterval == 0 {
		// Inherited, so capped: a target probing every 50ms does not
		// slow down to a file-wide fast_interval of 100ms when failing.
		s.FastInterval = min(first(defaults.FastInterval, b.FastInterval), s.Interval)
	}
	s.MaxInFlight = first(own.MaxInFlight, defaults.MaxInFlight, defaultMaxInFlight(s.Timeout, s.FastInterval))
	return s
}

// first returns the first non-zero value.
func first[T comparable](vs ...T) T {
	var zero T
	for _, v := range vs {
		if v != zero {
			return v
		}
	}
	return zero
}

func orDefault(v, def string) string { return first(v, def) }
