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
passed=0
expect_error() {
  if "$train" "$@" --log "$dir/log.jsonl" > /dev/null 2> "$dir/err"; then
    echo "FAIL: strata-train $* exited 0"; failed=$((failed + 1))
  elif ! grep -q "error:" "$dir/err"; then
    echo "FAIL: strata-train $*: no error message"; failed=$((failed + 1))
  elif [ -e "$dir/log.jsonl" ]; then
    echo "FAIL: strata-train $*: wrote its log"; failed=$((failed + 1))
  else
    echo "ok: $* -> $(cat "$dir/err")"; passed=$((passed + 1))
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
# issue 15's reproducers: sizes that overflowed (a heap overflow for --layers) and FIFOs that hung
expect_error --data "$dir/text" --layers 357913942
expect_error --data "$dir/text" --warmup 9223372036854775807
expect_error --data "$dir/text" --batch 9223372036854775807
expect_error --data "$dir/text" --grad-accum 4611686018427387904
expect_error --data "$dir/text" --embd 1048576 --heads 1
mkfifo "$dir/fifo"
expect_error --data "$dir/fifo"
expect_error --data "$dir/text" --model "$dir/fifo"
expect_error --data "$dir/text" --model "llmc:$dir/fifo"
expect_error --data "$dir/text" --val "$dir/fifo"
# A good checkpoint, then runs that must refuse it without touching it.
"$train" --data "$dir/text" --steps 2 --batch 2 --seq 16 --ckpt "$dir/ck" > /dev/null || { echo "FAIL: checkpoint run"; exit 1; }
# the committed checkpoint's file (the step directory DIR/latest names)
ck_file() { echo "$dir/ck/$(cat "$dir/ck/latest")/model.safetensors"; }
cp "$(ck_file)" "$dir/good"
expect_error --data "$dir/text" --steps 4 --batch 2 --seq 16 --ckpt "$dir/ck" --resume --layers 3
expect_error --data "$dir/text" --steps 4 --batch 2 --seq 16 --ckpt "$dir/ck" --resume --seed 7
expect_error --data "$dir/text" --steps 4 --batch 2 --seq 16 --ckpt "$dir/ck" --resume --grad-accum 2
cmp -s "$dir/good" "$(ck_file)" || { echo "FAIL: a refused resume changed the checkpoint"; failed=$((failed + 1)); }
# A checkpoint as --model must hold a strata-train config; a truncated one is refused.
expect_error --data "$dir/text" --steps 2 --model "$dir/text"
head -c 3000 "$dir/good" > "$dir/cut.safetensors"
expect_error --data "$dir/text" --steps 2 --model "$dir/cut.safetensors"
head -c 3000 "$dir/good" > "$(ck_file)"
expect_error --data "$dir/text" --steps 4 --batch 2 --seq 16 --ckpt "$dir/ck" --resume
cp "$dir/good" "$(ck_file)"
printf 'garbage!' | dd of="$(ck_file)" bs=1 seek=0 conv=notrunc 2> /dev/null
expect_error --data "$dir/text" --steps 4 --batch 2 --seq 16 --ckpt "$dir/ck" --resume
if [ $failed -ne 0 ]; then echo "$failed failed"; exit 1; fi
echo "$passed passed, 0 failed"
