package config

import (
	"errors"
	"regexp"
	"regexp/syntax"
	"strconv"
	"time"

	"github.com/alecthomas/units"
	"go.yaml.in/yaml/v3"

	"github.com/zerodown/zerodown/internal/yamlerr"
)

// String formats d like time.Duration does ("100ms", "1s").
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML parses "100ms", "1s", "2m" (time.ParseDuration). A bare
// number such as "100" is an error: the unit is never guessed.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	const want = `expected a duration like "100ms" or "1s"`
	if n.Kind != yaml.ScalarNode {
		return yamlerr.NodeError(n, "%s, got %s", want, yamlerr.Describe(n))
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		if _, ferr := strconv.ParseFloat(n.Value, 64); ferr == nil {
			return yamlerr.NodeError(n, `expected a duration with a unit, like "%sms" or "%ss", got %q`, n.Value, n.Value, n.Value)
		}
		return yamlerr.NodeError(n, "%s, got %q", want, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes d as "100ms", so a resolved Config can be printed and
// parsed again.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// Bytes is a size in bytes: a plain number, or with a unit as Prometheus
// writes them ("64KiB", "1MiB"; KB and KiB both 1024).
type Bytes int64

// UnmarshalYAML reads a number of bytes or a size with a unit.
func (b *Bytes) UnmarshalYAML(n *yaml.Node) error {
	const want = `expected a size in bytes, like 65536 or "64KiB"`
	if n.Kind != yaml.ScalarNode {
		return yamlerr.NodeError(n, "%s, got %s", want, yamlerr.Describe(n))
	}
	if v, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
		*b = Bytes(v)
		return nil
	}
	v, err := units.ParseBase2Bytes(n.Value)
	if err != nil {
		return yamlerr.NodeError(n, "%s, got %q", want, n.Value)
	}
	*b = Bytes(v)
	return nil
}

// MarshalYAML writes b as a number of bytes.
func (b Bytes) MarshalYAML() (any, error) { return int64(b), nil }

// UnmarshalYAML compiles the expression (RE2 syntax, as package regexp).
// An empty string leaves r unset.
func (r *Regexp) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return yamlerr.NodeError(n, "expected a regular expression, got %s", yamlerr.Describe(n))
	}
	if n.Value == "" {
		r.Regexp = nil
		return nil
	}
	re, err := regexp.Compile(n.Value)
	if err != nil {
		var se *syntax.Error
		if errors.As(err, &se) {
			return yamlerr.NodeError(n, "invalid regular expression: %s: %q", se.Code, se.Expr)
		}
		return yamlerr.NodeError(n, "invalid regular expression: %v", err)
	}
	r.Regexp = re
	return nil
}

// String is the source text of the expression, "" when unset.
func (r Regexp) String() string {
	if r.Regexp == nil {
		return ""
	}
	return r.Regexp.String()
}

// MarshalYAML writes the source text of the expression.
func (r Regexp) MarshalYAML() (any, error) {
	if r.Regexp == nil {
		return nil, nil
	}
	return r.Regexp.String(), nil
}

// MarshalText writes the source text of the expression; unlike the method
// of *regexp.Regexp it shadows, it accepts an unset Regexp.
func (r Regexp) MarshalText() ([]byte, error) { return []byte(r.String()), nil }
