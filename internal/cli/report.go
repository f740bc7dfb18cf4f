package cli

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"time"

	"github.com/zerodown/zerodown/budget"
	"github.com/zerodown/zerodown/report"
)

// ClusterSource says which pods' interval streams report --kubeconfig
// fetches, and into which folder.
type ClusterSource struct {
	Kubeconfig string // --kubeconfig
	Namespace  string // --namespace
	Selector   string // --selector: a label selector
	Since      string // --since: an RFC 3339 time or a duration back from now; "": everything
	Scheme     string // --pod-scheme: http, https or auto
	Dir        string // the folder the streams are written into
}

func runReport(args []string, stdout, stderr io.Writer, p Parts) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	var (
		out         = fs.String("out", "zerodown-report", "folder to write junit.xml, report.html, disruption.csv and summary.json into")
		budgets     = fs.String("budgets", "", "budget file (per backend and connection, with globs, history and grace): exit 3 if one is exceeded")
		flat        = fs.Duration("budget", 0, "one budget for every backend and connection, no grace (0 = none)")
		title       = fs.String("title", "zerodown report", "title of report.html")
		drainWithin = fs.Duration("node.drain-within", report.DefaultDrainWithin, "a node's JUnit case fails when it drained for longer than this")
		src         ClusterSource
		hist        historyFlags
		flags       Common
	)
	hist.register(fs, "history.", "judge against the history of past upgrades in this Prometheus (as budget derive reads it, e.g. http://127.0.0.1:9090): budgets from it, and each backend ranked among the past upgrades")
	fs.StringVar(&src.Kubeconfig, "kubeconfig", "", "fetch the interval streams of every poller and controller of a cluster through the API server's pod proxy (needs list pods and get pods/proxy in --namespace)")
	fs.StringVar(&src.Namespace, "namespace", "zerodown", "namespace of the pods --kubeconfig fetches from")
	fs.StringVar(&src.Selector, "selector", "app.kubernetes.io/name in (zerodown-poller,zerodown-controller)", "label selector of the pods --kubeconfig fetches from")
	fs.StringVar(&src.Scheme, "pod-scheme", "auto", "scheme the API server's pod proxy speaks to the roles: http, https where they serve TLS (--web.config.file), or auto: http, then https")
	fs.StringVar(&src.Since, "since", "", "with --kubeconfig, fetch only what reaches this time (RFC 3339) or duration back from now (2h)")
	flags.register(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: zerodown report [flags] FILE|DIR...

Reads interval files (JSON Lines) of one or many pollers, the controller
and zerodown watch, or (--kubeconfig) fetches them from every poller and
controller of a cluster into --out/intervals/, merges them, judges every backend and connection mode
against its budget and writes into --out:
  junit.xml        a case per backend and connection, operator and node (stable names)
  report.html      one self-contained timeline: opens offline, fetches nothing
  disruption.csv   one row per outage
  summary.json     the verdict, per backend and poller totals, budgets used
A folder stands for the *.jsonl streams in it. A backend's disruption is
the most any one poller measured; the report also gives the time every
poller saw it down at once.

Exit codes: 0 every budget held (or none applied), 2 bad flags, budgets or
interval files (the report is still written from every good record),
3 a budget was exceeded. A backend no budget applies to is not judged:
its junit.xml case is skipped, with the disruption measured.

Examples:
  zerodown report --budgets budgets.yaml --out artifacts/report zerodown-out/
  zerodown report --budget 5s poller-*.jsonl controller.jsonl
  zerodown report --kubeconfig ~/.kube/config --since 3h --budgets budgets.yaml --out artifacts/report
  zerodown report --prometheus http://thanos-query:9090 --cluster prod-east zerodown-out/

Flags:
`)
		fs.PrintDefaults()
	}
	log, _, _, code, ok := flags.parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(flags.args) == 0 && src.Kubeconfig == "" {
		fmt.Fprintln(stderr, "zerodown report: name at least one interval file or folder, or --kubeconfig")
		fs.Usage()
		return ExitUsage
	}
	if src.Scheme != "http" && src.Scheme != "https" && src.Scheme != "auto" {
		fmt.Fprintf(stderr, "zerodown report: --pod-scheme: want http, https or auto, got %q\n", src.Scheme)
		return ExitUsage
	}
	if !NonNegative(stderr, fs, map[string]float64{"budget": flat.Seconds(), "node.drain-within": drainWithin.Seconds()}) {
		return ExitUsage
	}
	var judge *budget.File
	given := 0
	for _, b := range []bool{*budgets != "", *flat > 0, hist.prom != ""} {
		if b {
			given++
		}
	}
	switch {
	case given > 1:
		fmt.Fprintln(stderr, "zerodown report: give one of --budgets, --budget and --prometheus")
		return ExitUsage
	case hist.prom != "":
		f, res, err := budgetsFromHistory(&hist)
		if err != nil {
			fmt.Fprintln(stderr, "zerodown report:", err)
			return ExitFailure
		}
		if f == nil {
			fmt.Fprintf(stderr, "zerodown report: no upgrade history in %s from %s to %s: nothing judged\n", hist.prom, res.From.UTC().Format(time.RFC3339), res.To.UTC().Format(time.RFC3339))
		}
		judge = f
	case *budgets != "":
		var err error
		if judge, err = budget.Load(*budgets); err != nil {
			fmt.Fprintln(stderr, err)
			return ExitUsage
		}
	case *flat > 0:
		judge = budget.Flat(*flat)
	}
	files := flags.args
	var warns []string
	if src.Kubeconfig != "" {
		src.Dir = filepath.Join(*out, "intervals")
		fetched, w, err := p.collectFromCluster(src, log)
		warns = append(warns, w...)
		if err != nil {
			fmt.Fprintln(stderr, "zerodown report:", err)
			if len(fetched) == 0 && len(files) == 0 {
				return ExitFailure
			}
		}
		files = append(files, fetched...)
	}
	inputs, loadWarns, loadErr := report.Load(files...)
	warns = append(warns, loadWarns...)
	if loadErr != nil && !slices.ContainsFunc(inputs, func(in report.Input) bool { return len(in.Intervals) > 0 }) {
		// Nothing to report on: no report "from 0001-01-01".
		fmt.Fprintf(stderr, "zerodown report: %v\nnothing read, no report written\n", loadErr)
		return ExitUsage
	}
	r := report.Build(inputs, report.Options{Title: *title, Budgets: judge, DrainWithin: *drainWithin})
	r.Warnings = append(warns, r.Warnings...)
	for _, w := range r.Warnings {
		log.Warn(w)
	}
	if loadErr != nil {
		// Said once, as it is (file:line: what), and kept in the report.
		fmt.Fprintln(stderr, loadErr)
		r.Warnings = append(r.Warnings, "unreadable input: "+loadErr.Error())
	}
	if err := r.Write(*out, nil); err != nil {
		log.Error("writing the report", "err", err)
		return ExitFailure
	}
	fmt.Fprintf(stdout, "%d files, %d backends x connections, %d outages from %s to %s (%s); verdict: %s\nreport: %s\n",
		len(inputs), len(r.Backends), len(r.Outages), r.Started.UTC().Format(time.RFC3339), r.Ended.UTC().Format(time.RFC3339),
		r.Ended.Sub(r.Started).Round(time.Millisecond), r.Verdict(), filepath.Join(*out, report.HTMLFile))
	if loadErr != nil {
		return ExitUsage
	}
	return verdictExit(r.Summary(), stderr)
}
