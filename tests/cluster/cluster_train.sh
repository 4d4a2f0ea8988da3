#!/bin/sh
# strata-train on an emulated cluster (scripts/emulate-cluster.sh: hosts in network namespaces,
# Open MPI over real TCP links): the topology is detected per host, not given by STRATA_TOPOLOGY;
# each scheme's losses equal a one-process run with the same global batch, and the bytes each rank
# sends per step at each level equal the planner's closed forms (strata-info --plan); ZeRO++'s
# quantized schemes (zero++ on 2x2x1, frontier3q on 2x2x2) within 2% of its losses, their bytes
# the per-unit closed forms exactly (strata-info --unit-sizes with the trainer's units). Two shapes:
# 2 nodes x 2 ranks (links limited to 1 Gbit/s), and 2 nodes x 2 packages x 2 GCDs (package links
# 4 Gbit/s, node links 1 Gbit/s). Exit 77 (skipped) when the cluster cannot be made here.
# Then the measuring tools on the cluster: strata-bench collectives --probe writes a machine file
# that strata-info --plan reads, and strata-bench train under mpirun measures schemes beside the
# planner, its JSON valid against docs/bench.schema.json.
# usage: cluster_train.sh SOURCE_DIR BIN_DIR BENCH_CHECK
set -u
src="$1"; bin="$2"; check="$3"
emulate="$src/scripts/emulate-cluster.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
unset STRATA_TOPOLOGY
export OMP_NUM_THREADS=1
i=0
while [ $i -lt 60 ]; do echo "a small text for strata-train's cluster tests, with some more words in it" >> "$dir/text"; i=$((i + 1)); done
model="--steps 3 --seq 16 --layers 2 --embd 32 --heads 2 --seed 7"
failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

# Skips (77) with the emulator's reason when namespaces cannot be made here.
"$emulate" --nodes 2 --ranks-per-node 1 -- true > "$dir/probe" 2>&1
rc=$?
if [ $rc -eq 77 ]; then cat "$dir/probe"; exit 77; fi
[ $rc -eq 0 ] || { cat "$dir/probe"; echo "FAIL: the emulator cannot run 'true'"; exit 1; }

"$bin/strata-train" --data "$dir/text" $model --batch 8 --log "$dir/single.jsonl" > "$dir/single.out" 2>&1 ||
  { cat "$dir/single.out"; echo "FAIL: one-process run"; exit 1; }

# losses A B: every step's loss equal to 1e-5 relative (f32 summation order differs).
same_losses() {
  paste -d ' ' "$1" "$2" | awk '
    /"loss"/ { n++; a = $0; sub(/.*"loss": /, "", a); sub(/,.*/, "", a)
               b = substr($0, index($0, "} {") + 2); sub(/.*"loss": /, "", b); sub(/,.*/, "", b)
               d = a - b; if (d < 0) d = -d; if (d > 1e-5 * (a < 0 ? -a : a)) { bad = 1; print "step " n ": " a " vs " b } }
    END { exit (bad || n == 0) }'
}

# level_bytes LOG: "gcd gpu node" of the last step line.
level_bytes() {
  grep '"bytes_gcd"' "$1" | tail -n 1 | sed 's/.*"bytes_gcd": \([0-9]*\), "bytes_gpu": \([0-9]*\), "bytes_node": \([0-9]*\).*/\1 \2 \3/'
}

# planned_bytes SCHEME P SHAPE ROW [UNITS]: "gcd gpu node" of the closed forms for P f32 parameters
# in rows of ROW elements (the trainer's "model_row": the default qgZ block), per unit with the
# engine's units (as its log's "unit_sizes" lists them).
planned_bytes() {
  "$bin/strata-info" --plan --params "$2" ${4:+--hidden "$4"} --topology "$3" --dtype f32 --partition "$1" \
    ${5:+--unit-sizes "$5"} --json |
    awk -v s="\"$1\"" '
    /"name":/ { on = index($0, s) > 0 }
    on && /"bytes_per_step"/ { grab = 1; next }
    grab && /"GCD"/ { g = $2 } grab && /"GPU"/ { p = $2 } grab && /"NODE"/ { n = $2; sub(/,/, "", g); sub(/,/, "", p); print g " " p " " n; exit }'
}

# run_quant NAME SHAPE RANKS EMULATE_ARGS...: ZeRO++'s quantization on the cluster: losses within 2%
# of the one-process run (not equal), bytes the per-unit closed forms exactly.
run_quant() {
  scheme="$1"; shape="$2"; ranks="$3"; shift 3
  log="$dir/q-$shape.jsonl"
  batch=$((8 / ranks))
  if ! "$emulate" "$@" -- "$bin/strata-train" --data "$dir/text" $model --batch $batch --partition "$scheme" \
       --log "$log" > "$dir/out" 2>&1; then
    cat "$dir/out"; fail "$scheme on $shape"; return
  fi
  paste -d ' ' "$dir/single.jsonl" "$log" | awk '
    /"loss"/ { n++; a = $0; sub(/.*"loss": /, "", a); sub(/,.*/, "", a)
               b = substr($0, index($0, "} {") + 2); sub(/.*"loss": /, "", b); sub(/,.*/, "", b)
               d = a - b; if (d < 0) d = -d; if (d > 0.02 * a) { bad = 1; print "step " n ": " a " vs " b } }
    END { exit (bad || n == 0) }' || { fail "$scheme on $shape: losses not within 2% of one process"; return; }
  P=$(sed -n 's/.*"partitioned_params": \([0-9]*\).*/\1/p' "$log")
  row=$(sed -n 's/.*"model_row": \([0-9]*\).*/\1/p' "$log")
  got=$(level_bytes "$log")
  units=$(sed -n 's/.*"unit_sizes": "\([0-9,]*\)".*/\1/p' "$log")
  want=$(planned_bytes "$scheme" "$P" "$shape" "$row" "$units")
  # the closed forms are the quantized ones (int8/int4 payload plus scales, per unit), so equal
  # bytes prove the quantization took place
  # bucketed at 13000 elements (tests/cluster/CMakeLists.txt): the embeddings' unit (10336) and block 0
  # (12928) form one unit, block 1 stays alone: 2 units of the 3
  n_units=$(echo "$units" | tr ',' '\n' | grep -c .)
  if [ "${STRATA_SHARD_BUCKET:-}" = 13000 ] && [ "$n_units" != 2 ]; then
    fail "$scheme on $shape: bucketed at 13000, $n_units units ($units), want 2"
  fi
  if [ -z "$P" ] || [ -z "$units" ] || [ "$got" != "$want" ]; then
    fail "$scheme on $shape: bytes per level $got, closed forms $want (P=$P, units $units)"
  else echo "ok: $scheme on $shape: losses within 2% of one process, bytes gcd/gpu/node $got = closed forms (units $units)"; fi
}

# run_scheme NAME SHAPE RANKS EMULATE_ARGS...: train, compare with the one-process run.
run_scheme() {
  scheme="$1"; shape="$2"; ranks="$3"; shift 3
  log="$dir/$scheme-$shape.jsonl"
  batch=$((8 / ranks))
  if ! "$emulate" "$@" -- "$bin/strata-train" --data "$dir/text" $model --batch $batch --partition "$scheme" \
       --log "$log" > "$dir/out" 2>&1; then
    cat "$dir/out"; fail "$scheme on $shape"; return
  fi
  grep -q "^model .* $ranks ranks (global batch 8)" "$dir/out" || { cat "$dir/out"; fail "$scheme: $ranks ranks"; }
  same_losses "$dir/single.jsonl" "$log" || fail "$scheme on $shape: losses differ from one process"
  P=$(sed -n 's/.*"partitioned_params": \([0-9]*\).*/\1/p' "$log")
  row=$(sed -n 's/.*"model_row": \([0-9]*\).*/\1/p' "$log")
  got=$(level_bytes "$log")
  want=$(planned_bytes "$scheme" "$P" "$shape" "$row")
  if [ -z "$P" ] || [ "$got" != "$want" ]; then fail "$scheme on $shape: bytes per level $got, closed forms $want (P=$P)"
  else echo "ok: $scheme on $shape: losses as one process, bytes gcd/gpu/node $got = closed forms"; fi
}

# 2 nodes x 2 ranks: the topology each rank detects, then three schemes.
two="--nodes 2 --ranks-per-node 2 --node-rate 1gbit"
"$emulate" $two -- "$bin/strata-info" --topology > "$dir/topo" 2>&1 || { cat "$dir/topo"; fail "strata-info --topology"; }
grep -q "^Job: 4 ranks = 2 nodes x 2 GPUs x 1 GCD (detected" "$dir/topo" || { cat "$dir/topo"; fail "detected 2x2x1"; }
grep -q "rank 1: host node1, node 1, GPU 0, GCD 0" "$dir/topo" || { cat "$dir/topo"; fail "rank 1 on host node1"; }
for s in ddp zero3 zero3+hpz; do run_scheme "$s" 2x2x1 4 $two; done
run_quant zero++ 2x2x1 4 $two

# 2 nodes x 2 packages x 2 GCDs: packages are hosts of their own, grouped by STRATA_NODE_ID.
three="--nodes 2 --packages-per-node 2 --ranks-per-node 4 --node-rate 1gbit --gpu-rate 4gbit"
"$emulate" $three -- "$bin/strata-info" --topology > "$dir/topo" 2>&1 || { cat "$dir/topo"; fail "strata-info --topology (3 levels)"; }
grep -q "^Job: 8 ranks = 2 nodes x 2 GPUs x 2 GCDs" "$dir/topo" || { cat "$dir/topo"; fail "detected 2x2x2"; }
for s in frontier3 zero2; do run_scheme "$s" 2x2x2 8 $three; done
run_quant frontier3q 2x2x2 8 $three

# The probe's machine file, read by the planner; the multi-rank train benchmark on it.
"$emulate" $two -- "$bin/strata-bench" collectives --probe "$dir/machine" --probe-bytes 1M > "$dir/out" 2>&1 ||
  { cat "$dir/out"; fail "collectives --probe"; }
for k in name gpu_gbs gpu_us node_gbs node_us memory_gib; do
  grep -q "^$k = " "$dir/machine" || { cat "$dir/machine"; fail "machine file has $k"; }
done
"$bin/strata-info" --plan --model gpt-25m --topology 2x2x1 --machine-file "$dir/machine" > "$dir/out" 2>&1 &&
  grep -q "GPU .* GB/s: file: $dir/machine" "$dir/out" || { cat "$dir/out"; fail "the planner reads the probe's file"; }
"$emulate" $two -- "$bin/strata-bench" train --model tiny --batch 2 --seq 32 --steps 3 --probe-steps 2 \
  --partition "ddp,zero3;params=node,grads=node,optim=world" --machine-file "$dir/machine" --json "$dir/train.json" \
  > "$dir/out" 2>&1 || { cat "$dir/out"; fail "strata-bench train on the cluster"; }
[ "$(grep -c "= closed forms" "$dir/out")" -eq 3 ] || { cat "$dir/out"; fail "3 schemes measured, bytes = closed forms"; }
grep -q "^targets: every prediction within 25%" "$dir/out" || { cat "$dir/out"; fail "the targets line"; }
grep -q "compute .* GFLOP/s per rank (measured here" "$dir/out" || { cat "$dir/out"; fail "the compute probe ran"; }
"$check" schema "$src/docs/bench.schema.json" "$dir/train.json" || fail "train.json does not validate"
grep -q '"scheme": "zero3"' "$dir/train.json" && grep -q '"plan_machine"' "$dir/train.json" ||
  fail "train.json has the schemes and the machine"

# Failure behaviour of the emulator: not root -> 77 with a reason; a killed run's namespaces are
# removed by --cleanup.
if command -v setpriv > /dev/null; then
  setpriv --reuid=65534 --regid=65534 --clear-groups "$emulate" -- true > "$dir/out" 2>&1
  rc=$?
  { [ $rc -eq 77 ] && grep -q "need root" "$dir/out"; } || { cat "$dir/out"; fail "not root: status $rc, want 77"; }
fi
before=$(ip netns list | grep -c "^strata-cl-")
"$emulate" --nodes 2 --ranks-per-node 1 -- sleep 60 > /dev/null 2>&1 &
pid=$!
i=0
while [ $i -lt 100 ] && [ "$(ip netns list | grep -c "^strata-cl-$pid-")" -lt 4 ]; do sleep 0.1; i=$((i + 1)); done
kill -KILL $pid
wait $pid 2>/dev/null
[ "$(ip netns list | grep -c "^strata-cl-$pid-")" -ge 4 ] || fail "a killed run leaves its namespaces (to be cleaned)"
"$emulate" --cleanup > "$dir/out" 2>&1 || fail "--cleanup"
[ "$(ip netns list | grep -c "^strata-cl-")" -eq 0 ] || { ip netns list; fail "--cleanup removed every namespace"; }
[ "$before" -eq 0 ] || echo "note: $before namespace(s) of another run were present before"
if [ $failed -ne 0 ]; then echo "$failed failed"; exit 1; fi
echo "passed"
