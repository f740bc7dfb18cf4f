package rollback

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestLoadValid(t *testing.T) {
	p, err := LoadPolicy("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rules) != 4 {
		t.Fatalf("%d rules", len(p.Rules))
	}
	if c := p.CooldownOf(&p.Rules[0]); c != 10*time.Minute {
		t.Errorf("own cooldown %s", c)
	}
	if c := p.CooldownOf(&p.Rules[1]); c != 15*time.Minute {
		t.Errorf("inherited cooldown %s", c)
	}
	if p.DryRunOf(&p.Rules[0]) || !p.DryRunOf(&p.Rules[1]) {
		t.Error("dry_run not as written")
	}
	got := p.Match(map[string]string{"alertname": "ZerodownBackendDisrupted", "backend": "shop-storefront", "connection": "new"})
	if len(got) != 1 || got[0].Name != "storefront" {
		t.Errorf("matched %v", got)
	}
	if got := p.Match(map[string]string{"alertname": "ZerodownBackendDisrupted", "backend": "other"}); len(got) != 0 {
		t.Errorf("matched %v for another backend", got)
	}
	// choose_by: the alert's namespace and deployment pick one of the two
	// listed; an alert without the labels picks none.
	r := &p.Rules[1]
	for _, tc := range []struct {
		labels map[string]string
		want   []bool
	}{
		{map[string]string{"namespace": "shop", "deployment": "cart"}, []bool{false, true}},
		{map[string]string{"namespace": "shop", "deployment": "storefront"}, []bool{true, false}},
		{map[string]string{"namespace": "shop"}, []bool{false, false}},
		{map[string]string{"namespace": "other", "deployment": "cart"}, []bool{false, false}},
	} {
		for i, a := range r.Actions {
			if got := a.chosen(r.ChooseBy, tc.labels); got != tc.want[i] {
				t.Errorf("labels %v, action %s: chosen %v, want %v", tc.labels, a.Target(), got, tc.want[i])
			}
		}
	}
	// Without choose_by every target is chosen.
	if !p.Rules[3].Actions[0].chosen(nil, nil) {
		t.Error("an action without choose_by was not chosen")
	}
}

func TestLoadInvalid(t *testing.T) {
	for file, want := range map[string]string{
		"invalid-fields.yaml": `
testdata/invalid-fields.yaml:4: field cooldwn not found in type rollback.Rule
testdata/invalid-fields.yaml:6: field revision not found in type rollback.DeploymentUndo`,
		"invalid-rules.yaml": `
testdata/invalid-rules.yaml:16: expected a duration such as 10m, got "soon"`,
	} {
		_, err := LoadPolicy("testdata/" + file)
		if err == nil || err.Error() != strings.TrimSpace(want) {
			t.Errorf("%s:\n%v\nwant:\n%s", file, err, strings.TrimSpace(want))
		}
	}
}

func TestValidate(t *testing.T) {
	// invalid-rules.yaml with the bad duration fixed: every other problem
	// at once.
	data := strings.Replace(mustRead(t, "testdata/invalid-rules.yaml"), "cooldown: soon", "cooldown: 5m", 1)
	_, err := ParsePolicy([]byte(data), "p.yaml")
	want := `
p.yaml:4: rules[0].match: want at least alertname (a rule for every alert is not a policy)
p.yaml:4: rules[0].choose_by: "backend": want one of namespace, deployment, route, pool
p.yaml:4: rules[0].actions: want at least one action (or steps)
p.yaml:8: rules[1].name: "a" is also the name of the rule on line 4
p.yaml:8: rules[1].match: "bad-label" is not a label name
p.yaml:11: rules[1].actions[0].deployment-undo: want namespace and name
p.yaml:12: rules[1].actions[1]: want exactly one of deployment-undo, route-switch, mcp-pause, clusterversion-abort
p.yaml:14: rules[1].actions[2]: want exactly one of deployment-undo, route-switch, mcp-pause, clusterversion-abort
p.yaml:15: rules[2].name: want a name
p.yaml:18: rules[2].actions[0].deployment-undo.to_revision: must be positive (0: the previous revision)`
	if err == nil || err.Error() != strings.TrimSpace(want) {
		t.Errorf("got:\n%v\nwant:\n%s", err, strings.TrimSpace(want))
	}
	if _, err := ParsePolicy(nil, "empty.yaml"); err == nil || err.Error() != "empty.yaml: empty policy: want rules" {
		t.Errorf("empty: %v", err)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestStepsValidate(t *testing.T) {
	_, err := ParsePolicy([]byte(`rules:
  - name: escalate
    match: {alertname: A}
    actions:
      - mcp-pause: {name: worker}
    steps:
      - actions:
          - mcp-pause: {name: worker}
  - name: backwards
    match: {alertname: B}
    steps:
      - after: 10m
        actions:
          - mcp-pause: {name: worker}
      - after: 5m
        actions: []
`), "s.yaml")
	want := `
s.yaml:2: rules[0]: want actions or steps, not both
s.yaml:15: rules[1].steps[1].after: 5m0s is before the previous step's 10m0s: steps escalate in order
s.yaml:15: rules[1].steps[1].actions: want at least one action`
	if err == nil || err.Error() != strings.TrimSpace(want) {
		t.Errorf("got:\n%v\nwant:\n%s", err, strings.TrimSpace(want))
	}
}
