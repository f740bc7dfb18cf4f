package kubecli

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/zerodown/zerodown/collectors/discovery"
	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/internal/cli"
	"github.com/zerodown/zerodown/netmatrix"
	"github.com/zerodown/zerodown/poller"
)

// pollerFlags are the poller's flags.
type pollerFlags struct {
	cfgFile, kubeconfig, node, listen, out string
	discover                               bool // --discovery
	annotation, selector, namespaces       string
	routerHTTP, routerHTTPS, routerCA      string
	routerSkip                             bool
	clusterDNS, domain                     string
	interval, fast, timeout                time.Duration
	native, empty                          bool
	builtin                                bool
	builtinOff                             string
	maxRate                                float64
	net                                    struct { // the network matrix's: --network.*
		peers, service, namespace, port, path string
		k, mesh                               int
		rotate                                time.Duration
		ca, serverName                        string
	}
	kubeAuth bool // --web.kubernetes-auth
	common   cli.Common
}

const pollerUsage = `Usage: zerodown poller [flags]

The probe engine in the cluster, one per node (a DaemonSet). Probes the static
targets of --config and, with --discovery, every Route and Service carrying the
annotation (or matching the selector): Routes through the router with their
host as Host header and SNI, Services at their cluster IP and through their DNS
name, whose answer must be exactly the Service (cluster IP, ready endpoints,
ExternalName, SRV). Target changes apply live; unchanged targets keep their
counters. Probe failures while this poller's own node is cordoned, draining or
not Ready are counted apart (reason observer). SIGHUP reloads --config.
With --network.peers-service it also probes the pod network to a bounded,
rotating set of the pollers on other nodes (the network matrix).

Example (in a pod, NODE_NAME from the downward API):
  zerodown poller --out /var/lib/zerodown --cluster-dns 172.30.0.10:53

Flags:
`

// register adds the poller's flags to fs, and its usage.
func (f *pollerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.cfgFile, "config", "", "YAML file of static targets and the defaults every target takes (optional)")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then the in-cluster service account)")
	fs.StringVar(&f.node, "node-name", os.Getenv("NODE_NAME"), "the node this poller runs on (downward API: spec.nodeName); default $NODE_NAME. Failures while it is cordoned, draining or not Ready count as reason observer")
	cli.RegisterListen(fs, &f.listen, ":9949", "address for /metrics, /healthz and /readyz")
	fs.StringVar(&f.out, "out", "", "folder for intervals.jsonl (outages); empty writes none")
	fs.BoolVar(&f.discover, "discovery", true, "probe annotated (or selected) Routes and Services")
	fs.StringVar(&f.annotation, "discovery.annotation", discovery.DefaultAnnotation, "annotation that chooses Routes and Services to probe (on a Service its value lists kinds: tcp,http,https,dns; \"true\" is tcp,dns)")
	fs.StringVar(&f.selector, "discovery.selector", "", "label selector that also chooses Routes and Services (empty: the annotation only)")
	fs.StringVar(&f.namespaces, "discovery.namespaces", "", "comma-separated namespaces to discover in (empty: all)")
	fs.StringVar(&f.routerHTTP, "router.http-address", "router-internal-default.openshift-ingress.svc:80", "router address (host:port) plain Routes are probed through, with the route's host as Host header")
	fs.StringVar(&f.routerHTTPS, "router.https-address", "router-internal-default.openshift-ingress.svc:443", "router address (host:port) TLS Routes are probed through, with the route's host as Host header and SNI")
	fs.StringVar(&f.routerCA, "router.ca-file", "", "CA bundle that verifies the router's certificates (default: the system's roots)")
	fs.BoolVar(&f.routerSkip, "router.insecure-skip-verify", false, "do not verify the router's certificates")
	fs.StringVar(&f.clusterDNS, "cluster-dns", "", "DNS server (host:port) Service names are asked of (default: the system resolver, in a pod the cluster DNS)")
	fs.StringVar(&f.domain, "cluster-domain", "cluster.local", "the cluster's DNS domain")
	fs.DurationVar(&f.interval, "interval", 0, "steady probe interval for targets that set none (default 1s)")
	fs.DurationVar(&f.fast, "fast-interval", 0, "probe interval while a target fails (default 10ms)")
	fs.DurationVar(&f.timeout, "timeout", 0, "timeout of one probe (default 1s)")
	fs.BoolVar(&f.native, "probe.native-histograms-only", false, "export zerodown_probe_duration_seconds as a native histogram only, without its 15 classic bucket series per target and connection")
	fs.BoolVar(&f.empty, "config.allow-empty", false, "with --discovery=false and --builtin=false, accept a configuration, or a SIGHUP reload, with no static targets")
	fs.BoolVar(&f.builtin, "builtin", true, "probe the built-in backends: the Kubernetes API (quorum and cached reads), and on OpenShift its APIs, OAuth server, console, ingress canary and image registry, as the cluster has them")
	fs.StringVar(&f.builtinOff, "builtin.disable", "", "comma-separated built-in backends not to probe (also builtin.disable in --config): "+strings.Join(config.BuiltinBackends, ", "))
	fs.Float64Var(&f.maxRate, "probe.max-rate", 0, "ceiling on probes started per second across all targets (0 = none); probes over it are skipped, re-probes of failing targets first")
	fs.StringVar(&f.net.peers, "network.peers-service", "", "probe the network to the pollers on other nodes, found in the EndpointSlices of this headless Service (in --network.namespace); empty: no network matrix")
	fs.StringVar(&f.net.service, "network.service", "", "with --network.peers-service: also probe this Service in front of the pollers (path service)")
	fs.StringVar(&f.net.namespace, "network.namespace", os.Getenv("POD_NAMESPACE"), "namespace of the pollers' Services (default $POD_NAMESPACE)")
	fs.StringVar(&f.net.port, "network.port-name", "metrics", "the endpoint port the pollers answer /healthz on")
	fs.StringVar(&f.net.path, "network.path", "pod", "the path label of this poller's peer probes: pod, or host for a poller on the host network")
	fs.IntVar(&f.net.k, "network.peers", 3, "peers each poller probes (rotating)")
	fs.IntVar(&f.net.mesh, "network.full-mesh-up-to", 10, "with at most this many nodes every poller probes every other one")
	fs.DurationVar(&f.net.rotate, "network.rotate", 30*time.Minute, "how often the peers probed change (every poller at once, on the wall clock)")
	fs.StringVar(&f.net.ca, "network.tls.ca-file", "", "the pollers serve TLS (--web.config.file): probe them over https, verified with this CA bundle; empty: over http")
	fs.StringVar(&f.net.serverName, "network.tls.server-name", "", "with --network.tls.ca-file: the name the pollers' serving certificate carries (default PEERS-SERVICE.NAMESPACE.svc)")
	f.common.Register(fs)
	f.common.RegisterServe(fs)
	registerKubeAuth(fs, &f.kubeAuth)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), pollerUsage)
		fs.PrintDefaults()
	}
}

// options checks the flags and the configuration and returns the
// poller's options but its clients (REST, Logger, ReloadRequests); ok
// false: a usage error, printed. log warns of a missing node name.
func (f *pollerFlags) options(fs *flag.FlagSet, stderr io.Writer, log *slog.Logger) (o poller.Options, ok bool) {
	if !checkSelectors(stderr, "poller", map[string]string{"discovery.selector": f.selector}) {
		return o, false
	}
	if !cli.NonNegative(stderr, fs, map[string]float64{"interval": f.interval.Seconds(), "fast-interval": f.fast.Seconds(),
		"timeout": f.timeout.Seconds(), "probe.max-rate": f.maxRate}) || !cli.AtLeastMinInterval(stderr, fs, f.interval) {
		return o, false
	}
	network, ok := f.network(stderr)
	if !ok {
		return o, false
	}
	cfg, err := f.load()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return o, false
	}
	if f.node == "" {
		log.Warn("no --node-name (or $NODE_NAME): this poller's own node is not watched; its reboots will look like target outages")
	}
	off, ok := cli.BuiltinDisabled(stderr, "poller", f.builtinOff)
	if !ok {
		return o, false
	}
	off = append(off, cfg.Builtin.Disable...)
	return poller.Options{
		Config: cfg, NodeName: f.node, Discover: f.discover, Reload: f.load,
		Builtin: f.builtin, BuiltinDisabled: off, InCluster: inCluster(),
		Discovery: discovery.Options{
			Annotation: f.annotation, Selector: f.selector, Namespaces: cli.SplitList(f.namespaces),
			RouterHTTP: f.routerHTTP, RouterHTTPS: f.routerHTTPS,
			RouterTLS:  config.TLS{CAFile: f.routerCA, InsecureSkipVerify: f.routerSkip},
			ClusterDNS: f.clusterDNS, ClusterDomain: f.domain,
		},
		Listen: f.listen, OutDir: f.out, MaxProbesPerSecond: f.maxRate, NativeHistogramsOnly: f.native,
		Pprof: f.common.Pprof, WebConfigFile: f.common.WebConfigFile, KubernetesAuth: f.kubeAuth,
		Network: network,
	}, true
}

// network checks the network matrix's flags and returns its options, nil
// without --network.peers-service; ok false: a usage error, printed.
func (f *pollerFlags) network(stderr io.Writer) (*poller.NetworkOptions, bool) {
	n := &f.net
	if n.k < 1 || n.mesh < 1 || n.rotate < time.Minute {
		fmt.Fprintf(stderr, "zerodown poller: --network.peers and --network.full-mesh-up-to must be at least 1, --network.rotate at least 1m (a rotation faster than scrapes hides the counters); got %d, %d, %s\n", n.k, n.mesh, n.rotate)
		return nil, false
	}
	if n.peers == "" {
		return nil, true
	}
	if n.path != netmatrix.PathPod && n.path != netmatrix.PathHost {
		fmt.Fprintf(stderr, "zerodown poller: --network.path: want pod or host, got %q\n", n.path)
		return nil, false
	}
	if n.namespace == "" {
		fmt.Fprintln(stderr, "zerodown poller: --network.peers-service needs --network.namespace (or $POD_NAMESPACE)")
		return nil, false
	}
	if f.node == "" {
		fmt.Fprintln(stderr, "zerodown poller: --network.peers-service needs --node-name (or $NODE_NAME)")
		return nil, false
	}
	o := &poller.NetworkOptions{Namespace: n.namespace, PeersService: n.peers, Service: n.service, PortName: n.port,
		Path: n.path, Select: netmatrix.SelectOptions{Peers: n.k, FullMeshUpTo: n.mesh}, Rotate: n.rotate}
	if n.ca != "" {
		o.TLS = &config.TLS{CAFile: n.ca, ServerName: cmp.Or(n.serverName, n.peers+"."+n.namespace+".svc")}
	}
	return o, true
}

// load reads --config with the flags' overrides: one rule for the start
// and every reload.
func (f *pollerFlags) load() (*config.Config, error) {
	overrides := config.Schedule{Interval: config.Duration(f.interval), FastInterval: config.Duration(f.fast), Timeout: config.Duration(f.timeout)}
	cfg, err := cli.LoadConfig(f.cfgFile, nil, overrides)
	if err == nil && len(cfg.Targets) == 0 && !f.discover && !f.builtin && f.net.peers == "" && !f.empty {
		return nil, errors.New("zerodown poller: no targets: --discovery=false, --builtin=false, no --network.peers-service and no targets in --config (--config.allow-empty accepts none)")
	}
	return cfg, err
}

func runPoller(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("poller", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f pollerFlags
	f.register(fs)
	log, rc, code, ok := parseInCluster(fs, &f.common, args, &f.kubeconfig, stdout, stderr)
	if !ok {
		return code
	}
	o, ok := f.options(fs, stderr, log)
	if !ok {
		return cli.ExitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reloads, stopHUP := cli.ReloadOnHUP(ctx)
	defer stopHUP()
	o.REST, o.Logger, o.ReloadRequests = rc, log, reloads
	if err := poller.Run(ctx, o); err != nil {
		log.Error("poller failed", "err", err)
		return cli.ExitFailure
	}
	return cli.ExitOK
}
