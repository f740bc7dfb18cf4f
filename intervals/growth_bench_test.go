package intervals

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkHeartbeatGrowth measures how fast an interval file grows while
// 1,000 condition states stay open and nothing changes, as in the
// controller on a large cluster: one Heartbeat per second. It reports the
// file's growth in bytes per hour.
func BenchmarkHeartbeatGrowth(b *testing.B) {
	const open = 1000
	path := filepath.Join(b.TempDir(), FileName)
	w, err := Create(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range open {
		if _, err := w.Begin(Interval{
			From: Time{t0}, Level: LevelInfo, Source: "ClusterOperator",
			Locator: Locator{Type: "ClusterOperator", Keys: map[string]string{"name": fmt.Sprintf("operator-%03d", i%40), "condition": "Available"}},
			Message: Message{Reason: "AsExpected", HumanMessage: "All is well"},
		}); err != nil {
			b.Fatal(err)
		}
	}
	st, _ := os.Stat(path)
	before := st.Size()
	b.ResetTimer()
	for i := range b.N {
		if err := w.Heartbeat(t0.Add(time.Duration(i+1) * time.Second)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	st, _ = os.Stat(path)
	perBeat := float64(st.Size()-before) / float64(b.N)
	b.ReportMetric(perBeat*3600, "bytes/hour")
	w.Close(t0)
}
