// Package proc reads another process's memory and CPU from /proc, for the
// benchmarks that measure zerodown as a separate process.
package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Memory is a process's resident memory in MiB, split as
// /proc/PID/smaps_rollup splits it: anonymous (heap, stacks, the Go
// runtime) and file-backed (the binary's pages that were touched).
type Memory struct {
	RSS, Anon, File float64
}

// MemoryOf reads pid's smaps_rollup; zero if the process is gone.
func MemoryOf(pid int) Memory {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return Memory{}
	}
	kb := func(key string) float64 {
		for _, l := range strings.Split(string(data), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == key+":" {
				v, _ := strconv.ParseFloat(f[1], 64)
				return v / 1024
			}
		}
		return 0
	}
	rss, anon := kb("Rss"), kb("Anonymous")
	return Memory{RSS: rss, Anon: anon, File: rss - anon}
}

// CPUOf is a process's user + system CPU time in seconds.
func CPUOf(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // clock ticks (USER_HZ = 100)
}
