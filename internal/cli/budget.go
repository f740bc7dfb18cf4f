package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/common/model"

	"github.com/zerodown/zerodown/budget"
	"github.com/zerodown/zerodown/budget/derive"
)

const budgetUsage = `Usage:
  zerodown budget derive --prometheus URL [--since 90d] [--cluster NAME] [--out FILE]
  zerodown budget check FILE

derive computes, per backend and connection, the P50, P95 and P99 of the
disruption of past upgrades stored in Prometheus (from the recording rule
backend_connection:zerodown_upgrade_disruption_seconds:last, or from
zerodown_disruption_seconds_total between each upgrade's start and
completion where the rule is absent) and writes a budget file for
watch --budgets and report --budgets, with the history it used as comments.
In a store holding many clusters (Thanos, Mimir, a federated Prometheus),
each cluster's upgrade is one upgrade (clusters told apart by
--cluster-labels, default cluster): the budgets are fleet-wide, or one
cluster's own with --cluster NAME.
check validates a budget file: exit 0 valid, 2 invalid (file:line: field).
`

func runBudget(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, budgetUsage)
		return ExitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, budgetUsage)
		return ExitOK
	case "check":
		if WantsHelp(args[1:]) {
			fmt.Fprint(stdout, budgetUsage)
			return ExitOK
		}
		if len(args) != 2 {
			fmt.Fprint(stderr, "zerodown budget check: give one budget file\n\n"+budgetUsage)
			return ExitUsage
		}
		f, err := budget.Load(args[1])
		if err != nil {
			fmt.Fprintln(stderr, err)
			return ExitUsage
		}
		def := "no default"
		if f.Default != nil {
			def = "a default"
		}
		fmt.Fprintf(stdout, "budget file valid: %d budgets, %s\n", len(f.Budgets), def)
		return ExitOK
	case "derive":
		return runDerive(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "zerodown budget: unknown subcommand %q\n\n%s", args[0], budgetUsage)
	return ExitUsage
}

// historyFlags say where the history of past upgrades is: budget
// derive's flags, and report's (its time flags under "history.", as
// report has a --since of its own).
type historyFlags struct {
	prom, token, since, until, chunk, labels, cluster string
	timeout                                           time.Duration
	prefix                                            string
}

func (h *historyFlags) register(fs *flag.FlagSet, prefix, promUsage string) {
	h.prefix = prefix
	fs.StringVar(&h.prom, "prometheus", "", promUsage)
	fs.StringVar(&h.token, "prometheus.bearer-token-file", "", "file with a bearer token for Prometheus (read for every request)")
	fs.DurationVar(&h.timeout, "query.timeout", 2*time.Minute, "timeout of one query to Prometheus")
	fs.StringVar(&h.since, prefix+"since", "90d", "how far back the history goes (Prometheus durations: 90d, 12w, 1y)")
	fs.StringVar(&h.until, prefix+"until", "", "end of the history, RFC 3339 (default now)")
	fs.StringVar(&h.chunk, prefix+"chunk", "7d", "longest window one query covers: long histories are read window by window")
	fs.StringVar(&h.labels, "cluster-labels", "cluster", "the labels that tell clusters apart in a store holding several (Thanos, Mimir, a federated Prometheus), comma-separated: each cluster's upgrade is one upgrade; absent labels are harmless on a single Prometheus")
	fs.StringVar(&h.cluster, "cluster", "", "the history of this cluster alone (the values of --cluster-labels, comma-separated); default: fleet-wide, every cluster's upgrades")
}

// options checks the flags (h.prom given) and returns derive's options.
func (h *historyFlags) options() (derive.Options, error) {
	o := derive.Options{URL: h.prom, BearerTokenFile: h.token, Timeout: h.timeout}
	if h.labels != "" {
		o.ClusterLabels = strings.Split(h.labels, ",")
	}
	if h.cluster != "" {
		o.Cluster = strings.Split(h.cluster, ",")
	}
	if err := o.Check(); err != nil {
		return o, fmt.Errorf("--cluster-labels %q, --cluster %q: %w", h.labels, h.cluster, err)
	}
	for name, p := range map[string]struct {
		s  string
		to *time.Duration
	}{h.prefix + "since": {h.since, &o.Since}, h.prefix + "chunk": {h.chunk, &o.Chunk}} {
		d, err := model.ParseDuration(p.s)
		if err != nil || d <= 0 {
			return o, fmt.Errorf("--%s: expected a positive duration such as 90d, got %q", name, p.s)
		}
		*p.to = time.Duration(d)
	}
	if h.until != "" {
		t, err := time.Parse(time.RFC3339, h.until)
		if err != nil {
			return o, fmt.Errorf("--%suntil: expected an RFC 3339 time such as 2026-12-01T00:00:00Z, got %q", h.prefix, h.until)
		}
		o.Until = t
	}
	return o, nil
}

func runDerive(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("budget derive", flag.ContinueOnError)
	var (
		out   = fs.String("out", "", "budget file to write (default stdout)")
		hist  historyFlags
		flags Common
	)
	hist.register(fs, "", "URL of the Prometheus that holds the history, e.g. http://127.0.0.1:9090 (required)")
	flags.register(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), budgetUsage+"\nFlags of derive:\n")
		fs.PrintDefaults()
	}
	_, _, _, code, ok := flags.parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "zerodown budget derive: "+format+"\n", a...)
		return ExitUsage
	}
	if hist.prom == "" {
		return bad("--prometheus is required")
	}
	if len(flags.args) > 0 {
		return bad("unexpected arguments %q", flags.args)
	}
	o, err := hist.options()
	if err != nil {
		return bad("%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := derive.Derive(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, "zerodown budget derive:", err)
		return ExitFailure
	}
	var buf bytes.Buffer
	if err := res.WriteBudgetFile(&buf); err != nil {
		fmt.Fprintln(stderr, "zerodown budget derive:", err)
		return ExitFailure
	}
	if *out == "" {
		_, _ = stdout.Write(buf.Bytes())
	} else if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		fmt.Fprintln(stderr, "zerodown budget derive:", err)
		return ExitFailure
	}
	fmt.Fprintf(stderr, "%d backends x connections, %d clusters, from %d queries\n", len(res.Series), res.Clusters, res.Queries)
	return ExitOK
}

// budgetsFromHistory derives budgets from the history in Prometheus, as
// budget derive writes them; nil when the history holds no upgrade.
func budgetsFromHistory(h *historyFlags) (*budget.File, *derive.Result, error) {
	o, err := h.options()
	if err != nil {
		return nil, nil, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := derive.Derive(ctx, o)
	if err != nil || len(res.Series) == 0 {
		return nil, res, err
	}
	var buf bytes.Buffer
	if err := res.WriteBudgetFile(&buf); err != nil {
		return nil, res, err
	}
	f, err := budget.Parse(buf.Bytes(), "the history in "+h.prom)
	return f, res, err
}
