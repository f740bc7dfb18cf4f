// Command zdbench measures zerodown on loopback: fidelity of outage
// durations against the test target's ground truth, detection delay, CPU
// cost per probe against a minimal Go client measured in the same run, and
// scheduling lag at scale. See bench/README.md; bench/run.sh runs it all.
//
// Everything it sends goes to 127.0.0.1. Child processes (the server, the
// minimal client, the prober under test, CPU burners) are this same binary
// run with hidden subcommands, so each one's CPU time is its own.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "fidelity":
		err = runFidelity(os.Args[2:])
	case "detection":
		err = runDetection(os.Args[2:])
	case "cost":
		err = runCost(os.Args[2:])
	case "scale":
		err = runScale(os.Args[2:])
	case "eval":
		err = runEval(os.Args[2:])
	case "footprint":
		err = runFootprint(os.Args[2:])
	// Hidden: child processes.
	case "serve":
		err = childServe(os.Args[2:])
	case "minimal":
		err = childMinimal(os.Args[2:])
	case "engine":
		err = childEngine(os.Args[2:])
	case "burn":
		childBurn()
	default:
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "zdbench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `Usage: zdbench COMMAND [flags]

  fidelity   measured - true outage durations, every fault kind, new and reused connections
  detection  delay from an outage's start until /metrics shows it
  cost       CPU per probe and RSS at 100 HTTP targets x 10 probes/s, against a minimal client
  scale      scheduling lag of 2,000 targets at 1 probe/s on one core
  eval       CPU, RSS and scheduling lag the embedded rule evaluator adds at 100 targets
  footprint  resident memory of zerodown watch binaries at 100 targets, anonymous and file-backed

Run "zdbench COMMAND -h" for its flags. All traffic stays on 127.0.0.1.
`)
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	return fs
}
