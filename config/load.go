package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads the file at path and parses it with Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// Parse decodes one YAML document strictly (unknown fields are errors),
// validates it and returns it resolved (see Config.Resolved): every
// target has every default applied; Defaults stays as written.
//
// Relative file names (tls.*_file, bearer_token_file) are taken relative
// to the directory of filename, and returned joined with it. filename also
// prefixes every error; it may be a display name such as "zerodown.yaml".
//
// All problems are returned at once, joined with errors.Join, one
// *FieldError per problem, ordered by line:
//
//	zerodown.yaml:12: targets[2].http.url: expected an absolute http://, https:// or h2c:// URL, got "foo"
//
// An empty file, or one without targets, is valid: the CLI may add targets
// from flags. A caller that needs targets checks len(c.Targets).
func Parse(data []byte, filename string) (*Config, error) {
	return ParseWith(data, filename, Schedule{})
}

// ParseWith is Parse with the command line's schedule flags: the non-zero
// fields of flags replace those of the file's defaults block before the
// targets are resolved, so they reach every target that sets none (a
// target's own field still wins).
func ParseWith(data []byte, filename string, flags Schedule) (*Config, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return (&Config{Defaults: flags.Over(Schedule{})}).Resolved(), nil
		}
		return nil, yamlError(filename, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, yamlError(filename, err)
		}
		return nil, &FieldError{File: filename, Line: extra.Line, Msg: "only one YAML document is allowed"}
	}
	idx := indexNodes(&doc)

	// Decoding problems: syntax is fine, but types, unknown fields,
	// durations and regexps. yaml.v3 collects these and keeps going.
	var c Config
	var errs []*FieldError
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(&c); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, yamlError(filename, err)
		}
		for _, msg := range te.Errors {
			errs = append(errs, idx.decodeError(msg))
		}
	}

	c.joinFileDir(filepath.Dir(filename))

	var p problems
	c.validate(&p)
	for _, e := range p.list {
		if suppressed(e.Path, errs) {
			continue
		}
		e.Line = idx.line(e.Path)
		errs = append(errs, e)
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b *FieldError) int { return cmp.Compare(a.Line, b.Line) })
		joined := make([]error, len(errs))
		for i, e := range errs {
			e.File = filename
			joined[i] = e
		}
		return nil, errors.Join(joined...)
	}
	c.Defaults = flags.Over(c.Defaults)
	return c.Resolved(), nil
}

// suppressed reports whether a validation problem at path follows from a
// decoding problem: the field itself, something in it, or the object that
// holds it (a target whose http: failed to decode has no kind).
func suppressed(path string, decodeErrs []*FieldError) bool {
	for _, d := range decodeErrs {
		if d.Path == "" || path == d.Path || path == parentPath(d.Path) ||
			strings.HasPrefix(path, d.Path+".") || strings.HasPrefix(path, d.Path+"[") {
			return true
		}
	}
	return false
}

// joinFileDir makes relative file names relative to dir.
func (c *Config) joinFileDir(dir string) {
	if dir == "." || dir == "" {
		return
	}
	rel := func(name *string) {
		if *name != "" && !filepath.IsAbs(*name) {
			*name = filepath.Join(dir, *name)
		}
	}
	for i := range c.Targets {
		if h := c.Targets[i].HTTP; h != nil {
			rel(&h.TLS.CAFile)
			rel(&h.TLS.CertFile)
			rel(&h.TLS.KeyFile)
			rel(&h.BearerTokenFile)
		}
	}
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a YAML syntax error into a FieldError.
func yamlError(filename string, err error) error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &FieldError{File: filename, Line: line, Msg: m[2]}
	}
	return &FieldError{File: filename, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

// nodeIndex maps field paths to the nodes of the document, to put lines
// on validation problems and paths on yaml.v3's decoding problems.
type nodeIndex struct {
	lines   map[string]int // path -> line of its key (or list item)
	entries []nodeEntry    // every key and value, in document order
}

type nodeEntry struct {
	path  string
	key   *yaml.Node // nil for list items and the root
	value *yaml.Node
}

func indexNodes(doc *yaml.Node) *nodeIndex {
	x := &nodeIndex{lines: make(map[string]int)}
	root := doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	x.entries = append(x.entries, nodeEntry{value: root})
	x.walk(root, "")
	return x
}

func (x *nodeIndex) walk(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			if _, dup := x.lines[p]; !dup {
				x.lines[p] = k.Line
			}
			x.entries = append(x.entries, nodeEntry{path: p, key: k, value: v})
			x.walk(v, p)
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			x.lines[p] = v.Line
			x.entries = append(x.entries, nodeEntry{path: p, value: v})
			x.walk(v, p)
		}
	}
}

// line is the line of path, or of its nearest ancestor in the file (a
// required field that is missing is reported on its parent's line).
func (x *nodeIndex) line(path string) int {
	for path != "" {
		if l, ok := x.lines[path]; ok {
			return l
		}
		path = parentPath(path)
	}
	return 0
}

// parentPath strips the last ".field" or "[i]".
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

var (
	ownErrorRE     = regexp.MustCompile(`^line (\d+): column (\d+): (.*)$`)
	unknownRE      = regexp.MustCompile(`^line (\d+): field (.*) not found in type (\S+)$`)
	duplicateRE    = regexp.MustCompile(`^line (\d+): mapping key (".*") already defined at line (\d+)$`)
	alreadySetRE   = regexp.MustCompile(`^line (\d+): field (.*) already set in type \S+$`)
	cannotDecodeRE = regexp.MustCompile("^line (\\d+): cannot unmarshal (\\S+)(?: `(.*)`)? into (.+)$")
	anyLineRE      = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// decodeError rewrites one of yaml.v3's decoding messages as a FieldError
// with the path of the node it is about.
func (x *nodeIndex) decodeError(msg string) *FieldError {
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	if m := ownErrorRE.FindStringSubmatch(msg); m != nil {
		line, col := atoi(m[1]), atoi(m[2])
		e := x.find(func(e nodeEntry) bool { return e.value.Line == line && e.value.Column == col })
		return &FieldError{Line: line, Path: e.path, Msg: m[3]}
	}
	if m := unknownRE.FindStringSubmatch(msg); m != nil {
		line, field := atoi(m[1]), m[2]
		e := x.find(func(e nodeEntry) bool { return e.key != nil && e.key.Line == line && e.key.Value == field })
		return &FieldError{Line: line, Path: e.path, Msg: "unknown field" + suggest(field, m[3])}
	}
	if m := duplicateRE.FindStringSubmatch(msg); m != nil {
		line, firstLine := atoi(m[1]), m[3]
		key, _ := strconv.Unquote(m[2])
		e := x.find(func(e nodeEntry) bool { return e.key != nil && e.key.Line == line && e.key.Value == key })
		return &FieldError{Line: line, Path: e.path, Msg: "duplicate key, first defined at line " + firstLine}
	}
	if m := alreadySetRE.FindStringSubmatch(msg); m != nil {
		line, field := atoi(m[1]), m[2]
		e := x.find(func(e nodeEntry) bool { return e.key != nil && e.key.Line == line && e.key.Value == field })
		return &FieldError{Line: line, Path: e.path, Msg: "duplicate key"}
	}
	if m := cannotDecodeRE.FindStringSubmatch(msg); m != nil {
		line, tag, value, into := atoi(m[1]), m[2], m[3], m[4]
		matches := x.findAll(func(e nodeEntry) bool {
			n := e.value
			if n.Line != line {
				return false
			}
			switch tag {
			case "!!seq":
				return n.Kind == yaml.SequenceNode
			case "!!map":
				return n.Kind == yaml.MappingNode
			}
			if n.Kind != yaml.ScalarNode {
				return false
			}
			if short, ok := strings.CutSuffix(value, "..."); ok && len(n.Value) > 10 {
				return strings.HasPrefix(n.Value, short)
			}
			return n.Value == value
		})
		// Nodes nested on one line ("- name: [a]"): the one whose Go type
		// failed, else the innermost.
		var e nodeEntry
		if len(matches) > 0 {
			e = matches[len(matches)-1]
		}
		for _, m := range matches {
			if goTypeAt(m.path) == into {
				e = m
			}
		}
		got := strconv.Quote(value)
		if e.value != nil {
			got = describeKind(e.value)
		}
		return &FieldError{Line: line, Path: e.path, Msg: fmt.Sprintf("expected %s, got %s", describeGoType(into), got)}
	}
	if m := anyLineRE.FindStringSubmatch(msg); m != nil {
		return &FieldError{Line: atoi(m[1]), Msg: m[2]}
	}
	return &FieldError{Msg: msg}
}

// find returns the first entry matching ok, or a zero entry (path "").
func (x *nodeIndex) find(ok func(nodeEntry) bool) nodeEntry {
	if m := x.findAll(ok); len(m) > 0 {
		return m[0]
	}
	return nodeEntry{}
}

// findAll returns the entries matching ok, outermost first.
func (x *nodeIndex) findAll(ok func(nodeEntry) bool) []nodeEntry {
	var m []nodeEntry
	for _, e := range x.entries {
		if ok(e) {
			m = append(m, e)
		}
	}
	return m
}

// goTypeAt is the Go type that the value at path decodes into, named as
// yaml.v3 names it in its messages ("int", "[]config.Target",
// "config.HTTPProbe"), or "" when path is outside the schema.
func goTypeAt(path string) string {
	t := reflect.TypeOf(Config{})
	for _, field := range strings.Split(path, ".") {
		name, _, _ := strings.Cut(field, "[")
		if name != "" {
			t = deref(t)
			switch t.Kind() {
			case reflect.Struct:
				var ok bool
				if t, ok = fieldType(t, name); !ok {
					return ""
				}
			case reflect.Map:
				t = t.Elem()
			default:
				return ""
			}
		}
		for range strings.Count(field, "[") {
			if t = deref(t); t.Kind() != reflect.Slice {
				return ""
			}
			t = t.Elem()
		}
	}
	return deref(t).String()
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// fieldType is the type of the field of struct t with the YAML key name.
func fieldType(t reflect.Type, name string) (reflect.Type, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		key, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if opts == "inline" {
			if ft, ok := fieldType(f.Type, name); ok {
				return ft, true
			}
			continue
		}
		if key == "" {
			key = strings.ToLower(f.Name)
		}
		if key == name && f.IsExported() {
			return f.Type, true
		}
	}
	return nil, false
}

// describeGoType names what a Go type wants, as yaml.v3 prints it.
func describeGoType(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["), strings.HasPrefix(t, "config."):
		if t == "config.Connection" {
			return "a string"
		}
		return "a mapping"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer"
	case t == "bool":
		return "true or false"
	case t == "string":
		return "a string"
	}
	return t
}

// fieldsByType lists the YAML keys of each struct in the schema, by the
// type name yaml.v3 uses in its messages.
var fieldsByType = func() map[string][]string {
	m := make(map[string][]string)
	for _, v := range []any{Config{}, Schedule{}, Target{}, HTTPProbe{}, TLS{}, ServedBy{}, TCPProbe{}, DNSProbe{}} {
		t := reflect.TypeOf(v)
		m[t.String()] = yamlKeys(t)
	}
	return m
}()

func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case opts == "inline":
			keys = append(keys, yamlKeys(f.Type)...)
		case name == "-" || !f.IsExported():
		case name == "":
			keys = append(keys, strings.ToLower(f.Name))
		default:
			keys = append(keys, name)
		}
	}
	return keys
}

// suggest proposes a known field close to an unknown one, as
// `; did you mean "url"?`, or "" when none is close.
func suggest(field, typeName string) string {
	best, bestDist := "", 3
	for _, k := range fieldsByType[typeName] {
		if d := editDistance(strings.ToLower(field), k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	// A probe field written directly in a target: url, address, server...
	if typeName == "config.Target" {
		for _, kind := range []string{"http", "tcp", "dns"} {
			if slices.Contains(fieldsByType[kindTypes[kind]], field) {
				return fmt.Sprintf("; %s belongs under %s:", field, kind)
			}
		}
	}
	return ""
}

var kindTypes = map[string]string{"http": "config.HTTPProbe", "tcp": "config.TCPProbe", "dns": "config.DNSProbe"}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
