package cli

// Helpers the commands share, exported for the parts' (kubecli's) roles.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/zerodown/zerodown/config"
)

// RegisterListen adds --web.listen-address, as Prometheus and its
// exporters name it, and its alias --listen: two names of one value, addr.
func RegisterListen(fs *flag.FlagSet, addr *string, def, usage string) {
	fs.StringVar(addr, "web.listen-address", def, usage)
	fs.StringVar(addr, "listen", def, "alias of --web.listen-address")
}

// listenFlag is the listen address flag of fs as the user named it, for
// errors: --listen when only the alias was given, else
// --web.listen-address.
func listenFlag(fs *flag.FlagSet) string {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if given["listen"] && !given["web.listen-address"] {
		return "--listen"
	}
	return "--web.listen-address"
}

// CheckListen reports a --web.listen-address value that cannot be a
// listen address (empty is fine: no server), naming the flag as given.
func CheckListen(stderr io.Writer, fs *flag.FlagSet, addr string) bool {
	if addr == "" {
		return true
	}
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		if _, perr := net.LookupPort("tcp", port); perr != nil {
			err = perr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "zerodown %s: %s %q: expected [HOST]:PORT, such as 127.0.0.1:9947 or :9949: %v\n", fs.Name(), listenFlag(fs), addr, err)
		return false
	}
	return true
}

// NonNegative reports flags of fs given a negative value (as given:
// "-1s"), by name, and whether there were none.
func NonNegative(stderr io.Writer, fs *flag.FlagSet, values map[string]float64) bool {
	ok := true
	for _, name := range slices.Sorted(maps.Keys(values)) {
		if values[name] < 0 {
			given := fmt.Sprint(values[name])
			if f := fs.Lookup(name); f != nil {
				given = f.Value.String()
			}
			fmt.Fprintf(stderr, "zerodown %s: --%s must not be negative, got %s\n", fs.Name(), name, given)
			ok = false
		}
	}
	return ok
}

// AtLeastMinInterval refuses an --interval below the least a target may
// have, naming the flag (not the configuration field it becomes).
func AtLeastMinInterval(stderr io.Writer, fs *flag.FlagSet, d time.Duration) bool {
	if d > 0 && d < time.Duration(config.MinInterval) {
		fmt.Fprintf(stderr, "zerodown %s: --interval must be at least %s, got %s\n", fs.Name(), config.MinInterval, d)
		return false
	}
	return true
}

// BuiltinDisabled reads --builtin.disable: the names it lists, and false
// (with the error printed) when one is not a built-in backend.
func BuiltinDisabled(stderr io.Writer, role, flagValue string) ([]string, bool) {
	names := SplitList(flagValue)
	for _, n := range names {
		if !slices.Contains(config.BuiltinBackends, n) {
			fmt.Fprintf(stderr, "zerodown %s: --builtin.disable: %q is not a built-in backend (%s)\n", role, n, strings.Join(config.BuiltinBackends, ", "))
			return nil, false
		}
	}
	return names, true
}

// SplitList splits a comma-separated flag value, dropping blanks.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ReloadOnHUP delivers a reload request for every SIGHUP (coalesced) until
// ctx ends; stop stops listening for the signal.
func ReloadOnHUP(ctx context.Context) (reloads <-chan struct{}, stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	out := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out, func() { signal.Stop(hup) }
}

// LoadConfig reads file (if any), adds the command-line targets, applies
// the flag overrides of the defaults, resolves and validates.
func LoadConfig(file string, urls []string, overrides config.Schedule) (*config.Config, error) {
	cfg := &config.Config{}
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--config: %w", err)
		}
		if cfg, err = config.ParseWith(data, file, overrides); err != nil {
			return nil, err
		}
	}
	var errs []error
	for _, u := range urls {
		t, err := config.TargetFromURL(u)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cfg.Targets = append(cfg.Targets, t)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// The targets of the command line, resolved against the same defaults.
	cfg.Defaults = overrides.Over(cfg.Defaults)
	cfg = cfg.Resolved()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}
