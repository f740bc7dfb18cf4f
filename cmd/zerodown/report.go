package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/zerodown/zerodown/budget"
	"github.com/zerodown/zerodown/report"
)

func runReport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	var (
		out         = fs.String("out", "zerodown-report", "folder to write junit.xml, report.html, disruption.csv and summary.json into")
		budgets     = fs.String("budgets", "", "budget file (per backend and connection, with globs, history and grace): exit 3 if one is exceeded")
		flat        = fs.Duration("budget", 0, "one budget for every backend and connection, no grace (0 = none)")
		title       = fs.String("title", "zerodown report", "title of report.html")
		drainWithin = fs.Duration("node.drain-within", report.DefaultDrainWithin, "a node's JUnit case fails when it drained for longer than this")
		flags       common
	)
	flags.register(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: zerodown report [flags] FILE|DIR...

Reads interval files (JSON Lines) of one or many pollers, the controller
and zerodown watch, merges them, judges every backend and connection mode
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
3 a budget was exceeded.

Examples:
  zerodown report --budgets budgets.yaml --out artifacts/report zerodown-out/
  zerodown report --budget 5s poller-*.jsonl controller.jsonl

Flags:
`)
		fs.PrintDefaults()
	}
	log, _, _, code, ok := flags.parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(flags.args) == 0 {
		fmt.Fprintln(stderr, "zerodown report: name at least one interval file or folder")
		fs.Usage()
		return exitUsage
	}
	if !nonNegative(stderr, "report", map[string]float64{"budget": flat.Seconds(), "node.drain-within": drainWithin.Seconds()}) {
		return exitUsage
	}
	var judge *budget.File
	switch {
	case *budgets != "" && *flat > 0:
		fmt.Fprintln(stderr, "zerodown report: give --budgets or --budget, not both")
		return exitUsage
	case *budgets != "":
		var err error
		if judge, err = budget.Load(*budgets); err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
	case *flat > 0:
		judge = budget.Flat(*flat)
	}
	inputs, warns, loadErr := report.Load(flags.args...)
	r := report.Build(inputs, report.Options{Title: *title, Budgets: judge, DrainWithin: *drainWithin})
	r.Warnings = append(warns, r.Warnings...)
	if loadErr != nil {
		fmt.Fprintln(stderr, loadErr)
		r.Warnings = append(r.Warnings, "unreadable input: "+loadErr.Error())
	}
	for _, w := range r.Warnings {
		log.Warn(w)
	}
	if err := r.Write(*out, nil); err != nil {
		log.Error("writing the report", "err", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "%d files, %d backends x connections, %d outages from %s to %s (%s); verdict: %s\nreport: %s\n",
		len(inputs), len(r.Backends), len(r.Outages), r.Started.UTC().Format(time.RFC3339), r.Ended.UTC().Format(time.RFC3339),
		r.Ended.Sub(r.Started).Round(time.Millisecond), r.Verdict(), filepath.Join(*out, report.HTMLFile))
	if loadErr != nil {
		return exitUsage
	}
	return verdictExit(r.Summary(), stderr)
}
