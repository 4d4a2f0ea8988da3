#!/bin/sh
# strata-train under mpirun: a data-parallel run prints one set of progress lines and logs "ranks";
# a sharded scheme (frontier3 on 2x2x2) reports its memory per kind; failures on one or every rank
# (topology not matching the rank count, a data file only one rank cannot read or that is a FIFO,
# an invalid --partition, ranks given different options or STRATA_TOPOLOGY) end every rank with an
# error and a non-zero exit, never a hang (ctest's TIMEOUT catches one); an error every rank shares
# is printed once.
# usage: mpi_cli.sh STRATA_TRAIN MPIEXEC NUMPROC_FLAG [MPIEXEC_FLAGS...]
set -u
train="$1"; mpiexec="$2"; np="$3"; shift 3
. "$(dirname "$0")/common.sh"
make_text 40 "a small text for strata-train's data-parallel tests"
small="--steps 3 --batch 2 --seq 16 --layers 1 --embd 32 --heads 2"

# $1: the number of ranks that must print "error:" lines containing $2 ("N+": at least N); the
# rest: the command.
expect_errors() {
  want="$1"; text="$2"; shift 2
  if "$@" > "$dir/out" 2> "$dir/err"; then fail "$* exited 0"; return; fi
  n=$(grep -c "error:.*$text" "$dir/err")
  case "$want" in
    *+) ok=$([ "$n" -ge "${want%+}" ] && echo 1 || echo 0) ;;
    *) ok=$([ "$n" -eq "$want" ] && echo 1 || echo 0) ;;
  esac
  if [ "$ok" -ne 1 ]; then fail "$*: $n error lines with '$text', want $want"; cat "$dir/err"; return; fi
  echo "ok: $n ranks: $(grep "error:" "$dir/err" | head -n 2 | tr '\n' ' ')"
}

export STRATA_TOPOLOGY=1x2x1
"$mpiexec" "$@" "$np" 2 "$train" --data "$dir/text" $small --partition auto --log "$dir/log" \
  > "$dir/out" 2> "$dir/err" || { fail "2-rank run"; cat "$dir/err"; }
[ "$(grep -c '^step .* | ranks 2 | MB sent' "$dir/out")" -eq 3 ] || { fail "3 progress lines from rank 0 alone"; cat "$dir/out"; }
grep -q "^partition auto: " "$dir/out" || fail "--partition auto explains its choice"
[ "$(grep -c '"ranks": 2, "bytes_gcd": 0, "bytes_gpu": [1-9]' "$dir/log")" -eq 3 ] || { fail "3 log lines with ranks and bytes"; cat "$dir/log"; }
[ ! -s "$dir/err" ] || { fail "stderr is empty"; cat "$dir/err"; }
rm -f "$dir/log"

# Every rank finds the mismatch while creating the communicator, before there is one to agree on,
# so mpirun may kill the others as soon as the first exits: at least one line, and a failure.
STRATA_TOPOLOGY=2x2x1 expect_errors 1+ "has 4 ranks but 2 were launched" "$mpiexec" "$@" "$np" 2 "$train" --data "$dir/text" $small
STRATA_TOPOLOGY=2x2x2 "$mpiexec" "$@" "$np" 8 "$train" --data "$dir/text" $small --partition frontier3 \
  > "$dir/out" 2> "$dir/err" || { fail "8-rank frontier3 run"; cat "$dir/err"; }
grep -q "^partition frontier3: params=gcd,grads=node,optim=world" "$dir/out" || fail "frontier3 names its scopes"
grep -q "^memory per rank: params [0-9]*, grads [0-9]*, optim [0-9]*" "$dir/out" || { fail "memory per kind"; cat "$dir/out"; }
grep -q "^device peak: [1-9]" "$dir/out" || fail "device peak"
# every rank fails the same way: rank 0 alone says so, once, naming the rule
expect_errors 1 "grads=gcd is wider than optim" "$mpiexec" "$@" "$np" 2 "$train" --data "$dir/text" $small \
  --partition params=world,grads=gcd
# MPMD: rank 1 alone is given a file that does not exist; rank 0 reports rank 1's error.
expect_errors 2 "cannot use data" "$mpiexec" "$@" "$np" 1 "$train" --data "$dir/text" $small --log "$dir/log" : \
  "$np" 1 "$train" --data "$dir/missing" $small --log "$dir/log"
grep -q "rank 0: error: rank 1: cannot use data" "$dir/err" || fail "rank 0 names rank 1's error"
[ ! -e "$dir/log" ] || fail "a failed setup wrote the log"
# Ranks given different options or topologies stop before any communicator is split, every rank
# naming the option and both values (MPMD: each ': ' part is one rank); before, these hung or, for
# --batch, trained silently on a global batch other than the one reported. mpirun may kill the
# other rank as soon as the first exits, so at least one line.
expect_errors 1+ "ranks disagree on --batch: rank 0 has '2', rank 1 has '3'" "$mpiexec" "$@" "$np" 1 "$train" \
  --data "$dir/text" $small : "$np" 1 "$train" --data "$dir/text" $small --batch 3
expect_errors 1+ "ranks disagree on --steps: rank 0 has '3', rank 1 has '4'" "$mpiexec" "$@" "$np" 1 "$train" \
  --data "$dir/text" $small : "$np" 1 "$train" --data "$dir/text" $small --steps 4
expect_errors 1+ "ranks disagree on --ckpt-every" "$mpiexec" "$@" "$np" 1 "$train" --data "$dir/text" $small \
  --ckpt "$dir/ck" --ckpt-every 1 : "$np" 1 "$train" --data "$dir/text" $small --ckpt "$dir/ck"
expect_errors 1+ "ranks disagree on STRATA_TOPOLOGY: rank 0 has '1x2x1', rank 1 has (unset)" "$mpiexec" "$@" "$np" 1 \
  "$train" --data "$dir/text" $small : "$np" 1 env -u STRATA_TOPOLOGY "$train" --data "$dir/text" $small
expect_errors 1+ "ranks disagree on STRATA_TOPOLOGY: rank 0 has '1x2x1', rank 1 has '2x1x1'" "$mpiexec" "$@" "$np" 1 \
  "$train" --data "$dir/text" $small : "$np" 1 env STRATA_TOPOLOGY=2x1x1 "$train" --data "$dir/text" $small
expect_errors 1+ "--batch: 'x' is not an integer" "$mpiexec" "$@" "$np" 1 "$train" --data "$dir/text" $small : \
  "$np" 1 "$train" --data "$dir/text" $small --batch x
# A FIFO given to one rank is refused at once (it blocked in open() and hung the job).
mkfifo "$dir/fifo"
expect_errors 2 "a FIFO" "$mpiexec" "$@" "$np" 1 "$train" --data "$dir/text" $small : "$np" 1 "$train" \
  --data "$dir/fifo" $small
if [ $failed -ne 0 ]; then echo "$failed failed"; exit 1; fi
echo "passed"
