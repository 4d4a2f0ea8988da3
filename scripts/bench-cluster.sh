#!/usr/bin/env bash
# bench-cluster.sh: the emulated-cluster measurements kept in bench/results/. For each cluster
# setting: strata-bench collectives --probe (the planner's machine file), strata-bench train of
# every scheme measured beside the planner's prediction, and (where asked) Strata's collectives
# against the MPI library's own at 64 MB. Every output file starts with the command that made it.
#
#   scripts/bench-cluster.sh [OUTDIR] [SETTING...]
#
# OUTDIR defaults to bench/results; SETTING names are those below (default: all of them). Needs
# root (scripts/emulate-cluster.sh) and a Release build in build/. Takes about half an hour on 2 cores.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/results}
shift || true
emulate=scripts/emulate-cluster.sh
bin=build/bin
rev=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src include backends 2>/dev/null || rev="$rev-dirty"
day=$(date -u +%Y-%m-%d)
mkdir -p "$out"

# name | emulator options | run the 64 MB collectives too
settings=(
  "2x2x1-100mbit|--nodes 2 --ranks-per-node 2 --node-rate 100mbit|yes"
  "2x2x1-400mbit|--nodes 2 --ranks-per-node 2 --node-rate 400mbit|yes"
  "2x2x1-2gbit|--nodes 2 --ranks-per-node 2 --node-rate 2gbit|no"
  "2x2x2-400mbit-2gbit|--nodes 2 --packages-per-node 2 --ranks-per-node 4 --node-rate 400mbit --gpu-rate 2gbit|yes"
  "2x2x2-100mbit-2gbit|--nodes 2 --packages-per-node 2 --ranks-per-node 4 --node-rate 100mbit --gpu-rate 2gbit|yes"
)
want=("$@")

# run FILE COMMAND...: the command line, the machine, then the command's output, into FILE.
run() {
    local file=$1 rc
    shift
    {
        echo "# $*"
        echo "# $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    } > "$file"
    "$@" >> "$file" 2>&1
    rc=$?
    echo "# exit status $rc; load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$file"
    tail -n 4 "$file"
    return $rc
}

status=0
for s in "${settings[@]}"; do
    IFS='|' read -r name opts colls <<< "$s"
    if [ ${#want[@]} -gt 0 ] && [[ ! " ${want[*]} " =~ " $name " ]]; then continue; fi
    stem="$out/$day-$rev-vm-cluster-$name"
    echo "== $name"
    # shellcheck disable=SC2086
    run "$stem-probe.txt" "$emulate" $opts -- "$bin/strata-bench" collectives --probe "$stem.machine" || status=1
    # shellcheck disable=SC2086
    run "$stem-train.txt" "$emulate" $opts -- "$bin/strata-bench" train --model gpt-25m --batch 2 --seq 128 \
        --steps 4 --machine-file "$stem.machine" --json "$stem-train.json" || status=1
    if [ "$colls" = yes ]; then
        # shellcheck disable=SC2086
        run "$stem-collectives.txt" "$emulate" $opts -- "$bin/strata-bench" collectives --sizes 1M,64M --iters 1 \
            --rounds 3 || status=1
    fi
done
exit $status
