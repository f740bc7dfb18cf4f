package collectors

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/zerodown/zerodown/intervals"
)

// Status is a condition status reduced to the three values exported as the
// status label: "true", "false" and "unknown" (anything else, or a missing
// condition).
type Status uint8

// The statuses, in label order.
const (
	StatusTrue Status = iota
	StatusFalse
	StatusUnknown
	numStatuses
)

var statusNames = [numStatuses]string{"true", "false", "unknown"}

func (s Status) String() string { return statusNames[s] }

// ParseStatus maps a Kubernetes condition status ("True", "False",
// "Unknown", or anything odd) to a Status.
func ParseStatus(s string) Status {
	switch strings.ToLower(s) {
	case "true":
		return StatusTrue
	case "false":
		return StatusFalse
	default:
		return StatusUnknown
	}
}

// Cond is one condition of an object as a collector reads it.
type Cond struct {
	Type   string
	Status Status
	// Since is the condition's lastTransitionTime; zero when the object
	// does not say (the moment it was seen is used then).
	Since   time.Time
	Reason  string
	Message string
	// Level of the interval written while the condition is in this state.
	Level intervals.Level
	// Exact: Since is the truth even when it lies before the object was
	// last seen (a user's mark of a past time): the interval keeps it;
	// the counters, which cannot go back, count from the observation.
	Exact bool
	// Restate: a new Message in the same status begins a new interval
	// (not a transition: the counters go on). For conditions whose message
	// says which parts are in the state (a Service's endpoints: which
	// pods), so that an interval names the parts of its own time.
	Restate bool
}

// IntervalWriter is what the condition tracker needs of an interval
// writer (intervals.Writer implements it).
type IntervalWriter interface {
	Begin(iv intervals.Interval) (string, error)
	End(id string, to time.Time, msg *intervals.Message) error
}

// ObjectRef names an object whose conditions are tracked.
type ObjectRef struct {
	Kind, Namespace, Name string
}

func (o ObjectRef) String() string {
	if o.Namespace == "" {
		return o.Kind + "/" + o.Name
	}
	return o.Kind + "/" + o.Namespace + "/" + o.Name
}

// CondCounters are the counters of one condition of one object.
type CondCounters struct {
	Seconds     [numStatuses]float64 // time spent in each status
	Transitions [numStatuses]uint64  // changes into each status
}

type condState struct {
	status  Status
	since   time.Time // accounting of the current status runs from here
	seconds [numStatuses]time.Duration
	// exported is the highest value Counters handed out per status, so a
	// late transition time never makes a counter go back.
	exported    [numStatuses]time.Duration
	transitions [numStatuses]uint64
	interval    string    // ID of the open interval of the current status
	ivFrom      time.Time // and its beginning
	reason      string
	message     string // of the open interval
}

// Conditions tracks the conditions of many objects as informers report
// them: time spent in each status and transitions (counters kept from the
// moment an object is first seen), and an interval for every state a
// condition enters, stamped with its lastTransitionTime. It is safe for
// concurrent use by informer handlers and Collect.
type Conditions struct {
	w   IntervalWriter // may be nil
	log *slog.Logger
	now func() time.Time

	mu   sync.Mutex
	objs map[ObjectRef]map[string]*condState
}

// NewConditions returns a tracker writing intervals to w (nil: none).
func NewConditions(w IntervalWriter, log *slog.Logger) *Conditions {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Conditions{w: w, log: log, now: time.Now, objs: map[ObjectRef]map[string]*condState{}}
}

// Observe records the current conditions of obj. Conditions missing from
// conds keep their last state (an object that drops a condition is odd;
// its counters stay).
func (c *Conditions) Observe(obj ObjectRef, conds []Cond) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	states := c.objs[obj]
	if states == nil {
		states = map[string]*condState{}
		c.objs[obj] = states
	}
	for _, cd := range conds {
		st := states[cd.Type]
		if st == nil {
			// First sight: counters start now; the interval starts when
			// the object says the condition entered its state.
			st = &condState{status: cd.Status, since: now, reason: cd.Reason, ivFrom: sinceOr(cd.Since, now), message: cd.Message}
			states[cd.Type] = st
			st.interval = c.begin(obj, cd, st.ivFrom)
			continue
		}
		if st.status == cd.Status {
			if cd.Restate && cd.Message != st.message {
				at := maxTime(now, st.ivFrom)
				c.end(obj, cd.Type, st.interval, at)
				st.interval, st.ivFrom, st.message = c.begin(obj, cd, at), at, cd.Message
			}
			continue
		}
		// A transition. It happened at lastTransitionTime, which lies
		// between the previous observation and now; a missing or odd time
		// means now.
		at := cd.Since
		if at.IsZero() || at.After(now) || at.Before(st.since) {
			at = now
		}
		old := st.status
		st.seconds[old] += at.Sub(st.since)
		st.transitions[cd.Status]++
		st.status, st.since, st.reason = cd.Status, at, cd.Reason
		if cd.Exact && !cd.Since.IsZero() && !cd.Since.After(now) {
			// Never before the interval it ends began: a mark moved
			// back before the last one gives no interval that ends
			// before it begins.
			at = maxTime(cd.Since, st.ivFrom)
		}
		c.end(obj, cd.Type, st.interval, at)
		st.interval, st.ivFrom, st.message = c.begin(obj, cd, at), at, cd.Message
		c.log.Info("condition changed", "object", obj.String(), "condition", cd.Type,
			"from", old.String(), "to", cd.Status.String(), "reason", cd.Reason,
			"at", at.UTC().Format(time.RFC3339Nano))
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func sinceOr(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}

// Delete forgets obj and ends its open intervals.
func (c *Conditions) Delete(obj ObjectRef) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for typ, st := range c.objs[obj] {
		c.end(obj, typ, st.interval, now)
	}
	delete(c.objs, obj)
}

// Counters returns the counters of every tracked condition of obj, by
// condition type, with the current state counted up to now.
func (c *Conditions) Counters(obj ObjectRef) map[string]CondCounters {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	states := c.objs[obj]
	if len(states) == 0 {
		return nil
	}
	out := make(map[string]CondCounters, len(states))
	for typ, st := range states {
		var cc CondCounters
		for s := range numStatuses {
			d := st.seconds[s]
			if s == st.status && now.After(st.since) {
				d += now.Sub(st.since)
			}
			d = max(d, st.exported[s])
			st.exported[s] = d
			cc.Seconds[s] = d.Seconds()
			cc.Transitions[s] = st.transitions[s]
		}
		out[typ] = cc
	}
	return out
}

func (c *Conditions) begin(obj ObjectRef, cd Cond, from time.Time) string {
	if c.w == nil {
		return ""
	}
	keys := map[string]string{"kind": obj.Kind, "name": obj.Name, "condition": cd.Type}
	if obj.Namespace != "" {
		keys["namespace"] = obj.Namespace
	}
	level := cd.Level
	if level == "" {
		level = intervals.LevelInfo
	}
	human := fmt.Sprintf("%s %s=%s", obj, cd.Type, cd.Status)
	if cd.Message != "" {
		human += ": " + cd.Message
	}
	id, err := c.w.Begin(intervals.Interval{
		From:    intervals.Time{Time: from},
		Level:   level,
		Source:  obj.Kind,
		Locator: intervals.Locator{Type: obj.Kind, Keys: keys},
		Message: intervals.Message{
			Reason:       cd.Type + statusTitle(cd.Status),
			Cause:        cd.Reason,
			HumanMessage: human,
			Annotations:  map[string]string{"condition": cd.Type, "status": cd.Status.String()},
		},
	})
	if err != nil {
		c.log.Error("writing interval", "object", obj.String(), "condition", cd.Type, "err", err)
	}
	return id
}

func (c *Conditions) end(obj ObjectRef, typ, id string, at time.Time) {
	if c.w == nil || id == "" {
		return
	}
	if err := c.w.End(id, at, nil); err != nil {
		c.log.Error("writing interval", "object", obj.String(), "condition", typ, "err", err)
	}
}

func statusTitle(s Status) string {
	switch s {
	case StatusTrue:
		return "True"
	case StatusFalse:
		return "False"
	default:
		return "Unknown"
	}
}

// sortedTypes returns the keys of m, sorted.
func sortedTypes[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
