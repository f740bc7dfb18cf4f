// Package budget says how much disruption each backend may see during an
// upgrade, and judges what was measured against it.
//
// A budget file (YAML, strict) lists budgets per backend and connection
// mode, with globs, first match wins; a default covers the rest. A budget
// is either a number of seconds allowed outright or the history of past
// upgrades, from which the allowed time is derived as OpenShift's upgrade
// tests do: allowed = max(P99 of history, 1 s). A grace rule turns the
// allowed time into the limit a measurement is judged by: it passes when
// measured ≤ max(allowed + 5 s, allowed × 1.2).
//
//	# zerodown budgets
//	grace: {min_allowed: 1s, add: 5s, factor: 1.2}   # the default grace, written out
//	default: {allowed: 2s}
//	budgets:
//	  - backend: kube-api
//	    connection: reused
//	    history: {p50: 0s, p95: 800ms, p99: 1.4s, upgrades: 12}
//	  - backend: shop-*
//	    allowed: 0s
//	    grace: {add: 0s, factor: 1}                   # strict: no disruption at all
package budget

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"time"

	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/internal/yamlerr"
)

// File is a budget file.
type File struct {
	// Grace is the grace rule of every budget that has none of its own;
	// fields left out take the defaults (DefaultGrace).
	Grace Grace `yaml:"grace"`
	// Default is the budget of a backend no entry of Budgets matches; a
	// backend without any budget is reported but not judged.
	Default *Rule `yaml:"default"`
	// Budgets are matched in order; the first whose backend and
	// connection globs match wins.
	Budgets []Rule `yaml:"budgets"`

	name string // the file, for Budget.Source
}

// Rule is one budget: Allowed, or History to derive it from.
type Rule struct {
	// Backend and Connection are globs (path.Match: *, ?, [a-z]); an
	// empty Connection matches both modes. Unused in the default.
	Backend    string `yaml:"backend"`
	Connection string `yaml:"connection"`
	// Allowed is the disruption allowed, as given.
	Allowed *config.Duration `yaml:"allowed"`
	// History is what past upgrades measured; allowed is then
	// max(History.P99, grace.min_allowed).
	History *History `yaml:"history"`
	// Grace overrides the file's grace rule, field by field.
	Grace *Grace `yaml:"grace"`

	line  int
	exact bool // Backend is a name, not a glob
}

// History is the disruption past upgrades measured for one backend and
// connection mode.
type History struct {
	P50      config.Duration `yaml:"p50" json:"p50_seconds"`
	P95      config.Duration `yaml:"p95" json:"p95_seconds"`
	P99      config.Duration `yaml:"p99" json:"p99_seconds"`
	Upgrades int             `yaml:"upgrades" json:"upgrades"`
	// Past is each past upgrade's disruption, where the history lists
	// them (budget derive does): a run is ranked among them.
	Past []config.Duration `yaml:"past" json:"-"`
}

// Grace turns an allowed time into a limit: max(allowed + Add,
// allowed × Factor). MinAllowed is the floor of an allowed time derived
// from history.
type Grace struct {
	MinAllowed *config.Duration `yaml:"min_allowed"`
	Add        *config.Duration `yaml:"add"`
	Factor     *float64         `yaml:"factor"`
}

// The default grace rule: OpenShift's upgrade tests'.
const (
	DefaultMinAllowed = time.Second
	DefaultAdd        = 5 * time.Second
	DefaultFactor     = 1.2
)

// Budget is the budget of one backend and connection mode, resolved.
type Budget struct {
	// Allowed is the disruption allowed; Limit the most a measurement may
	// be and still pass, grace included.
	Allowed time.Duration
	Limit   time.Duration
	// Source says where it came from: "budgets.yaml:12", "budgets.yaml
	// (default)" or "--budget".
	Source  string
	History *History
}

// Name is the file's name, or "--budget" for Flat.
func (f *File) Name() string { return f.name }

// Flat is the budget file of the --budget shortcut: every backend may be
// disrupted for d, with no grace.
func Flat(d time.Duration) *File { return Strict(d, nil, "--budget") }

// Strict is a budget file without grace: each backend of perBackend (by
// exact name, over both connection modes) may be disrupted for its
// duration, any other for def (none when def is 0). name says where the
// budgets came from, e.g. "--budget" or "zerodown.yaml".
func Strict(def time.Duration, perBackend map[string]time.Duration, name string) *File {
	zero, one := config.Duration(0), 1.0
	f := &File{Grace: Grace{Add: &zero, Factor: &one}, name: name}
	if def > 0 {
		allowed := config.Duration(def)
		f.Default = &Rule{Allowed: &allowed}
	}
	for _, b := range slices.Sorted(maps.Keys(perBackend)) {
		allowed := config.Duration(perBackend[b])
		f.Budgets = append(f.Budgets, Rule{Backend: b, Allowed: &allowed, exact: true})
	}
	return f
}

// Load reads and validates a budget file; every problem is reported at
// once as "file:line: field: what was expected".
func Load(file string) (*File, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return Parse(data, file)
}

// Parse decodes one budget file strictly (unknown fields are errors) and
// validates it; every problem is reported at once, each as "file:line:
// field: message" (a *config.FieldError), file prefixing every error.
func Parse(data []byte, file string) (*File, error) {
	var f File
	doc, err := yamlerr.Decode(data, file, &f)
	if errors.Is(err, yamlerr.ErrEmpty) {
		return nil, fmt.Errorf("%s: empty budget file: want default or budgets", file)
	}
	if err != nil {
		return nil, err
	}
	f.name = file
	for i := range f.Budgets {
		f.Budgets[i].line = doc.Line(fmt.Sprintf("budgets[%d]", i))
	}
	if f.Default != nil {
		f.Default.line = doc.Line("default")
	}
	f.validate(doc)
	if err := doc.Err(); err != nil {
		return nil, err
	}
	return &f, nil
}

func (f *File) validate(doc *yamlerr.Doc) {
	checkGrace := func(field string, g *Grace) {
		if g == nil {
			return
		}
		if g.MinAllowed != nil && *g.MinAllowed < 0 {
			doc.Add(field+".min_allowed", "must not be negative, got %s", *g.MinAllowed)
		}
		if g.Add != nil && *g.Add < 0 {
			doc.Add(field+".add", "must not be negative, got %s", *g.Add)
		}
		if g.Factor != nil && *g.Factor < 1 {
			doc.Add(field+".factor", "must be at least 1, got %g", *g.Factor)
		}
	}
	checkRule := func(r *Rule, field string) {
		switch {
		case r.Allowed == nil && r.History == nil:
			doc.Add(field, "expected allowed (a duration) or history (p50, p95, p99)")
		case r.Allowed != nil && r.History != nil:
			doc.Add(field, "give allowed or history, not both")
		case r.Allowed != nil && *r.Allowed < 0:
			doc.Add(field+".allowed", "must not be negative, got %s", *r.Allowed)
		case r.History != nil:
			h := r.History
			if h.P50 < 0 || h.P95 < h.P50 || h.P99 < h.P95 {
				doc.Add(field+".history", "expected 0 ≤ p50 ≤ p95 ≤ p99, got %s, %s, %s", h.P50, h.P95, h.P99)
			}
			if h.Upgrades < 0 {
				doc.Add(field+".history.upgrades", "must not be negative, got %d", h.Upgrades)
			}
			if len(h.Past) > 0 && h.Upgrades != len(h.Past) {
				doc.Add(field+".history.past", "expected one figure per upgrade (upgrades: %d), got %d", h.Upgrades, len(h.Past))
			}
			for i, p := range h.Past {
				if p < 0 {
					doc.Add(fmt.Sprintf("%s.history.past[%d]", field, i), "must not be negative, got %s", p)
				}
			}
		}
		checkGrace(field+".grace", r.Grace)
	}
	checkGrace("grace", &f.Grace)
	if f.Default == nil && len(f.Budgets) == 0 {
		doc.Add("", "no budgets: want default or budgets")
	}
	if f.Default != nil {
		if f.Default.Backend != "" || f.Default.Connection != "" {
			doc.Add("default", "a default matches every backend: backend and connection do not apply")
		}
		checkRule(f.Default, "default")
	}
	for i := range f.Budgets {
		r := &f.Budgets[i]
		field := fmt.Sprintf("budgets[%d]", i)
		if r.Backend == "" {
			doc.Add(field+".backend", "expected a backend name or glob")
		} else if _, err := path.Match(r.Backend, ""); err != nil {
			doc.Add(field+".backend", "invalid glob %q", r.Backend)
		}
		if _, err := path.Match(r.Connection, ""); err != nil {
			doc.Add(field+".connection", "invalid glob %q", r.Connection)
		} else if r.Connection != "" && !matchesAny(r.Connection, "new", "reused") {
			doc.Add(field+".connection", "expected new, reused or a glob matching one of them, got %q", r.Connection)
		}
		checkRule(r, field)
	}
}

func matchesAny(glob string, names ...string) bool {
	for _, n := range names {
		if ok, _ := path.Match(glob, n); ok {
			return true
		}
	}
	return false
}

// For returns the budget of a backend over a connection mode, and false
// when the file gives it none.
func (f *File) For(backend, connection string) (Budget, bool) {
	if f == nil {
		return Budget{}, false
	}
	for i := range f.Budgets {
		r := &f.Budgets[i]
		if !r.matches(backend, connection) {
			continue
		}
		src := fmt.Sprintf("%s:%d", f.name, r.line)
		if r.exact {
			src = f.name + " (" + r.Backend + ")"
		}
		return f.resolve(r, src), true
	}
	if f.Default != nil {
		src := f.name + " (default)"
		if f.name == "--budget" {
			src = f.name
		}
		return f.resolve(f.Default, src), true
	}
	return Budget{}, false
}

func (r *Rule) matches(backend, connection string) bool {
	if r.exact {
		if r.Backend != backend {
			return false
		}
	} else if ok, _ := path.Match(r.Backend, backend); !ok {
		return false
	}
	ok, _ := path.Match(r.Connection, connection)
	return r.Connection == "" || ok
}

func (f *File) resolve(r *Rule, source string) Budget {
	g := f.Grace.over(r.Grace)
	b := Budget{Source: source, History: r.History}
	if r.Allowed != nil {
		b.Allowed = time.Duration(*r.Allowed)
	} else {
		b.Allowed = max(time.Duration(r.History.P99), g.minAllowed)
	}
	b.Limit = max(b.Allowed+g.add, time.Duration(float64(b.Allowed)*g.factor))
	return b
}

type grace struct {
	minAllowed, add time.Duration
	factor          float64
}

// over is the file's grace rule with the rule's own fields in front, and
// the defaults behind.
func (g Grace) over(r *Grace) grace {
	out := grace{minAllowed: DefaultMinAllowed, add: DefaultAdd, factor: DefaultFactor}
	for _, src := range []*Grace{&g, r} {
		if src == nil {
			continue
		}
		if src.MinAllowed != nil {
			out.minAllowed = time.Duration(*src.MinAllowed)
		}
		if src.Add != nil {
			out.add = time.Duration(*src.Add)
		}
		if src.Factor != nil {
			out.factor = *src.Factor
		}
	}
	return out
}
