package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/zerodown/zerodown/demo"
)

func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		out      = fs.String("out", "zerodown-demo", "folder for intervals.jsonl, summary.json and the test target's CA")
		interval = fs.Duration("interval", 100*time.Millisecond, "steady probe interval")
		listen   string
		flags    Common
	)
	RegisterListen(fs, &listen, "127.0.0.1:9947", "address for /metrics while the demo runs; empty disables it")
	flags.register(fs)
	flags.registerView(fs)
	flags.registerPprof(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: zerodown demo [flags]\n\nStarts a loopback test target (HTTP/1.1, HTTPS with HTTP/2, h2c, TCP, DNS over UDP\nand TCP), switches it to refuse, 503, hang, reset, SERVFAIL and drop for known\nwindows, then drops its established connections four ways (a graceful reload,\nFIN, RST, a blackhole), watches it with long-lived connections held, and prints\nthe true outages and drops next to the measured ones.\nEverything stays on 127.0.0.1; it takes about 40 seconds.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	log, view, tty, code, ok := flags.parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	if !CheckListen(stderr, fs, listen) {
		return ExitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := demo.Run(ctx, demo.Options{
		Interval: *interval, OutDir: *out, Listen: listen, View: view, TTY: tty, Logger: log, Report: stdout,
		Width: terminalWidth(stdout), Logs: flags.sharedLogs(stderr, tty),
	})
	if err != nil {
		log.Error("demo failed", "err", err)
		return ExitFailure
	}
	st := res.Outages.DurationStats(nil)
	fmt.Fprintf(stdout, "\n%d outages measured, %d missed; median error %+.1fms, worst |error| %.1fms; %d of %d held connections counted dropped. Intervals and summary: %s/\n",
		st.N, st.Missed, float64(st.Median)/1e6, float64(st.WorstAbs)/1e6, len(res.Drops.Matches)-res.Drops.Missed(), len(res.Drops.Matches), strings.TrimSuffix(*out, "/"))
	return ExitOK
}
