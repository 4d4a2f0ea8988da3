#!/bin/sh
# Graceful preemption: SIGTERM, SIGINT and SIGUSR1 (what Slurm sends before a job's time limit)
# let strata-train finish its step, commit a checkpoint of exactly that step and exit with status
# 75; --resume continues from it; a second signal ends the run at once (killed by the signal);
# without --ckpt nothing is saved and the status is still 75. With MPI arguments, a signal to ONE
# rank stops every rank after the same step, and so does SIGTERM to every rank (what Slurm does).
# (Open MPI 4.1's mpirun does not forward SIGUSR1 here and SIGKILLs the ranks soon after forwarding
# SIGTERM, so the ranks are signalled directly, as srun's tasks are.)
# usage: preempt.sh STRATA_TRAIN [MPIEXEC NUMPROC_FLAG MPI_FLAGS...]
set -u
train="$1"; shift
. "$(dirname "$0")/common.sh"
make_text 60 "preemption: finish the step, save it, exit 75, resume later."
export STRATA_BACKEND=cpu OMP_NUM_THREADS=1
args="--data $dir/text --steps 1000000 --batch 2 --seq 32 --log-every 1"

# Waits until $1 holds a progress line of step >= 3 (the run is past its setup), 60 s at most.
wait_steps() {
  t=0
  while [ $t -lt 600 ]; do
    grep -q '^step *[0-9]*/' "$1" 2>/dev/null && [ "$(grep -c '^step *[0-9]*/' "$1")" -ge 3 ] && return 0
    sleep 0.1; t=$((t + 1))
  done
  return 1
}
# The step of the checkpoint DIR/latest names (a number; 0 when none).
latest_step() { [ -f "$1/latest" ] && sed 's/^step-0*\([0-9]*\).*/\1/' "$1/latest" || echo 0; }

# $1: signal; one process, a checkpoint directory: exit 75 and a checkpoint of the last step printed.
one() {
  sig="$1"; ck="$dir/ck-$sig"
  rm -f "$dir/out" # the background shell truncates it only once it runs
  "$train" $args --ckpt "$ck" > "$dir/out" 2> "$dir/err" &
  pid=$!
  wait_steps "$dir/out" || fail "$sig: no progress"
  kill -s "$sig" $pid
  wait $pid; rc=$?
  last=$(grep '^step *[0-9]*/' "$dir/out" | tail -n 1 | sed 's/^step *\([0-9]*\)\/.*/\1/')
  saved=$(latest_step "$ck")
  [ $rc -eq 75 ] || { fail "$sig: exit status $rc, want 75"; cat "$dir/err"; }
  [ "$saved" = "$last" ] || fail "$sig: checkpoint of step $saved, last step printed $last"
  grep -q "^stopped after step $last of 1000000 (SIG$sig)" "$dir/out" || fail "$sig: no 'stopped after step' line"
  "$train" $args --steps $((last + 2)) --ckpt "$ck" --resume > "$dir/out" 2> "$dir/err" || fail "$sig: resume"
  grep -q "^resumed from step $last " "$dir/out" || { fail "$sig: resumed from the wrong step"; head -n 3 "$dir/out"; }
  [ "$(latest_step "$ck")" = $((last + 2)) ] || fail "$sig: the resumed run's checkpoint"
  echo "ok: $sig after step $last: exit 75, checkpoint of step $saved, resumed"
}
if [ $# -lt 2 ]; then
  one TERM
  one INT
  one USR1

  # A second signal: the process dies of it at once (steps of ~0.5 s here, so that the second signal
  # lands while the first one's step or checkpoint is still in progress).
  rm -f "$dir/out" # the background shell truncates it only once it runs
  "$train" $args --embd 256 --heads 4 --layers 6 --context 64 --seq 64 --batch 8 --ckpt "$dir/ck2" > "$dir/out" 2> "$dir/err" &
  pid=$!
  wait_steps "$dir/out" || fail "second signal: no progress"
  kill -s TERM $pid; sleep 0.1; kill -s TERM $pid
  wait $pid; rc=$?
  [ $rc -eq 143 ] || fail "a second SIGTERM: exit status $rc, want 143 (killed by SIGTERM)"
  echo "ok: a second SIGTERM ends the run at once (status $rc)"

  # Without --ckpt: the step ends, nothing is saved, status 75.
  rm -f "$dir/out" # the background shell truncates it only once it runs
  "$train" $args > "$dir/out" 2> "$dir/err" &
  pid=$!
  wait_steps "$dir/out" || fail "no --ckpt: no progress"
  kill -s TERM $pid
  wait $pid; rc=$?
  [ $rc -eq 75 ] && grep -q "no --ckpt, nothing saved" "$dir/out" || fail "without --ckpt: status $rc"
  echo "ok: without --ckpt, status 75 and nothing saved"
else
  export STRATA_TOPOLOGY=1x2x1
  # SIGUSR1 to rank 1 alone: both ranks stop after the same step, one checkpoint, status 75.
  rm -f "$dir/out" # the background shell truncates it only once it runs
  "$@" 2 "$train" $args --batch 1 --ckpt "$dir/ckm" > "$dir/out" 2> "$dir/err" &
  mpid=$!
  wait_steps "$dir/out" || fail "2 ranks: no progress"
  ranks=$(ps -o pid= --ppid $mpid)
  kill -s USR1 $(echo $ranks | cut -d' ' -f2)
  wait $mpid; rc=$?
  last=$(grep '^step *[0-9]*/' "$dir/out" | tail -n 1 | sed 's/^step *\([0-9]*\)\/.*/\1/')
  [ $rc -eq 75 ] || { fail "2 ranks, SIGUSR1 to one: status $rc, want 75"; cat "$dir/err"; }
  [ "$(latest_step "$dir/ckm")" = "$last" ] || fail "2 ranks: checkpoint of step $(latest_step "$dir/ckm"), last $last"
  grep -q "stopped after step $last .*another rank" "$dir/out" || fail "2 ranks: rank 0 says another rank was signalled"
  echo "ok: SIGUSR1 to one of 2 ranks: both stopped after step $last, checkpoint committed, status 75"
  # SIGTERM to every rank, as Slurm sends it to every task of an srun step at its time limit.
  rm -f "$dir/out" # the background shell truncates it only once it runs
  "$@" 2 "$train" $args --batch 1 --ckpt "$dir/ckt" > "$dir/out" 2> "$dir/err" &
  mpid=$!
  wait_steps "$dir/out" || fail "2 ranks, SIGTERM: no progress"
  kill -s TERM $(ps -o pid= --ppid $mpid)
  wait $mpid; rc=$?
  last=$(grep '^step *[0-9]*/' "$dir/out" | tail -n 1 | sed 's/^step *\([0-9]*\)\/.*/\1/')
  [ $rc -eq 75 ] && [ "$(latest_step "$dir/ckt")" = "$last" ] ||
    fail "SIGTERM to every rank: status $rc, checkpoint of step $(latest_step "$dir/ckt"), last $last"
  echo "ok: SIGTERM to every rank: checkpoint of step $last, status 75"
fi
if [ $failed -ne 0 ]; then echo "$failed failed"; exit 1; fi
echo "passed"
