#!/usr/bin/env bash
# Stops the control plane started by up.sh (by its PID files) and removes the
# state dir ${ZERODOWN_CLUSTER_DIR:-/tmp/zerodown-cluster}.
set -euo pipefail

dir="${ZERODOWN_CLUSTER_DIR:-/tmp/zerodown-cluster}"
log() { printf 'down.sh: %s\n' "$*" >&2; }

if [ ! -e "$dir" ]; then
	log "$dir does not exist; nothing to do"
	exit 0
fi
[ -e "$dir/.zerodown-cluster" ] || { log "ERROR: $dir was not made by up.sh; not touching it"; exit 1; }

# The nodes first (e2e/nodes/up.sh), if any: they hold mounts and routes.
[ ! -d "$dir/nodes" ] || ZERODOWN_CLUSTER_DIR="$dir" "$(dirname "${BASH_SOURCE[0]}")/../nodes/down.sh"

# Is pid still the process up.sh started (and not a reused pid)?
ours() { # pid name
	local exe
	exe="$(readlink "/proc/$1/exe" 2>/dev/null)" || return 1
	case "$exe" in */"$2" | */"$2 (deleted)") return 0 ;; esac
	return 1
}

# Reverse start order: controller-manager, apiserver, then etcd.
for name in kube-controller-manager kube-apiserver etcd; do
	pf="$dir/$name.pid"
	[ -e "$pf" ] || continue
	pid="$(cat "$pf")"
	if ! ours "$pid" "$name"; then
		log "$name (pid $pid) is not running"
		rm -f "$pf"
		continue
	fi
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 50); do # up to 10 s
		ours "$pid" "$name" || break
		sleep 0.2
	done
	if ours "$pid" "$name"; then
		log "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	log "stopped $name (pid $pid)"
	rm -f "$pf"
done

rm -rf "$dir"
log "removed $dir"
