//go:build tools

// Package tools pins the older kubelet that e2e/controlplane/build.sh builds
// for the node-upgrade scenario (e2e/upgrades_test.go): a node is taken from
// this kubelet to the cluster's own version, as a Kubernetes upgrade does.
// It is never compiled: the import only keeps `go mod tidy` from dropping
// the requirement.
package tools

import _ "k8s.io/kubernetes/cmd/kubelet"
