package rollback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	configv1 "github.com/openshift/api/config/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// abortPlan decides what clusterversion-abort does to a ClusterVersion:
//   - an update asked for (spec.desiredUpdate) but not begun (no history
//     entry for it), to a release newer than the one running: clear the
//     request, as oc adm upgrade --clear does;
//   - a z-stream update (same major.minor) that completed, the cluster
//     known not to be Progressing: ask for the previous, older, version
//     from status.history, as oc adm upgrade rollback does;
//   - anything else: refuse, and say why. Above all it never moves
//     forward: a request for an older release (a rollback asked for,
//     perhaps by an earlier abort) is never cleared, and a "previous"
//     version newer than the running one (the history after a rollback)
//     is never asked for.
//
// It returns the spec.desiredUpdate to write (nil: clear it) and what it
// does, from which release to which, or a *Refusal that says why not.
func abortPlan(cv *configv1.ClusterVersion) (*configv1.Update, string, error) {
	want := cv.Spec.DesiredUpdate
	if want == nil || (want.Version == "" && want.Image == "") {
		return nil, "", refuse("no update is asked for (spec.desiredUpdate is empty): nothing to abort")
	}
	var newest *configv1.UpdateHistory
	if len(cv.Status.History) > 0 {
		newest = &cv.Status.History[0]
	}
	begun := newest != nil && (want.Version != "" && newest.Version == want.Version || want.Image != "" && newest.Image == want.Image)
	if !begun {
		if newest != nil && goesBack(want, newest, cv.Status.History[1:]) {
			return nil, "", refuse("the update asked for (%s) goes back from the running %s: a rollback under way is never cleared", describe(want), newest.Version)
		}
		running := "nothing yet"
		if newest != nil {
			running = newest.Version
		}
		return nil, fmt.Sprintf("the update from %s to %s had not begun: request cleared (as oc adm upgrade --clear)", running, describe(want)), nil
	}
	progressing := configv1.ConditionUnknown
	for _, c := range cv.Status.Conditions {
		if c.Type == configv1.OperatorProgressing {
			progressing = c.Status
		}
	}
	if progressing != configv1.ConditionFalse {
		return nil, "", refuse("the update to %s may be in progress (Progressing=%s): an update is rolled back only once it is known to have stopped", describe(want), progressing)
	}
	if newest.State != configv1.CompletedUpdate {
		return nil, "", refuse("the update to %s is %s, not completed: nothing to roll back to safely", describe(want), newest.State)
	}
	var previous *configv1.UpdateHistory
	for i := 1; i < len(cv.Status.History); i++ {
		if cv.Status.History[i].State == configv1.CompletedUpdate {
			previous = &cv.Status.History[i]
			break
		}
	}
	if previous == nil {
		return nil, "", refuse("no completed version before %s in status.history", newest.Version)
	}
	if minor(previous.Version) == "" || minor(previous.Version) != minor(newest.Version) {
		return nil, "", refuse("%s → %s is not a z-stream update: only z-stream updates are rolled back", previous.Version, newest.Version)
	}
	if older, ok := olderVersion(previous.Version, newest.Version); !ok || !older {
		return nil, "", refuse("the version before %s in status.history is %s, not an older one (a rollback already happened): an abort never moves forward", newest.Version, previous.Version)
	}
	return &configv1.Update{Version: previous.Version, Image: previous.Image},
		fmt.Sprintf("rolling back the z-stream update from %s to %s (as oc adm upgrade rollback)", newest.Version, previous.Version), nil
}

// goesBack reports whether the requested update leads away from the
// running release to an older one: a lower version, or (an image only)
// a release the history ran before.
func goesBack(want *configv1.Update, running *configv1.UpdateHistory, earlier []configv1.UpdateHistory) bool {
	if want.Version != "" && running.Version != "" {
		if older, ok := olderVersion(want.Version, running.Version); ok {
			return older
		}
		return true // not comparable: taken as going back, and left alone
	}
	for _, h := range earlier {
		if want.Image != "" && h.Image == want.Image {
			return true
		}
	}
	return false
}

// olderVersion compares the major.minor.patch of two releases (a
// pre-release or build suffix ignored); ok is false when either has none.
func olderVersion(a, b string) (older, ok bool) {
	pa, oka := triple(a)
	pb, okb := triple(b)
	if !oka || !okb {
		return false, false
	}
	for i := range pa {
		if pa[i] != pb[i] {
			return pa[i] < pb[i], true
		}
	}
	return false, true
}

func triple(v string) ([3]int, bool) {
	var out [3]int
	v, _, _ = strings.Cut(v, "-")
	v, _, _ = strings.Cut(v, "+")
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return out, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

// minor returns "4.16" of "4.16.3" ("" when it has no two dots).
func minor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 3 {
		return ""
	}
	return parts[0] + "." + parts[1]
}

func describe(u *configv1.Update) string {
	if u.Version != "" {
		return u.Version
	}
	return u.Image
}

// AbortClusterVersion implements Cluster (see abortPlan). The patch
// carries the resourceVersion the plan was made on (a precondition): a
// ClusterVersion changed meanwhile is planned anew.
func (k *Kube) AbortClusterVersion(ctx context.Context, dry bool) (string, error) {
	cvs := k.Client.ClusterVersions()
	var what string
	err := onConflict(func() error {
		cv, err := cvs.Get(ctx, "version", metav1.GetOptions{})
		if err != nil {
			return err
		}
		next, plan, err := abortPlan(cv)
		if err != nil {
			return err
		}
		what = plan
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": cv.ResourceVersion}, "spec": map[string]any{"desiredUpdate": next}})
		if err != nil {
			return err
		}
		_, err = cvs.Patch(ctx, "version", types.MergePatchType, patch, metav1.PatchOptions{DryRun: dryRunOpts(dry)})
		return err
	})
	var refusal *Refusal
	switch {
	case errors.As(err, &refusal):
		return "", refuse("clusterversion: %s", refusal.Reason)
	case err != nil:
		return "", fmt.Errorf("clusterversion: %w", err)
	}
	if dry {
		what = "would be " + what + " (dry run)"
	}
	return "clusterversion " + what, nil
}
