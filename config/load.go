package config

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/zerodown/zerodown/internal/yamlerr"
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
	var c Config
	doc, err := yamlerr.Decode(data, filename, &c)
	if errors.Is(err, yamlerr.ErrEmpty) {
		return (&Config{Defaults: flags.Over(Schedule{})}).Resolved(), nil
	}
	if err != nil {
		return nil, err
	}
	c.joinFileDir(filepath.Dir(filename))
	var p problems
	c.validate(&p)
	for _, e := range p.list {
		doc.Add(e.Path, "%s", e.Msg)
	}
	if err := doc.Err(); err != nil {
		return nil, err
	}
	c.Defaults = flags.Over(c.Defaults)
	return c.Resolved(), nil
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
