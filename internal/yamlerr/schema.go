package yamlerr

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// schema is the Go type a document decodes into, and every type reachable
// from it by the name the decoder gives it in its messages ("budget.Rule",
// "[]int", "bool").
type schema struct {
	root  reflect.Type
	types map[string]reflect.Type
}

func schemaOf(t reflect.Type) *schema {
	s := &schema{types: make(map[string]reflect.Type)}
	if t == nil {
		return s
	}
	s.root = deref(t)
	s.add(s.root)
	return s
}

func (s *schema) add(t reflect.Type) {
	t = deref(t)
	if _, seen := s.types[t.String()]; seen {
		return
	}
	s.types[t.String()] = t
	if unmarshals(t) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		for _, f := range fields(t) {
			s.add(f.typ)
		}
	case reflect.Slice, reflect.Array:
		s.add(t.Elem())
	case reflect.Map:
		s.add(t.Key())
		s.add(t.Elem())
	}
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// unmarshals reports whether t reads itself (UnmarshalYAML): its Go
// fields are not YAML keys.
func unmarshals(t reflect.Type) bool {
	return t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType)
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// field is a YAML key of a struct and the type of its value.
type field struct {
	key string
	typ reflect.Type
}

// fields lists the YAML keys of struct t, those of inlined structs in
// their place, as the decoder reads them (no tag: the lowercased name).
func fields(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case strings.Contains(","+opts+",", ",inline,"):
			if ft := deref(f.Type); ft.Kind() == reflect.Struct {
				out = append(out, fields(ft)...)
			}
		case name == "-" || !f.IsExported():
		case name == "":
			out = append(out, field{strings.ToLower(f.Name), f.Type})
		default:
			out = append(out, field{name, f.Type})
		}
	}
	return out
}

func keys(t reflect.Type) []string {
	var k []string
	for _, f := range fields(t) {
		k = append(k, f.key)
	}
	return k
}

// typeAt is the Go type that the value at path decodes into, or nil when
// path is outside the schema.
func (s *schema) typeAt(path string) reflect.Type {
	t := s.root
	if t == nil {
		return nil
	}
	for _, part := range strings.Split(path, ".") {
		name, _, _ := strings.Cut(part, "[")
		if name != "" {
			t = deref(t)
			switch t.Kind() {
			case reflect.Struct:
				ft, ok := fieldType(t, name)
				if !ok {
					return nil
				}
				t = ft
			case reflect.Map:
				t = t.Elem()
			default:
				return nil
			}
		}
		for range strings.Count(part, "[") {
			if t = deref(t); t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
				return nil
			}
			t = t.Elem()
		}
	}
	return deref(t)
}

// fieldType is the type of the field of struct t with the YAML key name.
func fieldType(t reflect.Type, name string) (reflect.Type, bool) {
	for _, f := range fields(t) {
		if f.key == name {
			return f.typ, true
		}
	}
	return nil, false
}

var durationType = reflect.TypeFor[time.Duration]()

// describe says in words what the Go type named typeName wants.
func (s *schema) describe(typeName string) string {
	t, ok := s.types[typeName]
	if !ok {
		return describeName(typeName)
	}
	if t == durationType {
		return "a duration like 1.5s"
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.String:
		return "a string"
	}
	return describeName(typeName)
}

// describeName says what a type outside the schema wants, by its name.
func describeName(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "bool":
		return "a boolean (true or false)"
	case t == "string":
		return "a string"
	}
	return "a value of another kind"
}

// suggest proposes, for an unknown field of the struct named typeName, a
// known one close to it (`; did you mean "url"?`), else the mapping it
// belongs in (`; url belongs under http:`), else nothing.
func (s *schema) suggest(unknown, typeName string) string {
	t, ok := s.types[typeName]
	if !ok || t.Kind() != reflect.Struct {
		return ""
	}
	lower := strings.ToLower(unknown)
	best, bestDist := "", 3
	for _, k := range keys(t) {
		if d := editDistance(lower, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	// Else a key that holds it whole: revision for to_revision.
	for _, k := range keys(t) {
		if best == "" && len(lower) >= 4 && strings.Contains(k, lower) {
			best = k
		}
	}
	if best != "" {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	// A field of a nested mapping written a level too high: url in a
	// target instead of under http:.
	var under []string
	for _, f := range fields(t) {
		ft := deref(f.typ)
		if ft.Kind() == reflect.Slice {
			ft = deref(ft.Elem())
		}
		if ft.Kind() == reflect.Struct && !unmarshals(ft) {
			for _, k := range keys(ft) {
				if k == unknown {
					under = append(under, f.key+":")
					break
				}
			}
		}
	}
	switch len(under) {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf("; %s belongs under %s", unknown, under[0])
	}
	return fmt.Sprintf("; %s belongs under one of %s", unknown, strings.Join(under, ", "))
}

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
