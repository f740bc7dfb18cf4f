#!/usr/bin/env bash
# Builds the control-plane binaries used by up.sh (etcd, kube-apiserver,
# kube-controller-manager, kubectl) and the nodes' (kubelet, kube-proxy,
# kube-scheduler, for e2e/nodes) from the pinned wrapper module in tools/,
# and an older kubelet (for the node-upgrade scenario) from tools-kubelet-old/,
# into ${ZERODOWN_CACHE:-$HOME/.cache/zerodown}/k8s-v<kube>-etcd-v<etcd>/.
# Binaries already present are not rebuilt; the versions are part of the
# folder name, so a version change builds into a new folder.
# A cold build takes roughly 7-30 minutes on a two-core machine and grows the
# Go build cache by about 3 GB.
set -euo pipefail

KUBE_VERSION=v1.34.4
OLD_KUBELET_VERSION=v1.33.13  # a node is upgraded from this kubelet to KUBE_VERSION
ETCD_SERVER_VERSION=v3.6.16   # not ETCD_*: etcd reads those as flags

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tools="$here/tools"
cache="${ZERODOWN_CACHE:-$HOME/.cache/zerodown}"
bindir="$cache/k8s-${KUBE_VERSION}-etcd-${ETCD_SERVER_VERSION}"
GO="${GO:-go}"

log() { printf 'build.sh: %s\n' "$*" >&2; }

# Sanity: the wrapper module must pin the versions this script names.
for want in "k8s.io/kubernetes $KUBE_VERSION" "go.etcd.io/etcd/server/v3 $ETCD_SERVER_VERSION"; do
	if ! grep -qF "	$want" "$tools/go.mod"; then
		log "tools/go.mod does not require '$want'; update build.sh or tools/go.mod"
		exit 1
	fi
done
if ! grep -qF "require k8s.io/kubernetes $OLD_KUBELET_VERSION" "$here/tools-kubelet-old/go.mod"; then
	log "tools-kubelet-old/go.mod does not require k8s.io/kubernetes $OLD_KUBELET_VERSION; update build.sh or the module"
	exit 1
fi

kube_bins=(kube-apiserver kube-controller-manager kubectl kubelet kube-proxy kube-scheduler)
missing=()
[ -x "$bindir/etcd" ] || missing+=(etcd)
for b in "${kube_bins[@]}"; do
	[ -x "$bindir/$b" ] || missing+=("$b")
done
[ -x "$bindir/kubelet-$OLD_KUBELET_VERSION" ] || missing+=("kubelet-$OLD_KUBELET_VERSION")
if [ "${#missing[@]}" -eq 0 ]; then
	log "all binaries present in $bindir; nothing to do"
	exit 0
fi

command -v "$GO" >/dev/null || { log "go not found (set GO=...)"; exit 1; }
mkdir -p "$bindir"
log "building ${missing[*]} into $bindir (a cold build takes many minutes)"

ldflags_for() { # version: the ldflags that stamp a Kubernetes binary with it
	local v=$1 major minor vpkg=k8s.io/component-base/version
	minor="${v#v}"; major="${minor%%.*}"; minor="${minor#*.}"; minor="${minor%%.*}"
	echo "-s -w -X $vpkg.gitVersion=$v -X $vpkg.gitMajor=$major -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}

build_one() { # name package ldflags [module dir]
	local name=$1 pkg=$2 ldflags=$3 mod=${4:-$tools} start end
	start=$(date +%s)
	log "building $name ($pkg) ..."
	# Build next to the target and rename, so an interrupted build leaves no
	# half-written binary that would count as present next time.
	CGO_ENABLED=0 "$GO" -C "$mod" build -mod=readonly -ldflags "$ldflags" -o "$bindir/.$name.tmp" "$pkg"
	mv -f "$bindir/.$name.tmp" "$bindir/$name"
	end=$(date +%s)
	log "built $name in $((end - start)) s"
}

total_start=$(date +%s)
for b in "${missing[@]}"; do
	case "$b" in
	etcd) build_one etcd go.etcd.io/etcd/server/v3 "-s -w" ;;
	kubelet-v*) build_one "$b" k8s.io/kubernetes/cmd/kubelet "$(ldflags_for "$OLD_KUBELET_VERSION")" "$here/tools-kubelet-old" ;;
	*) build_one "$b" "k8s.io/kubernetes/cmd/$b" "$(ldflags_for "$KUBE_VERSION")" ;;
	esac
done
log "done in $(($(date +%s) - total_start)) s; binaries in $bindir"
