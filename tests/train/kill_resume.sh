#!/bin/sh
# Crash safety of sharded checkpoints: 4 ranks (2x2x1, zero2: a shard file per optimizer shard)
# save a checkpoint after every step while one rank at a time is killed (SIGKILL) at a random
# moment, at least 10 times. Every restart with --resume must find a complete checkpoint no older
# than the last one the killed run reported, and the run that finally gets through must reach the
# losses of an uninterrupted run bit for bit (so no resume read a shard of another save).
# usage: kill_resume.sh STRATA_TRAIN MPIEXEC NUMPROC_FLAG [MPI_FLAGS...]
set -u
train="$1"; shift
. "$(dirname "$0")/common.sh"
make_text 60 "kill a rank at any moment; the checkpoint stays whole."
export STRATA_BACKEND=cpu OMP_NUM_THREADS=1 STRATA_TOPOLOGY=2x2x1
args="--data $dir/text --steps 100000 --batch 1 --seq 16 --layers 1 --embd 32 --heads 2 --partition zero2 --log-every 1"
steps_in() { n=$(awk '/^step *[0-9]+\//{n++} END{print n+0}' "$1" 2>/dev/null); echo "${n:-0}"; }
latest_step() { [ -f "$1/latest" ] && sed 's/^step-0*\([0-9]*\).*/\1/' "$1/latest" || echo 0; }

kills=0; round=0; resumed=0
seed=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
echo "random seed $seed"
while [ $kills -lt 12 ] && [ $round -lt 30 ]; do
  round=$((round + 1))
  rm -f "$dir/out" # before the launch: the background shell truncates it only once it runs
  "$@" 4 "$train" $args --ckpt "$dir/ck" --ckpt-every 1 --resume --log "$dir/log.jsonl" > "$dir/out" 2> "$dir/err" &
  mpid=$!
  t=0; while [ "$(steps_in "$dir/out")" -lt 1 ] && [ $t -lt 600 ]; do sleep 0.1; t=$((t + 1)); done
  r=$(( (seed * round * 7919 + round * 104729) % 1000 ))
  sleep "$((r / 500)).$(printf %03d $((r % 500 * 2)))" # 0 to 2 s into training
  ranks=$(ps -o pid= --ppid $mpid)
  victim=$(echo $ranks | cut -d' ' -f$(( (r % 4) + 1 )))
  [ -n "$victim" ] && kill -s KILL $victim && kills=$((kills + 1))
  # mpirun ends the job when a rank dies; should it not within 30 s, end it as a scheduler would
  t=0; while kill -0 $mpid 2>/dev/null && [ $t -lt 300 ]; do sleep 0.1; t=$((t + 1)); done
  if kill -0 $mpid 2>/dev/null; then
    echo "note: mpirun still running 30 s after the kill: killing the job"
    kill -s KILL $(ps -o pid= --ppid $mpid) $mpid 2>/dev/null
  fi
  wait $mpid
  got=$(sed -n 's/^resumed from step \([0-9]*\) .*/\1/p' "$dir/out")
  printed=$(sed -n 's/^step \([0-9]*\): checkpoint in .*/\1/p' "$dir/out" | tail -n 1)
  if [ $round -gt 1 ]; then
    [ -n "$got" ] || { fail "round $round: no resume"; head -n 5 "$dir/out" "$dir/err"; }
    [ -n "$got" ] && [ "$got" -ge "${before:-0}" ] || fail "round $round: resumed from step $got, the previous run reported a checkpoint of step $before"
    resumed=$((resumed + 1))
  fi
  grep -q "error:.*\(resume\|checkpoint\)" "$dir/err" && { fail "round $round: a checkpoint error"; cat "$dir/err"; }
  before=${printed:-${got:-0}}
  echo "round $round: resumed from ${got:-none}, killed rank pid $victim, last reported checkpoint ${printed:-none}, latest $(latest_step "$dir/ck")"
done
[ $kills -ge 10 ] || fail "only $kills kills"
# Through to 5 steps past the last checkpoint, without kills; then the same straight.
last=$(latest_step "$dir/ck"); end=$((last + 5))
"$@" 4 "$train" $args --ckpt "$dir/ck" --resume --stop-at $end --log "$dir/log.jsonl" > "$dir/out" 2> "$dir/err" ||
  { fail "the final run"; cat "$dir/err"; }
grep -q "^resumed from step $last " "$dir/out" || fail "the final run did not resume from step $last"
[ -z "$(ls -A "$dir/ck" | grep -v '^latest$\|^step-\|^\.lock$\|^model\.safetensors$\|^config\.json$')" ] || fail "left in the checkpoint directory: $(ls -A "$dir/ck")"
for f in model.safetensors config.json; do # DIR itself loads in transformers: links to the committed step's files
  [ "$dir/ck/$f" -ef "$dir/ck/$(cat "$dir/ck/latest")/$f" ] || fail "$dir/ck/$f is not the committed step's"
done
"$@" 4 "$train" $args --stop-at $end --log "$dir/straight.jsonl" > /dev/null 2> "$dir/err" || fail "the straight run"
a=$(grep "\"step\": $end, \"loss\"" "$dir/log.jsonl" | tail -n 1 | cut -d, -f2)
b=$(grep "\"step\": $end, \"loss\"" "$dir/straight.jsonl" | cut -d, -f2)
[ -n "$b" ] && [ "$a" = "$b" ] || fail "step $end: loss$a after $kills kills, loss$b straight"
echo "$kills kills, $resumed resumes; step $end: loss$a (straight:$b)"
if [ $failed -ne 0 ]; then echo "$failed failed"; exit 1; fi
echo "passed"
