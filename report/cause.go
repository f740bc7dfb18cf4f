package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Causes: each outage is tied to the change in the cluster that most
// likely caused it, from the changes the controller recorded, by one
// rule. A change is a candidate when it was in force during the outage,
// ended at most CauseLead before it, or (a standing state, which the API
// hears of after the data path feels it) began at most CauseLag after it; a standing state (NotReady,
// unavailable, Degraded) only if it began at most CauseReach before it (a
// node NotReady for days is no change), work under way (a rollout, a
// drain, an upgrade) for as long as it lasts. Candidates rank by how close they are
// to the backend: (1) its own endpoints and workload: the endpoints of
// its Service (or of the Route's Service) terminating, not ready or none
// ready, as the controller records them from the EndpointSlices, then a
// Deployment, StatefulSet or DaemonSet in the backend's namespace rolling
// out or unavailable (one of the backend's own name first); (2) a node going NotReady, cordoned or
// draining; (3) the path to it: the workloads of the cluster DNS, the
// ingress routers and the node network (kube-system, openshift-dns,
// openshift-ingress, openshift-sdn, openshift-ovn-kubernetes), first of
// all for a DNS backend, whose name the cluster DNS answers whatever the
// Service's pods do; (4) the cluster as a whole: an upgrade, the
// ClusterVersion, a ClusterOperator, a MachineConfigPool. Within a rank the change that began last before
// the outage ended wins, a Service's endpoints restarted (their containers
// just terminated) before the same endpoints not ready. No candidate: the
// cause is unknown, and says so.
// When the cause is a Service's endpoints and a node they ran on was being
// drained (cordoned or draining) or was NotReady in reach of the outage,
// the cause says during what: "during the drain of node worker-2".

// CauseLead is how long before an outage a change may have ended and
// still be its candidate cause; CauseReach how long before it a change
// may have begun.
const (
	CauseLead  = 30 * time.Second
	CauseReach = 10 * time.Minute
	// CauseLag is how long after an outage ended a standing state may
	// have begun and still be its candidate: the API hears of a state
	// after the data path feels it (a killed container's endpoint goes
	// not ready a second or two after queries to it start failing: the
	// kubelet's relist, the EndpointSlice controller, the watch). Work
	// asked of the API (a rollout, a drain, a pod deleted) is heard of
	// before it hurts, and gets no lag.
	CauseLag = 3 * time.Second
)

// Cause is the change an outage is attributed to.
type Cause struct {
	Object string    // "Deployment/shop/sample"
	Change string    // "rolling out", "cordoned", "upgrading"
	From   time.Time // when the change began
	Rank   int       // 1 the backend's workload, 2 a node, 3 the path, 4 the cluster
	// During is what the endpoints' change came with: "the drain of node
	// worker-2" (DuringObject "Node/worker-2"), or "".
	During, DuringObject string
}

// Causes' ranks, in order.
const (
	RankWorkload = 1 + iota
	RankNode
	RankPath
	RankCluster
)

// pathNamespaces hold what lies between users and a backend: the cluster
// DNS, the routers, kube-proxy and the node network.
var pathNamespaces = map[string]bool{"kube-system": true, "openshift-dns": true, "openshift-ingress": true,
	"openshift-sdn": true, "openshift-ovn-kubernetes": true}

// String says it in one line, with the lead: "Deployment/shop/sample
// rolling out, since 0.8 s before".
func (c *Cause) String(outageFrom, outageTo time.Time) string {
	if c == nil {
		return "unknown: no recorded change in reach"
	}
	lead := outageFrom.Sub(c.From).Round(100 * time.Millisecond)
	when := fmt.Sprintf("since %s before", lead)
	switch {
	case c.From.After(outageTo):
		when = fmt.Sprintf("seen %s after it", c.From.Sub(outageTo).Round(100*time.Millisecond))
	case lead < 0:
		when = fmt.Sprintf("from %s into it", -lead)
	}
	if c.During != "" {
		return fmt.Sprintf("%s %s, during %s, %s", c.Object, c.Change, c.During, when)
	}
	return fmt.Sprintf("%s %s, %s", c.Object, c.Change, when)
}

// change is a state of an object that can cause disruption.
type change struct {
	obj      *Object
	what     string
	standing bool // see standing
	from, to time.Time
	nodes    []string // a Service's endpoints': the nodes they ran on
	// restart: a Service's endpoints not ready because their containers
	// just terminated; it says more than their being not ready, and wins
	// a tie with it.
	restart bool
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// nodesOf reads the nodes an endpoint condition's message names at its
// end, " (node a)" or " (nodes a, b)", as collectors/discovery writes it.
func nodesOf(msg string) []string {
	if !strings.HasSuffix(msg, ")") {
		return nil
	}
	for _, p := range []string{" (node ", " (nodes "} {
		if i := strings.LastIndex(msg, p); i >= 0 {
			return strings.Split(msg[i+len(p):len(msg)-1], ", ")
		}
	}
	return nil
}

// inReach says whether c is a candidate cause of an outage from from to to.
func (c *change) inReach(from, to time.Time) bool {
	lag := time.Duration(0)
	if c.standing {
		lag = CauseLag
	}
	if c.from.After(to.Add(lag)) || c.to.Before(from.Add(-CauseLead)) {
		return false
	}
	return !c.standing || !c.from.Before(from.Add(-CauseReach))
}

// during is the node change in reach of the outage that a Service's
// endpoints' change came with: the drain of a node that any of the
// Service's endpoints in reach ran on (the pod evicted from it, when the
// cause is its replacement not ready yet elsewhere), before a NotReady,
// the latest first; nil when none.
func during(changes []change, c *change, from, to time.Time) *change {
	var nodes []string
	for i := range changes {
		if e := &changes[i]; e.obj == c.obj && e.inReach(from, to) {
			nodes = append(nodes, e.nodes...)
		}
	}
	var best *change
	order := map[string]int{"draining": 0, "cordoned": 1, "NotReady": 2}
	for i := range changes {
		n := &changes[i]
		if n.obj.Kind != "Node" || !slices.Contains(nodes, n.obj.Name) || !n.inReach(from, to) {
			continue
		}
		if best == nil || order[n.what] < order[best.what] || order[n.what] == order[best.what] && n.from.After(best.from) {
			best = n
		}
	}
	return best
}

// changeOf names the state st of condition cond of a kind as a change, or
// "" when it is a healthy one.
func changeOf(kind, cond string, st State) string {
	switch kind {
	case "Deployment", "StatefulSet", "DaemonSet":
		switch {
		case cond == "RolloutComplete" && st.Status == "False":
			return "rolling out"
		case cond == "Available" && st.Status != "True":
			return "unavailable"
		}
	case "Node":
		switch {
		case cond == "Ready" && st.Status != "True":
			return "NotReady"
		case cond == "Unschedulable" && st.Status == "True":
			return "cordoned"
		case cond == "Draining" && st.Status == "True":
			return "draining"
		}
	case "Upgrade", "ClusterVersion":
		if cond == "Progressing" && st.Status == "True" {
			return "upgrading"
		}
	case "ClusterOperator":
		switch {
		case cond == "Degraded" && st.Status == "True":
			return "Degraded"
		case cond == "Available" && st.Status != "True":
			return "unavailable"
		case cond == "Progressing" && st.Status == "True":
			return "progressing"
		}
	case "Service":
		switch {
		case cond == "EndpointsTerminating" && st.Status == "True":
			return "endpoints terminating"
		case cond == "EndpointsNotReady" && st.Status == "True":
			return "endpoints not ready"
		case cond == "EndpointsRestarted" && st.Status == "True":
			return "endpoints restarted"
		case cond == "EndpointsAvailable" && st.Status != "True":
			return "no ready endpoints"
		}
	case "MachineConfigPool":
		switch {
		case cond == "Updating" && st.Status == "True":
			return "updating"
		case cond == "Degraded" && st.Status == "True":
			return "Degraded"
		}
	}
	return ""
}

// standing reports whether a change is a state that can last for days
// (a node NotReady, a workload or operator unavailable or Degraded), which
// is a candidate only within CauseReach of its beginning; changes that
// are work under way (a rollout, a drain, an upgrade, a pool updating) are
// candidates for as long as they last.
func standing(what string) bool {
	switch what {
	case "NotReady", "unavailable", "Degraded", "endpoints not ready", "endpoints restarted", "no ready endpoints":
		return true
	}
	return false
}

// backendObject reads the namespace and name of the object a discovered
// backend probes ("service:shop:sample:http", "route:shop:web",
// "dns:shop:sample"); "" for a static backend.
func backendObject(backend string) (ns, name string) {
	parts := strings.Split(backend, ":")
	if len(parts) >= 3 {
		return parts[1], parts[2]
	}
	return "", ""
}

// Ties within RankWorkload, lower first: a Service's own endpoints, the
// cluster DNS for a DNS backend (ranked with the workload, named the
// path), then the backend's own workload (0) and its namespace's (1).
const (
	tieEndpoints = -2
	tieDNSPath   = -1
)

// rank is how close c is to backend (0: not a candidate), and a
// tie-breaker within the rank (lower first).
func rank(c change, backend string) (int, int) {
	ns, name := backendObject(backend)
	switch c.obj.Kind {
	case "Deployment", "StatefulSet", "DaemonSet":
		dns := strings.HasPrefix(backend, "dns:")
		switch {
		case dns && pathNamespaces[c.obj.Namespace]:
			// A name is answered by the cluster DNS, whatever the
			// Service's pods do: for a DNS backend the path comes first.
			return RankWorkload, tieDNSPath
		case ns != "" && c.obj.Namespace == ns && c.obj.Name == name:
			return RankWorkload, 0
		case ns != "" && c.obj.Namespace == ns:
			return RankWorkload, 1
		case pathNamespaces[c.obj.Namespace]:
			return RankPath, 0
		}
	case "Service":
		own := ns != "" && c.obj.Namespace == ns
		switch {
		case own && strings.HasPrefix(backend, "dns:") && c.obj.Name == name:
			// Its name is answered whatever its pods do: after the
			// cluster DNS, with its own workload.
			return RankWorkload, 0
		case own && (c.obj.Name == name || strings.HasPrefix(backend, "route:")):
			// The Service's own endpoints, or (for a Route, named apart
			// from its Service) a recorded Service of its namespace:
			// the controller records only probed Services' and those
			// behind probed Routes.
			return RankWorkload, tieEndpoints
		case own:
			return RankWorkload, 1
		case pathNamespaces[c.obj.Namespace] && strings.HasPrefix(backend, "dns:"):
			return RankWorkload, tieDNSPath // the cluster DNS's endpoints
		case pathNamespaces[c.obj.Namespace]:
			return RankPath, 0
		}
	case "Node":
		return RankNode, 0
	case "Upgrade", "ClusterVersion", "ClusterOperator", "MachineConfigPool":
		return RankCluster, 0
	}
	return 0, 0
}

// attribute sets the Cause of every outage that is not the observer's.
func (r *Report) attribute() {
	var changes []change
	for _, obj := range r.Objects {
		for cond, states := range obj.Conditions {
			for _, st := range states {
				if what := changeOf(obj.Kind, cond, st); what != "" {
					to := st.To
					if to.IsZero() || to.Before(st.From) {
						to = r.Ended
					}
					c := change{obj: obj, what: what, standing: standing(what), from: st.From, to: to, restart: what == "endpoints restarted"}
					if _, detail, ok := strings.Cut(st.Message, ": "); ok && obj.Kind == "Service" {
						c.what = detail // "2 of 4 endpoints terminating: web-a, web-b (node n2)"
						c.nodes = nodesOf(detail)
					}
					changes = append(changes, c)
				}
			}
		}
	}
	for i := range r.Outages {
		o := &r.Outages[i]
		if o.Observer {
			continue
		}
		var best *change
		bestRank, bestTie := 0, 0
		for j := range changes {
			c := &changes[j]
			if !c.inReach(o.From, o.To) {
				continue
			}
			rk, tie := rank(*c, o.Backend)
			if rk == 0 {
				continue
			}
			better := best == nil || rk < bestRank || rk == bestRank && tie < bestTie ||
				rk == bestRank && tie == bestTie && cmp.Or(cmp.Compare(b2i(c.restart), b2i(best.restart)), c.from.Compare(best.from),
					strings.Compare(best.obj.ID(), c.obj.ID()), strings.Compare(best.what, c.what)) > 0
			if better {
				best, bestRank, bestTie = c, rk, tie
			}
		}
		if best != nil {
			if bestTie == tieDNSPath {
				bestRank = RankPath // ordered first for a DNS backend, still the path
			}
			o.Cause = &Cause{Object: best.obj.ID(), Change: best.what, From: best.from, Rank: bestRank}
			if n := during(changes, best, o.From, o.To); n != nil {
				o.Cause.DuringObject = n.obj.ID()
				o.Cause.During = "node " + n.obj.Name + " NotReady"
				if n.what != "NotReady" {
					o.Cause.During = "the drain of node " + n.obj.Name
				}
			}
		}
	}
}
