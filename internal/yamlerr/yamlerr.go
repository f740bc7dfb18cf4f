// Package yamlerr decodes zerodown's YAML files strictly and reports every
// problem of a file at once, each as "file:line: path: message":
//
//	budgets.yaml:4: budgets[0].alowed: unknown field; did you mean "allowed"?
//	policy.yaml:7: rules[0].dry_run: expected a boolean (true or false), got "maybe"
//
// Unknown fields, duplicate keys, values of the wrong type and the errors
// of a type's own UnmarshalYAML (see NodeError) come from decoding; the
// reader adds what its validation finds (Doc.Add), on the line of the
// field it names. Messages never carry the YAML library's wording (tags
// such as !!str, Go type names such as budget.Rule).
package yamlerr

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error is one problem in a YAML file.
type Error struct {
	// File is the file name given to Decode; empty when there is none.
	File string
	// Line is 1-based; 0 when unknown.
	Line int
	// Path is the field, e.g. targets[2].http.url; empty for the file as a whole.
	Path string
	// Msg says what is wrong, naming the offending value.
	Msg string
}

// Error formats "file:line: path: msg", leaving out what is unknown.
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrEmpty is Decode's error for a file without a document (empty, or
// only comments): each reader says what it wants instead.
var ErrEmpty = errors.New("empty YAML document")

// Doc is a decoded file: its problems so far, and the lines of its fields.
type Doc struct {
	file    string
	idx     *nodeIndex
	schema  *schema
	decoded []*Error // from decoding
	added   []*Error // from the reader's validation
}

// Decode decodes data, one YAML document, into v (a pointer to a struct)
// strictly: unknown fields are errors. Its error is for a file nothing can
// be decoded from: ErrEmpty, a syntax error, more than one document. Any
// other problem (a field's type, an unknown field) is kept in doc, and v
// holds what could be decoded: the caller validates it, adds what it finds
// (Doc.Add) and returns Doc.Err, so that every problem comes at once.
func Decode(data []byte, file string, v any) (*Doc, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ErrEmpty
		}
		return nil, syntaxError(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, syntaxError(file, err)
		}
		return nil, &Error{File: file, Line: extra.Line, Msg: "only one YAML document is allowed"}
	}
	d := &Doc{file: file, idx: indexNodes(&root), schema: schemaOf(reflect.TypeOf(v))}
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(v); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, syntaxError(file, err)
		}
		for _, msg := range te.Errors {
			d.decoded = append(d.decoded, d.decodeError(msg))
		}
	}
	return d, nil
}

// Line is the line of the field at path, or of its nearest ancestor in
// the file (a required field that is missing is on its parent's line); 0
// when neither is in the file.
func (d *Doc) Line(path string) int { return d.idx.line(path) }

// Add records a problem of the field at path (e.g. "budgets[0].allowed"),
// found by validation; it goes on the field's line.
func (d *Doc) Add(path, format string, args ...any) {
	d.added = append(d.added, &Error{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Err returns every problem, from decoding and added, ordered by line and
// joined with errors.Join, each an *Error; nil when there is none. A
// problem added about a field that failed to decode, something in it, or
// the object that holds it is left out: it follows from the first.
func (d *Doc) Err() error {
	all := slices.Clone(d.decoded)
	for _, e := range d.added {
		if !d.follows(e.Path) {
			all = append(all, e)
		}
	}
	if len(all) == 0 {
		return nil
	}
	for _, e := range all {
		e.File = d.file
		if e.Line == 0 {
			e.Line = d.Line(e.Path)
		}
	}
	slices.SortStableFunc(all, func(a, b *Error) int { return cmp.Compare(a.Line, b.Line) })
	errs := make([]error, len(all))
	for i, e := range all {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// follows reports whether a problem at path follows from a decoding
// problem: the field itself, something in it, or the object that holds it
// (a target whose http: failed to decode has no kind).
func (d *Doc) follows(path string) bool {
	for _, e := range d.decoded {
		if e.Path == "" || path == e.Path || path == parentPath(e.Path) ||
			strings.HasPrefix(path, e.Path+".") || strings.HasPrefix(path, e.Path+"[") {
			return true
		}
	}
	return false
}

// NodeError is the error an UnmarshalYAML method returns for a bad value:
// the decoder collects it and goes on, and Decode reports it at the node's
// field, as "file:line: path: " and the message.
func NodeError(n *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{
		fmt.Sprintf("line %d: column %d: %s", n.Line, n.Column, fmt.Sprintf(format, args...)),
	}}
}

// Describe names what a node holds, for "expected X, got Y" messages: a
// scalar quoted ("maybe"), or "a list", "a mapping".
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.AliasNode:
		return "an alias"
	default:
		return strconv.Quote(n.Value)
	}
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError is a YAML syntax error in the form of the others.
func syntaxError(file string, err error) error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Msg: m[2]}
	}
	return &Error{File: file, Msg: strings.TrimPrefix(msg, "yaml: ")}
}
