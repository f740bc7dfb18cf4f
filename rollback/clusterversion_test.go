package rollback

import (
	"strings"
	"testing"

	configv1 "github.com/openshift/api/config/v1"
)

func cv(desired *configv1.Update, progressing configv1.ConditionStatus, history ...configv1.UpdateHistory) *configv1.ClusterVersion {
	c := &configv1.ClusterVersion{}
	c.Spec.DesiredUpdate = desired
	c.Status.History = history
	c.Status.Conditions = []configv1.ClusterOperatorStatusCondition{{Type: configv1.OperatorProgressing, Status: progressing}}
	return c
}

func hist(version string, state configv1.UpdateState) configv1.UpdateHistory {
	return configv1.UpdateHistory{Version: version, Image: "quay.example/ocp@" + version, State: state}
}

func TestAbortPlan(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cv      *configv1.ClusterVersion
		want    *configv1.Update // the desiredUpdate written; nil: cleared
		what    string
		refused string
	}{
		{"not begun: cleared", cv(&configv1.Update{Version: "4.16.4"}, configv1.ConditionFalse, hist("4.16.3", configv1.CompletedUpdate)),
			nil, "the update from 4.16.3 to 4.16.4 had not begun: request cleared", ""},
		{"z-stream completed: back to the previous version", cv(&configv1.Update{Version: "4.16.4"}, configv1.ConditionFalse,
			hist("4.16.4", configv1.CompletedUpdate), hist("4.16.3", configv1.CompletedUpdate)),
			&configv1.Update{Version: "4.16.3", Image: "quay.example/ocp@4.16.3"}, "rolling back the z-stream update from 4.16.4 to 4.16.3", ""},
		{"in progress: refused", cv(&configv1.Update{Version: "4.16.4"}, configv1.ConditionTrue,
			hist("4.16.4", configv1.PartialUpdate), hist("4.16.3", configv1.CompletedUpdate)),
			nil, "", "may be in progress (Progressing=True)"},
		// Repeating an abort never moves forward. After a rollback from
		// 4.16.4 to 4.16.3 completed, "the version before" is 4.16.4.
		{"after a rollback: never forward", cv(&configv1.Update{Version: "4.16.3"}, configv1.ConditionFalse,
			hist("4.16.3", configv1.CompletedUpdate), hist("4.16.4", configv1.CompletedUpdate), hist("4.16.3", configv1.CompletedUpdate)),
			nil, "", "the version before 4.16.3 in status.history is 4.16.4, not an older one"},
		// The rollback an earlier abort asked for has not begun: clearing
		// it would keep the bad release.
		{"a rollback asked for: never cleared", cv(&configv1.Update{Version: "4.16.3", Image: "quay.example/ocp@4.16.3"}, configv1.ConditionFalse,
			hist("4.16.4", configv1.CompletedUpdate), hist("4.16.3", configv1.CompletedUpdate)),
			nil, "", "the update asked for (4.16.3) goes back from the running 4.16.4"},
		{"a rollback by image only: never cleared", cv(&configv1.Update{Image: "quay.example/ocp@4.16.3"}, configv1.ConditionFalse,
			hist("4.16.4", configv1.CompletedUpdate), hist("4.16.3", configv1.CompletedUpdate)),
			nil, "", "goes back from the running 4.16.4"},
		{"no Progressing condition: refused", func() *configv1.ClusterVersion {
			c := cv(&configv1.Update{Version: "4.16.4"}, configv1.ConditionFalse, hist("4.16.4", configv1.CompletedUpdate), hist("4.16.3", configv1.CompletedUpdate))
			c.Status.Conditions = nil
			return c
		}(), nil, "", "may be in progress (Progressing=Unknown)"},
		{"minor update: refused", cv(&configv1.Update{Version: "4.17.1"}, configv1.ConditionFalse,
			hist("4.17.1", configv1.CompletedUpdate), hist("4.16.3", configv1.CompletedUpdate)),
			nil, "", "4.16.3 → 4.17.1 is not a z-stream update"},
		{"partial, not progressing: refused", cv(&configv1.Update{Version: "4.16.4"}, configv1.ConditionFalse,
			hist("4.16.4", configv1.PartialUpdate), hist("4.16.3", configv1.CompletedUpdate)),
			nil, "", "is Partial, not completed"},
		{"nothing asked: refused", cv(nil, configv1.ConditionFalse, hist("4.16.3", configv1.CompletedUpdate)),
			nil, "", "no update is asked for"},
		{"no earlier version: refused", cv(&configv1.Update{Version: "4.16.3"}, configv1.ConditionFalse, hist("4.16.3", configv1.CompletedUpdate)),
			nil, "", "no completed version before 4.16.3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, what, err := abortPlan(tc.cv)
			if tc.refused != "" {
				wantRefusal(t, err, tc.refused)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want || !strings.Contains(what, tc.what) {
				t.Errorf("plan %+v %q, want %+v %q", got, what, tc.want, tc.what)
			}
		})
	}
}

func TestClusterVersionAbortIsOptIn(t *testing.T) {
	policy := `rules:
  - name: heavy
    match: {alertname: ZerodownUpgradeDisruptionBudgetExceeded}
    actions:
      - clusterversion-abort: {}
`
	if _, err := ParsePolicy([]byte(policy), "p.yaml"); err == nil || !strings.Contains(err.Error(),
		"p.yaml:5: rules[0].actions[0].clusterversion-abort: off unless the policy sets allow_clusterversion_abort: true") {
		t.Errorf("without the opt-in: %v", err)
	}
	if _, err := ParsePolicy([]byte("allow_clusterversion_abort: true\n"+policy), "p.yaml"); err != nil {
		t.Errorf("with the opt-in: %v", err)
	}
}
