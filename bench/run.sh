#!/usr/bin/env bash
# Runs zerodown's benchmarks on loopback and keeps their output under
# bench/results/. Takes about 12 minutes on a two-core machine. Every
# figure is relative to something measured in the same run (the test
# target's ground truth, a minimal Go client), since absolute times on
# shared machines vary by 2x from hour to hour.
#
#   bench/run.sh            all of them
#   bench/run.sh fidelity   one of: fidelity fidelity-busy detection cost scale eval footprint
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin bench/results
go build -o bin/zdbench ./bench/zdbench
out="bench/results/$(date -u +%Y%m%dT%H%M%SZ).txt"
what=("${@:-fidelity fidelity-busy detection cost scale eval footprint}")
run() {
  echo "== $*" | tee -a "$out"
  ./bin/zdbench "$@" 2>&1 | tee -a "$out"
  echo | tee -a "$out"
}
for w in ${what[@]}; do
  case "$w" in
    fidelity)      run fidelity -windows 60 ;;
    fidelity-busy) run fidelity -windows 36 -busy 2 ;;
    detection)     run detection -rounds 4 ;;
    cost)          run cost -rounds 5 ;;
    scale)         run scale ;;
    eval)          run eval ;;
    footprint)     make -s build build-cluster build-lite >/dev/null
                   run footprint -binary bin/zerodown,bin/zerodown-cluster,bin/zerodown-lite ;;
    *) echo "unknown benchmark $w" >&2; exit 2 ;;
  esac
done
echo "results: $out"
