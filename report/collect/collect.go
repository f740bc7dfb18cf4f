// Package collect fetches the interval streams of zerodown's pollers and
// controller in a cluster through the API server's pod proxy
// (GET /api/v1/namespaces/NS/pods/POD:PORT/proxy/intervals), so a report
// needs neither port-forwards nor copies out of each pod's emptyDir.
package collect

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zerodown/zerodown/internal/kube"
)

// Options say whose streams to fetch and where to put them.
type Options struct {
	// Namespace of the pods (default "zerodown").
	Namespace string
	// Selector of the pods (default DefaultSelector).
	Selector string
	// Since, if set, is passed on: only what reaches it is fetched
	// (RFC 3339 or a duration back from now, as /intervals takes it).
	Since string
	// Dir receives one POD.jsonl per pod.
	Dir string
	// Timeout of one pod's fetch (default 2 minutes).
	Timeout time.Duration
	// Scheme the API server speaks to the pods: "http", "https" (roles
	// with --web.config.file TLS), or "auto" (also ""): http, then https
	// when that fails (as a TLS listener answers plain HTTP with 400).
	Scheme string
}

// DefaultSelector selects the pods of deploy/: pollers and controllers.
const DefaultSelector = "app.kubernetes.io/name in (zerodown-poller,zerodown-controller)"

// PortName is the container port the roles serve /metrics and /intervals
// on.
const PortName = "metrics"

// Fetched is one pod's stream on disk.
type Fetched struct {
	Pod, Node, Path string
	Bytes           int64
}

// Collect fetches the stream of every running pod the selector matches.
// A pod that cannot be fetched is a warning, not an error: the others
// still make a report. It is an error when no pod could be fetched.
func Collect(ctx context.Context, cs *kube.Client, o Options) ([]Fetched, []string, error) {
	o.Namespace = cmp.Or(o.Namespace, "zerodown")
	o.Selector = cmp.Or(o.Selector, DefaultSelector)
	o.Timeout = cmp.Or(o.Timeout, 2*time.Minute)
	pods, err := cs.Pods(o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: o.Selector})
	if err != nil {
		return nil, nil, fmt.Errorf("listing pods in %s (%s): %w", o.Namespace, o.Selector, err)
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return nil, nil, err
	}
	slices.SortFunc(pods.Items, func(a, b corev1.Pod) int { return cmp.Compare(a.Name, b.Name) })
	var (
		got   []Fetched
		warns []string
	)
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
			warns = append(warns, fmt.Sprintf("pod %s/%s is %s without an IP: its intervals are not fetched", o.Namespace, p.Name, p.Status.Phase))
			continue
		}
		port := portOf(p)
		if port == "" {
			warns = append(warns, fmt.Sprintf("pod %s/%s has no container port: its intervals are not fetched", o.Namespace, p.Name))
			continue
		}
		f, err := fetch(ctx, cs, o, p, port)
		if err != nil {
			warns = append(warns, fmt.Sprintf("pod %s/%s: %v", o.Namespace, p.Name, err))
		}
		if f.Path != "" {
			got = append(got, f)
		}
	}
	if len(got) == 0 {
		return nil, warns, fmt.Errorf("no interval stream fetched from the %d pods matching %q in namespace %s", len(pods.Items), o.Selector, o.Namespace)
	}
	return got, warns, nil
}

// portOf is the container port named PortName, else the first one.
func portOf(p *corev1.Pod) string {
	var first string
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == PortName {
				return strconv.Itoa(int(cp.ContainerPort))
			}
			if first == "" {
				first = strconv.Itoa(int(cp.ContainerPort))
			}
		}
	}
	return first
}

func fetch(ctx context.Context, cs *kube.Client, o Options, p *corev1.Pod, port string) (Fetched, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	params := map[string]string{}
	if o.Since != "" {
		params["since"] = o.Since
	}
	auto := o.Scheme == "" || o.Scheme == "auto"
	scheme := o.Scheme
	if auto {
		scheme = "http"
	}
	rc, err := cs.PodProxyGet(ctx, o.Namespace, p.Name, scheme, port, "intervals", params)
	if err != nil && auto {
		var err2 error
		if rc, err2 = cs.PodProxyGet(ctx, o.Namespace, p.Name, "https", port, "intervals", params); err2 == nil {
			err = nil
		} else {
			err = fmt.Errorf("over http: %w; over https: %w", err, err2)
		}
	}
	if err != nil {
		return Fetched{}, fmt.Errorf("GET /intervals through the pod proxy: %w", err)
	}
	defer rc.Close()
	path := filepath.Join(o.Dir, p.Name+".jsonl")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return Fetched{}, err
	}
	n, err := io.Copy(f, rc)
	err = errors.Join(err, f.Close())
	if err != nil {
		// What arrived is kept: a torn last line is read up to the last
		// complete record.
		return Fetched{Pod: p.Name, Node: p.Spec.NodeName, Path: path, Bytes: n}, fmt.Errorf("reading /intervals after %d bytes: %w", n, err)
	}
	return Fetched{Pod: p.Name, Node: p.Spec.NodeName, Path: path, Bytes: n}, nil
}
