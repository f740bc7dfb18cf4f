#!/usr/bin/env bash
# Checks the shipped rules and runs their unit tests with promtool, from
# Debian's prometheus package (installed here when missing and we are
# root, as e2e/controlplane/up.sh does for openssl and curl). The same
# files run on the embedded engine in rules/ruletest's Go test.
set -euo pipefail
cd "$(dirname "$0")/.."
e2e/install-debian.sh promtool:prometheus
promtool check rules rules/*.rules.yaml
promtool test rules rules/tests/*.yaml
# The in-process runner's own test files: promtool must agree on which pass
# (ruletest's Go test checks the same files on the embedded engine).
promtool test rules rules/ruletest/testdata/pass.test.yaml
if promtool test rules rules/ruletest/testdata/fail.test.yaml >/dev/null 2>&1; then
	echo "rules/test.sh: promtool passed rules/ruletest/testdata/fail.test.yaml, which must fail" >&2
	exit 1
fi
echo "rules/test.sh: promtool agrees with the in-process runner on rules/ruletest/testdata"
