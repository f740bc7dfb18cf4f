// Package yamlerr turns the errors of gopkg.in/yaml.v3 into the
// "file:line: what" form every zerodown input error has.
package yamlerr

import (
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Errors turns each "line N: msg" of a YAML error into "file:N: msg", one
// joined error per problem; other errors get "file: " in front.
func Errors(file string, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("%s: %w", file, err)
	}
	errs := make([]error, len(te.Errors))
	for i, m := range te.Errors {
		var line int
		if _, scanErr := fmt.Sscanf(m, "line %d:", &line); scanErr == nil {
			errs[i] = fmt.Errorf("%s:%d:%s", file, line, m[strings.Index(m, ":")+1:])
		} else {
			errs[i] = fmt.Errorf("%s: %s", file, m)
		}
	}
	return errors.Join(errs...)
}

// Seq returns the items of the sequence under key in the mapping node m
// (nil when there is none): for finding the line of the n-th item.
func Seq(m *yaml.Node, key string) []*yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && m.Content[i+1].Kind == yaml.SequenceNode {
			return m.Content[i+1].Content
		}
	}
	return nil
}
