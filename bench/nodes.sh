#!/usr/bin/env bash
# The upgrade scenarios on real nodes (issue 20), measured: zerodown's
# disruption against two independent witnesses (images/groundtruth) per
# node and backend, ROUNDS times (default 3), tables appended to
# bench/results/nodes-TIME.md. Starts a control plane and two nodes of its
# own (as e2e/run.sh does) and stops them at the end. About 4 minutes a
# round on a two-core machine, after the first build.
#
#   bench/nodes.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
export ZERODOWN_CLUSTER_DIR="${ZERODOWN_BENCH_CLUSTER_DIR:-/tmp/zerodown-bench-nodes}"
mkdir -p bench/results
out="$PWD/bench/results/nodes-$(date -u +%Y%m%dT%H%M%SZ).md"
e2e/install-debian.sh ip:iproute2 iptables:iptables containerd:containerd runc:runc conntrack:conntrack \
	/usr/lib/cni/bridge:containernetworking-plugins
make -s build
e2e/controlplane/down.sh >/dev/null 2>&1 || true
kubeconfig_line="$(e2e/controlplane/up.sh | tail -n 1)"
trap 'e2e/controlplane/down.sh' EXIT
eval "$kubeconfig_line"
# shellcheck disable=SC1091
source "$ZERODOWN_CLUSTER_DIR/env.sh"
e2e/nodes/up.sh 2
for r in $(seq 1 "$rounds"); do
	echo "## round $r of $rounds" >>"$out"
	ZERODOWN_NODES=2 ZERODOWN_SCENARIO_TABLE="$out" go test -tags e2e -count=1 -timeout 30m \
		-run 'TestNodesRollingUpdate|TestNodesKubeProxyRestart|TestNodesCoreDNS|TestNodesNodeUpgrade|TestNodesBadRollout' ./e2e/ || echo "(round $r: a test failed; its tables are above)" >>"$out"
done
cat "$out"
echo "tables in $out"
