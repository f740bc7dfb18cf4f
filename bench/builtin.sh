#!/usr/bin/env bash
# The cost of the built-in backends per poller: a poller with them on and
# one with them off (each with one static target, its own /healthz) run in
# turn for a minute against the control plane of `make cluster-up`;
# requests per second sent to the API server, CPU and RSS of the poller.
# Everything stays on 127.0.0.1.
#
#   make cluster-up && source /tmp/zerodown-cluster/env.sh && bench/builtin.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
: "${KUBECONFIG:?source env.sh of the control plane first: make cluster-up}"
secs="${1:-60}"
go build -o bin/zerodown ./cmd/zerodown
dir="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
metric() { # metrics-url line-regex: sum of the samples whose line matches
	curl -s "$1" | awk -v re="^$2" '$0 ~ re { s += $NF } END { printf "%.6f\n", s }'
}
run() { # label builtin-flag port
	local label=$1 flag=$2 port=$3
	cat >"$dir/$label.yaml" <<EOC
targets:
  - name: self
    http: {url: 'http://127.0.0.1:$port/healthz'}
EOC
	bin/zerodown poller --kubeconfig "$KUBECONFIG" --discovery=false --builtin="$flag" --config "$dir/$label.yaml" \
		--listen "127.0.0.1:$port" --log.level warn &
	local pid=$!
	sleep 5 # started, the built-in backends found
	local url="http://127.0.0.1:$port/metrics"
	local cpu0 req0 cpu1 req1 rss
	cpu0=$(metric "$url" 'process_cpu_seconds_total ')
	req0=$(metric "$url" 'zerodown_probe_requests_total[{]backend="(cache-)?kube-api')
	sleep "$secs"
	cpu1=$(metric "$url" 'process_cpu_seconds_total ')
	req1=$(metric "$url" 'zerodown_probe_requests_total[{]backend="(cache-)?kube-api')
	rss=$(metric "$url" 'process_resident_memory_bytes ')
	kill "$pid"; wait "$pid" 2>/dev/null || true
	awk -v l="$label" -v c0="$cpu0" -v c1="$cpu1" -v r0="$req0" -v r1="$req1" -v m="$rss" -v s="$secs" \
		'BEGIN { printf "%-13s CPU %5.2f %% of a core, %5.1f API requests/s, RSS %5.1f MiB\n", l, 100*(c1-c0)/s, (r1-r0)/s, m/1048576 }'
}
echo "built-in backends: ${secs}s each, one static target"
run builtin-off false 19961
run builtin-on true 19962
