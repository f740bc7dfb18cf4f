// Package intervals records disruptions and other events as intervals of time, in JSON Lines.
//
// An interval has a beginning and an end, a level, a source, a locator (what it is about) and a
// message. Its shape follows the intervals that OpenShift's upgrade tests write, with times kept
// to the nanosecond.
//
// On disk a file is an append-only log of records, one JSON object per line. A [Writer] writes a
// record with state "open" when an interval begins, rewrites it (a new record with the same ID)
// while the interval goes on, and writes a record with state "closed" when it ends. Each record is
// one write system call, so a process killed with SIGKILL loses nothing it had already written.
// [Read] pairs the records of a file by ID and returns closed intervals only: an interval whose
// writer died before ending it is ended at the latest time seen anywhere in that file and carries
// the annotation [AnnotationUnclosed]. [ReadFiles] and [Merge] combine the files of many pollers.
package intervals

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// State is the state of a record on disk.
type State string

// States of a record.
const (
	StateOpen   State = "open"
	StateClosed State = "closed"
)

// Level is the severity of an interval.
type Level string

// Levels of an interval.
const (
	LevelInfo    Level = "Info"
	LevelWarning Level = "Warning"
	LevelError   Level = "Error"
)

// AnnotationUnclosed is the message annotation (value "true") that a reader puts on an interval
// whose writer never ended it.
const AnnotationUnclosed = "unclosed"

// Interval is a span of time during which something was going on.
type Interval struct {
	// ID is unique within one writer's file; readers pair records by file and ID.
	ID   string `json:"id"`
	From Time   `json:"from"`
	// To is the end. For an open record it is the last time the interval was seen still going.
	To Time `json:"to"`
	// State is StateOpen or StateClosed on disk; readers return closed intervals only.
	State   State   `json:"state"`
	Level   Level   `json:"level"`
	Source  string  `json:"source"` // e.g. "Disruption", "Certificate", "ClusterOperator"
	Locator Locator `json:"locator"`
	Message Message `json:"message"`
}

// Duration is To - From.
func (iv Interval) Duration() time.Duration { return iv.To.Sub(iv.From.Time) }

// Locator says what an interval is about, e.g. Type "Disruption" with Keys
// {"backend": "api", "connection": "new", "poller": "node-1"}.
type Locator struct {
	Type string            `json:"type"`
	Keys map[string]string `json:"keys"`
}

// String is the type followed by the keys in sorted order, e.g.
// "Disruption backend=api connection=new poller=node-1".
func (l Locator) String() string {
	var b strings.Builder
	b.WriteString(l.Type)
	for _, k := range slices.Sorted(maps.Keys(l.Keys)) {
		b.WriteByte(' ')
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(l.Keys[k])
	}
	return b.String()
}

// Message says what happened.
type Message struct {
	Reason       string            `json:"reason"`
	Cause        string            `json:"cause,omitempty"`
	HumanMessage string            `json:"humanMessage"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// Time is a time.Time that marshals to JSON as UTC RFC 3339 with exactly nine fractional digits,
// e.g. "2026-11-27T15:04:05.123456789Z", and unmarshals from any RFC 3339 time, with or without
// a fraction. A JSON null unmarshals as the zero Time.
type Time struct{ time.Time }

// timeLayout is RFC 3339 in UTC with a fixed nine-digit fraction.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(timeLayout)+2)
	b = append(b, '"')
	b, err := t.appendText(b)
	if err != nil {
		return nil, err
	}
	return append(b, '"'), nil
}

// MarshalText implements encoding.TextMarshaler, in the same format as MarshalJSON.
func (t Time) MarshalText() ([]byte, error) {
	return t.appendText(make([]byte, 0, len(timeLayout)))
}

func (t Time) appendText(b []byte) ([]byte, error) {
	u := t.UTC()
	if y := u.Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("intervals: time year %d outside of range [0,9999]", y)
	}
	return u.AppendFormat(b, timeLayout), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("time must be an RFC 3339 string: %w", err)
	}
	return t.UnmarshalText([]byte(s))
}

// UnmarshalText implements encoding.TextUnmarshaler. The result is in UTC.
func (t *Time) UnmarshalText(data []byte) error {
	p, err := time.Parse(time.RFC3339Nano, string(data))
	if err != nil {
		return err
	}
	t.Time = p.UTC()
	return nil
}

// clone returns iv with its own copies of the locator keys and the annotations.
func clone(iv Interval) Interval {
	iv.Locator.Keys = maps.Clone(iv.Locator.Keys)
	iv.Message.Annotations = maps.Clone(iv.Message.Annotations)
	return iv
}

// sortIntervals sorts by From, then Source, then locator; To, Level, Reason and ID break the
// remaining ties so that the order does not depend on the input order.
func sortIntervals(ivs []Interval) {
	type keyed struct {
		loc string
		iv  Interval
	}
	ks := make([]keyed, len(ivs))
	for i, iv := range ivs {
		ks[i] = keyed{loc: iv.Locator.String(), iv: iv}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int {
		if c := a.iv.From.Compare(b.iv.From.Time); c != 0 {
			return c
		}
		if c := strings.Compare(a.iv.Source, b.iv.Source); c != 0 {
			return c
		}
		if c := strings.Compare(a.loc, b.loc); c != 0 {
			return c
		}
		if c := a.iv.To.Compare(b.iv.To.Time); c != 0 {
			return c
		}
		if c := strings.Compare(string(a.iv.Level), string(b.iv.Level)); c != 0 {
			return c
		}
		if c := strings.Compare(a.iv.Message.Reason, b.iv.Message.Reason); c != 0 {
			return c
		}
		return strings.Compare(a.iv.ID, b.iv.ID)
	})
	for i := range ks {
		ivs[i] = ks[i].iv
	}
}
