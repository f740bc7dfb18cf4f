package report

import (
	"strings"
	"testing"
	"time"

	"github.com/zerodown/zerodown/budget"
	"github.com/zerodown/zerodown/intervals"
)

// nsCond is cond for a namespaced object.
func nsCond(kind, ns, name, typ, status string, from, to float64) intervals.Interval {
	iv := cond(kind, name, typ, status, from, to)
	iv.Locator.Keys["namespace"] = ns
	return iv
}

// endpoints is a condition of a Service's endpoints, as the controller
// writes it.
func endpoints(name, typ, status string, from, to float64, msg string) intervals.Interval {
	iv := nsCond("Service", "shop", name, typ, status, from, to)
	iv.Message.HumanMessage = "Service/shop/" + name + " " + typ + "=" + strings.ToLower(status) + ": " + msg
	return iv
}

// Each outage goes to the closest change in reach, by the rule of
// cause.go; none in reach is unknown.
func TestAttribution(t *testing.T) {
	ctl := []intervals.Interval{
		cond("Upgrade", "kubernetes", "Progressing", "True", -60, 120),
		cond("Node", "n2", "Unschedulable", "True", 5, 60),
		nsCond("Deployment", "shop", "sample", "RolloutComplete", "False", 0, 20),
		nsCond("Deployment", "shop", "cart", "RolloutComplete", "False", 0, 40),
		nsCond("Deployment", "other", "unrelated", "RolloutComplete", "False", 280, 320),
		nsCond("Deployment", "kube-system", "coredns", "RolloutComplete", "False", 300, 310),
		nsCond("Deployment", "shop", "sample", "RolloutComplete", "False", 280, 295), // the name's own Service's pods: not a DNS outage's first cause
		nsCond("Deployment", "shop", "sample", "Available", "True", -100, 400),       // healthy: never a cause
		cond("Node", "old", "Ready", "False", -3600, 600),                            // NotReady for an hour: no change
		nsCond("StatefulSet", "db", "pg", "RolloutComplete", "False", -1800, 2000),   // a long rollout: a cause for as long as it lasts
		endpoints("sample", "EndpointsTerminating", "True", 8, 12, "2 of 4 endpoints terminating: sample-a, sample-b"),
		endpoints("sample", "EndpointsTerminating", "True", 302, 305, "1 of 4 endpoints terminating: sample-c"), // not before the cluster DNS for a name
		endpoints("cart", "EndpointsNotReady", "True", -3600, 4000, "1 of 3 endpoints not ready: cart-z"),       // for hours: no change
		endpoints("front", "EndpointsAvailable", "False", 199, 202, "0 of 2 endpoints ready"),                   // the Service behind Route shop/web
	}
	n1 := []intervals.Interval{
		outage("service:shop:sample:http", "new", "n1", "connect_refused", 10, 11), // its own Deployment, not cart's, nor the node's
		outage("service:shop:cart:http", "new", "n1", "connect_refused", 45, 46),   // cart ended at 40: within the lead
		outage("dns:shop:sample", "new", "n1", "dns_rcode", 303, 304),              // the cluster DNS rolling (not the unrelated app)
		outage("web", "new", "n1", "timeout", 50, 51),                              // a static backend: the node
		outage("web", "new", "n1", "timeout", 100, 101),                            // then only the upgrade
		outage("web", "new", "n1", "timeout", 500, 501),                            // nothing in reach
		outage("service:db:pg:5432", "new", "n1", "connect_refused", 900, 901),     // its StatefulSet, rolling for 45 minutes
		outage("route:shop:web", "new", "n1", "http_status", 200, 201),             // its Service's endpoints
	}
	r := Build([]Input{{Path: "controller.jsonl", Intervals: ctl}, {Path: "n1.jsonl", Intervals: n1}}, Options{})
	want := []string{
		"Service/shop/sample 2 of 4 endpoints terminating: sample-a, sample-b, since 2s before",
		"Deployment/shop/cart rolling out, since 45s before",
		"Node/n2 cordoned, since 45s before",
		"Upgrade/kubernetes upgrading, since 2m40s before",
		"Service/shop/front 0 of 2 endpoints ready, since 1s before",
		"Deployment/kube-system/coredns rolling out, since 3s before",
		"unknown: no recorded change in reach",
		"StatefulSet/db/pg rolling out, since 45m0s before",
	}
	var got []string
	for _, o := range r.Outages {
		got = append(got, o.CauseText())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("causes, in outage order:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Each backend's main cause: web's three outages, one second each,
	// one to each cause: the first in order of names wins the tie.
	causes := map[string]string{}
	for _, b := range r.Backends {
		causes[b.Backend] = b.Cause
	}
	for be, want := range map[string]string{
		"service:shop:sample:http": "Service/shop/sample (its one outage, 1.000s)",
		"web":                      "Node/n2 (1 of 3 outages, 1.000s)",
	} {
		if causes[be] != want {
			t.Errorf("%s mostly caused by %q, want %q", be, causes[be], want)
		}
	}
}

// A budget's JUnit failure names the cause of the backend's longest
// outage.
func TestJUnitFailureNamesTheCause(t *testing.T) {
	ctl := []intervals.Interval{nsCond("Deployment", "shop", "sample", "RolloutComplete", "False", 0, 20)}
	n1 := []intervals.Interval{outage("service:shop:sample:http", "new", "n1", "connect_refused", 10, 14)}
	r := Build([]Input{{Path: "c.jsonl", Intervals: ctl}, {Path: "n1.jsonl", Intervals: n1}}, Options{Budgets: budget.Flat(time.Second)})
	var b strings.Builder
	if err := r.WriteJUnit(&b); err != nil {
		t.Fatal(err)
	}
	if want := "the longest outage (4.000s) during: Deployment/shop/sample rolling out, since 10s before"; !strings.Contains(b.String(), want) {
		t.Errorf("junit.xml has no %q:\n%s", want, b.String())
	}
}

// A Service's endpoints terminating on a node being drained: the cause
// is the endpoints, during the drain of that node; on a node that is not
// drained, the endpoints alone; a NotReady node says so.
func TestAttributionDuringDrain(t *testing.T) {
	ctl := []intervals.Interval{
		cond("Node", "n2", "Unschedulable", "True", 5, 60),
		cond("Node", "n3", "Ready", "False", 100, 130),
		endpoints("web", "EndpointsTerminating", "True", 8, 12, "1 of 2 endpoints terminating: web-a (node n2)"),
		endpoints("web", "EndpointsTerminating", "True", 70, 72, "1 of 2 endpoints terminating: web-b (node n1)"),
		endpoints("web", "EndpointsNotReady", "True", 101, 110, "2 of 2 endpoints not ready: web-b, web-c (nodes n1, n3)"),
		// db's only pod evicted from n2, its replacement not ready on n1:
		// the replacement is the cause, the drain of n2 what it came with.
		endpoints("db", "EndpointsTerminating", "True", 20, 21, "1 of 1 endpoints terminating: db-a (node n2)"),
		endpoints("db", "EndpointsNotReady", "True", 20.5, 23, "1 of 1 endpoints not ready: db-b (node n1)"),
		// web-c's container killed on n3: its restart is the cause, though
		// its not ready began later.
		endpoints("web", "EndpointsRestarted", "True", 150, 155, "1 of 2 endpoints restarted: web-c (app: OOMKilled, exit 137) (node n4)"),
		endpoints("web", "EndpointsNotReady", "True", 150.2, 155, "1 of 2 endpoints not ready: web-c (node n4)"),
	}
	n1 := []intervals.Interval{
		outage("service:shop:web:http", "new", "n1", "connect_refused", 9, 10),
		outage("service:shop:web:http", "new", "n1", "connect_refused", 71, 72),
		outage("service:shop:web:http", "new", "n1", "connect_refused", 102, 104),
		outage("service:shop:db:5432", "new", "n1", "connect_refused", 20.2, 22),
		outage("service:shop:web:http", "new", "n1", "connect_refused", 151, 152),
	}
	r := Build([]Input{{Path: "controller.jsonl", Intervals: ctl}, {Path: "n1.jsonl", Intervals: n1}}, Options{})
	want := []string{
		"Service/shop/web 1 of 2 endpoints terminating: web-a (node n2), during the drain of node n2, since 1s before",
		"Service/shop/db 1 of 1 endpoints not ready: db-b (node n1), during the drain of node n2, from 300ms into it",
		"Service/shop/web 1 of 2 endpoints terminating: web-b (node n1), since 1s before",
		"Service/shop/web 2 of 2 endpoints not ready: web-b, web-c (nodes n1, n3), during node n3 NotReady, since 1s before",
		"Service/shop/web 1 of 2 endpoints restarted: web-c (app: OOMKilled, exit 137) (node n4), since 1s before",
	}
	var got []string
	for _, o := range r.Outages {
		got = append(got, o.CauseText())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("causes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s := r.Summary(); len(s.Outages) != 5 || s.Outages[0].CauseDuring != "Node/n2" || s.Outages[2].CauseDuring != "" {
		t.Errorf("summary's cause_during: %+v", s.Outages)
	}
}

// A standing state the API heard of shortly after the outage (a killed
// container's endpoint going not ready) is its candidate, up to CauseLag
// after it; work asked of the API (a rollout) gets no lag.
func TestAttributionLag(t *testing.T) {
	ctl := []intervals.Interval{
		endpoints("web", "EndpointsNotReady", "True", 11.5, 12, "1 of 2 endpoints not ready: web-b (node n2)"),
		endpoints("web", "EndpointsNotReady", "True", 54, 60, "1 of 2 endpoints not ready: web-c (node n2)"),
		nsCond("Deployment", "shop", "web", "RolloutComplete", "False", 101, 110),
	}
	n1 := []intervals.Interval{
		outage("service:shop:web:http", "new", "n1", "connect_refused", 10, 10.5),   // heard of 1 s later
		outage("service:shop:web:http", "new", "n1", "connect_refused", 50, 50.5),   // 3.5 s later: too late
		outage("service:shop:web:http", "new", "n1", "connect_refused", 100, 100.5), // a rollout after it: no
	}
	r := Build([]Input{{Path: "controller.jsonl", Intervals: ctl}, {Path: "n1.jsonl", Intervals: n1}}, Options{})
	want := []string{
		"Service/shop/web 1 of 2 endpoints not ready: web-b (node n2), seen 1s after it",
		"unknown: no recorded change in reach",
		"unknown: no recorded change in reach",
	}
	var got []string
	for _, o := range r.Outages {
		got = append(got, o.CauseText())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("causes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
