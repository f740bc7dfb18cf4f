package memlimit

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func TestSet(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, env string
		want               int64
	}{
		{"limit", "268435456\n", "", 241591910},
		{"no limit", "max\n", "", 0},
		{"GOMEMLIMIT wins", "268435456\n", "100MiB", 0},
		{"no file", "", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cgroupFile = filepath.Join(dir, tc.name)
			if tc.content != "" {
				if err := os.WriteFile(cgroupFile, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			t.Setenv("GOMEMLIMIT", tc.env)
			if got := Set(); got != tc.want {
				t.Errorf("Set() = %d, want %d", got, tc.want)
			}
			if tc.want > 0 && debug.SetMemoryLimit(-1) != tc.want {
				t.Errorf("runtime limit = %d, want %d", debug.SetMemoryLimit(-1), tc.want)
			}
		})
	}
}
