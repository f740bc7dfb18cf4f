package kubecli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/zerodown/zerodown/collectors"
	"github.com/zerodown/zerodown/collectors/discovery"
	"github.com/zerodown/zerodown/controller"
	"github.com/zerodown/zerodown/internal/cli"
	"github.com/zerodown/zerodown/rollback"
)

// controllerFlags are the controller's flags.
type controllerFlags struct {
	kubeconfig, listen, out string
	namespaces, selector    string // --workloads.*
	resync                  time.Duration
	discover                bool // --discovery
	annotation, dselector   string
	dnamespace              string
	builtin                 bool
	kubeUpg                 bool // --upgrade.kubernetes
	settle                  time.Duration
	lease                   struct { // --leader-elect.*
		elect                     bool
		namespace, name, identity string
		duration, renew, retry    time.Duration
	}
	rb struct { // --rollback.*
		policy, token, record string
		off                   bool
		promURL, promToken    string
	}
	kubeAuth bool // --web.kubernetes-auth
	common   cli.Common
}

const controllerUsage = `Usage: zerodown controller [flags]

Turns ClusterOperator, ClusterVersion, Node, MachineConfigPool and workload
(Deployment, DaemonSet, StatefulSet, PodDisruptionBudget) state into metrics,
and every condition change into an interval stamped with its
lastTransitionTime. On a cluster without OpenShift's APIs the OpenShift
collectors switch themselves off (zerodown_collector_enabled 0).
Upgrades come from the ClusterVersion on OpenShift; elsewhere from the API
server's and the kubelets' versions (--upgrade.kubernetes), and from markers
(zerodown mark start|end NAME) in the Lease's namespace.
Serves /metrics, /healthz and /readyz (ready once the informer caches synced).
With --rollback.policy it also serves the rollback webhook: Alertmanager posts
alerts, the policy names what the leader may roll back, once per alert.

Example:
  zerodown controller --kubeconfig ~/.kube/config --leader-elect=false --out zerodown-out

Flags:
`

// register adds the controller's flags to fs, and its usage.
func (f *controllerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then the in-cluster service account)")
	cli.RegisterListen(fs, &f.listen, ":9948", "address for /metrics, /healthz and /readyz")
	fs.StringVar(&f.out, "out", "", "folder for intervals.jsonl (condition changes); empty writes none")
	fs.StringVar(&f.namespaces, "workloads.namespaces", "", "comma-separated namespaces whose Deployments, DaemonSets, StatefulSets and PodDisruptionBudgets are collected (empty: all)")
	fs.StringVar(&f.selector, "workloads.selector", "", "label selector for collected workloads, e.g. app.kubernetes.io/part-of=shop (empty: all)")
	fs.DurationVar(&f.resync, "resync", 10*time.Minute, "informer resync period")
	fs.BoolVar(&f.discover, "discovery", true, "run target discovery: export its inventory (zerodown_discovery_target_info), what the pollers are expected to probe, and record the endpoints of the probed Services (pods terminating, not ready, none ready) as intervals, the causes the report ties outages to")
	fs.StringVar(&f.annotation, "discovery.annotation", discovery.DefaultAnnotation, "annotation that chooses Routes and Services (as the pollers' flag)")
	fs.StringVar(&f.dselector, "discovery.selector", "", "label selector that also chooses Routes and Services (as the pollers' flag)")
	fs.StringVar(&f.dnamespace, "discovery.namespaces", "", "comma-separated namespaces to discover in (empty: all)")
	fs.BoolVar(&f.lease.elect, "leader-elect", true, "take part in leader election; only the leader acts on the cluster (false: this replica leads)")
	fs.StringVar(&f.lease.namespace, "leader-elect.namespace", envOr("POD_NAMESPACE", "zerodown"), "namespace of the leader Lease (default: $POD_NAMESPACE or zerodown)")
	fs.StringVar(&f.lease.name, "leader-elect.lease-name", "zerodown-controller", "name of the leader Lease")
	fs.StringVar(&f.lease.identity, "leader-elect.identity", os.Getenv("POD_NAME"), "this replica's identity in the Lease (default: $POD_NAME or the host name)")
	fs.DurationVar(&f.lease.duration, "leader-elect.lease-duration", 15*time.Second, "how long a Lease holds without renewal")
	fs.DurationVar(&f.lease.renew, "leader-elect.renew-deadline", 10*time.Second, "how long the leader keeps trying to renew before it stops leading")
	fs.DurationVar(&f.lease.retry, "leader-elect.retry-period", 2*time.Second, "how often to try to acquire or renew the Lease")
	fs.StringVar(&f.rb.policy, "rollback.policy", "", "rollback policy file: serve the rollback webhook for Alertmanager at "+rollback.Path+" (see rollback/testdata/valid.yaml); empty: no webhook")
	fs.StringVar(&f.rb.token, "rollback.token-file", "", "file holding the bearer token Alertmanager must send (authorization.credentials_file in its webhook_config); re-read at every request. An empty or unreadable file stops the start. Without it any client that reaches the port can trigger rollbacks")
	fs.BoolVar(&f.rb.off, "rollback.disabled", false, "kill switch: decide and log, but never act (the record ConfigMap's key \"disabled: true\" does the same)")
	fs.BoolVar(&f.builtin, "builtin", true, "export the built-in backends the cluster has (the Kubernetes API; on OpenShift its APIs, OAuth server, console, ingress canary, image registry) in zerodown_discovery_target_info, with why the others are off")
	fs.StringVar(&f.rb.promURL, "rollback.prometheus-url", "", "the Prometheus that scrapes the pollers: the data source of the policy's no_data rules (an alert about a backend no poller probed in the last 5m is skipped, or acted on where no_data: act); empty: no check")
	fs.StringVar(&f.rb.promToken, "rollback.prometheus-bearer-token-file", "", "bearer token file for --rollback.prometheus-url (read for every request)")
	fs.BoolVar(&f.kubeUpg, "upgrade.kubernetes", true, "on clusters without OpenShift's ClusterVersion, read upgrades from the API server's and the kubelets' versions: one starts when a component changes version, and completes when all run one version")
	fs.DurationVar(&f.settle, "upgrade.settle", collectors.DefaultUpgradeSettle, "a Kubernetes upgrade whose versions still differ ends (as partial) after this long without a version change: skew left in place on purpose")
	fs.StringVar(&f.rb.record, "rollback.record", "zerodown-rollback", "ConfigMap, in the Lease's namespace, that records which alerts acted and the cooldowns, and holds the kill switch")
	f.common.Register(fs)
	f.common.RegisterServe(fs)
	registerKubeAuth(fs, &f.kubeAuth)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), controllerUsage)
		fs.PrintDefaults()
	}
}

// options checks the flags and the rollback policy and returns the
// controller's options but its clients (REST, Logger); ok false: a usage
// error, printed. log warns of a rollback webhook left unguarded.
func (f *controllerFlags) options(stderr io.Writer, log *slog.Logger) (o controller.Options, ok bool) {
	if !checkSelectors(stderr, "controller", map[string]string{"workloads.selector": f.selector, "discovery.selector": f.dselector}) {
		return o, false
	}
	rb, ok := f.rollback(stderr, log)
	if !ok {
		return o, false
	}
	var disco *discovery.Options
	if f.discover {
		disco = &discovery.Options{Annotation: f.annotation, Selector: f.dselector, Namespaces: cli.SplitList(f.dnamespace)}
	}
	return controller.Options{
		Listen: f.listen, OutDir: f.out, Resync: f.resync, Discovery: disco, Pprof: f.common.Pprof, WebConfigFile: f.common.WebConfigFile,
		KubernetesAuth: f.kubeAuth, Rollback: rb, Builtin: f.builtin, InCluster: inCluster(),
		Workloads: collectors.WorkloadSelector{Namespaces: cli.SplitList(f.namespaces), LabelSelector: f.selector},
		// Markers (zerodown mark) live next to the Lease.
		Upgrades: collectors.UpgradeOptions{IgnoreVersions: !f.kubeUpg, Settle: f.settle, MarkerNamespace: f.lease.namespace},
		Election: controller.Election{
			Disabled: !f.lease.elect, Namespace: f.lease.namespace, Name: f.lease.name, Identity: f.lease.identity,
			LeaseDuration: f.lease.duration, RenewDeadline: f.lease.renew, RetryPeriod: f.lease.retry,
		},
	}, true
}

// rollback reads the rollback policy and returns the webhook's options,
// nil without --rollback.policy; ok false: a usage error, printed.
func (f *controllerFlags) rollback(stderr io.Writer, log *slog.Logger) (*controller.Rollback, bool) {
	if f.rb.policy == "" {
		return nil, true
	}
	p, err := rollback.LoadPolicy(f.rb.policy)
	if err != nil {
		fmt.Fprintln(stderr, "zerodown controller: --rollback.policy:", err)
		return nil, false
	}
	rb := &controller.Rollback{Policy: p, TokenFile: f.rb.token, Disabled: f.rb.off, Record: f.rb.record}
	if f.rb.promURL != "" {
		if rb.Samples, err = rollback.PrometheusSamples(f.rb.promURL, f.rb.promToken, 10*time.Second); err != nil {
			fmt.Fprintln(stderr, "zerodown controller: --rollback.prometheus-url:", err)
			return nil, false
		}
	} else {
		log.Warn("no --rollback.prometheus-url: the policy's no_data rules cannot check for data, every alert counts as having some")
	}
	if f.rb.token == "" {
		log.Warn("the rollback webhook requires no token: any client that reaches the port can trigger rollbacks; give --rollback.token-file")
	} else if _, err := rollback.ReadToken(f.rb.token); err != nil {
		fmt.Fprintln(stderr, "zerodown controller: --rollback.token-file:", err)
		return nil, false
	}
	return rb, true
}

func runController(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("controller", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f controllerFlags
	f.register(fs)
	log, rc, code, ok := parseInCluster(fs, &f.common, args, &f.kubeconfig, stdout, stderr)
	if !ok {
		return code
	}
	o, ok := f.options(stderr, log)
	if !ok {
		return cli.ExitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o.REST, o.Logger = rc, log
	if err := controller.Run(ctx, o); err != nil {
		log.Error("controller failed", "err", err)
		return cli.ExitFailure
	}
	return cli.ExitOK
}

const rollbackUsage = `Usage:
  zerodown rollback check FILE   validate a rollback policy: every problem at once, as file:line: field: message

Exit codes: 0 valid, 2 invalid or bad usage.
`

// runRollback checks rollback policies.
func runRollback(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 1 && args[0] == "help", cli.WantsHelp(args):
		fmt.Fprint(stdout, rollbackUsage)
		return cli.ExitOK
	case len(args) == 0:
		fmt.Fprint(stderr, rollbackUsage)
		return cli.ExitUsage
	case args[0] != "check":
		fmt.Fprintf(stderr, "zerodown rollback: unknown subcommand %q\n\n%s", args[0], rollbackUsage)
		return cli.ExitUsage
	case len(args) != 2:
		fmt.Fprint(stderr, "zerodown rollback check: give one policy file\n\n"+rollbackUsage)
		return cli.ExitUsage
	}
	p, err := rollback.LoadPolicy(args[1])
	if err != nil {
		fmt.Fprintln(stderr, err)
		return cli.ExitUsage
	}
	actions := 0
	for i := range p.Rules {
		for _, st := range p.Rules[i].StepsOf() {
			actions += len(st.Actions)
		}
	}
	fmt.Fprintf(stdout, "policy valid: %d rules, %d actions\n", len(p.Rules), actions)
	return cli.ExitOK
}
