package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	configv1 "github.com/openshift/api/config/v1"
	mcfgv1 "github.com/openshift/api/machineconfiguration/v1"
	routev1 "github.com/openshift/api/route/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/gentype"
	"k8s.io/client-go/listers"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// The client below knows only the API groups zerodown reads or writes. It
// is built on client-go's generic typed client (gentype) rather than the
// generated clientsets: every generated client, even a single group's,
// imports client-go's scheme of every Kubernetes API group, whose
// registration at start-up touches thousands of types. Measured on a
// program that only builds a Service informer: 31 MiB resident with the
// clientset and its informer factory, 25 MiB with one generated typed
// client, 13 MiB with this (see bench/README.md, footprint).

// Scheme has the types of the API groups the Client serves.
var Scheme = runtime.NewScheme()

var (
	codecs         = serializer.NewCodecFactory(Scheme)
	parameterCodec = runtime.NewParameterCodec(Scheme)
)

func init() {
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, discoveryv1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme,
		coordinationv1.AddToScheme, routev1.Install, configv1.Install, mcfgv1.Install,
		authenticationv1.AddToScheme, authorizationv1.AddToScheme,
	} {
		utilruntime.Must(add(Scheme))
	}
}

// Client is a typed client of the resources zerodown uses. Every method
// returns a client of one resource in one namespace ("" for all
// namespaces, or for cluster-scoped resources).
type Client struct {
	core, discovery, apps, policy, coordination, route, config, mcfg rest.Interface
	authn, authz                                                     rest.Interface
}

// NewClient builds a Client for rc; it sends nothing until used.
func NewClient(rc *rest.Config) (*Client, error) {
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, err
	}
	var c Client
	for _, g := range []struct {
		to      *rest.Interface
		gv      schema.GroupVersion
		apiPath string
	}{
		{&c.core, corev1.SchemeGroupVersion, "/api"},
		{&c.discovery, discoveryv1.SchemeGroupVersion, "/apis"},
		{&c.apps, appsv1.SchemeGroupVersion, "/apis"},
		{&c.policy, policyv1.SchemeGroupVersion, "/apis"},
		{&c.coordination, coordinationv1.SchemeGroupVersion, "/apis"},
		{&c.route, routev1.GroupVersion, "/apis"},
		{&c.config, configv1.GroupVersion, "/apis"},
		{&c.mcfg, mcfgv1.GroupVersion, "/apis"},
		{&c.authn, authenticationv1.SchemeGroupVersion, "/apis"},
		{&c.authz, authorizationv1.SchemeGroupVersion, "/apis"},
	} {
		if *g.to, err = restClient(rc, hc, g.gv, g.apiPath); err != nil {
			return nil, fmt.Errorf("%s: %w", g.gv, err)
		}
	}
	return &c, nil
}

func restClient(rc *rest.Config, hc *http.Client, gv schema.GroupVersion, apiPath string) (*rest.RESTClient, error) {
	return rest.RESTClientForConfigAndClient(configFor(rc, &gv, apiPath), hc)
}

// configFor is rc for a client of gv at apiPath (nil and "": unversioned)
// that speaks Scheme's types.
func configFor(rc *rest.Config, gv *schema.GroupVersion, apiPath string) *rest.Config {
	c := rest.CopyConfig(rc)
	c.GroupVersion, c.APIPath = gv, apiPath
	c.NegotiatedSerializer = codecs.WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	return c
}

// Resource is a typed client of one resource in one namespace.
type Resource[T Object, L runtime.Object] struct {
	*gentype.ClientWithList[T, L]
	GroupResource schema.GroupResource
	newObject     func() T
}

// Object is what every API object is: a runtime.Object with metadata.
type Object interface {
	runtime.Object
	metav1.Object
}

// protobufGroups are the built-in API groups, which the API server serves
// as protobuf too: cheaper to decode than JSON, as client-go's own typed
// clients ask for it (OpenShift's are JSON only).
var protobufGroups = map[string]bool{"": true, "apps": true, "discovery.k8s.io": true, "policy": true, "coordination.k8s.io": true}

func resource[T Object, L runtime.Object](c rest.Interface, gr schema.GroupResource, ns string, newObject func() T, newList func() L) *Resource[T, L] {
	var opts []gentype.Option[T]
	if protobufGroups[gr.Group] {
		opts = append(opts, gentype.PrefersProtobuf[T]())
	}
	return &Resource[T, L]{
		ClientWithList: gentype.NewClientWithList(gr.Resource, c, parameterCodec, ns, newObject, newList, opts...),
		GroupResource:  gr,
		newObject:      newObject,
	}
}

func (c *Client) Services(ns string) *Resource[*corev1.Service, *corev1.ServiceList] {
	return resource(c.core, corev1.Resource("services"), ns, func() *corev1.Service { return &corev1.Service{} }, func() *corev1.ServiceList { return &corev1.ServiceList{} })
}

func (c *Client) Nodes() *Resource[*corev1.Node, *corev1.NodeList] {
	return resource(c.core, corev1.Resource("nodes"), "", func() *corev1.Node { return &corev1.Node{} }, func() *corev1.NodeList { return &corev1.NodeList{} })
}

func (c *Client) Pods(ns string) *Resource[*corev1.Pod, *corev1.PodList] {
	return resource(c.core, corev1.Resource("pods"), ns, func() *corev1.Pod { return &corev1.Pod{} }, func() *corev1.PodList { return &corev1.PodList{} })
}

func (c *Client) ConfigMaps(ns string) *Resource[*corev1.ConfigMap, *corev1.ConfigMapList] {
	return resource(c.core, corev1.Resource("configmaps"), ns, func() *corev1.ConfigMap { return &corev1.ConfigMap{} }, func() *corev1.ConfigMapList { return &corev1.ConfigMapList{} })
}

func (c *Client) Events(ns string) *Resource[*corev1.Event, *corev1.EventList] {
	return resource(c.core, corev1.Resource("events"), ns, func() *corev1.Event { return &corev1.Event{} }, func() *corev1.EventList { return &corev1.EventList{} })
}

func (c *Client) EndpointSlices(ns string) *Resource[*discoveryv1.EndpointSlice, *discoveryv1.EndpointSliceList] {
	return resource(c.discovery, discoveryv1.Resource("endpointslices"), ns, func() *discoveryv1.EndpointSlice { return &discoveryv1.EndpointSlice{} }, func() *discoveryv1.EndpointSliceList { return &discoveryv1.EndpointSliceList{} })
}

func (c *Client) Deployments(ns string) *Resource[*appsv1.Deployment, *appsv1.DeploymentList] {
	return resource(c.apps, appsv1.Resource("deployments"), ns, func() *appsv1.Deployment { return &appsv1.Deployment{} }, func() *appsv1.DeploymentList { return &appsv1.DeploymentList{} })
}

func (c *Client) DaemonSets(ns string) *Resource[*appsv1.DaemonSet, *appsv1.DaemonSetList] {
	return resource(c.apps, appsv1.Resource("daemonsets"), ns, func() *appsv1.DaemonSet { return &appsv1.DaemonSet{} }, func() *appsv1.DaemonSetList { return &appsv1.DaemonSetList{} })
}

func (c *Client) StatefulSets(ns string) *Resource[*appsv1.StatefulSet, *appsv1.StatefulSetList] {
	return resource(c.apps, appsv1.Resource("statefulsets"), ns, func() *appsv1.StatefulSet { return &appsv1.StatefulSet{} }, func() *appsv1.StatefulSetList { return &appsv1.StatefulSetList{} })
}

func (c *Client) ReplicaSets(ns string) *Resource[*appsv1.ReplicaSet, *appsv1.ReplicaSetList] {
	return resource(c.apps, appsv1.Resource("replicasets"), ns, func() *appsv1.ReplicaSet { return &appsv1.ReplicaSet{} }, func() *appsv1.ReplicaSetList { return &appsv1.ReplicaSetList{} })
}

func (c *Client) PodDisruptionBudgets(ns string) *Resource[*policyv1.PodDisruptionBudget, *policyv1.PodDisruptionBudgetList] {
	return resource(c.policy, policyv1.Resource("poddisruptionbudgets"), ns, func() *policyv1.PodDisruptionBudget { return &policyv1.PodDisruptionBudget{} }, func() *policyv1.PodDisruptionBudgetList { return &policyv1.PodDisruptionBudgetList{} })
}

func (c *Client) Leases(ns string) *Resource[*coordinationv1.Lease, *coordinationv1.LeaseList] {
	return resource(c.coordination, coordinationv1.Resource("leases"), ns, func() *coordinationv1.Lease { return &coordinationv1.Lease{} }, func() *coordinationv1.LeaseList { return &coordinationv1.LeaseList{} })
}

func (c *Client) Routes(ns string) *Resource[*routev1.Route, *routev1.RouteList] {
	return resource(c.route, routev1.Resource("routes"), ns, func() *routev1.Route { return &routev1.Route{} }, func() *routev1.RouteList { return &routev1.RouteList{} })
}

func (c *Client) ClusterOperators() *Resource[*configv1.ClusterOperator, *configv1.ClusterOperatorList] {
	return resource(c.config, configv1.Resource("clusteroperators"), "", func() *configv1.ClusterOperator { return &configv1.ClusterOperator{} }, func() *configv1.ClusterOperatorList { return &configv1.ClusterOperatorList{} })
}

func (c *Client) ClusterVersions() *Resource[*configv1.ClusterVersion, *configv1.ClusterVersionList] {
	return resource(c.config, configv1.Resource("clusterversions"), "", func() *configv1.ClusterVersion { return &configv1.ClusterVersion{} }, func() *configv1.ClusterVersionList { return &configv1.ClusterVersionList{} })
}

func (c *Client) Infrastructures() *Resource[*configv1.Infrastructure, *configv1.InfrastructureList] {
	return resource(c.config, configv1.Resource("infrastructures"), "", func() *configv1.Infrastructure { return &configv1.Infrastructure{} }, func() *configv1.InfrastructureList { return &configv1.InfrastructureList{} })
}

func (c *Client) MachineConfigPools() *Resource[*mcfgv1.MachineConfigPool, *mcfgv1.MachineConfigPoolList] {
	return resource(c.mcfg, mcfgv1.Resource("machineconfigpools"), "", func() *mcfgv1.MachineConfigPool { return &mcfgv1.MachineConfigPool{} }, func() *mcfgv1.MachineConfigPoolList { return &mcfgv1.MachineConfigPoolList{} })
}

// PodProxyGet streams GET path from port of a pod through the API server's
// pod proxy, as kubectl's proxy does (scheme "" or "https"; port a number
// or a port's name).
func (c *Client) PodProxyGet(ctx context.Context, ns, pod, scheme, port, path string, params map[string]string) (io.ReadCloser, error) {
	req := c.core.Get().Namespace(ns).Resource("pods").SubResource("proxy").
		Name(utilnet.JoinSchemeNamePort(scheme, pod, port)).Suffix(path)
	for k, v := range params {
		req = req.Param(k, v)
	}
	return req.Stream(ctx)
}

// InformerOptions shapes an informer's lists and watches.
type InformerOptions struct {
	Resync time.Duration
	// Tweak changes every list and watch request (label and field
	// selectors).
	Tweak func(*metav1.ListOptions)
	// Transform is applied to every object before it is cached.
	Transform cache.TransformFunc
}

// Informer is a shared informer of one resource and its lister.
type Informer[T runtime.Object] struct {
	cache.SharedIndexInformer
	Lister listers.ResourceIndexer[T]
}

// Start runs the informer until stop is closed, in the background.
func (i *Informer[T]) Start(stop <-chan struct{}) { go i.Run(stop) }

// NewInformer builds an informer of r's resource in r's namespace; run it
// with Start.
func NewInformer[T Object, L runtime.Object](r *Resource[T, L], o InformerOptions) *Informer[T] {
	tweak := o.Tweak
	if tweak == nil {
		tweak = func(*metav1.ListOptions) {}
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
			tweak(&lo)
			return r.List(ctx, lo)
		},
		WatchFuncWithContext: func(ctx context.Context, lo metav1.ListOptions) (watch.Interface, error) {
			tweak(&lo)
			return r.Watch(ctx, lo)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, r.newObject(), o.Resync, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	if o.Transform != nil {
		utilruntime.Must(inf.SetTransform(o.Transform))
	}
	return &Informer[T]{SharedIndexInformer: inf, Lister: listers.New[T](inf.GetIndexer(), r.GroupResource)}
}

// APIs tells which resources the API server serves in a group version.
type APIs interface {
	// ServerResourcesForGroupVersion is GET /apis/GROUP/VERSION (/api/v1
	// for "v1"); a group version not served is a NotFound error.
	ServerResourcesForGroupVersion(groupVersion string) (*metav1.APIResourceList, error)
	// ServerVersion is the gitVersion of GET /version ("v1.34.4").
	ServerVersion(ctx context.Context) (string, error)
}

type apis struct{ c rest.Interface }

// NewAPIs returns an APIs for rc whose requests give up after rc's
// Timeout, or DiscoveryTimeout if that is shorter.
func NewAPIs(rc *rest.Config) (APIs, error) {
	c := configFor(rc, nil, "")
	if c.Timeout <= 0 || c.Timeout > DiscoveryTimeout {
		c.Timeout = DiscoveryTimeout
	}
	client, err := rest.UnversionedRESTClientFor(c)
	if err != nil {
		return nil, err
	}
	return apis{client}, nil
}

func (a apis) ServerVersion(ctx context.Context) (string, error) {
	body, err := a.c.Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return "", err
	}
	var info struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return "", fmt.Errorf("/version: %w", err)
	}
	return info.GitVersion, nil
}

func (a apis) ServerResourcesForGroupVersion(gv string) (*metav1.APIResourceList, error) {
	path := "/apis/" + gv
	if gv == "v1" {
		path = "/api/v1"
	}
	body, err := a.c.Get().AbsPath(path).Do(context.Background()).Raw()
	if err != nil {
		return nil, err
	}
	var list metav1.APIResourceList
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if list.GroupVersion == "" {
		list.GroupVersion = gv
	}
	return &list, nil
}
