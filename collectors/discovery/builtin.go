package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/internal/kube"
)

// The built-in backends: what OpenShift's upgrade tests measure, found in
// the cluster itself rather than configured. Names follow OpenShift's where
// one exists, so history and budgets compare with theirs.
const (
	// KubeAPI and CacheKubeAPI read the default namespace through the
	// address the poller's own client uses (on OpenShift, the
	// Infrastructure's apiServerURL: the external load balancer): a quorum
	// read (from etcd) and a cached one (resourceVersion=0, from the watch
	// cache).
	KubeAPI      = "kube-api"
	CacheKubeAPI = "cache-kube-api"
	// KubeAPIInternal and CacheKubeAPIInternal: the same through the
	// Infrastructure's apiServerInternalURL (OpenShift).
	KubeAPIInternal      = "kube-api-internal"
	CacheKubeAPIInternal = "cache-kube-api-internal"
	// KubeAPIService and CacheKubeAPIService: the same through the
	// kubernetes Service (https://kubernetes.default.svc), in a pod only.
	KubeAPIService      = "kube-api-service"
	CacheKubeAPIService = "cache-kube-api-service"
	// OpenShiftAPI and OAuthAPI read the discovery document of an API
	// that kube-apiserver proxies to openshift-apiserver
	// (image.openshift.io/v1) and to oauth-apiserver (oauth.openshift.io/v1).
	OpenShiftAPI = "openshift-api"
	OAuthAPI     = "oauth-api"
	// Through the router: the OAuth server's and the console's /healthz,
	// the ingress canary's /.
	IngressToOAuthServer = "ingress-to-oauth-server"
	IngressToConsole     = "ingress-to-console"
	IngressCanary        = "ingress-canary"
	// ImageRegistry: the image registry's Service, GET /healthz.
	ImageRegistry = "image-registry"
)

// BuiltinNames lists every built-in backend (config.BuiltinBackends,
// which a configuration's builtin.disable is checked against).
func BuiltinNames() []string { return slices.Clone(config.BuiltinBackends) }

// In a pod: the ServiceAccount's files.
const (
	saDir           = "/var/run/secrets/kubernetes.io/serviceaccount"
	serviceCAFile   = saDir + "/service-ca.crt"
	kubeServiceHost = "kubernetes.default.svc"
)

// BuiltinOptions configures the built-in backends.
type BuiltinOptions struct {
	// REST is the client configuration whose address and credentials the
	// Kubernetes API backends use.
	REST *rest.Config
	// InCluster: running in a pod (the kubernetes Service is reachable).
	InCluster bool
	// Disabled names backends turned off.
	Disabled map[string]bool
	// Router reaches Routes (RouterHTTP, RouterHTTPS, RouterTLS).
	Router Options
	// CredentialsDir receives the client's credentials as files when its
	// configuration holds them inline (the probes read files): a folder
	// of the caller's own, made by os.MkdirTemp (0700).
	CredentialsDir string
	// InventoryOnly: the targets are listed, never probed (the
	// controller's inventory), so no credentials are written.
	InventoryOnly bool
	// RoutesByHost probes Routes at their hosts, as a user outside the
	// cluster reaches them (watch --kubeconfig), not through the router.
	RoutesByHost bool
	Logger       *slog.Logger
}

// BuiltinItem is one built-in backend: its target, or why it is off.
type BuiltinItem struct {
	Backend string
	Object  string // what it reaches, e.g. route/openshift-console/console
	Off     string // why it is off ("" when on)
	Target  config.Target
}

// Builtin finds the built-in backends the cluster has.
type Builtin struct {
	o      BuiltinOptions
	kube   *kube.Client
	apis   kube.APIs
	creds  kubeCredentials
	credOK string // why the API backends cannot authenticate ("" when they can)

	mu                 sync.Mutex
	items              []BuiltinItem
	external, internal string // the API's addresses found last
}

// NewBuiltin prepares the built-in backends; Refresh finds them.
func NewBuiltin(o BuiltinOptions, kc *kube.Client, apis kube.APIs) (*Builtin, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Builtin{o: o, kube: kc, apis: apis}
	var err error
	if !o.InventoryOnly {
		if b.creds, err = credentialsOf(o.REST, o.CredentialsDir); err != nil {
			b.credOK = err.Error()
		}
	}
	return b, nil
}

// InlineCredentials says whether the client's configuration holds
// credentials inline, which the probes need written to files (a
// CredentialsDir); a pod's are files already.
func InlineCredentials(rc *rest.Config) bool {
	tc := rc.TLSClientConfig
	return tc.CAFile == "" && len(tc.CAData) > 0 || tc.CertFile == "" && len(tc.CertData) > 0 ||
		tc.KeyFile == "" && len(tc.KeyData) > 0 || rc.BearerTokenFile == "" && rc.BearerToken != ""
}

// kubeCredentials are the client's credentials as files for the probes.
type kubeCredentials struct {
	tls   config.TLS
	token string
}

// credentialsOf writes what rc holds inline into dir (0600) and returns
// file names; an exec plugin or auth provider cannot be used by a probe.
func credentialsOf(rc *rest.Config, dir string) (kubeCredentials, error) {
	var c kubeCredentials
	if rc.ExecProvider != nil || rc.AuthProvider != nil {
		return c, errors.New("the client authenticates with an exec plugin or auth provider, which probes cannot use")
	}
	write := func(name string, data []byte) (string, error) {
		if dir == "" {
			return "", errors.New("no folder for the client's inline credentials")
		}
		// The folder is the caller's own (os.MkdirTemp, 0700); a file
		// that is already there is never reused.
		p := filepath.Join(dir, name)
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return "", err
		}
		_, err = f.Write(data)
		return p, errors.Join(err, f.Close())
	}
	var err error
	tc := rc.TLSClientConfig
	c.tls = config.TLS{CAFile: tc.CAFile, CertFile: tc.CertFile, KeyFile: tc.KeyFile, ServerName: tc.ServerName, InsecureSkipVerify: tc.Insecure}
	if c.tls.CAFile == "" && len(tc.CAData) > 0 {
		if c.tls.CAFile, err = write("ca.crt", tc.CAData); err != nil {
			return c, err
		}
	}
	if c.tls.CertFile == "" && len(tc.CertData) > 0 {
		if c.tls.CertFile, err = write("client.crt", tc.CertData); err != nil {
			return c, err
		}
	}
	if c.tls.KeyFile == "" && len(tc.KeyData) > 0 {
		if c.tls.KeyFile, err = write("client.key", tc.KeyData); err != nil {
			return c, err
		}
	}
	c.token = rc.BearerTokenFile
	if c.token == "" && rc.BearerToken != "" {
		if c.token, err = write("token", []byte(rc.BearerToken)); err != nil {
			return c, err
		}
	}
	return c, nil
}

// apiRead is a read of the API at url as this client (only 200 is up);
// object says what it reaches.
func (b *Builtin) apiRead(name, url, object string) BuiltinItem {
	it := BuiltinItem{Backend: name, Object: object}
	if b.credOK != "" {
		it.Off = b.credOK
		return it
	}
	it.Target = config.Target{Name: name, HTTP: &config.HTTPProbe{URL: url, ValidStatusCodes: []int{200},
		TLS: b.creds.tls, BearerTokenFile: b.creds.token}}
	return it
}

// apiTargets are the quorum and the cached read of the default namespace
// through base.
func (b *Builtin) apiTargets(quorum, cached, base string) []BuiltinItem {
	u := strings.TrimSuffix(base, "/") + "/api/v1/namespaces/default"
	return []BuiltinItem{b.apiRead(quorum, u, base), b.apiRead(cached, u+"?resourceVersion=0", base)}
}

// BuiltinInterval is how often the built-in backends are probed, whatever
// the defaults say: the API server and the router are shared by every
// poller of the cluster, and a --interval of 100 ms meant for a few routes
// must not become 10 requests a second per backend and per node.
const BuiltinInterval = time.Second

// BuiltinFastInterval is how often a failing built-in backend is re-probed
// in its first moments (the default is 10 ms): an API server that answers
// slowly because it is overloaded must not get a hundred requests a second
// per backend, connection and node from the very pollers that watch it
// (measured on the e2e nodes: 650 requests a second from two pollers, a
// third of them refused with 429 and 500, feeding the overload).
const BuiltinFastInterval = 100 * time.Millisecond

// requestTimeout bounds each request of a Refresh.
const requestTimeout = 5 * time.Second

// Refresh asks the cluster which built-in backends it has (each request
// with a short timeout) and says whether the set changed. A backend goes
// off only when the cluster says it lacks it (not found, not served): an
// error (a timeout, an API server that is down during an upgrade, which
// is what is being measured) keeps the backend as it was.
func (b *Builtin) Refresh(ctx context.Context) bool {
	b.mu.Lock()
	s := &survey{ctx: ctx, b: b, prev: map[string]BuiltinItem{}}
	for _, it := range b.items {
		s.prev[it.Backend] = it
	}
	lastExternal, lastInternal := b.external, b.internal
	b.mu.Unlock()
	external, internal := s.kubeAPIs(lastExternal, lastInternal)
	s.aggregatedAPIs(external)
	s.routes()
	s.registry()
	return b.keep(s.items, external, internal)
}

// survey is one Refresh's look at the cluster: the backends found so far,
// and the last look's, kept where the cluster cannot say now.
type survey struct {
	ctx   context.Context
	b     *Builtin
	prev  map[string]BuiltinItem
	items []BuiltinItem
}

// call bounds one request to the API server.
func (s *survey) call() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.ctx, requestTimeout)
}

func (s *survey) off(name, object, why string) {
	s.items = append(s.items, BuiltinItem{Backend: name, Object: object, Off: why})
}

// kept keeps what a backend was when the cluster could not say; false
// for a backend not seen before.
func (s *survey) kept(name string) bool {
	if it, ok := s.prev[name]; ok {
		s.items = append(s.items, it)
		return true
	}
	return false
}

// kubeAPIs finds the Kubernetes API: through the client's address, or the
// Infrastructure's URLs on OpenShift (the last ones while the API server
// is away), and the kubernetes Service in a pod.
func (s *survey) kubeAPIs(lastExternal, lastInternal string) (external, internal string) {
	b := s.b
	external = b.o.REST.Host
	rctx, cancel := s.call()
	infra, err := b.kube.Infrastructures().Get(rctx, "cluster", metav1.GetOptions{})
	cancel()
	switch {
	case err == nil:
		if infra.Status.APIServerURL != "" {
			external = infra.Status.APIServerURL
		}
		internal = infra.Status.APIServerInternalURL
	case apierrors.IsNotFound(err) || isNoKind(err):
	case lastExternal != "":
		external, internal = lastExternal, lastInternal // the API server is away: as before
	default:
		b.o.Logger.Debug("built-in backends: reading the Infrastructure", "err", err)
	}
	s.items = append(s.items, b.apiTargets(KubeAPI, CacheKubeAPI, external)...)
	switch {
	case internal != "" && internal != external && b.o.RoutesByHost:
		s.off(KubeAPIInternal, internal, "outside the cluster: the internal API address is the cluster's own")
		s.off(CacheKubeAPIInternal, internal, "outside the cluster: the internal API address is the cluster's own")
	case internal != "" && internal != external:
		s.items = append(s.items, b.apiTargets(KubeAPIInternal, CacheKubeAPIInternal, internal)...)
	default:
		s.off(KubeAPIInternal, "", "no Infrastructure with an apiServerInternalURL of its own (not OpenShift)")
		s.off(CacheKubeAPIInternal, "", "no Infrastructure with an apiServerInternalURL of its own (not OpenShift)")
	}
	if b.o.InCluster {
		s.items = append(s.items, b.apiTargets(KubeAPIService, CacheKubeAPIService, "https://"+kubeServiceHost+":443")...)
	} else {
		s.off(KubeAPIService, "", "not in a pod: the kubernetes Service is not reachable")
		s.off(CacheKubeAPIService, "", "not in a pod: the kubernetes Service is not reachable")
	}
	return external, internal
}

// aggregatedAPIs reads the aggregated OpenShift APIs' discovery documents.
func (s *survey) aggregatedAPIs(external string) {
	for _, x := range []struct{ name, gv string }{{OpenShiftAPI, "image.openshift.io/v1"}, {OAuthAPI, "oauth.openshift.io/v1"}} {
		if _, err := s.b.apis.ServerResourcesForGroupVersion(x.gv); err != nil {
			if !apierrors.IsNotFound(err) && s.kept(x.name) {
				continue // served before, failing now: that is disruption, measured
			}
			s.off(x.name, "apis/"+x.gv, fmt.Sprintf("the cluster does not serve %s", x.gv))
			continue
		}
		s.items = append(s.items, s.b.apiRead(x.name, strings.TrimSuffix(external, "/")+"/apis/"+x.gv, "apis/"+x.gv))
	}
}

// routes probes OpenShift's own Routes through the router.
func (s *survey) routes() {
	b := s.b
	for _, x := range []struct{ name, ns, route, path string }{
		{IngressToOAuthServer, "openshift-authentication", "oauth-openshift", "/healthz"},
		{IngressToConsole, "openshift-console", "console", "/healthz"},
		{IngressCanary, "openshift-ingress-canary", "canary", "/"},
	} {
		obj := "route/" + x.ns + "/" + x.route
		rctx, cancel := s.call()
		r, err := b.kube.Routes(x.ns).Get(rctx, x.route, metav1.GetOptions{})
		cancel()
		if err != nil {
			if !apierrors.IsNotFound(err) && s.kept(x.name) {
				continue
			}
			s.off(x.name, obj, whyMissing(err, "the route"))
			continue
		}
		router := b.o.Router
		router.Outside = router.Outside || b.o.RoutesByHost
		t, why := RouteTarget(r, router, x.name, x.path, b.o.InventoryOnly)
		if why != "" {
			s.off(x.name, obj, why)
			continue
		}
		s.items = append(s.items, BuiltinItem{Backend: x.name, Object: obj, Target: t})
	}
}

// registry probes the image registry's Service.
func (s *survey) registry() {
	const regNS, regName = "openshift-image-registry", "image-registry"
	obj := "service/" + regNS + "/" + regName
	rctx, cancel := s.call()
	svc, err := s.b.kube.Services(regNS).Get(rctx, regName, metav1.GetOptions{})
	cancel()
	switch {
	case s.b.o.RoutesByHost:
		s.off(ImageRegistry, obj, "outside the cluster: a cluster IP is not reachable")
	case err != nil:
		if apierrors.IsNotFound(err) || !s.kept(ImageRegistry) {
			s.off(ImageRegistry, obj, whyMissing(err, "the service"))
		}
	case svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == "None" || len(svc.Spec.Ports) == 0:
		s.off(ImageRegistry, obj, "the service has no cluster IP and port")
	default:
		tls := config.TLS{ServerName: regName + "." + regNS + ".svc"}
		if _, err := os.Stat(serviceCAFile); err == nil {
			tls.CAFile = serviceCAFile
		} else {
			tls.InsecureSkipVerify = true // outside a pod: no service CA to verify with
		}
		u := url.URL{Scheme: "https", Host: net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(svc.Spec.Ports[0].Port))), Path: "/healthz"}
		s.items = append(s.items, BuiltinItem{Backend: ImageRegistry, Object: obj,
			Target: config.Target{Name: ImageRegistry, HTTP: &config.HTTPProbe{URL: u.String(), TLS: tls}}})
	}
}

// keep makes items the built-in backends (those turned off by the user
// off, the others on their steady and fast intervals), logs what changed,
// and reports whether anything did.
func (b *Builtin) keep(items []BuiltinItem, external, internal string) bool {
	for i := range items {
		if b.o.Disabled[items[i].Backend] {
			items[i].Off, items[i].Target = "turned off (--builtin.disable or builtin.disable)", config.Target{}
		}
		if items[i].Off == "" {
			items[i].Target.Interval = config.Duration(BuiltinInterval)
			items[i].Target.FastInterval = config.Duration(BuiltinFastInterval)
		}
	}
	slices.SortFunc(items, func(x, y BuiltinItem) int { return strings.Compare(x.Backend, y.Backend) })
	b.mu.Lock()
	defer b.mu.Unlock()
	changed := !slices.EqualFunc(items, b.items, func(x, y BuiltinItem) bool {
		return x.Backend == y.Backend && x.Off == y.Off && x.Object == y.Object && x.Target.Key() == y.Target.Key()
	})
	if changed {
		for _, it := range items {
			if it.Off == "" {
				b.o.Logger.Info("built-in backend on", "backend", it.Backend, "object", it.Object)
			} else {
				b.o.Logger.Info("built-in backend off", "backend", it.Backend, "why", it.Off)
			}
		}
	}
	b.items, b.external, b.internal = items, external, internal
	return changed
}

func isNoKind(err error) bool {
	return strings.Contains(err.Error(), "the server could not find the requested resource")
}

func whyMissing(err error, what string) string {
	if apierrors.IsNotFound(err) {
		return "the cluster has no such object (" + what + ")"
	}
	return "cannot read " + what + ": " + err.Error()
}

// Run refreshes at once and then every interval until ctx ends, calling
// apply after each change, and again at every refresh while it reports
// that targets were left out (false).
func (b *Builtin) Run(ctx context.Context, interval time.Duration, apply func() bool) {
	ok := true
	for {
		if b.Refresh(ctx) || !ok {
			ok = apply()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// Items lists every built-in backend, on or off, sorted by name.
func (b *Builtin) Items() []BuiltinItem {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.items)
}

// Targets returns the targets of the built-in backends that are on.
func (b *Builtin) Targets() []config.Target {
	var out []config.Target
	for _, it := range b.Items() {
		if it.Off == "" {
			out = append(out, it.Target)
		}
	}
	return out
}
