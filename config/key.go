package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
)

// Key is a stable identity of everything that affects how t is probed:
// a SHA-256, in hex, of a canonical encoding of t resolved against the
// built-in defaults. Two targets with equal keys probe the same way, so
// a reload keeps the state of targets whose key did not change.
//
// Pass a resolved target (as found in the Config that Load, Parse or
// Config.Resolved return): an unresolved target does not know its file's
// defaults. The order of connections, valid status codes, served_by
// values and DNS answers_contain does not count (they are sets); DNS
// answers_equal does not count at all (discovery updates it in place: a
// Service's new endpoints must not reset its counters); the
// contents of the files a target names do not count either (they are
// read when probing). Hold does not count either: held connections are
// keyed by HoldKey.
func (t Target) Key() string {
	r := t.Resolved(Schedule{})
	r.Hold = nil
	slices.Sort(r.Connections)
	if r.HTTP != nil {
		slices.Sort(r.HTTP.ValidStatusCodes)
		r.HTTP.ValidStatusCodes = slices.Compact(r.HTTP.ValidStatusCodes)
		if len(r.HTTP.ValidStatusCodes) == 0 {
			r.HTTP.ValidStatusCodes = nil
		}
		if len(r.HTTP.Headers) == 0 {
			r.HTTP.Headers = nil
		}
		if r.HTTP.ServedBy != nil {
			slices.Sort(r.HTTP.ServedBy.Values)
		}
	}
	if r.DNS != nil {
		slices.Sort(r.DNS.AnswersContain)
		if len(r.DNS.AnswersContain) == 0 {
			r.DNS.AnswersContain = nil
		}
		r.DNS.AnswersEqual = nil
	}
	// Every field of the schema encodes: strings, numbers, Durations as
	// nanoseconds, Regexps as their source (Regexp.MarshalText), maps with
	// sorted keys. Encoding cannot fail.
	b, err := json.Marshal(r)
	if err != nil {
		panic("config: encoding a target: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// HoldKey is the identity of t's held connections: its Key and its
// resolved Hold; "" when t holds none.
func (t Target) HoldKey() string {
	if t.Hold == nil || t.Hold.Connections == 0 {
		return ""
	}
	r := t.Resolved(Schedule{})
	b, err := json.Marshal(r.Hold)
	if err != nil {
		panic("config: encoding a hold: " + err.Error())
	}
	sum := sha256.Sum256(append([]byte(t.Key()+"|"), b...))
	return hex.EncodeToString(sum[:])
}
