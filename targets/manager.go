// Package targets makes the one set of targets a probe engine runs from
// where targets come from, on the pattern of Prometheus's
// discovery.Manager: the configuration's static targets, and sources
// (the built-in backends, discovered Routes and Services, the network
// peers, a cluster's backends) that each hand over their whole current
// set whenever it changes. The manager resolves the defaults, settles
// name clashes (a static target wins its name, then the sources in their
// order), validates, applies target by target (one that cannot be built
// is left out and tried again at the next apply), and owns the reload
// rules: a configuration that does not load, or one of whose static
// targets cannot be built, changes nothing, and every problem is named
// at once. The poller and zerodown watch both run their targets through
// it.
package targets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/probes"
)

// Options configure a Manager.
type Options struct {
	Engine *probes.Engine
	// Config holds the static targets and the defaults every target
	// takes.
	Config *config.Config
	// Sources name the sources, in the order they win a name after the
	// static targets ("builtin", "discovered", "network").
	Sources []string
	Logger  *slog.Logger
	// OnApply, if set, is told what every apply did.
	OnApply func(Applied)
}

// Applied is what one apply did.
type Applied struct {
	Added, Removed int // series
	// Static is how many static targets the configuration has; BySource
	// how many targets of each source run.
	Static   int
	BySource map[string]int
	// Failed are the targets (and connection modes) that could not be
	// built: left out, tried again at the next apply.
	Failed []*probes.ApplyError
}

// Manager merges the static targets and the sources' into the engine's
// set. It is safe for concurrent use: sources, reloads and readers take
// turns.
type Manager struct {
	o   Options
	log *slog.Logger

	mu     sync.Mutex
	cfg    *config.Config
	sets   map[string][]config.Target // each source's latest targets
	failed []string                   // targets the last apply left out

	static atomic.Pointer[map[string]bool] // the static targets' names
}

// New returns a manager of the static targets of o.Config, and none of
// the sources' yet.
func New(o Options) *Manager {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{o: o, log: o.Logger, cfg: o.Config, sets: map[string][]config.Target{}}
	m.setStaticLocked()
	return m
}

// Start applies the static targets: any that cannot be built is an
// error, and nothing is applied.
func (m *Manager) Start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _, err := m.o.Engine.Apply(m.cfg.Targets)
	return err
}

// Set makes ts the targets of source and applies. It reports whether no
// target was left out for a reason that may go away (a CA file not
// readable yet): the caller then tries again later.
func (m *Manager) Set(source string, ts []config.Target) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sets[source] = ts
	return m.applyLocked()
}

// Reload reads the configuration again. A configuration that does not
// load, or one of whose static targets cannot be built (every one named),
// changes nothing; one whose static targets could be built but were left
// out by the engine is applied, with an error naming them.
func (m *Manager) Reload(load func() (*config.Config, error)) error {
	cfg, err := load()
	if err != nil {
		return err
	}
	var errs []error
	for i := range cfg.Targets {
		if err := probes.Check(&cfg.Targets[i]); err != nil {
			errs = append(errs, fmt.Errorf("target %q: %w", cfg.Targets[i].Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cfg = cfg
	m.setStaticLocked()
	m.applyLocked()
	if left := m.leftOutStaticLocked(); len(left) > 0 {
		return fmt.Errorf("configuration applied without static targets %s: they could not be built", strings.Join(left, ", "))
	}
	m.log.Info("configuration reloaded", "static_targets", len(cfg.Targets))
	return nil
}

// IsStatic reports whether name is a static target (a probe's expected
// DNS answers then come from its configuration, not from discovery).
func (m *Manager) IsStatic(name string) bool {
	s := m.static.Load()
	return s != nil && (*s)[name]
}

// DropBudgets are the static targets' hold.budget, by backend.
func (m *Manager) DropBudgets() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int{}
	for _, t := range m.cfg.Targets {
		if t.Hold != nil && t.Hold.Budget > 0 {
			out[t.Name] = t.Hold.Budget
		}
	}
	return out
}

func (m *Manager) setStaticLocked() {
	s := make(map[string]bool, len(m.cfg.Targets))
	for _, t := range m.cfg.Targets {
		s[t.Name] = true
	}
	m.static.Store(&s)
}

// leftOutStaticLocked names the static targets the last apply left out.
func (m *Manager) leftOutStaticLocked() []string {
	var out []string
	for _, name := range m.failed {
		if m.IsStatic(name) {
			out = append(out, name)
		}
	}
	return out
}

// applyLocked makes the static targets plus every source's the engine's
// set. A source's target that is invalid or has the name of a target
// before it is left out with a log line; one the engine cannot build is
// left out and tried again at the next apply. It reports whether none was
// left out for a reason that may go away.
func (m *Manager) applyLocked() bool {
	static := m.cfg.Targets
	names := make(map[string]bool, len(static))
	for _, t := range static {
		names[t.Name] = true
	}
	all := append([]config.Target(nil), static...)
	source := map[string]string{} // backend -> its source
	for _, from := range m.o.Sources {
		for _, t := range m.sets[from] {
			r := t.Resolved(m.cfg.Defaults)
			if names[r.Name] {
				m.log.Warn(from+" target skipped: another target has its name", "backend", r.Name)
				continue
			}
			if err := r.Validate(); err != nil {
				m.log.Warn(from+" target skipped", "backend", r.Name, "err", err)
				continue
			}
			names[r.Name] = true
			source[r.Name] = from
			all = append(all, r)
		}
	}
	added, removed, failed := m.o.Engine.ApplyEach(all)
	m.failed = m.failed[:0]
	for _, err := range failed {
		m.log.Error("target left out; retrying later", "err", err)
		if !slices.Contains(m.failed, err.Target) {
			m.failed = append(m.failed, err.Target)
		}
		delete(source, err.Target)
	}
	a := Applied{Added: added, Removed: removed, Static: len(static), BySource: map[string]int{}, Failed: failed}
	for _, from := range m.o.Sources {
		a.BySource[from] = 0
	}
	for _, from := range source {
		a.BySource[from]++
	}
	if added > 0 || removed > 0 {
		args := []any{"static", len(static), "series_added", added, "series_removed", removed}
		for _, from := range m.o.Sources {
			args = append(args, from, a.BySource[from])
		}
		m.log.Info("targets changed", args...)
	}
	if m.o.OnApply != nil {
		m.o.OnApply(a)
	}
	return len(failed) == 0
}

// RetryFailed is how soon Follow applies again after an apply that left
// targets out, when nothing else changes.
const RetryFailed = 30 * time.Second

// Follow applies at once, then after every burst of changes, once they
// settled for settle (Settled); after an apply that left targets out, it
// tries again every RetryFailed. It returns when ctx ends.
func Follow(ctx context.Context, settle time.Duration, changes <-chan struct{}, apply func() bool) {
	for {
		var retry <-chan time.Time
		if !apply() {
			retry = time.After(RetryFailed)
		}
		select {
		case <-ctx.Done():
			return
		case <-retry:
			continue
		case <-changes:
		}
		if !Settled(ctx, settle, changes) {
			return
		}
	}
}

// Settled gathers the changes that come within settle of the first (so a
// steady churn still applies every settle); false when ctx ended first.
func Settled(ctx context.Context, settle time.Duration, changes <-chan struct{}) bool {
	timer := time.NewTimer(settle)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-changes:
		case <-timer.C:
			return true
		}
	}
}
