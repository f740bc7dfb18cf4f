package intervals

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ReadFiles reads every file as ReadFile does, pairing the records of each file on its own (the
// same ID in two files means two intervals), and merges the results as Merge does. It reports
// the errors of all files at once (errors.Join) and still returns what it could read.
func ReadFiles(paths ...string) ([]Interval, error) {
	sets := make([][]Interval, 0, len(paths))
	var errs []error
	for _, p := range paths {
		ivs, err := ReadFile(p)
		if err != nil {
			errs = append(errs, err)
		}
		sets = append(sets, ivs)
	}
	return Merge(sets...), errors.Join(errs...)
}

// Merge returns the intervals of all sets in one new slice, sorted by From, then Source, then
// locator. It does not change the sets; the intervals share their maps with them.
func Merge(sets ...[]Interval) []Interval {
	n := 0
	for _, s := range sets {
		n += len(s)
	}
	ivs := make([]Interval, 0, n)
	for _, s := range sets {
		ivs = append(ivs, s...)
	}
	sortIntervals(ivs)
	return ivs
}

// Glob returns the paths of the interval streams in dir, sorted: every file named *.jsonl,
// except that files rotated from one stream ("intervals-000001.jsonl" from "intervals.jsonl")
// are left out and their stream's path is listed once instead, for ReadFile to read as one. It
// does not descend into subdirectories.
func Glob(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("intervals: %w", err)
	}
	seen := map[string]bool{}
	var paths []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".jsonl") {
			continue
		}
		if head, ok := rotatedHead(name); ok {
			name = head
		}
		if !seen[name] {
			seen[name] = true
			paths = append(paths, filepath.Join(dir, name))
		}
	}
	slices.Sort(paths)
	return paths, nil
}

// Filter returns the intervals whose Source is source, in their order, in a new slice.
func Filter(ivs []Interval, source string) []Interval {
	var out []Interval
	for _, iv := range ivs {
		if iv.Source == source {
			out = append(out, iv)
		}
	}
	return out
}

// Span is a stretch of time.
type Span struct{ From, To time.Time }

// Duration is To - From.
func (s Span) Duration() time.Duration { return s.To.Sub(s.From) }

// Union merges intervals that overlap or touch into disjoint spans, sorted by From: for example
// the outages of one backend as seen by several pollers. An interval with To before From counts
// as the instant From; instants are kept as spans of zero length unless they fall inside or at
// the edge of another span.
func Union(ivs []Interval) []Span {
	spans := make([]Span, 0, len(ivs))
	for _, iv := range ivs {
		s := Span{From: iv.From.Time, To: iv.To.Time}
		if s.To.Before(s.From) {
			s.To = s.From
		}
		spans = append(spans, s)
	}
	slices.SortFunc(spans, func(a, b Span) int { return a.From.Compare(b.From) })
	var out []Span
	for _, s := range spans {
		if n := len(out); n > 0 && !s.From.After(out[n-1].To) {
			if s.To.After(out[n-1].To) {
				out[n-1].To = s.To
			}
			continue
		}
		out = append(out, s)
	}
	return out
}

// TotalDuration is the sum of the spans' durations; spans that end before they begin count as
// zero. For spans from Union it is the time during which at least one interval was going on.
func TotalDuration(spans []Span) time.Duration {
	var d time.Duration
	for _, s := range spans {
		if s.To.After(s.From) {
			d += s.To.Sub(s.From)
		}
	}
	return d
}
