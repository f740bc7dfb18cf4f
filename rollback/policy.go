// Package rollback is zerodown's rollback webhook: Alertmanager (or the
// embedded evaluator of zerodown watch) posts alerts, a policy decides
// which of the objects it names to roll back, and the controller's leader
// acts on the cluster, once per alert, with an audit trail.
//
// The policy names every object an action may touch. An alert's labels may
// choose among them (choose_by), never name one: labels come from scraped
// metrics, and trusting them would make zerodown a confused deputy.
package rollback

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/zerodown/zerodown/internal/yamlerr"
)

// Policy is a rollback policy file.
type Policy struct {
	// Defaults apply to rules that leave a field out.
	Defaults RuleDefaults `yaml:"defaults"`
	// AllowClusterVersionAbort must be true for any rule to use
	// clusterversion-abort: the heaviest action is opted into twice.
	AllowClusterVersionAbort bool   `yaml:"allow_clusterversion_abort"`
	Rules                    []Rule `yaml:"rules"`

	file string
}

// RuleDefaults are the fields a rule inherits.
type RuleDefaults struct {
	Cooldown Duration `yaml:"cooldown"`
	DryRun   *bool    `yaml:"dry_run"`
	NoData   string   `yaml:"no_data"`
}

// No-data policies: what a rule does when the alert is about a backend
// that had no samples lately (NoDataWindow), as the data source
// (--rollback.prometheus-url) says.
const (
	// NoDataSkip: no fresh samples, no action: the alert may be stale (a
	// dead poller's last word, redelivered).
	NoDataSkip = "skip"
	// NoDataAct: act whatever the data says.
	NoDataAct = "act"
)

// NoDataWindow is how far back a backend must have been probed for its
// alert to count as having data.
const NoDataWindow = 5 * time.Minute

// Rule matches alerts and names what to do about them.
type Rule struct {
	Name string `yaml:"name"`
	// Match: every label given must equal the alert's (alertname
	// included).
	Match map[string]string `yaml:"match"`
	// ChooseBy lists alert labels that choose among the targets the
	// actions list: namespace and deployment (Deployments), namespace and
	// route (Routes), pool (MachineConfigPools). A target whose field
	// differs from the alert's label is left out; an alert without the
	// label chooses nothing.
	ChooseBy []string `yaml:"choose_by"`
	// Cooldown: after acting on a target, the rule does not act on it
	// again for this long (default 10m).
	Cooldown Duration `yaml:"cooldown"`
	// DryRun decides and records, but changes nothing.
	DryRun *bool `yaml:"dry_run"`
	// OnResolved: act on a resolved alert too (default: firing only).
	OnResolved bool `yaml:"on_resolved"`
	// NoData: what to do when the alert is about a backend (it has a
	// backend label) that no poller probed in the last NoDataWindow:
	// skip (default) or act. Checked only with a data source.
	NoData string `yaml:"no_data"`
	// Actions are done at once (a rule of one step).
	Actions []Action `yaml:"actions"`
	// Steps escalate while the alert keeps firing, as upgrade runbooks do:
	// each step's actions are done once the alert has fired for its after
	// (light: one component at once; medium: a functional area after
	// minutes; heavy: the cluster after longer), none once it resolved.
	// A rule has actions or steps, not both.
	Steps []Step `yaml:"steps"`

	line int
}

// Step is one level of an escalation.
type Step struct {
	// After is how long the alert must have fired (since its startsAt).
	After   Duration `yaml:"after"`
	Actions []Action `yaml:"actions"`
}

// StepsOf returns the rule's steps: its actions as one immediate step, or
// its steps.
func (r *Rule) StepsOf() []Step {
	if len(r.Actions) > 0 {
		return []Step{{Actions: r.Actions}}
	}
	return r.Steps
}

// Action is one of its fields set: what to do to which object.
type Action struct {
	DeploymentUndo *DeploymentUndo `yaml:"deployment-undo"`
	RouteSwitch    *RouteSwitch    `yaml:"route-switch"`
	MCPPause       *MCPPause       `yaml:"mcp-pause"`
	// ClusterVersionAbort (off unless the policy sets
	// allow_clusterversion_abort) clears an update request that has not
	// begun, or rolls a completed z-stream update back.
	ClusterVersionAbort *ClusterVersionAbort `yaml:"clusterversion-abort"`
}

// DeploymentUndo rolls a Deployment back as kubectl rollout undo does: to
// the previous revision, or to ToRevision.
type DeploymentUndo struct {
	Namespace  string `yaml:"namespace"`
	Name       string `yaml:"name"`
	ToRevision int64  `yaml:"to_revision"`
}

// RouteSwitch points a Route at one Service (spec.to, weight 100, no
// alternateBackends): back to the blue of a blue/green switch. What it
// replaced is kept in the Route's annotation zerodown.io/replaced-backends,
// so the switch itself can be undone.
type RouteSwitch struct {
	Namespace string `yaml:"namespace"`
	Name      string `yaml:"name"`
	// To is the Service the Route is to send everything to.
	To string `yaml:"to"`
}

// ClusterVersionAbort has no fields: there is one ClusterVersion.
type ClusterVersionAbort struct{}

// MCPPause sets a MachineConfigPool's spec.paused: nodes stop taking new
// configuration (and rebooting for it).
type MCPPause struct {
	Name string `yaml:"name"`
}

// Kind names an action.
func (a Action) Kind() string {
	switch {
	case a.DeploymentUndo != nil:
		return "deployment-undo"
	case a.RouteSwitch != nil:
		return "route-switch"
	case a.MCPPause != nil:
		return "mcp-pause"
	case a.ClusterVersionAbort != nil:
		return "clusterversion-abort"
	}
	return ""
}

// Target is the object an action touches, as "kind namespace/name".
func (a Action) Target() string {
	switch {
	case a.DeploymentUndo != nil:
		return "Deployment " + a.DeploymentUndo.Namespace + "/" + a.DeploymentUndo.Name
	case a.RouteSwitch != nil:
		return "Route " + a.RouteSwitch.Namespace + "/" + a.RouteSwitch.Name
	case a.MCPPause != nil:
		return "MachineConfigPool " + a.MCPPause.Name
	case a.ClusterVersionAbort != nil:
		return "ClusterVersion version"
	}
	return ""
}

// chosen reports whether an alert's labels choose this action's target:
// for each label of chooseBy that applies to the action's kind, the alert
// must carry it and it must equal the target's field.
func (a Action) chosen(chooseBy []string, labels map[string]string) bool {
	fields := map[string]string{}
	switch {
	case a.DeploymentUndo != nil:
		fields["namespace"], fields["deployment"] = a.DeploymentUndo.Namespace, a.DeploymentUndo.Name
	case a.RouteSwitch != nil:
		fields["namespace"], fields["route"] = a.RouteSwitch.Namespace, a.RouteSwitch.Name
	case a.MCPPause != nil:
		fields["pool"] = a.MCPPause.Name
	}
	for _, l := range chooseBy {
		f, applies := fields[l]
		if !applies {
			continue
		}
		if v, ok := labels[l]; !ok || v != f {
			return false
		}
	}
	return true
}

// Duration is a time.Duration written as "10m".
type Duration time.Duration

// UnmarshalYAML reads a Go duration ("90s", "10m", "1h30m").
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	const want = `expected a duration like "10m" or "1h30m"`
	if n.Kind != yaml.ScalarNode {
		return yamlerr.NodeError(n, "%s, got %s", want, yamlerr.Describe(n))
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		// The decoder goes on, and every problem is reported at once.
		return yamlerr.NodeError(n, "%s, got %q", want, n.Value)
	}
	*d = Duration(v)
	return nil
}

// DefaultCooldown is a rule's cooldown when neither it nor the defaults
// set one.
const DefaultCooldown = 10 * time.Minute

// CooldownOf returns the rule's effective cooldown.
func (p *Policy) CooldownOf(r *Rule) time.Duration {
	switch {
	case r.Cooldown > 0:
		return time.Duration(r.Cooldown)
	case p.Defaults.Cooldown > 0:
		return time.Duration(p.Defaults.Cooldown)
	}
	return DefaultCooldown
}

// NoDataOf returns the rule's effective no-data policy.
func (p *Policy) NoDataOf(r *Rule) string {
	switch {
	case r.NoData != "":
		return r.NoData
	case p.Defaults.NoData != "":
		return p.Defaults.NoData
	}
	return NoDataSkip
}

// DryRunOf returns whether the rule only pretends.
func (p *Policy) DryRunOf(r *Rule) bool {
	switch {
	case r.DryRun != nil:
		return *r.DryRun
	case p.Defaults.DryRun != nil:
		return *p.Defaults.DryRun
	}
	return false
}

// LoadPolicy reads and validates a policy file; every problem is reported
// at once as "file:line: field: what was expected".
func LoadPolicy(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParsePolicy(data, path)
}

// ParsePolicy decodes one policy strictly (unknown fields are errors) and
// validates it; every problem is reported at once, each as "file:line:
// field: message", file prefixing every error.
func ParsePolicy(data []byte, file string) (*Policy, error) {
	var p Policy
	doc, err := yamlerr.Decode(data, file, &p)
	if errors.Is(err, yamlerr.ErrEmpty) {
		return nil, fmt.Errorf("%s: empty policy: want rules", file)
	}
	if err != nil {
		return nil, err
	}
	p.file = file
	p.setLines(doc)
	p.validate(doc)
	if err := doc.Err(); err != nil {
		return nil, err
	}
	return &p, nil
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// chooseLabels are the alert labels choose_by may name.
var chooseLabels = []string{"namespace", "deployment", "route", "pool"}

func (p *Policy) validate(doc *yamlerr.Doc) {
	if len(p.Rules) == 0 {
		doc.Add("rules", "want at least one rule")
	}
	names := map[string]int{}
	for i := range p.Rules {
		r := &p.Rules[i]
		at := fmt.Sprintf("rules[%d]", i)
		switch {
		case r.Name == "":
			doc.Add(at+".name", "want a name")
		case names[r.Name] > 0:
			doc.Add(at+".name", "%q is also the name of the rule on line %d", r.Name, names[r.Name])
		default:
			names[r.Name] = r.line
		}
		if r.Match["alertname"] == "" {
			doc.Add(at+".match", "want at least alertname (a rule for every alert is not a policy)")
		}
		for k := range r.Match {
			if !labelName.MatchString(k) {
				doc.Add(at+".match", "%q is not a label name", k)
			}
		}
		if r.NoData != "" && r.NoData != NoDataSkip && r.NoData != NoDataAct {
			doc.Add(at+".no_data", "want skip or act, got %q", r.NoData)
		}
		for _, l := range r.ChooseBy {
			if !slices.Contains(chooseLabels, l) {
				doc.Add(at+".choose_by", "%q: want one of %s", l, strings.Join(chooseLabels, ", "))
			}
		}
		if r.Cooldown < 0 {
			doc.Add(at+".cooldown", "must be positive")
		}
		switch {
		case len(r.Actions) == 0 && len(r.Steps) == 0:
			doc.Add(at+".actions", "want at least one action (or steps)")
		case len(r.Actions) > 0 && len(r.Steps) > 0:
			doc.Add(at, "want actions or steps, not both")
		}
		var prev Duration
		for k, st := range r.Steps {
			if st.After < prev {
				doc.Add(fmt.Sprintf("%s.steps[%d].after", at, k), "%s is before the previous step's %s: steps escalate in order", time.Duration(st.After), time.Duration(prev))
			}
			prev = st.After
			if len(st.Actions) == 0 {
				doc.Add(fmt.Sprintf("%s.steps[%d].actions", at, k), "want at least one action")
			}
		}
		type placed struct {
			a    Action
			path string
		}
		var all []placed
		for j, a := range r.Actions {
			all = append(all, placed{a, fmt.Sprintf("%s.actions[%d]", at, j)})
		}
		for k, st := range r.Steps {
			for j, a := range st.Actions {
				all = append(all, placed{a, fmt.Sprintf("%s.steps[%d].actions[%d]", at, k, j)})
			}
		}
		for _, pl := range all {
			a, aat := pl.a, pl.path
			n := 0
			if a.DeploymentUndo != nil {
				n++
				d := a.DeploymentUndo
				if d.Namespace == "" || d.Name == "" {
					doc.Add(aat+".deployment-undo", "want namespace and name")
				}
				if d.ToRevision < 0 {
					doc.Add(aat+".deployment-undo.to_revision", "must be positive (0: the previous revision)")
				}
			}
			if a.RouteSwitch != nil {
				n++
				if r := a.RouteSwitch; r.Namespace == "" || r.Name == "" || r.To == "" {
					doc.Add(aat+".route-switch", "want namespace, name and to (the Service to send everything to)")
				}
			}
			if a.MCPPause != nil {
				n++
				if a.MCPPause.Name == "" {
					doc.Add(aat+".mcp-pause", "want name")
				}
			}
			if a.ClusterVersionAbort != nil {
				n++
				if !p.AllowClusterVersionAbort {
					doc.Add(aat+".clusterversion-abort", "off unless the policy sets allow_clusterversion_abort: true")
				}
			}
			if n != 1 {
				doc.Add(aat, "want exactly one of deployment-undo, route-switch, mcp-pause, clusterversion-abort")
			}
		}
	}
	if d := p.Defaults.NoData; d != "" && d != NoDataSkip && d != NoDataAct {
		doc.Add("defaults.no_data", "want skip or act, got %q", d)
	}
	if p.Defaults.Cooldown < 0 {
		doc.Add("defaults.cooldown", "must be positive")
	}
}

// setLines records the line of each rule.
func (p *Policy) setLines(doc *yamlerr.Doc) {
	for i := range p.Rules {
		p.Rules[i].line = doc.Line(fmt.Sprintf("rules[%d]", i))
	}
}

// Match returns the rules an alert matches.
func (p *Policy) Match(labels map[string]string) []*Rule {
	var out []*Rule
	for i := range p.Rules {
		r := &p.Rules[i]
		ok := true
		for k, v := range r.Match {
			if labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, r)
		}
	}
	return out
}

// Line is where the rule is in the policy file.
func (r *Rule) Line() int { return r.line }
