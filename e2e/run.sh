#!/usr/bin/env bash
# Runs the end-to-end tests: starts a control plane of its own (building
# its binaries on first use, then cached), runs `go test -tags e2e`, and
# stops the control plane whatever happens. Extra arguments go to go test
# (e.g. -run TestControllerCollects -v). Without arguments it then adds
# two real nodes (e2e/nodes/up.sh: containerd, kubelet, kube-proxy, the
# images of make image) and runs the tests that run zerodown as pods.
set -euo pipefail
cd "$(dirname "$0")/.."

export ZERODOWN_CLUSTER_DIR="${ZERODOWN_E2E_CLUSTER_DIR:-/tmp/zerodown-e2e-cluster}"
GO="${GO:-go}"

# Prometheus and Alertmanager for the alerting test (Debian's packages);
# ip for the network namespaces of the report test.
e2e/install-debian.sh prometheus:prometheus prometheus-alertmanager:prometheus-alertmanager ip:iproute2 iptables:iptables \
	containerd:containerd runc:runc conntrack:conntrack /usr/lib/cni/bridge:containernetworking-plugins

# A control plane left over by a killed run would block up.sh.
e2e/controlplane/down.sh >/dev/null 2>&1 || true
kubeconfig_line="$(e2e/controlplane/up.sh | tail -n 1)"
trap 'e2e/controlplane/down.sh' EXIT
eval "$kubeconfig_line" # export KUBECONFIG=...
# kubectl of the control plane's version first in PATH (the deploy test uses it).
# shellcheck disable=SC1091
source "$ZERODOWN_CLUSTER_DIR/env.sh"
# Without nodes: a ZERODOWN_NODES left in the environment would run the
# node tests here, where there are none.
env -u ZERODOWN_NODES ZERODOWN_REQUIRE_TOOLS=1 "$GO" test -tags e2e -count=1 -timeout 20m "$@" ./e2e/...
[ "$#" -eq 0 ] || exit 0

# Real nodes, and the tests that need them.
e2e/nodes/up.sh 2
ZERODOWN_NODES=2 ZERODOWN_REQUIRE_TOOLS=1 "$GO" test -tags e2e -count=1 -timeout 30m -run '^TestNodes' ./e2e/
