package rollback

import (
	"bytes"
	"os"
	"testing"
)

// Decoding never panics, and what it accepts is a firing or resolved
// alert with an alertname. The seeds (testdata/fuzz/FuzzDecode) run with
// every go test; go test -fuzz FuzzDecode ./rollback/ searches further.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"version":"4","groupKey":"g","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"A"},"startsAt":"2026-12-01T10:00:00Z","endsAt":"0001-01-01T00:00:00Z"}]}`,
		`{"alerts":[{"status":"resolved","labels":{"alertname":"A","backend":"b"},"fingerprint":"x"}],"routeLabels":{"a":"b"},"notification_reason":"new"}`,
		`{"version":"3","alerts":[]}`,
		`[]`, `null`, `{"alerts":[{}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, a := range m.Alerts {
			if a.Labels["alertname"] == "" || (a.Status != "firing" && a.Status != "resolved") {
				t.Fatalf("accepted %+v", a)
			}
		}
	})
}

// Parsing a policy never panics; an accepted policy's rules all name an
// alertname and at least one action, each with its target.
func FuzzPolicy(f *testing.F) {
	for _, name := range []string{"testdata/valid.yaml", "testdata/invalid-rules.yaml", "testdata/invalid-fields.yaml", "testdata/invalid-types.yaml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data, "fuzz.yaml")
		if err != nil {
			return
		}
		for _, r := range p.Rules {
			if r.Match["alertname"] == "" || len(r.Actions) == 0 {
				t.Fatalf("accepted rule %+v", r)
			}
			for _, a := range r.Actions {
				if a.Kind() == "" || a.Target() == "" {
					t.Fatalf("accepted action %+v", a)
				}
				_ = a.chosen(r.ChooseBy, map[string]string{"namespace": "x", "deployment": "y", "pool": "z"})
			}
			_ = p.Match(r.Match)
		}
	})
}
