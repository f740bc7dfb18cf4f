#!/usr/bin/env bash
# Installs the Debian packages that provide the given commands, when one
# is missing and we are root (CI runs as root on Debian 12):
#   e2e/install-debian.sh promtool:prometheus prometheus-alertmanager:prometheus-alertmanager
# Debian's packages start their own servers; those are stopped: the tests
# start their own, with their own configuration, on loopback ports.
set -euo pipefail
missing=()
for pair in "$@"; do
	cmd="${pair%%:*}" pkg="${pair#*:}"
	command -v "$cmd" >/dev/null || missing+=("$pkg")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
	echo "install-debian.sh: missing ${missing[*]}: install them (apt-get install ${missing[*]})" >&2
	exit 1
fi
echo "install-debian.sh: installing ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
pkill -x prometheus 2>/dev/null || true
pkill -x prometheus-alertmanager 2>/dev/null || true
