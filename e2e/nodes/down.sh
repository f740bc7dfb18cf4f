#!/usr/bin/env bash
# Stops what e2e/nodes/up.sh started: the nodes' kubelets, kube-proxies,
# containerds and their containers and the scheduler; removes the nodes'
# namespaces, the bridge, the routes and the forward to the API server,
# and the state dir.
set -uo pipefail
cp_dir="${ZERODOWN_CLUSTER_DIR:-/tmp/zerodown-cluster}"
dir="$cp_dir/nodes"
if [ -d "$dir" ]; then
	for pf in "$dir"/*kubelet.pid "$dir"/*kube-proxy.pid "$dir"/kube-scheduler.pid; do
		[ -f "$pf" ] && kill "$(cat "$pf")" 2>/dev/null
	done
	sleep 0.5
	# The pods' containers: their shims outlive containerd.
	for sock in "$dir"/zd-node-*/containerd.sock; do
		[ -S "$sock" ] || continue
		for c in $(ctr -a "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
			ctr -a "$sock" -n k8s.io tasks kill -s KILL "$c" >/dev/null 2>&1
		done
	done
	sleep 0.5
	for pf in "$dir"/*containerd.pid; do
		[ -f "$pf" ] && kill "$(cat "$pf")" 2>/dev/null
	done
	pkill -f "containerd-shim-runc-v2 -namespace k8s.io -id .* -address $dir/" 2>/dev/null
	sleep 0.5
	# Mounts the kubelets and containerds left (tmpfs volumes, rootfs).
	grep -o " $dir[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
fi
for ns in $(ip netns list | awk '/^zd-node-/{print $1}'); do
	# Whatever still runs in it would keep it, and its veth, alive.
	for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	ip netns del "$ns"
done
# The pods' network namespaces containerd made and had no time to remove:
# the ones nothing runs in any more.
for ns in $(ip netns list | awk '/^cni-/{print $1}'); do
	[ -n "$(ip netns pids "$ns" 2>/dev/null)" ] || ip netns del "$ns"
done
ip link del zd-br0 2>/dev/null
while rule="$(iptables -t nat -S PREROUTING 2>/dev/null | grep -m1 -- '--comment zerodown-e2e-apiserver')" && [ -n "$rule" ]; do
	eval "iptables -t nat ${rule/-A /-D }" || break
done
for l in $(ip -o link show | awk -F'[:@ ]+' '/ zdv[0-9]+@/{print $2}'); do ip link del "$l" 2>/dev/null; done
for r in $(ip route | awk '/^10\.244\./{print $1}'); do ip route del "$r" 2>/dev/null; done
# cgroups the kubelets made (cgroupRoot /zd-node-I).
for cg in /sys/fs/cgroup/*/zd-node-*; do
	[ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null
done
rm -rf "$dir"
exit 0
