package intervals

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// base is the time all test times count from.
var base = time.Date(2026, 11, 27, 15, 0, 0, 0, time.UTC)

// at returns base + d.
func at(d time.Duration) Time { return Time{base.Add(d)} }

// ts formats a time as the tests' expected values do.
func ts(t time.Time) string { return t.UTC().Format(timeLayout) }

// summary renders an interval on one line, for comparisons with readable diffs.
func summary(iv Interval) string {
	var ann []string
	for k, v := range iv.Message.Annotations {
		ann = append(ann, k+"="+v)
	}
	slices.Sort(ann)
	return fmt.Sprintf("%s %s..%s %s %s %s [%s] %s/%s %v",
		iv.ID, ts(iv.From.Time), ts(iv.To.Time), iv.State, iv.Level, iv.Source,
		iv.Locator, iv.Message.Reason, iv.Message.Cause, ann)
}

func summaries(ivs []Interval) []string {
	out := make([]string, len(ivs))
	for i, iv := range ivs {
		out[i] = summary(iv)
	}
	return out
}

func diffLines(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestTimeMarshal(t *testing.T) {
	tests := []struct {
		name string
		in   time.Time
		want string
	}{
		{"nanoseconds", time.Date(2026, 11, 27, 15, 4, 5, 123456789, time.UTC), `"2026-11-27T15:04:05.123456789Z"`},
		{"zero nanoseconds", time.Date(2026, 11, 27, 15, 4, 5, 0, time.UTC), `"2026-11-27T15:04:05.000000000Z"`},
		{"trailing zeros kept", time.Date(2026, 11, 27, 15, 4, 5, 100000000, time.UTC), `"2026-11-27T15:04:05.100000000Z"`},
		{"one nanosecond", time.Date(2026, 11, 27, 15, 4, 5, 1, time.UTC), `"2026-11-27T15:04:05.000000001Z"`},
		{"other zone to UTC", time.Date(2026, 11, 27, 17, 4, 5, 42, time.FixedZone("EET", 2*3600)), `"2026-11-27T15:04:05.000000042Z"`},
		{"monotonic reading ignored", time.Now(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(Time{tt.in})
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != "" && string(b) != tt.want {
				t.Errorf("Marshal = %s, want %s", b, tt.want)
			}
			if len(b) != len(`"2026-11-27T15:04:05.123456789Z"`) {
				t.Errorf("Marshal = %s: not 9 fractional digits in UTC", b)
			}
			var back Time
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !back.Equal(tt.in) {
				t.Errorf("round trip = %v, want %v", back, tt.in)
			}
			if back.Location() != time.UTC {
				t.Errorf("round trip location = %v, want UTC", back.Location())
			}
		})
	}
}

func TestTimeUnmarshal(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{in: `"2026-11-27T15:04:05Z"`, want: time.Date(2026, 11, 27, 15, 4, 5, 0, time.UTC)},
		{in: `"2026-11-27T15:04:05.5Z"`, want: time.Date(2026, 11, 27, 15, 4, 5, 500000000, time.UTC)},
		{in: `"2026-11-27T16:04:05.123456789+01:00"`, want: time.Date(2026, 11, 27, 15, 4, 5, 123456789, time.UTC)},
		{in: `null`},
		{in: `"2026-11-27 15:04:05Z"`, wantErr: true},
		{in: `"yesterday"`, wantErr: true},
		{in: `1764255845`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got Time
			err := json.Unmarshal([]byte(tt.in), &got)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !got.Equal(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTimeMarshalOutOfRange(t *testing.T) {
	if b, err := json.Marshal(Time{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Errorf("Marshal of year 10000 = %s, want an error", b)
	}
}

func TestIntervalJSON(t *testing.T) {
	iv := Interval{
		ID: "a-1", From: at(0), To: at(1500 * time.Millisecond), State: StateClosed,
		Level: LevelError, Source: "Disruption",
		Locator: Locator{Type: "Disruption", Keys: map[string]string{"backend": "api"}},
		Message: Message{Reason: "DisruptionBegan", HumanMessage: "api <down> & out"},
	}
	b, err := json.Marshal(iv)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"a-1","from":"2026-11-27T15:00:00.000000000Z","to":"2026-11-27T15:00:01.500000000Z",` +
		`"state":"closed","level":"Error","source":"Disruption","locator":{"type":"Disruption","keys":{"backend":"api"}},` +
		`"message":{"reason":"DisruptionBegan","humanMessage":"api \u003cdown\u003e \u0026 out"}}`
	if string(b) != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", b, want)
	}
	if got := iv.Duration(); got != 1500*time.Millisecond {
		t.Errorf("Duration = %v, want 1.5s", got)
	}
}

func TestLocatorString(t *testing.T) {
	tests := []struct {
		in   Locator
		want string
	}{
		{Locator{Type: "Disruption"}, "Disruption"},
		{Locator{Type: "Disruption", Keys: map[string]string{"poller": "node-1", "backend": "api", "connection": "new"}},
			"Disruption backend=api connection=new poller=node-1"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}
