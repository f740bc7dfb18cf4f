package kubecli

import (
	"context"
	"flag"
	"fmt"
	"io"
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

func runController(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("controller", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		kubeconfig = fs.String("kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then the in-cluster service account)")
		listen     = cli.RegisterListen(fs, ":9948", "address for /metrics, /healthz and /readyz")
		out        = fs.String("out", "", "folder for intervals.jsonl (condition changes); empty writes none")
		namespaces = fs.String("workloads.namespaces", "", "comma-separated namespaces whose Deployments, DaemonSets, StatefulSets and PodDisruptionBudgets are collected (empty: all)")
		selector   = fs.String("workloads.selector", "", "label selector for collected workloads, e.g. app.kubernetes.io/part-of=shop (empty: all)")
		resync     = fs.Duration("resync", 10*time.Minute, "informer resync period")
		discover   = fs.Bool("discovery", true, "run target discovery: export its inventory (zerodown_discovery_target_info), what the pollers are expected to probe, and record the endpoints of the probed Services (pods terminating, not ready, none ready) as intervals, the causes the report ties outages to")
		annotation = fs.String("discovery.annotation", discovery.DefaultAnnotation, "annotation that chooses Routes and Services (as the pollers' flag)")
		dselector  = fs.String("discovery.selector", "", "label selector that also chooses Routes and Services (as the pollers' flag)")
		dnamespace = fs.String("discovery.namespaces", "", "comma-separated namespaces to discover in (empty: all)")
		elect      = fs.Bool("leader-elect", true, "take part in leader election; only the leader acts on the cluster (false: this replica leads)")
		leaseNS    = fs.String("leader-elect.namespace", envOr("POD_NAMESPACE", "zerodown"), "namespace of the leader Lease (default: $POD_NAMESPACE or zerodown)")
		leaseName  = fs.String("leader-elect.lease-name", "zerodown-controller", "name of the leader Lease")
		identity   = fs.String("leader-elect.identity", os.Getenv("POD_NAME"), "this replica's identity in the Lease (default: $POD_NAME or the host name)")
		leaseDur   = fs.Duration("leader-elect.lease-duration", 15*time.Second, "how long a Lease holds without renewal")
		renew      = fs.Duration("leader-elect.renew-deadline", 10*time.Second, "how long the leader keeps trying to renew before it stops leading")
		retry      = fs.Duration("leader-elect.retry-period", 2*time.Second, "how often to try to acquire or renew the Lease")
		policy     = fs.String("rollback.policy", "", "rollback policy file: serve the rollback webhook for Alertmanager at "+rollback.Path+" (see rollback/testdata/valid.yaml); empty: no webhook")
		token      = fs.String("rollback.token-file", "", "file holding the bearer token Alertmanager must send (authorization.credentials_file in its webhook_config); re-read at every request. An empty or unreadable file stops the start. Without it any client that reaches the port can trigger rollbacks")
		killed     = fs.Bool("rollback.disabled", false, "kill switch: decide and log, but never act (the record ConfigMap's key \"disabled: true\" does the same)")
		builtin    = fs.Bool("builtin", true, "export the built-in backends the cluster has (the Kubernetes API; on OpenShift its APIs, OAuth server, console, ingress canary, image registry) in zerodown_discovery_target_info, with why the others are off")
		promURL    = fs.String("rollback.prometheus-url", "", "the Prometheus that scrapes the pollers: the data source of the policy's no_data rules (an alert about a backend no poller probed in the last 5m is skipped, or acted on where no_data: act); empty: no check")
		promToken  = fs.String("rollback.prometheus-bearer-token-file", "", "bearer token file for --rollback.prometheus-url (read for every request)")
		kubeUpg    = fs.Bool("upgrade.kubernetes", true, "on clusters without OpenShift's ClusterVersion, read upgrades from the API server's and the kubelets' versions: one starts when a component changes version, and completes when all run one version")
		settle     = fs.Duration("upgrade.settle", collectors.DefaultUpgradeSettle, "a Kubernetes upgrade whose versions still differ ends (as partial) after this long without a version change: skew left in place on purpose")
		record     = fs.String("rollback.record", "zerodown-rollback", "ConfigMap, in the Lease's namespace, that records which alerts acted and the cooldowns, and holds the kill switch")
		flags      cli.Common
	)
	flags.Register(fs)
	flags.RegisterServe(fs)
	kubeAuth := registerKubeAuth(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: zerodown controller [flags]

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
`)
		fs.PrintDefaults()
	}
	log, rc, code, ok := parseInCluster(fs, &flags, args, kubeconfig, stdout, stderr)
	if !ok {
		return code
	}
	if !checkSelectors(stderr, "controller", map[string]string{"workloads.selector": *selector, "discovery.selector": *dselector}) {
		return cli.ExitUsage
	}
	var rb *controller.Rollback
	if *policy != "" {
		p, err := rollback.LoadPolicy(*policy)
		if err != nil {
			fmt.Fprintln(stderr, "zerodown controller: --rollback.policy:", err)
			return cli.ExitUsage
		}
		rb = &controller.Rollback{Policy: p, TokenFile: *token, Disabled: *killed, Record: *record}
		if *promURL != "" {
			if rb.Samples, err = rollback.PrometheusSamples(*promURL, *promToken, 10*time.Second); err != nil {
				fmt.Fprintln(stderr, "zerodown controller: --rollback.prometheus-url:", err)
				return cli.ExitUsage
			}
		} else {
			log.Warn("no --rollback.prometheus-url: the policy's no_data rules cannot check for data, every alert counts as having some")
		}
		if *token == "" {
			log.Warn("the rollback webhook requires no token: any client that reaches the port can trigger rollbacks; give --rollback.token-file")
		} else if _, err := rollback.ReadToken(*token); err != nil {
			fmt.Fprintln(stderr, "zerodown controller: --rollback.token-file:", err)
			return cli.ExitUsage
		}
	}
	var disco *discovery.Options
	if *discover {
		disco = &discovery.Options{Annotation: *annotation, Selector: *dselector, Namespaces: cli.SplitList(*dnamespace)}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := controller.Run(ctx, controller.Options{
		REST: rc, Logger: log, Listen: *listen, OutDir: *out, Resync: *resync, Discovery: disco, Pprof: flags.Pprof, WebConfigFile: flags.WebConfigFile, KubernetesAuth: *kubeAuth, Rollback: rb,
		Builtin: *builtin, InCluster: inCluster(),
		Workloads: collectors.WorkloadSelector{Namespaces: cli.SplitList(*namespaces), LabelSelector: *selector},
		// Markers (zerodown mark) live next to the Lease.
		Upgrades: collectors.UpgradeOptions{IgnoreVersions: !*kubeUpg, Settle: *settle, MarkerNamespace: *leaseNS},
		Election: controller.Election{
			Disabled: !*elect, Namespace: *leaseNS, Name: *leaseName, Identity: *identity,
			LeaseDuration: *leaseDur, RenewDeadline: *renew, RetryPeriod: *retry,
		},
	})
	if err != nil {
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
