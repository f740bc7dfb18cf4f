//go:build tools

// Package tools pins the control-plane binaries that e2e/controlplane/build.sh
// builds (etcd, kube-apiserver, kube-controller-manager, kubectl; for the
// nodes kubelet, kube-proxy, kube-scheduler) and the
// openshift/api module whose CRD manifests up.sh applies. It is never compiled:
// the imports only keep `go mod tidy` from dropping these requirements.
package tools

import (
	_ "github.com/openshift/api/config/v1"
	_ "go.etcd.io/etcd/server/v3" // the etcd binary's main package (module root)
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
