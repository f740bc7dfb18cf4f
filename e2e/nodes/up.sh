#!/usr/bin/env bash
# Adds real nodes to the e2e control plane (e2e/controlplane/up.sh): each
# node is a network namespace on a bridge of its own, with its own
# containerd (Debian's, 1.6), a kubelet and a kube-proxy (iptables mode),
# built from k8s.io/kubernetes like the API server; a kube-scheduler places
# the pods, and CoreDNS (images/coredns, coredns.yaml) is the cluster DNS,
# as pods. Pods get addresses from the bridge CNI plugin (10.244.I.0/24 on
# node I), routed between the nodes; the nodes reach the API server
# through the bridge (forwarded to the API server, which listens on loopback),
# and so do pods, through the kubernetes Service.
#
#   e2e/controlplane/up.sh && e2e/nodes/up.sh [N]   # N nodes, default 2
#   e2e/nodes/down.sh                             # (e2e/controlplane/down.sh runs it too)
#
# Images are imported, never pulled: make image builds zerodown, the sample
# application, the ground-truth client, CoreDNS and the pause image. Nothing leaves the machine: the nodes'
# namespaces have no default route, and the bridge is not forwarded out.
# Logs and state: <control plane dir>/nodes/. Root only.
set -euo pipefail

N="${1:-2}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${ZERODOWN_CACHE:-$HOME/.cache/zerodown}"
KUBE_VERSION=v1.34.4
ETCD_SERVER_VERSION=v3.6.16
bindir="$cache/k8s-${KUBE_VERSION}-etcd-${ETCD_SERVER_VERSION}"
cp_dir="${ZERODOWN_CLUSTER_DIR:-/tmp/zerodown-cluster}"
dir="$cp_dir/nodes"
BRIDGE=zd-br0
BRIDGE_IP=10.240.0.1
SERVICE_CIDR=10.0.0.0/24   # as the control plane's
CLUSTER_DNS=10.0.0.10
POD_CIDR=10.244.0.0/16

log() { printf 'nodes/up.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now_ms() { date +%s%3N; }
since() { local ms=$(($(now_ms) - $1)); printf '%d.%03d s' $((ms / 1000)) $((ms % 1000)); }
node_ip() { echo "10.240.0.$((10 + $1))"; }

[ "$(id -u)" -eq 0 ] || die "the nodes need root (network namespaces, containerd, cgroups)"
[ -f "$cp_dir/kubeconfig" ] || die "no control plane in $cp_dir: run e2e/controlplane/up.sh first"
start_all=$(now_ms)

# --- prerequisites ---------------------------------------------------------------
need=()
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
command -v iptables >/dev/null || need+=(iptables)
command -v conntrack >/dev/null || need+=(conntrack)
if [ "${#need[@]}" -gt 0 ]; then
	log "installing missing packages: ${need[*]}"
	apt-get install -y --no-install-recommends "${need[@]}" ||
		{ apt-get update && apt-get install -y --no-install-recommends "${need[@]}"; }
fi
# containerd's own service would hold /run/containerd; the nodes run their own.
systemctl disable --now containerd >/dev/null 2>&1 || true
"$repo/e2e/controlplane/build.sh"
for b in kubelet kube-proxy kube-scheduler kubectl; do
	[ -x "$bindir/$b" ] || die "$bindir/$b missing after build.sh"
done
kubectl=("$bindir/kubectl" --kubeconfig "$cp_dir/kubeconfig")
t=$(now_ms)
make -C "$repo" --no-print-directory image >"$cp_dir/image.log" 2>&1 || { tail -20 "$cp_dir/image.log"; die "make image failed"; }
log "images built in $(since "$t")"

"$here/down.sh" >/dev/null 2>&1 || true
mkdir -p "$dir"
pki="$cp_dir/pki"
server_port="$(sed -n 's#^    server: https://127.0.0.1:\([0-9]*\)$#\1#p' "$cp_dir/kubeconfig")"
[ -n "$server_port" ] || die "cannot read the API server's port from $cp_dir/kubeconfig"

start_proc() { # name netns args...: runs in the background in the node's network namespace only
	local name=$1 ns=$2
	shift 2
	# What e2e/nodes/restart.sh needs to start it again.
	echo "$ns" >"$dir/$name.netns"
	printf '%q ' "$@" >"$dir/$name.cmd"
	if [ -n "$ns" ]; then
		nohup nsenter --net="/var/run/netns/$ns" "$@" >"$dir/$name.log" 2>&1 </dev/null &
	else
		nohup "$@" >"$dir/$name.log" 2>&1 </dev/null &
	fi
	echo $! >"$dir/$name.pid"
}
wait_for() { # name timeout-seconds command...
	local name=$1 timeout=$2 deadline
	shift 2
	deadline=$(($(date +%s) + timeout))
	until "$@" >/dev/null 2>&1; do
		if ! kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null; then
			tail -30 "$dir/$name.log" >&2
			die "$name exited"
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			tail -30 "$dir/$name.log" >&2
			die "$name not ready after ${timeout}s"
		fi
		sleep 0.2
	done
}
sign() { # name subject: a client certificate of the control plane's CA
	openssl req -new -newkey rsa:2048 -nodes -keyout "$dir/$1.key" -out "$dir/$1.csr" -subj "$2" 2>/dev/null
	printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >"$dir/$1.ext"
	openssl x509 -req -in "$dir/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
		-days 30 -sha256 -extfile "$dir/$1.ext" -out "$dir/$1.crt" 2>/dev/null
	rm -f "$dir/$1.csr" "$dir/$1.ext"
	chmod 600 "$dir/$1.key"
}
kubeconfig() { # name user: through the bridge
	cat >"$dir/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: zerodown
  cluster:
    server: https://$BRIDGE_IP:$server_port
    tls-server-name: localhost
    certificate-authority: $pki/ca.crt
users:
- name: $2
  user:
    client-certificate: $dir/$1.crt
    client-key: $dir/$1.key
contexts:
- name: zerodown
  context: {cluster: zerodown, user: $2}
current-context: zerodown
EOF
}

# --- the bridge, and the API server on it ----------------------------------------------
t=$(now_ms)
ip link add "$BRIDGE" type bridge
ip addr add "$BRIDGE_IP/24" dev "$BRIDGE"
ip link set "$BRIDGE" up
# The API server on the bridge: the kernel forwards BRIDGE_IP:port to
# loopback (a relay process forking per connection could not keep up with
# hundreds of new connections a second from the nodes' probes).
sysctl -qw "net.ipv4.conf.$BRIDGE.route_localnet=1"
iptables -t nat -A PREROUTING -i "$BRIDGE" -d "$BRIDGE_IP" -p tcp --dport "$server_port" \
	-m comment --comment zerodown-e2e-apiserver -j DNAT --to-destination "127.0.0.1:$server_port"
# Pods reach the API server as the kubernetes Service (the control plane
# keeps no endpoints for it: --endpoint-reconciler-type=none).
"${kubectl[@]}" apply -f - >/dev/null <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kubernetes-zd
  namespace: default
  labels: {kubernetes.io/service-name: kubernetes, endpointslice.kubernetes.io/managed-by: zerodown-e2e}
addressType: IPv4
endpoints:
- addresses: [$BRIDGE_IP]
  conditions: {ready: true}
ports:
- {name: https, port: $server_port, protocol: TCP}
EOF

# --- kube-scheduler ---------------------------------------------------------------------------
start_proc kube-scheduler "" "$bindir/kube-scheduler" --kubeconfig="$cp_dir/kubeconfig" \
	--authentication-kubeconfig="$cp_dir/kubeconfig" --authorization-kubeconfig="$cp_dir/kubeconfig" \
	--leader-elect=false --bind-address=127.0.0.1 --secure-port=0

sign kube-proxy "/CN=system:kube-proxy"
kubeconfig kube-proxy system:kube-proxy

# --- the nodes ----------------------------------------------------------------------------------
for i in $(seq 1 "$N"); do
	name="zd-node-$i"
	nd="$dir/$name"
	ip=$(node_ip "$i")
	mkdir -p "$nd/cni" "$nd/kubelet" "$nd/pod-logs"
	ip netns add "$name"
	ip link add "zdv$i" type veth peer name eth0 netns "$name"
	ip link set "zdv$i" master "$BRIDGE" up
	ip -n "$name" addr add "$ip/24" dev eth0
	ip -n "$name" link set eth0 up
	ip -n "$name" link set lo up
	# Service addresses need a route before kube-proxy's DNAT rewrites
	# them: through a gateway nobody answers ARP for on the bridge, so an
	# address no Service has goes nowhere.
	ip -n "$name" route add "$SERVICE_CIDR" via 10.240.0.254
	ip netns exec "$name" sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.ipv4.conf.all.route_localnet=1
	ip route add "10.244.$i.0/24" via "$ip" # the API server's pod proxy
	for j in $(seq 1 "$N"); do
		[ "$j" = "$i" ] || ip -n "$name" route add "10.244.$j.0/24" via "$(node_ip "$j")"
	done
	cat >"$nd/cni/10-zerodown.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "zerodown", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.$i.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": "$nd/cni-ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}
]}
EOF
	cat >"$nd/containerd.toml" <<EOF
version = 2
root = "$nd/containerd/root"
state = "$nd/containerd/state"
[grpc]
  address = "$nd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  # This machine lets no process lower its OOM score (the kubelet asks
  # -998 for sandboxes): keep every container at or above containerd's.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$nd/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = false
      Root = "$nd/runc"
EOF
	start_proc "$name-containerd" "$name" containerd --config "$nd/containerd.toml"
	wait_for "$name-containerd" 30 ctr -a "$nd/containerd.sock" version
	for img in "$repo"/bin/images/*.tar; do
		ctr -a "$nd/containerd.sock" -n k8s.io images import "$img" >/dev/null
	done

	sign "$name" "/O=system:nodes/CN=system:node:$name"
	kubeconfig "$name" "system:node:$name"
	echo "nameserver $CLUSTER_DNS" >"$nd/resolv.conf"
	cat >"$nd/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
cgroupRoot: /$name
containerRuntimeEndpoint: unix://$nd/containerd.sock
clusterDNS: [$CLUSTER_DNS]
clusterDomain: cluster.local
resolvConf: $nd/resolv.conf
podLogsDir: $nd/pod-logs
failSwapOn: false
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}
EOF
	# cgroup v1 here: the kubelet wants its cgroupRoot in every hierarchy.
	for h in /sys/fs/cgroup/*/; do
		[ "$h" = /sys/fs/cgroup/unified/ ] && continue
		mkdir -p "$h$name"
		if [ -f "${h}cpuset.cpus" ]; then
			cat "${h}cpuset.cpus" >"$h$name/cpuset.cpus"
			cat "${h}cpuset.mems" >"$h$name/cpuset.mems"
		fi
	done
	start_proc "$name-kubelet" "$name" "$bindir/kubelet" --config="$nd/kubelet.yaml" \
		--kubeconfig="$dir/$name.kubeconfig" --root-dir="$nd/kubelet" --cert-dir="$nd/kubelet-pki" \
		--hostname-override="$name" --node-ip="$ip" --v=1
	cat >"$nd/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $dir/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $name
bindAddress: $ip
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0}
EOF
	start_proc "$name-kube-proxy" "$name" "$bindir/kube-proxy" --config="$nd/kube-proxy.yaml"
done
for i in $(seq 1 "$N"); do
	wait_for "zd-node-$i-kubelet" 90 "${kubectl[@]}" wait --for=condition=Ready --timeout=1s "node/zd-node-$i"
	# The control plane runs no node lifecycle controller (the other
	# tests drive their Nodes' conditions): lift the kubelet's
	# registration taint as it would once the node is Ready.
	"${kubectl[@]}" taint nodes "zd-node-$i" node.kubernetes.io/not-ready:NoSchedule- >/dev/null 2>&1 || true
done
# The cluster DNS, as pods (the kubelets' clusterDNS is its Service).
"${kubectl[@]}" apply -f "$here/coredns.yaml" >/dev/null
"${kubectl[@]}" -n kube-system rollout status deployment/coredns --timeout=120s >/dev/null ||
	{ "${kubectl[@]}" -n kube-system get pods -o wide >&2; die "CoreDNS not Ready"; }
log "$N nodes Ready, CoreDNS Ready, in $(since "$start_all") (bridge $BRIDGE $BRIDGE_IP/24, pods $POD_CIDR); logs in $dir"
