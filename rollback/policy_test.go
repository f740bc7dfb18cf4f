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

// Every problem of a file at once, each "file:line: field: message", in
// words: no Go type names, no YAML tags.
func TestLoadInvalid(t *testing.T) {
	for file, want := range map[string]string{
		"invalid-fields.yaml": `
testdata/invalid-fields.yaml:4: rules[0].cooldwn: unknown field; did you mean "cooldown"?
testdata/invalid-fields.yaml:6: rules[0].actions[0].deployment-undo.revision: unknown field; did you mean "to_revision"?`,
		"invalid-types.yaml": `
testdata/invalid-types.yaml:2: defaults.dry_run: expected a boolean (true or false), got "maybe"
testdata/invalid-types.yaml:3: defaults.cooldown: expected a duration like "10m" or "1h30m", got a list
testdata/invalid-types.yaml:7: rules[0].dryrun: unknown field; did you mean "dry_run"?
testdata/invalid-types.yaml:8: rules[0].on_resolved: expected a boolean (true or false), got "1"
testdata/invalid-types.yaml:9: rules[0].choose_by: expected a list, got "namespace"
testdata/invalid-types.yaml:11: rules[0].actions[0].deployment-undo.to_revision: expected an integer, got "last"
testdata/invalid-types.yaml:12: rules[0].actions[1].name: unknown field; name belongs under one of deployment-undo:, route-switch:, mcp-pause:`,
		// Decoding problems and validation's, at once.
		"invalid-rules.yaml": `
testdata/invalid-rules.yaml:5: rules[0].match: want at least alertname (a rule for every alert is not a policy)
testdata/invalid-rules.yaml:6: rules[0].choose_by: "backend": want one of namespace, deployment, route, pool
testdata/invalid-rules.yaml:7: rules[0].actions: want at least one action (or steps)
testdata/invalid-rules.yaml:8: rules[1].name: "a" is also the name of the rule on line 4
testdata/invalid-rules.yaml:9: rules[1].match: "bad-label" is not a label name
testdata/invalid-rules.yaml:11: rules[1].actions[0].deployment-undo: want namespace and name
testdata/invalid-rules.yaml:12: rules[1].actions[1]: want exactly one of deployment-undo, route-switch, mcp-pause, clusterversion-abort
testdata/invalid-rules.yaml:14: rules[1].actions[2]: want exactly one of deployment-undo, route-switch, mcp-pause, clusterversion-abort
testdata/invalid-rules.yaml:15: rules[2].name: want a name
testdata/invalid-rules.yaml:16: rules[2].cooldown: expected a duration like "10m" or "1h30m", got "soon"
testdata/invalid-rules.yaml:18: rules[2].actions[0].deployment-undo.to_revision: must be positive (0: the previous revision)`,
	} {
		_, err := LoadPolicy("testdata/" + file)
		if err == nil || err.Error() != strings.TrimSpace(want) {
			t.Errorf("%s:\n%v\nwant:\n%s", file, err, strings.TrimSpace(want))
		}
	}
}

func TestValidate(t *testing.T) {
	// invalid-rules.yaml with the bad duration fixed: every other problem
	// at once, each on the line of its field.
	data := strings.Replace(mustRead(t, "testdata/invalid-rules.yaml"), "cooldown: soon", "cooldown: 5m", 1)
	_, err := ParsePolicy([]byte(data), "p.yaml")
	want := `
p.yaml:5: rules[0].match: want at least alertname (a rule for every alert is not a policy)
p.yaml:6: rules[0].choose_by: "backend": want one of namespace, deployment, route, pool
p.yaml:7: rules[0].actions: want at least one action (or steps)
p.yaml:8: rules[1].name: "a" is also the name of the rule on line 4
p.yaml:9: rules[1].match: "bad-label" is not a label name
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
s.yaml:16: rules[1].steps[1].actions: want at least one action`
	if err == nil || err.Error() != strings.TrimSpace(want) {
		t.Errorf("got:\n%v\nwant:\n%s", err, strings.TrimSpace(want))
	}
}
