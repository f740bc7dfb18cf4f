#!/usr/bin/env bash
# Stops one process of the control plane started by up.sh and starts it
# again with the same arguments after a pause: the tests use it to take
# kube-apiserver away and bring it back.
#
#   e2e/controlplane/restart.sh kube-apiserver 3   # down for 3 s
#
# It returns once the process is ready again (kube-apiserver: /readyz).
set -euo pipefail

name="${1:?usage: restart.sh etcd|kube-apiserver|kube-controller-manager [SECONDS_DOWN]}"
down="${2:-0}"
KUBE_VERSION=v1.34.4
ETCD_SERVER_VERSION=v3.6.16
cache="${ZERODOWN_CACHE:-$HOME/.cache/zerodown}"
bindir="$cache/k8s-${KUBE_VERSION}-etcd-${ETCD_SERVER_VERSION}"
dir="${ZERODOWN_CLUSTER_DIR:-/tmp/zerodown-cluster}"
log() { printf 'restart.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ -e "$dir/.zerodown-cluster" ] || die "$dir is not a control plane made by up.sh"
[ -e "$dir/$name.args" ] || die "no $dir/$name.args: was $name started by this version of up.sh?"
pid="$(cat "$dir/$name.pid")"
exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
case "$exe" in */"$name" | */"$name (deleted)") ;; *) die "$name (pid $pid) is not running" ;; esac

# SIGKILL: the process goes away as in a crash or a node failure, without
# a graceful shutdown that would tell clients to go elsewhere.
kill -9 "$pid"
for _ in $(seq 1 100); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
log "$name killed; starting it again in ${down}s"
sleep "$down"

mapfile -d '' args <"$dir/$name.args"
nohup "$bindir/$name" "${args[@]}" >>"$dir/$name.log" 2>&1 </dev/null &
echo $! >"$dir/$name.pid"

if [ "$name" = kube-apiserver ]; then
	pki="$dir/pki"
	server="$(sed -n 's/^ *server: //p' "$dir/kubeconfig")"
	for _ in $(seq 1 300); do
		if curl -fsS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "$server/readyz" >/dev/null 2>&1; then
			log "kube-apiserver ready again"
			exit 0
		fi
		kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null || die "kube-apiserver exited; see $dir/$name.log"
		sleep 0.2
	done
	die "kube-apiserver not ready 60 s after restart"
fi
log "$name started again"
