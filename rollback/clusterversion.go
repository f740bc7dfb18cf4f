package rollback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	configv1 "github.com/openshift/api/config/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// abortPlan decides what clusterversion-abort does to a ClusterVersion:
//   - an update asked for (spec.desiredUpdate) but not begun (no history
//     entry for it): clear the request, as oc adm upgrade --clear does;
//   - a z-stream update (same major.minor) that completed, the cluster not
//     Progressing: ask for the previous version from status.history, as
//     oc adm upgrade rollback does;
//   - anything else: refuse, and say why.
//
// It returns the spec.desiredUpdate to write (nil: clear it) and what it
// does, or an error that says why not.
func abortPlan(cv *configv1.ClusterVersion) (*configv1.Update, string, error) {
	want := cv.Spec.DesiredUpdate
	if want == nil || (want.Version == "" && want.Image == "") {
		return nil, "", errors.New("no update is asked for (spec.desiredUpdate is empty): nothing to abort")
	}
	var newest *configv1.UpdateHistory
	if len(cv.Status.History) > 0 {
		newest = &cv.Status.History[0]
	}
	begun := newest != nil && (want.Version != "" && newest.Version == want.Version || want.Image != "" && newest.Image == want.Image)
	if !begun {
		return nil, fmt.Sprintf("the update to %s had not begun: request cleared (as oc adm upgrade --clear)", describe(want)), nil
	}
	for _, c := range cv.Status.Conditions {
		if c.Type == configv1.OperatorProgressing && c.Status != configv1.ConditionFalse {
			return nil, "", fmt.Errorf("the update to %s is in progress (Progressing=%s): an update cannot be rolled back while it runs", describe(want), c.Status)
		}
	}
	if newest.State != configv1.CompletedUpdate {
		return nil, "", fmt.Errorf("the update to %s is %s, not completed: nothing to roll back to safely", describe(want), newest.State)
	}
	var previous *configv1.UpdateHistory
	for i := 1; i < len(cv.Status.History); i++ {
		if cv.Status.History[i].State == configv1.CompletedUpdate {
			previous = &cv.Status.History[i]
			break
		}
	}
	if previous == nil {
		return nil, "", fmt.Errorf("no completed version before %s in status.history", newest.Version)
	}
	if minor(previous.Version) == "" || minor(previous.Version) != minor(newest.Version) {
		return nil, "", fmt.Errorf("%s → %s is not a z-stream update: only z-stream updates are rolled back", previous.Version, newest.Version)
	}
	return &configv1.Update{Version: previous.Version, Image: previous.Image},
		fmt.Sprintf("rolling back the z-stream update %s → %s (as oc adm upgrade rollback)", previous.Version, newest.Version), nil
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

// AbortClusterVersion implements Cluster (see abortPlan).
func (k *Kube) AbortClusterVersion(ctx context.Context, dry bool) (string, error) {
	cvs := k.Client.ClusterVersions()
	cv, err := cvs.Get(ctx, "version", metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	next, what, err := abortPlan(cv)
	if err != nil {
		return "", err
	}
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"desiredUpdate": next}})
	if err != nil {
		return "", err
	}
	if _, err := cvs.Patch(ctx, "version", types.MergePatchType, patch, metav1.PatchOptions{DryRun: dryRunOpts(dry)}); err != nil {
		return "", fmt.Errorf("clusterversion: %w", err)
	}
	if dry {
		what = "would be " + what + " (dry run)"
	}
	return "clusterversion " + what, nil
}
