#!/bin/sh
# What a person sees: a 2000-step run prints tens of permanent lines, not thousands, while the JSONL log
# keeps every step (and a header); --log-every sets the period; on a terminal (script(1) gives one) the
# steps between are one status line rewritten in place; --profile --trace writes a Chrome trace of one
# step's ops (and, with several ranks, a file per rank with the collectives) that parses as JSON.
# usage: progress.sh STRATA_TRAIN [MPIEXEC MPI_FLAGS... NUMPROC_FLAG]
set -u
train="$1"; shift
. "$(dirname "$0")/common.sh"
make_text 100 "progress that a person can read, line %d"
export STRATA_BACKEND=cpu OMP_NUM_THREADS=1
args="--data $dir/text --layers 1 --embd 16 --heads 2 --context 8 --batch 1"
py=$(command -v python3 || true)
if [ $# -eq 0 ]; then
  "$train" $args --steps 2000 --log "$dir/log" > "$dir/out" 2>&1 || { fail "2000 steps"; cat "$dir/out"; }
  lines=$(grep -c '^step *[0-9]*/2000 ' "$dir/out")
  [ "$lines" -ge 20 ] && [ "$lines" -le 100 ] || fail "2000 steps printed $lines progress lines"
  [ "$(grep -c '"loss"' "$dir/log")" -eq 2000 ] || fail "the log lacks steps: $(grep -c '"loss"' "$dir/log")"
  head -n 1 "$dir/log" | grep -q '^{"header": {.*"lr_schedule": "cosine".*"beta2": 0.9499' || fail "no header line: $(head -c 300 "$dir/log")"
  ! grep -q "$(printf '\r')" "$dir/out" || fail "carriage returns in output that is not a terminal"
  echo "ok: 2000 steps: $lines progress lines, $(grep -c '"loss"' "$dir/log") log lines"
  "$train" $args --steps 30 --log-every 10 > "$dir/out" 2>&1 || fail "--log-every"
  [ "$(grep -c '^step *[0-9]*/30 ' "$dir/out")" -eq 4 ] || { fail "--log-every 10 over 30 steps: not steps 1, 10, 20, 30"; cat "$dir/out"; }
  script -qec "$train $args --steps 300 --log-every 100 --batch 8" /dev/null > "$dir/tty" 2>&1 || fail "on a terminal"
  status=$(grep -o "$(printf '\r\033')\[Kstep" "$dir/tty" | wc -l)
  perm=$(tr '\r' '\n' < "$dir/tty" | grep -c '^\(.\[K\)\{0,1\}step  *\(1\|100\|200\|300\)/300 ')
  [ "$status" -ge 1 ] && [ "$status" -le 300 ] && [ "$perm" -eq 4 ] ||
    { fail "on a terminal: $status status-line writes, $perm permanent lines (want 4)"; cat -A "$dir/tty" | head -5; }
  echo "ok: on a terminal: $status status-line writes (at most 10 a second) and $perm permanent lines for 300 steps"
  "$train" $args --steps 3 --profile --trace "$dir/trace.json" > "$dir/out" 2>&1 || { fail "--trace"; cat "$dir/out"; }
  files="$dir/trace.json"
else
  "$@" 2 "$train" $args --steps 3 --profile --trace "$dir/trace.json" --partition zero3 > "$dir/out" 2>&1 ||
    { fail "--trace under 2 ranks"; cat "$dir/out"; }
  files="$dir/trace.rank0.json $dir/trace.rank1.json"
fi
for f in $files; do
  [ -f "$f" ] || { fail "no trace $f: $(ls "$dir")"; continue; }
  if [ -n "$py" ]; then
    "$py" - "$f" $# <<'PY' || fail "trace $f"
import json, sys
d = json.load(open(sys.argv[1]))
ev = [e for e in d["traceEvents"] if e.get("ph") == "X"]
cats = {e["cat"] for e in ev}
names = {e["name"] for e in ev}
assert "op" in cats and "matmul" in names and "matmul.bwd" in names, (cats, sorted(names)[:20])
assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in ev)
if sys.argv[2] != "0":
    assert "collective" in cats and "unit" in cats, cats
print(f"ok: {sys.argv[1].rsplit('/', 1)[1]}: {len(ev)} events, categories {sorted(cats)}")
PY
  else
    head -c 20 "$f" | grep -q '^{"traceEvents": \[' || fail "trace $f does not start as a trace"
  fi
done
if [ $failed -ne 0 ]; then echo "$failed failed"; exit 1; fi
echo "passed"
