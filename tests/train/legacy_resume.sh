#!/bin/sh
# Checkpoints written by strata-train before checkpoint directories (commit 55fd118: the files
# directly in --ckpt; tests/train/legacy/README.md) resume today: the single-process and the
# 2-rank sharded one, each into one process and into 2 ranks, and reach a straight run's losses bit
# for bit. The first commit then replaces the old files with a step directory. The same files in a
# step directory with its manifest, as commit 29972f9 wrote them (before Hugging Face files: the
# moments inside model.safetensors, names without "transformer."), resume the same way and their
# next commit is a Hugging Face directory.
# usage: legacy_resume.sh STRATA_TRAIN LEGACY_DIR [MPIEXEC NUMPROC_FLAG MPI_FLAGS...]
set -u
train="$1"; legacy="$2"; shift 2
. "$(dirname "$0")/common.sh"
make_text 40 "a small text for strata-train's checkpoint compatibility tests"
args="--data $dir/text --vocab 128 --embd 8 --heads 2 --context 16 --layers 1 --seq 16 --steps 6 --lr 3e-3"
export STRATA_BACKEND=cpu OMP_NUM_THREADS=1
"$train" $args --batch 2 --log "$dir/straight.jsonl" > /dev/null || fail "straight run"
want=$(grep '"step": 6, "loss"' "$dir/straight.jsonl" | cut -d, -f2)
check() { # $1: name; the run's log in $dir/$1.jsonl, its checkpoint in $dir/$1
  got=$(grep '"step": 6, "loss"' "$dir/$1.jsonl" | cut -d, -f2)
  [ -n "$want" ] && [ "$got" = "$want" ] || fail "$1: step 6 loss '$got', straight run '$want'"
  [ -f "$dir/$1/latest" ] && [ "$dir/$1/model.safetensors" -ef "$dir/$1/$(cat "$dir/$1/latest")/model.safetensors" ] &&
    [ ! -e "$dir/$1/index.safetensors" ] && [ -z "$(ls "$dir/$1" | grep '^shard-')" ] ||
    fail "$1: the old files were not replaced by a step directory: $(ls "$dir/$1")"
  echo "ok: $1 resumed to step 6 with loss$got"
}
# $1: a checkpoint directory of 29972f9's layout made of $legacy/$2's files (step-00000003, manifest, latest)
stepdir() {
  mkdir -p "$1/step-00000003"
  cp "$legacy/$2"/* "$1/step-00000003/"
  { echo "strata-checkpoint 1"; echo "step 3"; echo "id 0123456789abcdef0123456789abcdef"
    for f in "$1/step-00000003"/*; do echo "file $(basename "$f") $(wc -c < "$f" | tr -d ' ')"; done
    echo "end"; } > "$1.manifest"
  mv "$1.manifest" "$1/step-00000003/strata-checkpoint.txt"
  echo "step-00000003" > "$1/latest"
}
for kind in plain sharded; do
  cp -r "$legacy/$kind" "$dir/one-$kind"
  "$train" $args --batch 2 --ckpt "$dir/one-$kind" --resume --log "$dir/one-$kind.jsonl" > "$dir/out" 2>&1 ||
    { fail "one process from $kind"; cat "$dir/out"; }
  grep -q "resumed from step 3" "$dir/out" || fail "one process from $kind: not resumed from step 3"
  check "one-$kind"
  stepdir "$dir/step-$kind" "$kind"
  "$train" $args --batch 2 --ckpt "$dir/step-$kind" --resume --log "$dir/step-$kind.jsonl" > "$dir/out" 2>&1 ||
    { fail "one process from a step directory of $kind"; cat "$dir/out"; }
  grep -q "resumed from step 3 (.*step-00000003)" "$dir/out" || fail "step directory of $kind: not resumed from step 3"
  check "step-$kind"
  [ -f "$dir/step-$kind/step-00000006/config.json" ] || fail "step directory of $kind: no Hugging Face files after the resume"
  if [ $# -ge 2 ]; then
    cp -r "$legacy/$kind" "$dir/two-$kind"
    STRATA_TOPOLOGY=1x2x1 "$@" 2 "$train" $args --batch 1 --partition zero2 --ckpt "$dir/two-$kind" --resume \
      --log "$dir/two-$kind.jsonl" > "$dir/out" 2>&1 || { fail "2 ranks from $kind"; cat "$dir/out"; }
    check "two-$kind"
  fi
done
# --export-hf converts both old kinds into Hugging Face directories whose weights start a run at the
# same loss as the old checkpoint itself does through --model
for kind in plain sharded; do
  "$train" --model "$legacy/$kind" --export-hf "$dir/hf-$kind" > "$dir/out" 2>&1 || { fail "--export-hf of $kind"; cat "$dir/out"; }
  [ -f "$dir/hf-$kind/config.json" ] && [ -f "$dir/hf-$kind/model.safetensors" ] || fail "--export-hf of $kind: $(ls "$dir/hf-$kind")"
  for src in "$legacy/$kind" "$dir/hf-$kind"; do
    "$train" --data "$dir/text" --seq 16 --steps 1 --batch 2 --model "$src" --log "$dir/m.jsonl" > "$dir/out" 2>&1 ||
      { fail "--model $src"; cat "$dir/out"; }
    grep '"step": 1, "loss"' "$dir/m.jsonl" | cut -d, -f2 > "$dir/loss-$(basename "$src")"
  done
  cmp -s "$dir/loss-$kind" "$dir/loss-hf-$kind" && [ -s "$dir/loss-$kind" ] ||
    fail "$kind: --model of the export starts at $(cat "$dir/loss-hf-$kind"), of the checkpoint at $(cat "$dir/loss-$kind")"
  echo "ok: --export-hf of the old $kind checkpoint: same first loss$(cat "$dir/loss-$kind")"
done
if [ $failed -ne 0 ]; then echo "$failed failed"; exit 1; fi
echo "passed"
