#!/bin/sh
# strata-tokenize and strata-train --tokenizer from the command line:
#   cli.sh STRATA_TOKENIZE STRATA_TRAIN SCRATCH_DIR
# train -> encode -> decode gives the text back in both file forms; the two forms agree; bad input
# exits 1 (2 for a bad command line) with an error naming the cause and leaves no output; and
# strata-train tokenizes text once (then reuses its cache), takes the tokenizer's vocabulary and
# prints samples as text.
set -u
export LC_ALL=C # samples hold arbitrary bytes
export STRATA_CACHE_DIR="$3/cache" # strata-train's token files
tk=$1 train=$2 dir=$3
rm -rf "$dir" && mkdir -p "$dir"
failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
ok() { echo "ok: $*"; }
text=/usr/share/common-licenses/GPL-3
[ -r "$text" ] || { echo "SKIP: $text is missing"; exit 77; }
cp "$text" "$dir/gpl3.txt"

# train in both forms, encode, decode
"$tk" train --vocab-size 512 --out "$dir/v.tiktoken" --hf "$dir/hf" "$dir/gpl3.txt" > "$dir/out" || fail "train: $(cat "$dir/out")"
grep -q "vocabulary: 512 ids" "$dir/out" && ok "trained 512 ids" || fail "train: $(cat "$dir/out")"
for v in "$dir/v.tiktoken" "$dir/hf" "$dir/hf/vocab.json"; do
  "$tk" encode --tokenizer "$v" --no-eot --out "$dir/t.bin" "$dir/gpl3.txt" > "$dir/out" || fail "encode $v: $(cat "$dir/out")"
  grep -q "MB/s" "$dir/out" || fail "encode $v prints no speed"
  "$tk" decode --tokenizer "$v" --out "$dir/back.txt" "$dir/t.bin" || fail "decode $v"
  cmp -s "$dir/back.txt" "$dir/gpl3.txt" && ok "round trip with $v" || fail "round trip with $v"
done
a=$("$tk" text --tokenizer "$dir/v.tiktoken" "the Program, as you receive it")
b=$("$tk" text --tokenizer "$dir/hf" "the Program, as you receive it")
[ -n "$a" ] && [ "$a" = "$b" ] && ok "both forms: $a" || fail "forms disagree: '$a' / '$b'"
"$tk" convert --tokenizer "$dir/hf" --out "$dir/conv.tiktoken" > /dev/null && cmp -s "$dir/conv.tiktoken" "$dir/v.tiktoken" &&
  ok "convert gives the same rank file" || fail "convert"
STRATA_PYTHON=/nonexistent "$tk" bench --tokenizer "$dir/v.tiktoken" --repeat 1 "$dir/gpl3.txt" > "$dir/out" &&
  grep -q "^strata .*MB/s" "$dir/out" && grep -q "^tiktoken : no reference" "$dir/out" && ok "bench without a reference" ||
  fail "bench: $(cat "$dir/out")"

# bad input
expect() { # expect STATUS WORDS -- command...
  want=$1 words=$2
  shift 2
  "$@" > /dev/null 2> "$dir/err"
  rc=$?
  if [ $rc -ne "$want" ]; then fail "$* exited $rc, not $want: $(cat "$dir/err")"
  elif ! grep -q "$words" "$dir/err"; then fail "$*: message lacks '$words': $(cat "$dir/err")"
  else ok "$* -> $(cat "$dir/err")"; fi
}
head -c 3000 "$dir/v.tiktoken" > "$dir/cut.tiktoken"
printf 'QQ== 0\nnot base64! 1\n' > "$dir/bad.tiktoken"
expect 1 "no token for byte\|line" "$tk" encode --tokenizer "$dir/cut.tiktoken" --out "$dir/x.bin" "$dir/gpl3.txt"
expect 1 "line 2" "$tk" encode --tokenizer "$dir/bad.tiktoken" --out "$dir/x.bin" "$dir/gpl3.txt"
expect 1 "missing.txt" "$tk" encode --tokenizer "$dir/v.tiktoken" --out "$dir/x.bin" "$dir/missing.txt"
[ -e "$dir/x.bin" ] && fail "a failed encode left $dir/x.bin"
expect 2 "tokenizer" "$tk" encode --out "$dir/x.bin" "$dir/gpl3.txt"
expect 2 "unknown option" "$tk" encode --bogus 1
expect 2 "unknown command" "$tk" frobnicate
expect 2 "vocab-size" "$tk" train --vocab-size zero --out "$dir/y" "$dir/gpl3.txt"
expect 1 "vocabulary size 100" "$tk" train --vocab-size 100 --out "$dir/y" "$dir/gpl3.txt"
expect 1 "magic" "$tk" decode --tokenizer "$dir/v.tiktoken" "$dir/gpl3.txt"
expect 1 "cannot use tokenizer" "$train" --data "$dir/gpl3.txt" --tokenizer "$dir/bad.tiktoken" --steps 1
expect 1 "smaller than tokenizer" "$train" --data "$dir/gpl3.txt" --tokenizer "$dir/v.tiktoken" --vocab 300 --steps 1

# strata-train: tokenized once, then from the cache; the vocabulary is the tokenizer's; text samples
run_train() {
  "$train" --data "$dir/gpl3.txt" --tokenizer "$dir/hf" --model tiny --steps 3 --batch 2 --seq 32 \
    --sample-every 3 --sample-len 24 > "$dir/train.out" 2>&1 || fail "strata-train: $(cat "$dir/train.out")"
}
run_train
grep -q "^tokens of .*tokens from" "$dir/train.out" && ok "strata-train tokenized the text" || fail "no tokenizing line: $(head -3 "$dir/train.out")"
grep -q "V=512" "$dir/train.out" && ok "model vocabulary 512" || fail "model vocabulary: $(grep model "$dir/train.out")"
grep -aq "sample: .*[a-zA-Z]" "$dir/train.out" && ! grep -aq "sample: [0-9 ]*$" "$dir/train.out" &&
  ok "sample as text: $(grep -a sample: "$dir/train.out" | head -c 120)" || fail "sample: $(grep sample "$dir/train.out")"
ls "$dir"/cache/tokens-gpl3.txt-*.bin > /dev/null 2>&1 || fail "no cached token file in STRATA_CACHE_DIR"
run_train
grep -q "(cached)" "$dir/train.out" && ok "second run uses the cache" || fail "cache unused: $(head -2 "$dir/train.out")"

[ $failed -eq 0 ] && echo "all passed" || echo "$failed failed"
[ $failed -eq 0 ]
