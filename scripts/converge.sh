#!/bin/sh
# Convergence of the quantized schemes (issue 17), measured on the emulated cluster: the tiny model
# trained for a few hundred steps with ZeRO++ (hpZ + qwZ int8 weights + qgZ int4 gradients) and
# with the quantized 3-level scheme ends within 2% of the validation loss of the same scheme
# without quantization, in f32 and bf16; a run stopped half way and resumed from its checkpoint
# (on the same rank count, and on half the ranks) continues the straight run's curve.
# Writes a table (and every run's log) under OUT; exit 0 when every check holds, 1 otherwise,
# 77 when the cluster cannot be made here (not root, no ip/tc).
# usage: scripts/converge.sh [--steps N] [--node-rate RATE] [--bin DIR] [--out DIR] [--tol PCT] [--qopts ,K=V...]
# --qopts: appended to the quantized schemes' names (e.g. ,qblock=64 for smaller blocks)
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
bin="$src/build/bin"; out=""; steps=300; rate=1gbit; tol=2; qopts=""
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps="$2"; shift 2 ;;
    --node-rate) rate="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --tol) tol="$2"; shift 2 ;;
    --qopts) qopts="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "converge.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || out=$(mktemp -d)
mkdir -p "$out" || exit 1
emulate="$src/scripts/emulate-cluster.sh"
data=/usr/share/common-licenses/GPL-3
[ -r "$data" ] || { echo "converge.sh: $data is missing (package base-files)"; exit 77; }
export OMP_NUM_THREADS=1
unset STRATA_TOPOLOGY
three="--nodes 2 --packages-per-node 2 --ranks-per-node 4 --node-rate $rate --gpu-rate 4gbit"
two="--nodes 2 --ranks-per-node 2 --node-rate $rate"
# 8 ranks x 2 rows = a global batch of 16; the 4-rank resume uses 4 rows per rank (same batch).
train="--data $data --model tiny --steps $steps --seq 64 --lr 3e-3 --eval-every 50 --eval-batches 8"
failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

"$emulate" --nodes 2 --ranks-per-node 1 -- true > "$out/probe" 2>&1
rc=$?
if [ $rc -eq 77 ]; then cat "$out/probe"; exit 77; fi
[ $rc -eq 0 ] || { cat "$out/probe"; echo "converge.sh: the emulator cannot run 'true'"; exit 1; }

# run NAME SHAPE_ARGS BATCH ARGS...: one training run on the cluster, log in OUT/NAME.jsonl.
run() {
  name="$1"; shape="$2"; batch="$3"; shift 3
  # shellcheck disable=SC2086
  "$emulate" $shape -- "$bin/strata-train" $train --batch "$batch" --log "$out/$name.jsonl" "$@" \
    > "$out/$name.out" 2>&1 || { tail -n 20 "$out/$name.out"; fail "run $name"; return 1; }
}

# val LOG: the last validation loss.
val() { grep '"val_loss"' "$1" | tail -n 1 | sed 's/.*"val_loss": \([0-9.eE+-]*\).*/\1/'; }

# within A B PCT: |A - B| <= PCT% of B.
within() { awk -v a="$1" -v b="$2" -v p="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && b != "" && d <= p / 100 * b) }'; }

printf '%-6s %-12s %-12s %10s %10s %8s %s\n' dtype scheme reference val ref_val diff verdict > "$out/table.txt"
for dt in f32 bf16; do
  for pair in "zero++:zero3+hpz" "frontier3q:frontier3"; do
    q=${pair%%:*}; ref=${pair#*:}
    run "$dt-$ref" "$three" 2 --partition "$ref" --dtype "$dt" || continue
    run "$dt-$q" "$three" 2 --partition "$q$qopts" --dtype "$dt" || continue
    a=$(val "$out/$dt-$q.jsonl"); b=$(val "$out/$dt-$ref.jsonl")
    d=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%+.2f%%", 100 * (a - b) / b }')
    if within "$a" "$b" "$tol"; then v=ok; else v=FAIL; fail "$dt $q: val $a vs $ref $b ($d)"; fi
    printf '%-6s %-12s %-12s %10s %10s %8s %s\n' "$dt" "$q" "$ref" "$a" "$b" "$d" "$v" >> "$out/table.txt"
  done
done

# Resume: zero++ f32 stopped at steps/2 and resumed on 8 ranks (losses equal the straight run's
# after the resume point), then again from the same checkpoint on 4 ranks (2 nodes x 2; the final
# validation loss within tol of the straight run's).
half=$((steps / 2))
ck="$out/ck"
rm -rf "$ck"
if run resume-a "$three" 2 --partition "zero++$qopts" --ckpt "$ck" --stop-at "$half" &&
   cp -r "$ck" "$out/ck4" && run resume-b "$three" 2 --partition "zero++$qopts" --ckpt "$ck" --resume; then
  straight="$out/f32-zero++.jsonl"
  a=$(grep '"loss"' "$straight" | sed -n "$((half + 1)),\$p" | sed 's/.*"loss": \([0-9.eE+-]*\).*/\1/' | md5sum)
  b=$(grep '"loss"' "$out/resume-b.jsonl" | sed 's/.*"loss": \([0-9.eE+-]*\).*/\1/' | md5sum)
  if [ "$a" = "$b" ]; then echo "resume on 8 ranks at step $half: losses after it equal the straight run's bit for bit: ok" >> "$out/table.txt"
  else fail "resume on 8 ranks: losses differ from the straight run after step $half"
       echo "resume on 8 ranks at step $half: losses differ from the straight run: FAIL" >> "$out/table.txt"; fi
  if run resume-4 "$two" 4 --partition "zero++$qopts" --ckpt "$out/ck4" --resume; then
    a=$(val "$out/resume-4.jsonl"); b=$(val "$straight")
    if within "$a" "$b" "$tol"; then v=ok; else v=FAIL; fail "resume on 4 ranks: val $a vs straight $b"; fi
    echo "resume on 4 ranks (2x2x1) at step $half: val $a vs straight 8-rank $b: $v" >> "$out/table.txt"
  fi
fi
{ echo "# scripts/converge.sh --steps $steps --node-rate $rate (tiny model, global batch 16, seq 64)"
  echo "# quantized schemes: zero++$qopts, frontier3q$qopts"
  echo "# CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1) (family $(lscpu | sed -n 's/^CPU family: *//p'), model $(lscpu | sed -n 's/^Model: *//p')); $(nproc --all) cores; commit $(git -C "$src" rev-parse --short=12 HEAD 2>/dev/null)"
  cat "$out/table.txt"; } > "$out/summary.txt"
cat "$out/summary.txt"
[ $failed -eq 0 ]
