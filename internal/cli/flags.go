package cli

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"golang.org/x/term"

	"github.com/zerodown/zerodown/internal/serve"
	"github.com/zerodown/zerodown/watch"
)

// ParseInterspersed parses flags and positional arguments in any order
// ("watch URL --duration 5m") and returns the arguments; -h prints the
// usage to stdout (code 0), a bad flag the error and the usage to stderr
// (code 2).
func ParseInterspersed(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (pos []string, code int, ok bool) {
	if seeFlags != nil {
		seeFlags(fs)
	}
	fs.SetOutput(io.Discard)
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(stdout)
				fs.Usage()
				return nil, ExitOK, false
			}
			fs.SetOutput(stderr)
			fmt.Fprintf(stderr, "zerodown %s: %v\n", fs.Name(), err)
			fs.Usage()
			return nil, ExitUsage, false
		}
		if fs.NArg() == 0 {
			return pos, ExitOK, true
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
}

// seeFlags, when set, is shown every command's flag set as it is about to
// parse: FlagSet catches them so. Nil in a running zerodown.
var seeFlags func(*flag.FlagSet)

// WantsHelp reports whether args ask for a command's help (-h, --help).
func WantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// Common holds the flags every command shares, logging, and those of the
// commands that serve and of the commands with a live view; after parse,
// args holds the arguments that are not flags.
type Common struct {
	level, format, view string
	Pprof               bool   // --debug.pprof, of the commands that serve (RegisterServe)
	WebConfigFile       string // --web.config.file, of the commands that serve (RegisterServe)
	args                []string
	logs                *watch.LogWriter // what the logger writes to
}

// Register adds the logging flags, which every command has.
func (c *Common) Register(fs *flag.FlagSet) { c.register(fs) }

// RegisterServe adds the flags of a command that serves endpoints:
// --debug.pprof and --web.config.file.
func (c *Common) RegisterServe(fs *flag.FlagSet) {
	c.registerPprof(fs)
	c.registerWeb(fs)
}

// Parse parses args, flags and arguments in any order, and builds the
// logger; it returns the arguments that are not flags. When ok is false
// the command ends with code: 0 after -h (the usage on stdout), 2 after a
// bad flag (the error and the usage on stderr) or a bad logging flag or
// --web.config.file.
func (c *Common) Parse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (log *slog.Logger, pos []string, code int, ok bool) {
	log, _, _, code, ok = c.parse(fs, args, stdout, stderr)
	return log, c.args, code, ok
}

// registerWeb adds --web.config.file, for the commands that serve
// endpoints.
func (c *Common) registerWeb(fs *flag.FlagSet) {
	fs.StringVar(&c.WebConfigFile, "web.config.file", "", "exporter-toolkit web configuration for every endpoint of --web.listen-address: TLS, client certificates (mTLS), basic auth (https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md); read again for every new connection")
}

// register adds the logging flags, which every command has.
func (c *Common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.level, "log.level", "info", "log level: debug, info, warn, error (probe failures are logged at debug)")
	fs.StringVar(&c.format, "log.format", "logfmt", "log format: logfmt or json")
}

// registerView adds --view, for the commands with a live view.
func (c *Common) registerView(fs *flag.FlagSet) {
	fs.StringVar(&c.view, "view", "auto", "live view: auto (table on a terminal, lines otherwise), table, lines or none")
}

// registerPprof adds --debug.pprof, for the commands that serve.
func (c *Common) registerPprof(fs *flag.FlagSet) {
	fs.BoolVar(&c.Pprof, "debug.pprof", false, "serve Go's profiles on /debug/pprof/ of --web.listen-address")
}

// parse parses args and builds the logger and the view. When ok is false
// the command ends with code (0 after -h).
//
// Flags may come before or after arguments ("watch URL --duration 5m");
// "-h" prints the usage to stdout, a bad flag the error and the usage to
// stderr.
func (c *Common) parse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (log *slog.Logger, view io.Writer, tty bool, code int, ok bool) {
	if c.args, code, ok = ParseInterspersed(fs, args, stdout, stderr); !ok {
		return nil, nil, false, code, false
	}
	fs.SetOutput(stderr)
	c.logs = watch.NewLogWriter(stderr)
	log, err := c.logger(c.logs)
	if err == nil {
		view, tty, err = viewOf(cmp.Or(c.view, "none"), stdout) // "": a command without a live view
	}
	if err == nil && c.WebConfigFile != "" {
		err = serve.ValidateWebConfig(c.WebConfigFile) // a bad file is bad usage, found before anything starts
	}
	if err != nil {
		fmt.Fprintln(stderr, "zerodown:", err)
		return nil, nil, false, ExitUsage, false
	}
	return log, view, tty, ExitOK, true
}

func (c *Common) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.level)); err != nil {
		return nil, fmt.Errorf("--log.level: want debug, info, warn or error, got %q", c.level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch c.format {
	case "logfmt":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		// Durations as logfmt writes them ("1.5s"), not as a count of
		// nanoseconds.
		opts.ReplaceAttr = func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindDuration {
				a.Value = slog.StringValue(a.Value.Duration().String())
			}
			return a
		}
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log.format: want logfmt or json, got %q", c.format)
}

// terminalWidth returns the width of w if it is a terminal (0 otherwise),
// asked again at every call so a resized window is followed.
func terminalWidth(w io.Writer) func() int {
	f, ok := w.(*os.File)
	if !ok || !watch.IsTerminal(f) {
		return nil
	}
	return func() int {
		width, _, err := term.GetSize(int(f.Fd()))
		if err != nil {
			return 0
		}
		return width
	}
}

// sharedLogs returns the logger's writer when it shares the live table's
// terminal (log lines then go above the table), else nil.
func (c *Common) sharedLogs(stderr io.Writer, tty bool) *watch.LogWriter {
	if f, ok := stderr.(*os.File); tty && ok && watch.IsTerminal(f) {
		return c.logs
	}
	return nil
}

func viewOf(mode string, stdout io.Writer) (io.Writer, bool, error) {
	f, isFile := stdout.(*os.File)
	tty := isFile && watch.IsTerminal(f)
	switch mode {
	case "auto":
		return stdout, tty, nil
	case "table":
		return stdout, true, nil
	case "lines":
		return stdout, false, nil
	case "none":
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("--view: want auto, table, lines or none, got %q", mode)
}
