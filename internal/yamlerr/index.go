package yamlerr

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// nodeIndex maps field paths to the nodes of the document, to put lines
// on validation problems and paths on the decoder's problems.
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
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
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

// line is the line of path, or of its nearest ancestor in the file.
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

// The decoder's messages (a *yaml.TypeError holds one per problem).
var (
	ownErrorRE     = regexp.MustCompile(`^line (\d+): column (\d+): (.*)$`) // NodeError
	unknownRE      = regexp.MustCompile(`^line (\d+): field (.*?) not found in type (.+)$`)
	duplicateRE    = regexp.MustCompile(`^line (\d+): mapping key (".*") already defined at line (\d+)$`)
	alreadySetRE   = regexp.MustCompile(`^line (\d+): field (.*?) already set in type .+$`)
	cannotDecodeRE = regexp.MustCompile("^line (\\d+): cannot unmarshal (\\S+)(?: `(.*)`)? into (.+)$")
	anyLineRE      = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// decodeError rewrites one of the decoder's messages as an Error with the
// path of the node it is about, in words instead of tags and Go types.
func (d *Doc) decodeError(msg string) *Error {
	x := d.idx
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	if m := ownErrorRE.FindStringSubmatch(msg); m != nil {
		line, col := atoi(m[1]), atoi(m[2])
		e := x.find(func(e nodeEntry) bool { return e.value.Line == line && e.value.Column == col })
		return &Error{Line: line, Path: e.path, Msg: m[3]}
	}
	if m := unknownRE.FindStringSubmatch(msg); m != nil {
		line, field := atoi(m[1]), m[2]
		e := x.find(func(e nodeEntry) bool { return e.key != nil && e.key.Line == line && e.key.Value == field })
		return &Error{Line: line, Path: e.path, Msg: "unknown field" + d.schema.suggest(field, m[3])}
	}
	if m := duplicateRE.FindStringSubmatch(msg); m != nil {
		line, firstLine := atoi(m[1]), m[3]
		key, _ := strconv.Unquote(m[2])
		e := x.find(func(e nodeEntry) bool { return e.key != nil && e.key.Line == line && e.key.Value == key })
		return &Error{Line: line, Path: e.path, Msg: "duplicate key, first defined at line " + firstLine}
	}
	if m := alreadySetRE.FindStringSubmatch(msg); m != nil {
		line, field := atoi(m[1]), m[2]
		e := x.find(func(e nodeEntry) bool { return e.key != nil && e.key.Line == line && e.key.Value == field })
		return &Error{Line: line, Path: e.path, Msg: "duplicate key"}
	}
	if m := cannotDecodeRE.FindStringSubmatch(msg); m != nil {
		line, tag, value, into := atoi(m[1]), m[2], m[3], m[4]
		matches := x.findAll(func(e nodeEntry) bool { return e.value.Line == line && holds(e.value, tag, value) })
		// Nodes nested on one line ("- name: [a]"): the one whose Go type
		// failed, else the innermost.
		var e nodeEntry
		if len(matches) > 0 {
			e = matches[len(matches)-1]
		}
		for _, m := range matches {
			if t := d.schema.typeAt(m.path); t != nil && t.String() == into {
				e = m
			}
		}
		got := strconv.Quote(value)
		if e.value != nil {
			got = Describe(e.value)
		}
		return &Error{Line: line, Path: e.path, Msg: fmt.Sprintf("expected %s, got %s", d.schema.describe(into), got)}
	}
	if m := anyLineRE.FindStringSubmatch(msg); m != nil {
		return &Error{Line: atoi(m[1]), Msg: m[2]}
	}
	return &Error{Msg: msg}
}

// holds reports whether n is the node of a "cannot unmarshal TAG `VALUE`"
// message; the decoder cuts values over 10 characters to 7 and "...".
func holds(n *yaml.Node, tag, value string) bool {
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
}
