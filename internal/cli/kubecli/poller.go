package kubecli

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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

func runPoller(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("poller", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfgFile     = fs.String("config", "", "YAML file of static targets and the defaults every target takes (optional)")
		kubeconfig  = fs.String("kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then the in-cluster service account)")
		node        = fs.String("node-name", os.Getenv("NODE_NAME"), "the node this poller runs on (downward API: spec.nodeName); default $NODE_NAME. Failures while it is cordoned, draining or not Ready count as reason observer")
		listen      = cli.RegisterListen(fs, ":9949", "address for /metrics, /healthz and /readyz")
		out         = fs.String("out", "", "folder for intervals.jsonl (outages); empty writes none")
		discover    = fs.Bool("discovery", true, "probe annotated (or selected) Routes and Services")
		annotation  = fs.String("discovery.annotation", discovery.DefaultAnnotation, "annotation that chooses Routes and Services to probe (on a Service its value lists kinds: tcp,http,https,dns; \"true\" is tcp,dns)")
		selector    = fs.String("discovery.selector", "", "label selector that also chooses Routes and Services (empty: the annotation only)")
		namespaces  = fs.String("discovery.namespaces", "", "comma-separated namespaces to discover in (empty: all)")
		routerHTTP  = fs.String("router.http-address", "router-internal-default.openshift-ingress.svc:80", "router address (host:port) plain Routes are probed through, with the route's host as Host header")
		routerHTTPS = fs.String("router.https-address", "router-internal-default.openshift-ingress.svc:443", "router address (host:port) TLS Routes are probed through, with the route's host as Host header and SNI")
		routerCA    = fs.String("router.ca-file", "", "CA bundle that verifies the router's certificates (default: the system's roots)")
		routerSkip  = fs.Bool("router.insecure-skip-verify", false, "do not verify the router's certificates")
		clusterDNS  = fs.String("cluster-dns", "", "DNS server (host:port) Service names are asked of (default: the system resolver, in a pod the cluster DNS)")
		domain      = fs.String("cluster-domain", "cluster.local", "the cluster's DNS domain")
		interval    = fs.Duration("interval", 0, "steady probe interval for targets that set none (default 1s)")
		fast        = fs.Duration("fast-interval", 0, "probe interval while a target fails (default 10ms)")
		timeout     = fs.Duration("timeout", 0, "timeout of one probe (default 1s)")
		native      = fs.Bool("probe.native-histograms-only", false, "export zerodown_probe_duration_seconds as a native histogram only, without its 15 classic bucket series per target and connection")
		empty       = fs.Bool("config.allow-empty", false, "with --discovery=false and --builtin=false, accept a configuration, or a SIGHUP reload, with no static targets")
		builtin     = fs.Bool("builtin", true, "probe the built-in backends: the Kubernetes API (quorum and cached reads), and on OpenShift its APIs, OAuth server, console, ingress canary and image registry, as the cluster has them")
		builtinOff  = fs.String("builtin.disable", "", "comma-separated built-in backends not to probe (also builtin.disable in --config): "+strings.Join(config.BuiltinBackends, ", "))
		maxRate     = fs.Float64("probe.max-rate", 0, "ceiling on probes started per second across all targets (0 = none); probes over it are skipped, re-probes of failing targets first")
		netPeers    = fs.String("network.peers-service", "", "probe the network to the pollers on other nodes, found in the EndpointSlices of this headless Service (in --network.namespace); empty: no network matrix")
		netService  = fs.String("network.service", "", "with --network.peers-service: also probe this Service in front of the pollers (path service)")
		netNS       = fs.String("network.namespace", os.Getenv("POD_NAMESPACE"), "namespace of the pollers' Services (default $POD_NAMESPACE)")
		netPort     = fs.String("network.port-name", "metrics", "the endpoint port the pollers answer /healthz on")
		netPath     = fs.String("network.path", "pod", "the path label of this poller's peer probes: pod, or host for a poller on the host network")
		netK        = fs.Int("network.peers", 3, "peers each poller probes (rotating)")
		netMesh     = fs.Int("network.full-mesh-up-to", 10, "with at most this many nodes every poller probes every other one")
		netRotate   = fs.Duration("network.rotate", 30*time.Minute, "how often the peers probed change (every poller at once, on the wall clock)")
		netCA       = fs.String("network.tls.ca-file", "", "the pollers serve TLS (--web.config.file): probe them over https, verified with this CA bundle; empty: over http")
		netName     = fs.String("network.tls.server-name", "", "with --network.tls.ca-file: the name the pollers' serving certificate carries (default PEERS-SERVICE.NAMESPACE.svc)")
		flags       cli.Common
	)
	flags.Register(fs)
	flags.RegisterServe(fs)
	kubeAuth := registerKubeAuth(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: zerodown poller [flags]

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
`)
		fs.PrintDefaults()
	}
	log, rc, code, ok := parseInCluster(fs, &flags, args, kubeconfig, stdout, stderr)
	if !ok {
		return code
	}
	if !checkSelectors(stderr, "poller", map[string]string{"discovery.selector": *selector}) {
		return cli.ExitUsage
	}
	if !cli.NonNegative(stderr, fs, map[string]float64{"interval": interval.Seconds(), "fast-interval": fast.Seconds(),
		"timeout": timeout.Seconds(), "probe.max-rate": *maxRate}) || !cli.AtLeastMinInterval(stderr, fs, *interval) {
		return cli.ExitUsage
	}
	if *netK < 1 || *netMesh < 1 || *netRotate < time.Minute {
		fmt.Fprintf(stderr, "zerodown poller: --network.peers and --network.full-mesh-up-to must be at least 1, --network.rotate at least 1m (a rotation faster than scrapes hides the counters); got %d, %d, %s\n", *netK, *netMesh, *netRotate)
		return cli.ExitUsage
	}
	var network *poller.NetworkOptions
	if *netPeers != "" {
		if *netPath != netmatrix.PathPod && *netPath != netmatrix.PathHost {
			fmt.Fprintf(stderr, "zerodown poller: --network.path: want pod or host, got %q\n", *netPath)
			return cli.ExitUsage
		}
		if *netNS == "" {
			fmt.Fprintln(stderr, "zerodown poller: --network.peers-service needs --network.namespace (or $POD_NAMESPACE)")
			return cli.ExitUsage
		}
		if *node == "" {
			fmt.Fprintln(stderr, "zerodown poller: --network.peers-service needs --node-name (or $NODE_NAME)")
			return cli.ExitUsage
		}
		network = &poller.NetworkOptions{Namespace: *netNS, PeersService: *netPeers, Service: *netService, PortName: *netPort,
			Path: *netPath, Select: netmatrix.SelectOptions{Peers: *netK, FullMeshUpTo: *netMesh}, Rotate: *netRotate}
		if *netCA != "" {
			network.TLS = &config.TLS{CAFile: *netCA, ServerName: cmp.Or(*netName, *netPeers+"."+*netNS+".svc")}
		}
	}
	overrides := config.Schedule{Interval: config.Duration(*interval), FastInterval: config.Duration(*fast), Timeout: config.Duration(*timeout)}
	load := func() (*config.Config, error) {
		cfg, err := cli.LoadConfig(*cfgFile, nil, overrides)
		if err == nil && len(cfg.Targets) == 0 && !*discover && !*builtin && *netPeers == "" && !*empty {
			return nil, errors.New("zerodown poller: no targets: --discovery=false, --builtin=false, no --network.peers-service and no targets in --config (--config.allow-empty accepts none)")
		}
		return cfg, err
	}
	cfg, err := load()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return cli.ExitUsage
	}
	if *node == "" {
		log.Warn("no --node-name (or $NODE_NAME): this poller's own node is not watched; its reboots will look like target outages")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reloads, stopHUP := cli.ReloadOnHUP(ctx)
	defer stopHUP()
	off, ok := cli.BuiltinDisabled(stderr, "poller", *builtinOff)
	if !ok {
		return cli.ExitUsage
	}
	off = append(off, cfg.Builtin.Disable...)
	err = poller.Run(ctx, poller.Options{
		Config: cfg, REST: rc, NodeName: *node, Discover: *discover, Reload: load, ReloadRequests: reloads,
		Builtin: *builtin, BuiltinDisabled: off, InCluster: inCluster(),
		Discovery: discovery.Options{
			Annotation: *annotation, Selector: *selector, Namespaces: cli.SplitList(*namespaces),
			RouterHTTP: *routerHTTP, RouterHTTPS: *routerHTTPS,
			RouterTLS:  config.TLS{CAFile: *routerCA, InsecureSkipVerify: *routerSkip},
			ClusterDNS: *clusterDNS, ClusterDomain: *domain,
		},
		Listen: *listen, OutDir: *out, Logger: log, MaxProbesPerSecond: *maxRate, NativeHistogramsOnly: *native, Pprof: flags.Pprof, WebConfigFile: flags.WebConfigFile, KubernetesAuth: *kubeAuth,
		Network: network,
	})
	if err != nil {
		log.Error("poller failed", "err", err)
		return cli.ExitFailure
	}
	return cli.ExitOK
}
