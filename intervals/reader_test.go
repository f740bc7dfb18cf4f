package intervals

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// rec returns one record line (with its newline) about backend api.
func rec(id string, state State, from, to time.Duration) string {
	return recFor(id, state, from, to, "Disruption", "api")
}

func recFor(id string, state State, from, to time.Duration, source, backend string) string {
	return fmt.Sprintf(`{"id":%q,"from":%q,"to":%q,"state":%q,"level":"Error","source":%q,`+
		`"locator":{"type":"Disruption","keys":{"backend":%q}},"message":{"reason":"DisruptionBegan","humanMessage":"down"}}`+"\n",
		id, ts(at(from).Time), ts(at(to).Time), state, source, backend)
}

// want returns the summary of a closed interval about backend api.
func want(id string, from, to time.Duration, ann ...string) string {
	return wantFor(id, from, to, "Disruption", "api", ann...)
}

func wantFor(id string, from, to time.Duration, source, backend string, ann ...string) string {
	return fmt.Sprintf("%s %s..%s closed Error %s [Disruption backend=%s] DisruptionBegan/ %v",
		id, ts(at(from).Time), ts(at(to).Time), source, backend, ann)
}

const unclosed = AnnotationUnclosed + "=true"

func TestRead(t *testing.T) {
	s := time.Second
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr []string // prefixes of the lines of the error, in order
	}{
		{
			name: "begin update end",
			in:   rec("a", StateOpen, 0, 0) + rec("a", StateOpen, 0, s) + rec("a", StateClosed, 0, 2*s),
			want: []string{want("a", 0, 2*s)},
		},
		{
			name: "closed record beats a later open one",
			in:   rec("a", StateOpen, 0, 0) + rec("a", StateClosed, 0, 2*s) + rec("a", StateOpen, 0, 3*s),
			want: []string{want("a", 0, 2*s)},
		},
		{
			name: "last closed record wins",
			in:   rec("a", StateClosed, 0, 2*s) + rec("a", StateClosed, 0, 4*s),
			want: []string{want("a", 0, 4*s)},
		},
		{
			name: "writer killed mid-outage: unclosed ends at the latest time of the file",
			in: rec("a", StateOpen, 0, 0) + rec("a", StateOpen, 0, s) +
				rec("b", StateOpen, 5*s, 5*s) + rec("b", StateClosed, 5*s, 7*s),
			want: []string{want("a", 0, 7*s, unclosed), want("b", 5*s, 7*s)},
		},
		{
			name: "latest time may be a From",
			in:   rec("a", StateOpen, 0, s) + rec("b", StateOpen, 9*s, 9*s),
			want: []string{want("a", 0, 9*s, unclosed), want("b", 9*s, 9*s, unclosed)},
		},
		{
			name: "annotations kept next to unclosed",
			in: `{"id":"a","from":"2026-11-27T15:00:00Z","to":"2026-11-27T15:00:01Z","state":"open","level":"Error",` +
				`"source":"Disruption","locator":{"type":"Disruption","keys":{"backend":"api"}},` +
				`"message":{"reason":"DisruptionBegan","humanMessage":"down","annotations":{"status":"503"}}}` + "\n",
			want: []string{want("a", 0, s, "status=503", unclosed)},
		},
		{
			name: "torn last line skipped",
			in:   rec("a", StateClosed, 0, s) + rec("b", StateOpen, 2*s, 2*s) + `{"id":"b","from":"2026-11-27T15:0`,
			want: []string{want("a", 0, s), want("b", 2*s, 2*s, unclosed)},
		},
		{
			name: "whole last line without newline kept",
			in:   rec("a", StateOpen, 0, s) + strings.TrimSuffix(rec("a", StateClosed, 0, 3*s), "\n"),
			want: []string{want("a", 0, 3*s)},
		},
		{
			name:    "bad last line with its newline is an error",
			in:      rec("a", StateClosed, 0, s) + "{\"id\":\n",
			want:    []string{want("a", 0, s)},
			wantErr: []string{"intervals.jsonl:2: invalid record: "},
		},
		{
			name: "bad middle lines are errors, the rest is read",
			in: rec("a", StateOpen, 0, 0) + "not json\n" + rec("a", StateClosed, 0, s) +
				`{"id":"c","to":"2026-11-27T15:00:01Z","state":"closed"}` + "\n" + rec("b", StateClosed, 0, 2*s),
			want: []string{want("a", 0, s), want("b", 0, 2*s)},
			wantErr: []string{
				"intervals.jsonl:2: invalid record: invalid character 'o' in literal null",
				`intervals.jsonl:4: invalid record: missing "from"`,
			},
		},
		{
			name: "invalid records",
			in: `{"id":"a","from":"2026-11-27T15:00:00Z"}` + "\n" +
				`{"id":"a","from":"2026-11-27T15:00:00Z","state":"ended"}` + "\n" +
				`{"id":"a","from":"2026-11-27T15:00:02Z","to":"2026-11-27T15:00:01Z","state":"closed"}` + "\n" +
				`{"id":"a","from":"15:00","state":"closed"}` + "\n" +
				`[]` + "\n" + `null` + "\n",
			wantErr: []string{
				`intervals.jsonl:1: invalid record: missing "state"`,
				`intervals.jsonl:2: invalid record: "state" is "ended", want "open" or "closed"`,
				`intervals.jsonl:3: invalid record: "to" 2026-11-27T15:00:01.000000000Z is before "from" 2026-11-27T15:00:02.000000000Z`,
				`intervals.jsonl:4: invalid record: `,
				`intervals.jsonl:5: invalid record: `,
				`intervals.jsonl:6: invalid record: missing "from"`,
			},
		},
		{
			name:    "blank lines skipped but counted",
			in:      "\n" + rec("a", StateClosed, 0, s) + "   \r\n\n" + "{\n" + rec("b", StateClosed, s, s),
			want:    []string{want("a", 0, s), want("b", s, s)},
			wantErr: []string{"intervals.jsonl:5: invalid record: "},
		},
		{
			name: "missing to means To = From; unknown fields ignored",
			in:   `{"id":"p","from":"2026-11-27T15:00:03Z","state":"closed","level":"Error","source":"Disruption","locator":{"type":"Disruption","keys":{"backend":"api"}},"message":{"reason":"DisruptionBegan"},"future":1}` + "\n",
			want: []string{want("p", 3*s, 3*s)},
		},
		{
			name: "records without an ID are intervals of their own",
			in:   rec("", StateClosed, 0, s) + rec("", StateClosed, 0, s) + rec("", StateOpen, 2*s, 2*s),
			want: []string{want("", 0, s), want("", 0, s), want("", 2*s, 2*s, unclosed)},
		},
		{
			name: "sorted by From, then Source, then locator",
			in: recFor("1", StateClosed, 2*s, 3*s, "Disruption", "api") +
				recFor("2", StateClosed, s, 9*s, "Disruption", "oauth") +
				recFor("3", StateClosed, s, 2*s, "Certificate", "api") +
				recFor("4", StateClosed, s, 5*s, "Disruption", "console"),
			want: []string{
				wantFor("3", s, 2*s, "Certificate", "api"),
				wantFor("4", s, 5*s, "Disruption", "console"),
				wantFor("2", s, 9*s, "Disruption", "oauth"),
				wantFor("1", 2*s, 3*s, "Disruption", "api"),
			},
		},
		{
			name: "empty",
			in:   "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One byte at a time, so that no line arrives in one piece.
			got, err := Read(iotest.OneByteReader(strings.NewReader(tt.in)), "intervals.jsonl")
			checkErr(t, err, tt.wantErr)
			diffLines(t, summaries(got), tt.want)
			for _, iv := range got {
				if iv.State != StateClosed {
					t.Errorf("interval %s has state %q", iv.ID, iv.State)
				}
			}
		})
	}
}

// checkErr checks that err has one line per wanted prefix, each with its prefix.
func checkErr(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Errorf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("error:\n%v\nwant %d lines starting with %q", err, len(want), want)
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, want[i]) {
			t.Errorf("error line %d = %q, want prefix %q", i+1, l, want[i])
		}
	}
}

func TestReadError(t *testing.T) {
	r := iotest.TimeoutReader(strings.NewReader(rec("a", StateClosed, 0, time.Second)))
	got, err := Read(r, "pipe")
	checkErr(t, err, []string{"intervals: read pipe: timeout"})
	diffLines(t, summaries(got), []string{want("a", 0, time.Second)})
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node-1.jsonl")
	if err := os.WriteFile(path, []byte(rec("a", StateOpen, 0, 0)+"oops\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	checkErr(t, err, []string{path + ":2: invalid record: "})
	diffLines(t, summaries(got), []string{want("a", 0, 0, unclosed)})

	missing := filepath.Join(dir, "missing.jsonl")
	_, err = ReadFile(missing)
	checkErr(t, err, []string{"intervals: open " + missing + ": no such file or directory"})
}

// A torn last line is skipped with a warning that names the file.
func TestReadFileWarnTorn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "intervals.jsonl")
	good := `{"id":"1","from":"2026-11-27T10:00:00Z","to":"2026-11-27T10:00:01Z","state":"closed","level":"Error","source":"Disruption","locator":{"type":"Disruption","keys":{"backend":"a"}},"message":{"reason":"DisruptionEnded"}}` + "\n"
	if err := os.WriteFile(path, []byte(good+`{"id":"2","from":"2026-11-27T10:0`), 0o600); err != nil {
		t.Fatal(err)
	}
	ivs, warns, err := ReadFileWarn(path)
	if err != nil || len(ivs) != 1 {
		t.Fatalf("read %d intervals, err %v; want the one complete record and no error", len(ivs), err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], path) || !strings.Contains(warns[0], "torn") {
		t.Fatalf("warnings %q: want one naming %s and the torn line", warns, path)
	}
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, warns, _ := ReadFileWarn(path); len(warns) != 0 {
		t.Fatalf("warnings %q for a whole file", warns)
	}
}
