package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/zerodown/zerodown/budget"
)

// JUnit XML as CI systems read it (Jenkins' and Ant's schema): suites of
// test cases, each failing with a message and a text.
type (
	junitSuites struct {
		XMLName  xml.Name     `xml:"testsuites"`
		Name     string       `xml:"name,attr"`
		Tests    int          `xml:"tests,attr"`
		Failures int          `xml:"failures,attr"`
		Errors   int          `xml:"errors,attr"`
		Time     string       `xml:"time,attr"`
		Suites   []junitSuite `xml:"testsuite"`
	}
	junitSuite struct {
		Name      string      `xml:"name,attr"`
		Tests     int         `xml:"tests,attr"`
		Failures  int         `xml:"failures,attr"`
		Errors    int         `xml:"errors,attr"`
		Skipped   int         `xml:"skipped,attr"`
		Time      string      `xml:"time,attr"`
		Timestamp string      `xml:"timestamp,attr"`
		Cases     []junitCase `xml:"testcase"`
	}
	junitCase struct {
		Name      string        `xml:"name,attr"`
		Classname string        `xml:"classname,attr"`
		Time      string        `xml:"time,attr"`
		Failure   *junitFailure `xml:"failure"`
		Skipped   *junitSkipped `xml:"skipped"`
		SystemOut string        `xml:"system-out,omitempty"`
	}
	junitSkipped struct {
		Message string `xml:"message,attr"`
	}
	junitFailure struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	}
)

// JUnit suite names: stable across runs, so CI systems track each case.
const (
	SuiteDisruption = "zerodown.disruption"
	suitePrefix     = "zerodown."
)

// WriteJUnit writes junit.xml: a suite of one case per backend and
// connection mode ("should remain available during the upgrade", failing
// when over budget), and a suite per kind of cluster object (operators
// that went Degraded or unavailable, a ClusterVersion that reported
// Failing, pools that went Degraded, nodes that drained for longer than
// DrainWithin).
func (r *Report) WriteJUnit(w io.Writer) error {
	span := r.Ended.Sub(r.Started)
	all := junitSuites{Name: "zerodown", Time: seconds(span)}
	dis := junitSuite{Name: SuiteDisruption}
	for _, b := range r.Backends {
		c := junitCase{Name: fmt.Sprintf("%s over %s connections should remain available during the upgrade", b.Backend, b.Connection),
			Classname: SuiteDisruption, Time: seconds(b.observed(span))}
		var out strings.Builder
		fmt.Fprintf(&out, "disrupted for %s (the most one poller saw; all pollers at once: %s), %d outages\n", fsec(b.Disruption), fsec(b.SeenByAll), b.Outages)
		if res := b.Result; res.Limit != nil {
			fmt.Fprintf(&out, "budget: allowed %s, limit %s with grace (%s)\n", fsec(sec(*res.Allowed)), fsec(sec(*res.Limit)), res.Source)
		} else {
			out.WriteString("no budget applies\n")
		}
		if k := b.Result.Rank; k != nil {
			fmt.Fprintf(&out, "against history: %s (percentile rank %.0f)\n", k, k.Percentile)
		}
		if b.Cause != "" {
			fmt.Fprintf(&out, "mostly caused by: %s\n", b.Cause)
		}
		for _, o := range r.OutagesOf(b) {
			fmt.Fprintf(&out, "%s\n", o.line())
		}
		if b.Result.Verdict == budget.Exceeded {
			msg := fmt.Sprintf("%s over %s connections was disrupted for %s, over its limit of %s (allowed %s, %s)",
				b.Backend, b.Connection, fsec(b.Disruption), fsec(sec(*b.Result.Limit)), fsec(sec(*b.Result.Allowed)), b.Result.Source)
			if k := b.Result.Rank; k != nil {
				msg += "; " + k.String()
			}
			if l, ok := longest(r.OutagesOf(b)); ok {
				msg += fmt.Sprintf("; the longest outage (%s) during: %s", fsec(l.Duration()), l.CauseText())
			}
			c.Failure = &junitFailure{Type: "DisruptionBudgetExceeded", Message: msg, Text: out.String()}
		} else {
			c.SystemOut = out.String()
			if b.Result.Verdict == budget.Unbudgeted {
				// Not judged: shown as skipped, where a CI system shows
				// it, with what was measured.
				c.Skipped = &junitSkipped{Message: fmt.Sprintf("no budget applies: disrupted for %s, not judged (give --budgets, --budget or --prometheus)", fsec(b.Disruption))}
			}
		}
		dis.add(c)
	}
	all.add(dis, r.Started)
	if len(r.Held) > 0 {
		all.add(r.heldJUnit(span), r.Started)
	}
	var suite *junitSuite
	kind := ""
	flush := func() {
		if suite != nil && len(suite.Cases) > 0 {
			all.add(*suite, r.Started)
		}
	}
	for _, obj := range r.Objects {
		checks := objectChecks(obj.Kind, r.DrainWithin)
		if len(checks) == 0 {
			continue
		}
		if obj.Kind != kind {
			flush()
			kind = obj.Kind
			suite = &junitSuite{Name: suitePrefix + kind}
		}
		for _, ch := range checks {
			c := junitCase{Name: fmt.Sprintf("%s %s %s", strings.ToLower(obj.Kind), objName(obj), ch.should),
				Classname: suite.Name, Time: seconds(span)}
			var bad []string
			for _, st := range obj.Conditions[ch.condition] {
				if ch.bad(st) {
					bad = append(bad, st.line(ch.condition))
				}
			}
			if len(bad) > 0 {
				c.Failure = &junitFailure{Type: ch.failure, Message: fmt.Sprintf("%s %s: %s", obj.ID(), ch.failure, bad[0]),
					Text: strings.Join(bad, "\n") + "\n"}
			}
			suite.add(c)
		}
	}
	flush()
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(all); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func (s *junitSuite) add(c junitCase) {
	s.Tests++
	if c.Failure != nil {
		s.Failures++
	}
	if c.Skipped != nil {
		s.Skipped++
	}
	s.Cases = append(s.Cases, c)
}

func (a *junitSuites) add(s junitSuite, started time.Time) {
	s.Timestamp = started.UTC().Format("2006-01-02T15:04:05")
	s.Time = a.Time
	a.Tests += s.Tests
	a.Failures += s.Failures
	a.Suites = append(a.Suites, s)
}

// check is one JUnit case per object of a kind.
type check struct {
	condition, should, failure string
	bad                        func(State) bool
}

func objectChecks(kind string, drainWithin time.Duration) []check {
	isTrue := func(st State) bool { return st.Status == "True" }
	notTrue := func(st State) bool { return st.Status != "True" }
	switch kind {
	case "ClusterOperator":
		return []check{
			{"Degraded", "should not go Degraded", "Degraded", isTrue},
			{"Available", "should stay Available", "Unavailable", notTrue},
		}
	case "ClusterVersion":
		return []check{{"Failing", "should not report Failing", "Failing", isTrue}}
	case "MachineConfigPool":
		return []check{{"Degraded", "should not go Degraded", "Degraded", isTrue}}
	case "Node":
		return []check{{"Draining", "should drain within " + drainWithin.String(), "DrainTooLong",
			func(st State) bool { return isTrue(st) && st.To.Sub(st.From) > drainWithin }}}
	}
	return nil
}

func objName(o *Object) string {
	if o.Namespace == "" {
		return o.Name
	}
	return o.Namespace + "/" + o.Name
}

// observed is the longest any poller probed the backend, or the report's
// span when no Probing intervals were written.
func (b *Backend) observed(span time.Duration) time.Duration {
	var d time.Duration
	for _, p := range b.Pollers {
		d = max(d, p.Observed)
	}
	if d == 0 {
		return span
	}
	return d
}

// longest is the longest of outs.
func longest(outs []Outage) (Outage, bool) {
	var l Outage
	for _, o := range outs {
		if o.Duration() > l.Duration() {
			l = o
		}
	}
	return l, len(outs) > 0
}

func (o Outage) line() string {
	s := fmt.Sprintf("%s to %s (%s) %s, poller %s", stamp(o.From), stamp(o.To), fsec(o.Duration()), o.Reason, o.Poller)
	if o.Observer {
		s += ", the observer's own trouble"
	}
	if o.Ended != "" {
		s += ", ended: " + o.Ended
	}
	if o.Message != "" {
		s += ": " + o.Message
	}
	if c := o.CauseText(); c != "" {
		s += "; cause: " + c
	}
	return s
}

func (st State) line(cond string) string {
	s := fmt.Sprintf("%s=%s from %s to %s (%s)", cond, st.Status, stamp(st.From), stamp(st.To), fsec(st.To.Sub(st.From)))
	if st.Reason != "" {
		s += " " + st.Reason
	}
	if st.Message != "" {
		s += ": " + st.Message
	}
	return s
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

func fsec(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) }

func sec(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
