package main

import (
	"fmt"
	"testing"
)

func TestParse(t *testing.T) {
	for arg, want := range map[string]string{
		"svc=http://10.0.0.5/":                       `{svc http http://10.0.0.5/ []}`,
		"name=dns://a.b.svc.cluster.local.":          `{name dns a.b.svc.cluster.local. []}`,
		"name=dns://a.b.svc.cluster.local.?want=2,1": `{name dns a.b.svc.cluster.local. [1 2]}`,
		"=http://x/":         `error`,
		"svc=https://x/":     `error`,
		"just-a-url-no-name": `error`,
	} {
		got, err := parse(arg)
		s := fmt.Sprint(got)
		if err != nil {
			s = "error"
		}
		if s != want {
			t.Errorf("parse(%q) = %s (%v), want %s", arg, s, err, want)
		}
	}
}

func TestJournalKeepsNewest(t *testing.T) {
	j := &journal{keep: 4}
	for i := range 10 {
		j.add(Record{Start: int64(i)})
	}
	got := j.since(0)
	if len(got) == 0 || len(got) > 4 || got[len(got)-1].Start != 9 {
		t.Fatalf("kept %v; want at most 4, ending with the newest", got)
	}
	if s := j.since(8); len(s) != 2 {
		t.Fatalf("since 8: %v", s)
	}
}

func TestStallsDuring(t *testing.T) {
	st := &stalls{spans: [][2]int64{{100, 250}, {400, 500}}}
	for _, c := range []struct {
		from, to int64
		want     bool
	}{{0, 99, false}, {0, 100, true}, {260, 399, false}, {450, 460, true}, {501, 600, false}, {200, 450, true}} {
		if got := st.during(c.from, c.to); got != c.want {
			t.Errorf("during(%d, %d) = %v, want %v", c.from, c.to, got, c.want)
		}
	}
}
