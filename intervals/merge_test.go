package intervals

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestReadFiles(t *testing.T) {
	s := time.Second
	tests := []struct {
		name    string
		files   map[string]string // name -> content; "missing.jsonl" is not created
		want    []string
		wantErr []string
	}{
		{
			name: "same IDs in two files stay distinct, each paired in its file",
			files: map[string]string{
				"node-1.jsonl": recFor("x-1", StateOpen, 0, s, "Disruption", "api") + recFor("x-1", StateClosed, 0, 2*s, "Disruption", "api"),
				"node-2.jsonl": recFor("x-1", StateOpen, s, s, "Disruption", "oauth") + recFor("x-2", StateClosed, 3*s, 5*s, "Disruption", "oauth"),
			},
			want: []string{
				wantFor("x-1", 0, 2*s, "Disruption", "api"),
				// Unclosed: ends at the latest time of its own file (5s), not of node-1's.
				wantFor("x-1", s, 5*s, "Disruption", "oauth", unclosed),
				wantFor("x-2", 3*s, 5*s, "Disruption", "oauth"),
			},
		},
		{
			name: "errors of all files joined, the rest still read",
			files: map[string]string{
				"a.jsonl":       rec("a", StateClosed, 0, s) + "garbage\n" + rec("b", StateClosed, s, s),
				"b.jsonl":       rec("a", StateClosed, 2*s, 3*s),
				"missing.jsonl": "",
			},
			want: []string{want("a", 0, s), want("b", s, s), want("a", 2*s, 3*s)},
			wantErr: []string{
				"DIR/a.jsonl:2: invalid record: ",
				"intervals: open DIR/missing.jsonl: no such file or directory",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var paths []string
			for name, content := range tt.files {
				p := filepath.Join(dir, name)
				paths = append(paths, p)
				if name != "missing.jsonl" {
					must(t, os.WriteFile(p, []byte(content), 0o644))
				}
			}
			slices.Sort(paths)
			got, err := ReadFiles(paths...)
			var wantErr []string
			for _, w := range tt.wantErr {
				wantErr = append(wantErr, strings.ReplaceAll(w, "DIR", dir))
			}
			checkErr(t, err, wantErr)
			diffLines(t, summaries(got), tt.want)
		})
	}
}

func TestMerge(t *testing.T) {
	s := time.Second
	a := []Interval{ivAt("1", 2*s, 3*s, "Disruption"), ivAt("2", 5*s, 6*s, "Disruption")}
	b := []Interval{ivAt("1", 2*s, 4*s, "Certificate"), ivAt("3", 0, s, "Disruption")}
	got := Merge(a, nil, b)
	diffLines(t, ids(got), []string{"3", "1/Certificate", "1/Disruption", "2"})
	diffLines(t, ids(a), []string{"1/Disruption", "2"}) // inputs untouched
	if got := Merge(); len(got) != 0 {
		t.Errorf("Merge() = %v", got)
	}
}

func TestFilter(t *testing.T) {
	s := time.Second
	ivs := []Interval{ivAt("1", 0, s, "Disruption"), ivAt("2", 0, s, "Certificate"), ivAt("3", 0, s, "Disruption")}
	tests := []struct {
		source string
		want   []string
	}{
		{"Disruption", []string{"1/Disruption", "3"}},
		{"Certificate", []string{"2"}},
		{"ClusterOperator", nil},
	}
	for _, tt := range tests {
		t.Run(tt.source, func(t *testing.T) {
			diffLines(t, ids(Filter(ivs, tt.source)), tt.want)
		})
	}
}

func ivAt(id string, from, to time.Duration, source string) Interval {
	return Interval{ID: id, From: at(from), To: at(to), State: StateClosed, Source: source}
}

func ids(ivs []Interval) []string {
	var out []string
	for _, iv := range ivs {
		if iv.ID == "1" {
			out = append(out, iv.ID+"/"+iv.Source)
			continue
		}
		out = append(out, iv.ID)
	}
	return out
}

func TestUnion(t *testing.T) {
	s := time.Second
	span := func(from, to time.Duration) Span { return Span{From: base.Add(from), To: base.Add(to)} }
	iv := func(from, to time.Duration) Interval { return ivAt("", from, to, "Disruption") }
	tests := []struct {
		name  string
		in    []Interval
		want  []Span
		total time.Duration
	}{
		{name: "none"},
		{
			name:  "overlapping from several pollers",
			in:    []Interval{iv(2*s, 5*s), iv(0, 3*s), iv(4*s, 6*s), iv(10*s, 11*s)},
			want:  []Span{span(0, 6*s), span(10*s, 11*s)},
			total: 7 * s,
		},
		{
			name:  "touching merge, a gap does not",
			in:    []Interval{iv(0, s), iv(s, 2*s), iv(2*s+1, 3*s)},
			want:  []Span{span(0, 2*s), span(2*s+1, 3*s)},
			total: 3*s - 1,
		},
		{
			name:  "contained",
			in:    []Interval{iv(0, 10*s), iv(2*s, 3*s), iv(9*s, 10*s)},
			want:  []Span{span(0, 10*s)},
			total: 10 * s,
		},
		{
			name:  "instants: alone kept, inside absorbed; to before from is an instant",
			in:    []Interval{iv(s, s), iv(5*s, 6*s), iv(6*s, 6*s), iv(9*s, 8*s)},
			want:  []Span{span(s, s), span(5*s, 6*s), span(9*s, 9*s)},
			total: s,
		},
		{
			name:  "nanoseconds",
			in:    []Interval{iv(1, 3), iv(2, 4)},
			want:  []Span{span(1, 4)},
			total: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Union(tt.in)
			if !slices.EqualFunc(got, tt.want, func(a, b Span) bool { return a.From.Equal(b.From) && a.To.Equal(b.To) }) {
				t.Errorf("Union = %v, want %v", got, tt.want)
			}
			if d := TotalDuration(got); d != tt.total {
				t.Errorf("TotalDuration = %v, want %v", d, tt.total)
			}
		})
	}
}

func TestTotalDurationIgnoresNegative(t *testing.T) {
	spans := []Span{{From: base, To: base.Add(time.Second)}, {From: base.Add(time.Minute), To: base}}
	if d := TotalDuration(spans); d != time.Second {
		t.Errorf("TotalDuration = %v, want 1s", d)
	}
	if d := spans[0].Duration(); d != time.Second {
		t.Errorf("Span.Duration = %v, want 1s", d)
	}
}

func TestGlob(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.jsonl", "a.jsonl", "c.json", "notes.txt", "a.jsonl.tmp"} {
		must(t, os.WriteFile(filepath.Join(dir, name), nil, 0o644))
	}
	must(t, os.Mkdir(filepath.Join(dir, "dir.jsonl"), 0o755))
	got, err := Glob(dir)
	must(t, err)
	diffLines(t, got, []string{filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")})

	if _, err := Glob(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Glob of a missing dir: error = %v", err)
	}
}
