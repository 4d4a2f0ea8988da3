#!/bin/sh
# strata-train on bad input: each case must exit non-zero with an "error:" message on stderr, and
# a log path given to a failing run must not be created.
set -u
train="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
i=0
while [ $i -lt 40 ]; do echo "a small text for strata-train's bad input tests" >> "$dir/text"; i=$((i + 1)); done
: > "$dir/empty"
failed=0
expect_error() {
  if "$train" "$@" --log "$dir/log.jsonl" > /dev/null 2> "$dir/err"; then
    echo "FAIL: strata-train $* exited 0"; failed=$((failed + 1))
  elif ! grep -q "error:" "$dir/err"; then
    echo "FAIL: strata-train $*: no error message"; failed=$((failed + 1))
  elif [ -e "$dir/log.jsonl" ]; then
    echo "FAIL: strata-train $*: wrote its log"; failed=$((failed + 1))
  else
    echo "ok: $* -> $(cat "$dir/err")"
  fi
}
expect_error --data "$dir/missing"
expect_error --data "$dir/empty"
expect_error --data "$dir/text" --seq 65
expect_error --data "$dir/text" --batch 0
expect_error --data "$dir/text" --seq 0
expect_error --data "$dir/text" --steps 0
expect_error --data "$dir/text" --bogus 1
expect_error --data "$dir/text" --model gpt3
expect_error --data "$dir/text" --heads 5
expect_error --data "$dir/text" --lr abc
expect_error --data "$dir/text" --dtype f16
expect_error --data "$dir/text" --peak-gflops 0
expect_error --steps 3
expect_error --data "$dir/text" --resume
# A good checkpoint, then runs that must refuse it without touching it.
"$train" --data "$dir/text" --steps 2 --batch 2 --seq 16 --ckpt "$dir/ck" > /dev/null || { echo "FAIL: checkpoint run"; exit 1; }
cp "$dir/ck/model.safetensors" "$dir/good"
expect_error --data "$dir/text" --steps 4 --batch 2 --seq 16 --ckpt "$dir/ck" --resume --layers 3
expect_error --data "$dir/text" --steps 4 --batch 2 --seq 16 --ckpt "$dir/ck" --resume --seed 7
expect_error --data "$dir/text" --steps 4 --batch 2 --seq 16 --ckpt "$dir/ck" --resume --grad-accum 2
cmp -s "$dir/good" "$dir/ck/model.safetensors" || { echo "FAIL: a refused resume changed the checkpoint"; failed=$((failed + 1)); }
# A checkpoint as --model must hold a strata-train config; a truncated one is refused.
expect_error --data "$dir/text" --steps 2 --model "$dir/text"
head -c 3000 "$dir/good" > "$dir/cut.safetensors"
expect_error --data "$dir/text" --steps 2 --model "$dir/cut.safetensors"
head -c 3000 "$dir/good" > "$dir/ck/model.safetensors"
expect_error --data "$dir/text" --steps 4 --batch 2 --seq 16 --ckpt "$dir/ck" --resume
printf 'garbage!' | dd of="$dir/ck/model.safetensors" bs=1 seek=0 conv=notrunc 2> /dev/null
expect_error --data "$dir/text" --steps 4 --batch 2 --seq 16 --ckpt "$dir/ck" --resume
if [ $failed -ne 0 ]; then echo "$failed failed"; exit 1; fi
echo "22 passed, 0 failed"
