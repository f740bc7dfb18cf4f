package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zerodown/zerodown/bench/internal/proc"
)

// runFootprint measures what `zerodown watch` costs in memory as a user
// runs it: each binary watches the same HTTP targets over new and reused
// connections, pinned to CPU 0 with the test target on CPU 1, and its
// resident memory is read from smaps_rollup after -duration, split into
// anonymous memory and the binary's file-backed pages.
func runFootprint(args []string) error {
	fs := newFlags("footprint")
	var (
		binaries = fs.String("binary", "bin/zerodown,bin/zerodown-lite", "comma-separated zerodown binaries to measure")
		targets  = fs.Int("targets", 100, "HTTP targets, each over new and reused connections")
		interval = fs.Duration("interval", 100*time.Millisecond, "probe interval per target")
		duration = fs.Duration("duration", 30*time.Second, "time before memory is read")
		rules    = fs.String("rules", "0,1s", "comma-separated --rules.interval values to measure each binary with (0: no evaluation)")
	)
	_ = fs.Parse(args)
	if runtime.NumCPU() < 2 {
		return fmt.Errorf("footprint needs two CPUs: watch and the test target are pinned apart")
	}
	addr, stop, err := startServer(1)
	if err != nil {
		return err
	}
	defer stop()
	dir, err := os.MkdirTemp("", "zdbench-footprint-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "targets.yaml")
	var b strings.Builder
	fmt.Fprintf(&b, "defaults:\n  interval: %s\ntargets:\n", interval)
	for i := range *targets {
		fmt.Fprintf(&b, "  - name: t%d\n    http: {url: \"http://%s/t/%d\"}\n", i, addr, i)
	}
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		return err
	}
	fmt.Printf("footprint: zerodown watch of %d HTTP targets x 2 connection modes x %s, pinned to CPU 0 (test target on CPU 1); memory after %s\n",
		*targets, interval, duration)
	fmt.Printf("%-28s %6s %9s %10s %11s %9s %8s\n", "BINARY", "RULES", "RSS", "ANONYMOUS", "FILE-BACKED", "BINARY", "CPU")
	for _, bin := range strings.Split(*binaries, ",") {
		st, err := os.Stat(bin)
		if err != nil {
			return fmt.Errorf("-binary: %w (make build build-lite builds the defaults)", err)
		}
		for _, r := range strings.Split(*rules, ",") {
			// A fresh --out per run: each run's report is its own.
			out, err := os.MkdirTemp(dir, "out-")
			if err != nil {
				return err
			}
			m, cpu, err := watchFootprint(bin, cfg, out, r, *duration)
			if err != nil {
				return fmt.Errorf("%s --rules.interval %s: %w", bin, r, err)
			}
			fmt.Printf("%-28s %6s %6.1fMiB %7.1fMiB %8.1fMiB %6.0fMiB %7.1f%%\n", filepath.Base(bin), r,
				m.RSS, m.Anon, m.File, float64(st.Size())/(1<<20), 100*cpu/duration.Seconds())
		}
	}
	return nil
}

// watchFootprint runs bin's watch on CPU 0 for d and reads its memory and
// CPU time; the watch must then exit cleanly on SIGTERM.
func watchFootprint(bin, cfg, out, rulesInterval string, d time.Duration) (proc.Memory, float64, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return proc.Memory{}, 0, err
	}
	listen := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "watch", "--config", cfg, "--view", "none", "--log.level", "warn",
		"--listen", listen, "--out", out, "--rules.interval", rulesInterval)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// The child inherits the affinity of the thread that starts it, and
	// (Pdeathsig) is killed when that thread ends: it waits on the child.
	started, exited := make(chan error, 1), make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		var set unix.CPUSet
		set.Set(0)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			started <- err
			return
		}
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return proc.Memory{}, 0, err
	}
	time.Sleep(d)
	m, cpu := proc.MemoryOf(cmd.Process.Pid), proc.CPUOf(cmd.Process.Pid)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil {
		return m, cpu, fmt.Errorf("watch did not exit cleanly: %w", err)
	}
	if m.RSS == 0 {
		return m, cpu, fmt.Errorf("could not read /proc/%d/smaps_rollup", cmd.Process.Pid)
	}
	return m, cpu, nil
}
