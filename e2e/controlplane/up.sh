#!/usr/bin/env bash
# Starts a loopback-only Kubernetes control plane for the e2e tests:
# etcd, kube-apiserver and kube-controller-manager (no scheduler, no nodes:
# pods stay Pending, Deployments still get ReplicaSets and revisions), plus
# the OpenShift CRDs ClusterOperator, ClusterVersion, Route and
# MachineConfigPool and the prometheus-operator CRDs ServiceMonitor,
# PodMonitor and PrometheusRule. Binaries come from build.sh (built once, then cached).
#
#   e2e/controlplane/up.sh          # state in ${ZERODOWN_CLUSTER_DIR:-/tmp/zerodown-cluster}
#   export KUBECONFIG=/tmp/zerodown-cluster/kubeconfig
#   e2e/controlplane/down.sh        # stops it and removes the state dir
#
# Everything listens on 127.0.0.1 only. Logs: <state dir>/*.log.
set -euo pipefail

KUBE_VERSION=v1.34.4
PROMETHEUS_OPERATOR_VERSION=v0.94.0 # CRDs only; the newest the module proxy serves
ETCD_SERVER_VERSION=v3.6.16   # never name our variables ETCD_*: etcd reads those as flags
SERVICE_CIDR=10.0.0.0/24
# Controllers that need a cloud, node IPAM, volumes or a CSR signing key.
# Node lifecycle is off too: the tests' Nodes have no kubelet, and they
# drive the Nodes' conditions themselves (it would mark them NotReady and
# taint them after 50 s). Unknown names make kube-controller-manager exit.
DISABLED_CONTROLLERS=node-lifecycle-controller,taint-eviction-controller,nodeipam,cloud-node-lifecycle,service-lb-controller,node-route-controller,persistentvolume-binder,attachdetach,persistentvolume-expander,ephemeral-volume-controller,csrsigning

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${ZERODOWN_CACHE:-$HOME/.cache/zerodown}"
bindir="$cache/k8s-${KUBE_VERSION}-etcd-${ETCD_SERVER_VERSION}"
dir="${ZERODOWN_CLUSTER_DIR:-/tmp/zerodown-cluster}"
GO="${GO:-go}"

log() { printf 'up.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now_ms() { date +%s%3N; }
since() { local ms=$(($(now_ms) - $1)); printf '%d.%03d s' $((ms / 1000)) $((ms % 1000)); }

# --- prerequisites -----------------------------------------------------------
need=()
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
if [ "${#need[@]}" -gt 0 ]; then
	log "installing missing packages: ${need[*]}"
	sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || die "need root or sudo to apt-get install ${need[*]}"
		sudo=(sudo)
	fi
	"${sudo[@]}" apt-get install -y "${need[@]}" ||
		{ "${sudo[@]}" apt-get update && "${sudo[@]}" apt-get install -y "${need[@]}"; }
fi

"$here/build.sh"
for b in etcd kube-apiserver kube-controller-manager kubectl; do
	[ -x "$bindir/$b" ] || die "$bindir/$b missing after build.sh"
done
kubectl="$bindir/kubectl"

# --- state dir -----------------------------------------------------------------
if [ -e "$dir" ]; then
	for pf in "$dir"/*.pid; do
		[ -e "$pf" ] || continue
		if kill -0 "$(cat "$pf")" 2>/dev/null; then
			die "a control plane from $dir is still running ($(basename "$pf" .pid) pid $(cat "$pf")); run $here/down.sh first"
		fi
	done
	[ -e "$dir/.zerodown-cluster" ] || die "$dir exists and was not made by up.sh; remove it or set ZERODOWN_CLUSTER_DIR"
	log "removing stale state dir $dir"
	rm -rf "$dir"
fi
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
touch "$dir/.zerodown-cluster" # marker: down.sh removes only dirs carrying it
pki="$dir/pki"
mkdir -p "$pki"
chmod 700 "$pki"

# On failure, stop what was started (logs stay in $dir for a look).
ok=0
cleanup() {
	[ "$ok" = 1 ] && return
	log "start-up failed; stopping what was started (logs kept in $dir)"
	for name in kube-controller-manager kube-apiserver etcd; do
		[ -e "$dir/$name.pid" ] || continue
		kill "$(cat "$dir/$name.pid")" 2>/dev/null || true
		rm -f "$dir/$name.pid"
	done
}
trap cleanup EXIT

show_log() { log "last lines of $1:"; tail -n 25 "$1" >&2 || true; }

# --- free loopback ports -------------------------------------------------------------
# Listen ports are drawn from below the kernel's ephemeral range: a port inside
# it can be taken at any moment as the local end of an outgoing connection
# (etcd even dials its own client port), which a connect test cannot see.
read -r eph_low eph_high </proc/sys/net/ipv4/ip_local_port_range
if [ "$eph_low" -gt 21000 ]; then
	port_low=20000 port_high=$((eph_low - 1))
elif [ "$eph_high" -lt 64535 ]; then
	port_low=$((eph_high + 1)) port_high=65535
else # the ephemeral range covers almost everything: rely on the socket check
	port_low=10000 port_high=19999
fi
taken=" "
port_in_use() { # any TCP socket with this local port, or something answering on it
	if command -v ss >/dev/null; then
		[ -n "$(ss -Htan "( sport = :$1 )" 2>/dev/null)" ] && return 0
	fi
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
picked=
pick_port() { # sets $picked (no subshell, so $taken is kept)
	local p i
	for i in $(seq 1 500); do
		p=$((port_low + RANDOM % (port_high - port_low + 1)))
		case "$taken" in *" $p "*) continue ;; esac
		if ! port_in_use "$p"; then
			taken="$taken$p "
			picked=$p
			return 0
		fi
	done
	die "no free loopback port found in $port_low-$port_high"
}
pick_port; etcd_client_port=$picked
pick_port; etcd_peer_port=$picked
if [ -n "${ZERODOWN_APISERVER_PORT:-}" ]; then
	apiserver_port=$ZERODOWN_APISERVER_PORT
else
	pick_port; apiserver_port=$picked
fi
port_in_use "$apiserver_port" && die "port $apiserver_port is in use"

# --- certificates (self-made CA) ---------------------------------------------------
t0=$(now_ms)
log "generating CA, serving, admin and service-account keys in $pki"
(
	cd "$pki"
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -sha256 \
		-keyout ca.key -out ca.crt -subj "/CN=zerodown-test-ca" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

	sign() { # name subject extensions
		openssl req -new -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
		printf '%s\n' "$3" >"$1.ext"
		openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
			-days 30 -sha256 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
		rm -f "$1.csr" "$1.ext"
	}
	sign apiserver "/CN=kube-apiserver" \
		"basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,IP:${SERVICE_CIDR%.0/*}.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
	sign admin "/O=system:masters/CN=zerodown-admin" \
		"basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"

	openssl genrsa -out sa.key 2048 2>/dev/null
	openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
	chmod 600 ./*.key
)
log "certificates ready in $(since "$t0")"

# --- etcd ----------------------------------------------------------------------------
start_all=$(now_ms)
start_proc() { # name args...: runs the binary in the background, log and pid in $dir
	local name=$1
	shift
	nohup "$bindir/$name" "$@" >"$dir/$name.log" 2>&1 </dev/null &
	echo $! >"$dir/$name.pid"
	printf '%s\0' "$@" >"$dir/$name.args" # for restart.sh
}
wait_for() { # name timeout-seconds command...: polls every 0.2 s until command succeeds
	local name=$1 timeout=$2 deadline
	shift 2
	deadline=$(($(date +%s) + timeout))
	until "$@" >/dev/null 2>&1; do
		if ! kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null; then
			show_log "$dir/$name.log"
			die "$name exited"
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			show_log "$dir/$name.log"
			die "$name not ready after ${timeout}s"
		fi
		sleep 0.2
	done
}

etcd_url="http://127.0.0.1:$etcd_client_port"
# etcd takes any ETCD_* variable from the environment as a flag: drop them.
mapfile -t etcd_env < <(compgen -e | grep '^ETCD_' || true)
[ "${#etcd_env[@]}" -eq 0 ] || log "ignoring environment variables ${etcd_env[*]} for etcd"
t=$(now_ms)
(
	for v in "${etcd_env[@]}"; do unset "$v"; done
	start_proc etcd \
		--name=zerodown \
		--data-dir="$dir/etcd-data" \
		--listen-client-urls="$etcd_url" \
		--advertise-client-urls="$etcd_url" \
		--listen-peer-urls="http://127.0.0.1:$etcd_peer_port" \
		--initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer_port" \
		--initial-cluster="zerodown=http://127.0.0.1:$etcd_peer_port" \
		--initial-cluster-state=new \
		--unsafe-no-fsync \
		--quota-backend-bytes=$((2 * 1024 * 1024 * 1024))
)
wait_for etcd 30 curl -fsS "$etcd_url/health"
log "etcd ready on $etcd_url in $(since "$t")"

# --- kube-apiserver ---------------------------------------------------------------------
t=$(now_ms)
start_proc kube-apiserver \
	--etcd-servers="$etcd_url" \
	--bind-address=127.0.0.1 \
	--advertise-address=127.0.0.1 \
	--secure-port="$apiserver_port" \
	--cert-dir="$dir/apiserver-certs" \
	--tls-cert-file="$pki/apiserver.crt" \
	--tls-private-key-file="$pki/apiserver.key" \
	--client-ca-file="$pki/ca.crt" \
	--authorization-mode=Node,RBAC \
	--endpoint-reconciler-type=none \
	--service-account-issuer=https://kubernetes.default.svc.cluster.local \
	--service-account-key-file="$pki/sa.pub" \
	--service-account-signing-key-file="$pki/sa.key" \
	--service-cluster-ip-range="$SERVICE_CIDR" \
	--kubelet-preferred-address-types=InternalIP \
	--kubelet-client-certificate="$pki/admin.crt" \
	--kubelet-client-key="$pki/admin.key"
server="https://127.0.0.1:$apiserver_port"
wait_for kube-apiserver 60 curl -fsS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "$server/readyz"
log "kube-apiserver ready on $server in $(since "$t")"

# --- kubeconfig (credentials embedded, so the file can be copied) ---------------------------
b64() { base64 -w0 <"$1"; }
kubeconfig="$dir/kubeconfig"
umask 077
cat >"$kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: zerodown
  cluster:
    server: $server
    certificate-authority-data: $(b64 "$pki/ca.crt")
users:
- name: zerodown-admin
  user:
    client-certificate-data: $(b64 "$pki/admin.crt")
    client-key-data: $(b64 "$pki/admin.key")
contexts:
- name: zerodown
  context:
    cluster: zerodown
    user: zerodown-admin
current-context: zerodown
KUBECONFIG
umask 022
export KUBECONFIG="$kubeconfig"

# --- kube-controller-manager ---------------------------------------------------------------
t=$(now_ms)
start_proc kube-controller-manager \
	--kubeconfig="$kubeconfig" \
	--authentication-kubeconfig="$kubeconfig" \
	--authorization-kubeconfig="$kubeconfig" \
	--leader-elect=false \
	--secure-port=0 \
	--controllers="*,-${DISABLED_CONTROLLERS//,/,-}" \
	--service-account-private-key-file="$pki/sa.key" \
	--root-ca-file="$pki/ca.crt" \
	--service-cluster-ip-range="$SERVICE_CIDR"
# Ready enough once its serviceaccount controller made the default ServiceAccount.
wait_for kube-controller-manager 60 "$kubectl" get serviceaccount default --namespace default
log "kube-controller-manager working in $(since "$t")"

# --- OpenShift CRDs (exact files from the pinned openshift/api module) ---------------------
t=$(now_ms)
osapi="$("$GO" -C "$here/tools" list -m -f '{{.Dir}}' github.com/openshift/api)"
[ -n "$osapi" ] && [ -d "$osapi" ] || die "openshift/api module not found (go -C $here/tools mod download)"
crd_files=(
	config/v1/zz_generated.crd-manifests/0000_00_cluster-version-operator_01_clusteroperators.crd.yaml
	config/v1/zz_generated.crd-manifests/0000_00_cluster-version-operator_01_clusterversions-Default.crd.yaml
	config/v1/zz_generated.crd-manifests/0000_10_config-operator_01_infrastructures-Default.crd.yaml
	route/v1/zz_generated.crd-manifests/routes.crd.yaml
	machineconfiguration/v1/zz_generated.crd-manifests/0000_80_machine-config_01_machineconfigpools.crd.yaml
)
crd_names=(
	clusteroperators.config.openshift.io
	clusterversions.config.openshift.io
	infrastructures.config.openshift.io
	routes.route.openshift.io
	machineconfigpools.machineconfiguration.openshift.io
)
apply_args=()
for f in "${crd_files[@]}"; do
	[ -f "$osapi/$f" ] || die "CRD file $osapi/$f missing (openshift/api version changed?)"
	apply_args+=(-f "$osapi/$f")
done
# Server-side apply: some of these CRDs are too big for the last-applied annotation.
"$kubectl" apply --server-side --field-manager=zerodown-up "${apply_args[@]}" >"$dir/crds.log"
"$kubectl" wait --for=condition=Established --timeout=60s "${crd_names[@]/#/crd/}" >>"$dir/crds.log"
log "OpenShift CRDs established in $(since "$t")"

# --- prometheus-operator CRDs (ServiceMonitor, PodMonitor, PrometheusRule) ----------------
# The root module carries them as YAML; only its zip is needed, not a build.
t=$(now_ms)
pomod="github.com/prometheus-operator/prometheus-operator@${PROMETHEUS_OPERATOR_VERSION}"
podir="$("$GO" mod download -json "$pomod" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -n "$podir" ] && [ -d "$podir/example/prometheus-operator-crd" ] || die "could not download $pomod from the module proxy"
po_args=()
for k in servicemonitors podmonitors prometheusrules; do
	po_args+=(-f "$podir/example/prometheus-operator-crd/monitoring.coreos.com_$k.yaml")
done
"$kubectl" apply --server-side --field-manager=zerodown-up "${po_args[@]}" >>"$dir/crds.log"
"$kubectl" wait --for=condition=Established --timeout=60s \
	crd/servicemonitors.monitoring.coreos.com crd/podmonitors.monitoring.coreos.com crd/prometheusrules.monitoring.coreos.com >>"$dir/crds.log"
log "prometheus-operator CRDs established in $(since "$t")"

cat >"$dir/env.sh" <<ENV
export KUBECONFIG=$kubeconfig
export PATH=$bindir:\$PATH
ENV
ok=1
log "control plane up in $(since "$start_all") (etcd $etcd_url, kube-apiserver $server); state and logs in $dir"
log "kubectl: $kubectl (or: source $dir/env.sh)"
echo "export KUBECONFIG=$kubeconfig"
