package yamlerr

import (
	"errors"
	"regexp"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// A schema with every kind of field the readers have.
type testFile struct {
	Name     string            `yaml:"name"`
	Enabled  bool              `yaml:"enabled"`
	DryRun   *bool             `yaml:"dry_run"`
	Count    int               `yaml:"count"`
	Factor   float64           `yaml:"factor"`
	Timeout  time.Duration     `yaml:"timeout"`
	Wait     testDuration      `yaml:"wait"`
	Codes    []int             `yaml:"codes"`
	Labels   map[string]string `yaml:"labels"`
	Grace    testGrace         `yaml:"grace"`
	Items    []testItem        `yaml:"items"`
	Schedule `yaml:",inline"`

	hidden int // not a YAML key
}

type Schedule struct {
	Interval string `yaml:"interval"`
}

type testGrace struct {
	Add string `yaml:"add"`
}

type testItem struct {
	Backend    string     `yaml:"backend"`
	Allowed    *string    `yaml:"allowed"`
	HTTP       *testHTTP  `yaml:"http"`
	TCP        *testTCP   `yaml:"tcp"`
	Hold       *testHold  `yaml:"hold"`
	NoDefaults testNoTags `yaml:"no_tags"`
}

type testHTTP struct {
	URL  string `yaml:"url"`
	Name string `yaml:"name"`
}

type testTCP struct {
	Address string `yaml:"address"`
	Name    string `yaml:"name"`
}

type testHold struct {
	Stream string `yaml:"stream"`
}

type testNoTags struct {
	MaxBytes int
}

// testDuration reads itself, with NodeError.
type testDuration time.Duration

func (d *testDuration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return NodeError(n, "expected a duration like 10m, got %s", Describe(n))
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return NodeError(n, "expected a duration like 10m, got %q", n.Value)
	}
	*d = testDuration(v)
	return nil
}

// decoderWords are the YAML library's: tags, Go types, its phrases.
var decoderWords = regexp.MustCompile(`!!|yamlerr\.|testFile|testItem|\b(int|bool|float64|time\.Duration)\b|cannot unmarshal|not found in type`)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string // want: Err's text, "" for none
	}{
		{name: "valid", in: `
name: a
enabled: true
dry_run: false
count: 3
factor: 1.5
timeout: 1.5s
wait: 10m
codes: [200, 204]
labels: {a: b}
grace: {add: 1s}
interval: 1s
items:
  - backend: web
    allowed: 2s
    http: {url: "http://a/"}
`},
		{name: "unknown field, did you mean", in: "name: a\ncuont: 3\n",
			want: `f.yaml:2: cuont: unknown field; did you mean "count"?`},
		{name: "unknown field, case", in: "Name: a\n",
			want: `f.yaml:1: Name: unknown field; did you mean "name"?`},
		{name: "unknown field of an inlined struct", in: "intervall: 1s\n",
			want: `f.yaml:1: intervall: unknown field; did you mean "interval"?`},
		{name: "unknown field in a list item", in: "items:\n  - backend: a\n    alowed: 1s\n",
			want: `f.yaml:3: items[0].alowed: unknown field; did you mean "allowed"?`},
		{name: "unknown field held whole by a known one", in: "items:\n  - back: a\n",
			want: `f.yaml:2: items[0].back: unknown field; did you mean "backend"?`},
		{name: "unknown field, too short to be held", in: "items:\n  - end: a\n",
			want: `f.yaml:2: items[0].end: unknown field`},
		{name: "unknown field of a struct without tags", in: "items:\n  - no_tags: {max_bytes: 1}\n",
			want: `f.yaml:2: items[0].no_tags.max_bytes: unknown field; did you mean "maxbytes"?`},
		{name: "an unexported field is no key", in: "hidden: 1\n",
			want: `f.yaml:1: hidden: unknown field`},
		{name: "unknown field, nothing close", in: "zzzzzz: 1\n",
			want: `f.yaml:1: zzzzzz: unknown field`},
		{name: "a field written a level too high", in: "items:\n  - backend: a\n    url: http://a/\n",
			want: `f.yaml:3: items[0].url: unknown field; url belongs under http:`},
		{name: "a field of several nested mappings", in: "items:\n  - backend: a\n    address: a:1\n    name: x\n",
			want: "f.yaml:3: items[0].address: unknown field; address belongs under tcp:\n" +
				"f.yaml:4: items[0].name: unknown field; name belongs under one of http:, tcp:"},
		{name: "a field of a list's items", in: "backend: a\n",
			want: `f.yaml:1: backend: unknown field; backend belongs under items:`},
		{name: "a boolean", in: "enabled: maybe\n",
			want: `f.yaml:1: enabled: expected a boolean (true or false), got "maybe"`},
		{name: "a boolean behind a pointer", in: "dry_run: yes please\n",
			want: `f.yaml:1: dry_run: expected a boolean (true or false), got "yes please"`},
		{name: "an integer", in: "count: many\n",
			want: `f.yaml:1: count: expected an integer, got "many"`},
		{name: "a number", in: "factor: lots\n",
			want: `f.yaml:1: factor: expected a number, got "lots"`},
		{name: "a string", in: "name: [a, b]\n",
			want: `f.yaml:1: name: expected a string, got a list`},
		{name: "a time.Duration", in: "timeout: soon\n",
			want: `f.yaml:1: timeout: expected a duration like 1.5s, got "soon"`},
		{name: "a list", in: "codes: 200\n",
			want: `f.yaml:1: codes: expected a list, got "200"`},
		{name: "a list item", in: "codes: [200, abc]\n",
			want: `f.yaml:1: codes[1]: expected an integer, got "abc"`},
		{name: "a mapping", in: "labels: [a]\ngrace: 1s\n",
			want: "f.yaml:1: labels: expected a mapping, got a list\nf.yaml:2: grace: expected a mapping, got \"1s\""},
		{name: "a long value, cut by the decoder", in: "count: a-rather-long-value\n",
			want: `f.yaml:1: count: expected an integer, got "a-rather-long-value"`},
		{name: "nested on one line", in: "items: [{backend: [a]}]\n",
			want: `f.yaml:1: items[0].backend: expected a string, got a list`},
		{name: "the root", in: "just a string\n",
			want: `f.yaml:1: expected a mapping, got "just a string"`},
		{name: "a type's own error", in: "wait: 10\nitems:\n  - backend: a\n",
			want: `f.yaml:1: wait: expected a duration like 10m, got "10"`},
		{name: "a type's own error, not a scalar", in: "grace: {add: 1s}\nwait: [1m]\n",
			want: `f.yaml:2: wait: expected a duration like 10m, got a list`},
		{name: "duplicate key", in: "grace: {add: 1s}\nlabels:\n  a: b\n  a: c\n",
			want: `f.yaml:4: labels.a: duplicate key, first defined at line 3`},
		{name: "every problem at once, by line", in: "count: x\nenabled: maybe\nnmae: a\n",
			want: "f.yaml:1: count: expected an integer, got \"x\"\n" +
				"f.yaml:2: enabled: expected a boolean (true or false), got \"maybe\"\n" +
				"f.yaml:3: nmae: unknown field; did you mean \"name\"?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v testFile
			doc, err := Decode([]byte(tc.in), "f.yaml", &v)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			err = doc.Err()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("error:\n%v\nwant none", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Errorf("error:\n%v\nwant:\n%s", err, tc.want)
			}
			if err != nil && decoderWords.MatchString(err.Error()) {
				t.Errorf("error %q has the decoder's words %q", err, decoderWords.FindString(err.Error()))
			}
		})
	}
}

// Files nothing can be decoded from: one error, no Doc.
func TestDecodeNothing(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", ErrEmpty.Error()},
		{"comments only", "# nothing\n", ErrEmpty.Error()},
		{"syntax", "name: a\nlabels: {a: b\n", "f.yaml:1: did not find expected ',' or '}'"},
		{"tab", "name: a\n\tcount: 1\n", "f.yaml:2: found a tab character that violates indentation"},
		{"two documents", "name: a\n---\nname: b\n", "f.yaml:2: only one YAML document is allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v testFile
			doc, err := Decode([]byte(tc.in), "f.yaml", &v)
			if doc != nil || err == nil || err.Error() != tc.want {
				t.Errorf("Decode = %v, %v; want no doc and %s", doc, err, tc.want)
			}
			if tc.want == ErrEmpty.Error() && !errors.Is(err, ErrEmpty) {
				t.Errorf("%v is not ErrEmpty", err)
			}
		})
	}
}

// Problems the reader adds go on the line of their field, or of its
// nearest ancestor in the file; those following from a decoding problem
// are left out.
func TestAdd(t *testing.T) {
	in := `name: a
items:
  - backend: web
    allowed: -1s
  - backend: ""
    http: {url: 1}
  - backend: c
    http: [x]
codes: [1]
`
	var v testFile
	doc, err := Decode([]byte(in), "f.yaml", &v)
	if err != nil {
		t.Fatal(err)
	}
	doc.Add("items[0].allowed", "must not be negative, got %s", *v.Items[0].Allowed)
	doc.Add("items[1].backend", "required")
	doc.Add("items[1].hold", "required")        // absent: the item's line
	doc.Add("items[2].http", "expected a URL")  // follows from http's own problem
	doc.Add("items[2]", "expected http or tcp") // holds it: follows too
	doc.Add("items[2].http.url", "required")    // in it: follows too
	doc.Add("codes[0]", "expected a status code, got %d", v.Codes[0])
	doc.Add("", "no targets")
	want := `f.yaml: no targets
f.yaml:4: items[0].allowed: must not be negative, got -1s
f.yaml:5: items[1].backend: required
f.yaml:5: items[1].hold: required
f.yaml:8: items[2].http: expected a mapping, got a list
f.yaml:9: codes[0]: expected a status code, got 1`
	if err := doc.Err(); err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
	// Each problem is an *Error with the file and, where known, the line.
	var n int
	for _, e := range doc.Err().(interface{ Unwrap() []error }).Unwrap() {
		var ye *Error
		if !errors.As(e, &ye) || ye.File != "f.yaml" {
			t.Errorf("%v (%T): not an *Error of f.yaml", e, e)
		}
		n++
	}
	if n != 6 {
		t.Errorf("%d problems, want 6", n)
	}
	if l := doc.Line("items[1].http.url"); l != 6 {
		t.Errorf("Line(items[1].http.url) = %d, want 6", l)
	}
	if l := doc.Line("nowhere.at.all"); l != 0 {
		t.Errorf("Line of a path outside the file = %d, want 0", l)
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{File: "z.yaml", Line: 12, Path: "targets[2].http.url", Msg: "m"}, "z.yaml:12: targets[2].http.url: m"},
		{Error{File: "z.yaml", Path: "targets", Msg: "m"}, "z.yaml: targets: m"},
		{Error{File: "z.yaml", Line: 3, Msg: "m"}, "z.yaml:3: m"},
		{Error{Line: 3, Path: "a", Msg: "m"}, "line 3: a: m"},
		{Error{Path: "a", Msg: "m"}, "a: m"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.e, got, tc.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"alowed", "allowed", 1}, {"cooldwn", "cooldown", 1},
		{"intreval", "interval", 2}, {"abc", "", 3}, {"kitten", "sitting", 3},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
