// Package memlimit gives the Go runtime a soft memory limit from the
// container's: in a pod with a memory limit, the garbage collector then
// works harder as the heap nears it, instead of letting garbage (the
// decoding of a big informer list, say) grow the process into an OOM kill.
package memlimit

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// Fraction of the container's limit given to the Go runtime: the rest is
// for what it does not count (stacks in flight, the binary's pages).
const Fraction = 0.9

// cgroupFile is cgroup v2's memory limit of this process's cgroup.
var cgroupFile = "/sys/fs/cgroup/memory.max"

// Set sets the runtime's soft memory limit to Fraction of the cgroup's
// memory limit, unless GOMEMLIMIT is set or there is no limit. It returns
// the limit set (0: none).
func Set() int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	data, err := os.ReadFile(cgroupFile)
	if err != nil {
		return 0
	}
	v := strings.TrimSpace(string(data))
	max, err := strconv.ParseInt(v, 10, 64)
	if err != nil || max <= 0 { // "max": no limit
		return 0
	}
	limit := int64(float64(max) * Fraction)
	debug.SetMemoryLimit(limit)
	return limit
}
