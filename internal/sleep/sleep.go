// Package sleep waits in a way a context can cut short.
package sleep

import (
	"context"
	"time"
)

// For sleeps d, or less when ctx ends; it reports whether ctx is still
// alive.
func For(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
