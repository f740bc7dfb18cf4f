#!/usr/bin/env bash
# Stops a process that e2e/nodes/up.sh started and starts it again as it
# was started, in the same network namespace, with the same arguments and
# log (appended): what a node's kube-proxy or kubelet restart does.
#
#   e2e/nodes/restart.sh NAME [SECONDS [BINARY]]
#
# NAME is the process's name in the nodes' directory (zd-node-1-kube-proxy,
# zd-node-2-kubelet); it stays stopped for SECONDS (default 0); BINARY runs
# in place of the one it ran (a kubelet of another version). SIGTERM first,
# SIGKILL after 10 s. Prints nothing; exits non-zero when it cannot.
set -euo pipefail

name="${1:?usage: e2e/nodes/restart.sh NAME [SECONDS [BINARY]]}"
down="${2:-0}"
binary="${3:-}"
dir="${ZERODOWN_CLUSTER_DIR:-/tmp/zerodown-cluster}/nodes"
die() { printf 'nodes/restart.sh: ERROR: %s\n' "$*" >&2; exit 1; }
[ -f "$dir/$name.cmd" ] || die "no process $name in $dir (started by e2e/nodes/up.sh?)"

pid="$(cat "$dir/$name.pid")"
if kill -0 "$pid" 2>/dev/null; then
	kill -TERM "$pid"
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
fi
sleep "$down"

eval "set -- $(cat "$dir/$name.cmd")"
if [ -n "$binary" ]; then
	[ -x "$binary" ] || die "$binary is not an executable"
	shift
	set -- "$binary" "$@"
fi
ns="$(cat "$dir/$name.netns")"
if [ -n "$ns" ]; then
	nohup nsenter --net="/var/run/netns/$ns" "$@" >>"$dir/$name.log" 2>&1 </dev/null &
else
	nohup "$@" >>"$dir/$name.log" 2>&1 </dev/null &
fi
echo $! >"$dir/$name.pid"
sleep 0.2
kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null || { tail -20 "$dir/$name.log" >&2; die "$name exited at once"; }
