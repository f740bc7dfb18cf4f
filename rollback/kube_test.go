package rollback

import (
	"context"
	"errors"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// A deadline (an API server that hung) is an error, never success; a
// conflict is tried again.
func TestOnConflict(t *testing.T) {
	hung := fmt.Errorf("Get \"https://api/\": %w", context.DeadlineExceeded)
	calls := 0
	if err := onConflict(func() error { calls++; return hung }); !errors.Is(err, context.DeadlineExceeded) || calls != 1 {
		t.Errorf("a hung call: %v after %d calls, want the deadline after one", err, calls)
	}
	calls = 0
	conflict := apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, "record", errors.New("changed"))
	err := onConflict(func() error {
		calls++
		if calls < 3 {
			return conflict
		}
		return hung
	})
	if !errors.Is(err, context.DeadlineExceeded) || calls != 3 {
		t.Errorf("conflicts then a hung call: %v after %d calls, want the deadline after three", err, calls)
	}
	calls = 0
	if err := onConflict(func() error { calls++; return conflict }); !apierrors.IsConflict(err) || calls != 5 {
		t.Errorf("conflicts only: %v after %d calls, want a conflict after five", err, calls)
	}
}
