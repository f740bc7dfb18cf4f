// Package cli is zerodown's command line: the commands every zerodown
// binary has (watch, demo, report, budget, help and version), their flags
// and the helpers the other commands share, and the dispatch to the parts
// a binary links beyond them (Parts): the in-cluster commands and hooks
// (package kubecli, which links client-go) and the rule evaluator's
// (package evalcli, which links PromQL). A binary is chosen by what its
// main imports: cmd/zerodown has both parts, cmd/zerodown-cluster the
// Kubernetes part, cmd/zerodown-lite the evaluator. This package links
// neither.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"

	"github.com/zerodown/zerodown/internal/memlimit"
	"github.com/zerodown/zerodown/internal/role"
	"github.com/zerodown/zerodown/rules/notify"
	"github.com/zerodown/zerodown/watch"
)

// Parts are what a binary links beyond the core; nil where it does not.
type Parts struct {
	Kube *Kube // the in-cluster commands and hooks: kubecli.Part()
	Eval *Eval // the rule evaluator's: evalcli.Part()
}

// A Command runs a command with the arguments after its name and returns
// the exit code.
type Command func(args []string, stdout, stderr io.Writer) int

// Kube is the part of zerodown that links client-go: the in-cluster
// commands, and the hooks by which the core's commands reach a cluster.
type Kube struct {
	Poller, Controller, Rollback, Mark Command

	// CollectFromCluster fetches the interval streams of report
	// --kubeconfig from the pods src selects into src.Dir; it returns
	// their files and what went wrong in passing.
	CollectFromCluster func(src ClusterSource, log *slog.Logger) (files, warnings []string, err error)
	// WatchCluster is the cluster of watch --kubeconfig (its state and
	// its built-in backends, but the disabled ones); cleanup removes what
	// it made.
	WatchCluster func(kubeconfig string, disabled []string, log *slog.Logger) (c watch.Cluster, cleanup func(), err error)
	// WatchRollback is the rollback receiver of watch --rollback.policy,
	// acting on the cluster of kubeconfig: the evaluator's alerts go to
	// hook; metrics are its own; stop waits for the actions under way.
	WatchRollback func(policyFile, kubeconfig, record string, disabled bool, log *slog.Logger) (hook func(notify.Message), metrics prometheus.Collector, stop func(), err error)
	// Describe describes the in-cluster roles' metrics, for the metric
	// contract of rules check (incluster.Describe).
	Describe func(chan<- *prometheus.Desc) error
}

// Eval is the part of zerodown that links Prometheus's rule evaluator
// (PromQL): the rules command and watch's embedded evaluator.
type Eval struct {
	// Rules runs "zerodown rules ARGS". Its check holds rule files to the
	// metrics of the binary: roles describes the in-cluster roles', nil in
	// a binary without them.
	Rules func(args []string, stdout, stderr io.Writer, roles func(chan<- *prometheus.Desc) error) int
	// Alerting starts watch's embedded evaluator with o; nil (no rules
	// evaluated) for an interval of 0.
	Alerting func(o AlertingOptions) func(watch.AlertingEnv) (watch.Alerting, error)
}

// AlertingOptions are what watch's flags ask of the embedded evaluator.
type AlertingOptions struct {
	Interval        time.Duration        // --rules.interval
	RuleFiles       []string             // --rules; none: the shipped rules
	AlertmanagerURL string               // --alertmanager.url
	Webhook         string               // --alert.webhook
	ExternalURL     string               // --web.external-url
	Hook            func(notify.Message) // the receiver of --rollback.policy; nil without
}

// What a binary without a part says of the commands and flags that need it.
const (
	withoutKube = "this zerodown was built without Kubernetes support; use zerodown or zerodown-cluster"
	withoutEval = "this zerodown was built without the rule evaluator; use zerodown or zerodown-lite"
)

// Main is a binary's main: it sets the version from the build, a soft
// memory limit in a container, and runs the command of the process's
// arguments with the parts p. It returns the exit code.
func Main(p Parts) int {
	setVersionFromBuildInfo()
	memlimit.Set() // in a container: a soft limit under its memory limit
	return Run(os.Args[1:], os.Stdout, os.Stderr, p)
}

// setVersionFromBuildInfo fills the version and revision that "make
// build" sets with -ldflags from the binary's build info when a plain "go
// build" or "go install" left them empty, as zerodown_build_info has them
// (role.CurrentBuild), so that "zerodown version" says the same.
func setVersionFromBuildInfo() {
	b := role.CurrentBuild()
	version.Version, version.Revision = b.Version, b.Revision
}

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1 // a runtime error
	ExitUsage   = 2 // bad flags or configuration, or a command this binary lacks
	ExitBudget  = 3 // disruption exceeded --budget
)

const usage = `zerodown measures, to the millisecond, which routes, services and DNS names
went down during a cluster upgrade, for how long and why.

Usage:
  zerodown watch [flags] [TARGET...]   probe targets, serve metrics, show a live view, write intervals
  zerodown demo [flags]                run watch against a loopback test target with scheduled outages
  zerodown poller [flags]              in a cluster, one per node: probe static and discovered targets
  zerodown controller [flags]          in a cluster: operator, version, node and workload state as metrics and intervals
  zerodown report [flags] FILE|DIR... judge interval files against budgets: junit.xml, report.html, CSV, JSON
  zerodown budget derive|check        budgets from past upgrades in Prometheus; validate a budget file
  zerodown rules test|check FILE...    run rule unit tests (promtool's format) or check rule files, in-process
  zerodown rollback check FILE         validate a rollback policy (the controller's --rollback.policy)
  zerodown mark start|end NAME         mark an upgrade the cluster's versions do not show (an ingress controller, a mesh)
  zerodown version                     print the version

TARGET (for quick use; a --config file can hold many, with every option):
  http://HOST[:PORT]/PATH   https://…   h2c://HOST:PORT/PATH (HTTP/2 without TLS)
  tcp://HOST:PORT           dns://RESOLVER/NAME?type=A&transport=udp   (dns:///NAME: system resolver)

Run "zerodown help COMMAND" (or "zerodown COMMAND -h") for the flags of a command.
`

// Run runs the command args name (args without the program's name) with
// the parts p and returns its exit code.
func Run(args []string, stdout, stderr io.Writer, p Parts) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return ExitUsage
	}
	switch args[0] {
	case "watch":
		return runWatch(args[1:], stdout, stderr, p)
	case "demo":
		return runDemo(args[1:], stdout, stderr)
	case "poller", "controller", "rollback", "mark":
		if p.Kube == nil {
			fmt.Fprintf(stderr, "zerodown %s: %s\n", args[0], withoutKube)
			return ExitUsage
		}
		return p.Kube.command(args[0])(args[1:], stdout, stderr)
	case "rules":
		if p.Eval == nil {
			fmt.Fprintf(stderr, "zerodown rules: %s\n", withoutEval)
			return ExitUsage
		}
		var roles func(chan<- *prometheus.Desc) error
		if p.Kube != nil {
			roles = p.Kube.Describe
		}
		return p.Eval.Rules(args[1:], stdout, stderr, roles)
	case "report":
		return runReport(args[1:], stdout, stderr, p)
	case "budget":
		return runBudget(args[1:], stdout, stderr)
	case "version", "--version":
		if WantsHelp(args[1:]) {
			fmt.Fprintln(stdout, "Usage: zerodown version\n\nPrints zerodown's version, the Go version it was built with, and its revision.")
			return ExitOK
		}
		fmt.Fprintln(stdout, version.Print("zerodown"))
		return ExitOK
	case "help", "-h", "--help":
		if len(args) > 1 && args[0] == "help" {
			switch args[1] {
			case "watch", "demo", "poller", "controller", "rules", "rollback", "report", "budget", "mark":
				return Run([]string{args[1], "-h"}, stdout, stderr, p)
			case "version":
				return Run([]string{"version", "-h"}, stdout, stderr, p)
			}
			fmt.Fprintf(stderr, "zerodown help: unknown command %q\n\n%s", args[1], usage)
			return ExitUsage
		}
		fmt.Fprint(stdout, usage)
		return ExitOK
	}
	fmt.Fprintf(stderr, "zerodown: unknown command %q\n\n%s", args[0], usage)
	return ExitUsage
}

// command is the in-cluster command name (poller, controller, rollback,
// mark).
func (k *Kube) command(name string) Command {
	switch name {
	case "poller":
		return k.Poller
	case "controller":
		return k.Controller
	case "rollback":
		return k.Rollback
	}
	return k.Mark
}

// collectFromCluster is report --kubeconfig's fetch; an error without the
// Kubernetes part.
func (p Parts) collectFromCluster(src ClusterSource, log *slog.Logger) ([]string, []string, error) {
	if p.Kube == nil {
		return nil, nil, errors.New("--kubeconfig: " + withoutKube)
	}
	return p.Kube.CollectFromCluster(src, log)
}

// watchCluster is watch --kubeconfig's cluster; an error without the
// Kubernetes part.
func (p Parts) watchCluster(kubeconfig string, disabled []string, log *slog.Logger) (watch.Cluster, func(), error) {
	if p.Kube == nil {
		return nil, nil, errors.New(withoutKube)
	}
	return p.Kube.WatchCluster(kubeconfig, disabled, log)
}

// watchRollback is watch --rollback.policy's receiver; an error without
// the Kubernetes part.
func (p Parts) watchRollback(policyFile, kubeconfig, record string, disabled bool, log *slog.Logger) (func(notify.Message), prometheus.Collector, func(), error) {
	if p.Kube == nil {
		return nil, nil, nil, errors.New("--rollback.policy: " + withoutKube)
	}
	return p.Kube.WatchRollback(policyFile, kubeconfig, record, disabled, log)
}

// alerting starts watch's embedded evaluator. Without the evaluator,
// rules, Alertmanager, a webhook or a rollback receiver asked for are an
// error at the start of the run; by default nothing is evaluated (in a
// cluster Prometheus evaluates the rules).
func (p Parts) alerting(o AlertingOptions) func(watch.AlertingEnv) (watch.Alerting, error) {
	if p.Eval != nil {
		return p.Eval.Alerting(o)
	}
	if len(o.RuleFiles) == 0 && o.AlertmanagerURL == "" && o.Webhook == "" && o.Hook == nil {
		return nil
	}
	return func(watch.AlertingEnv) (watch.Alerting, error) {
		return nil, errors.New("this zerodown was built without the rule evaluator: --rules, --alertmanager.url and --alert.webhook need zerodown or zerodown-lite")
	}
}

// flagSetMu serializes FlagSet, which swaps seeFlags and hostname.
var flagSetMu sync.Mutex

// FlagSet returns the flags of the command that args name ("watch";
// "budget", "derive") as a binary with the parts p has them: the flag set
// "zerodown ARGS -h" parses (which starts nothing; its output is
// discarded). A default taken from the machine, the host name, reads
// "<host name>". The reference of the flags (docs/flags.md) is made from
// it. It must not run alongside Run.
func FlagSet(p Parts, args ...string) (*flag.FlagSet, error) {
	flagSetMu.Lock()
	defer flagSetMu.Unlock()
	name := strings.Join(args, " ")
	var got *flag.FlagSet
	oldHost := hostname
	seeFlags = func(fs *flag.FlagSet) {
		if fs.Name() == name {
			got = fs
		}
	}
	hostname = func() string { return "<host name>" }
	defer func() { seeFlags, hostname = nil, oldHost }()
	if code := Run(append(slices.Clone(args), "-h"), io.Discard, io.Discard, p); code != ExitOK {
		return nil, fmt.Errorf("zerodown %s -h: exit %d", name, code)
	}
	if got == nil {
		return nil, fmt.Errorf("zerodown %s -h parsed no flag set of its name", name)
	}
	return got, nil
}

// plural is "1 target", "2 targets".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
