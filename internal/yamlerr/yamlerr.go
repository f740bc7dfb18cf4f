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
