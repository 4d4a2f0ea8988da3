#!/bin/sh
# A full disk during a checkpoint: strata-train writes its checkpoints (--ckpt-every 1) into a tmpfs
# with room for one checkpoint and a half, so the second save runs out of space (ENOSPC). The run
# must stop with an error saying so, on every rank, and the first checkpoint must still be the
# committed one: resumed from a copy (the disk freed), the run continues from step 1. One process,
# then 4 ranks (2x2x1, zero2: a shard file per optimizer shard). Needs a mount namespace (root, or
# unprivileged user namespaces); skipped (77) without one.
# usage: full_disk.sh STRATA_TRAIN [MPIEXEC NUMPROC_FLAG MPI_FLAGS...]
set -u
if [ -z "${STRATA_FULL_DISK_NS:-}" ]; then
  for how in "unshare -m" "unshare -Urm"; do
    if $how true 2> /dev/null; then STRATA_FULL_DISK_NS=1 exec $how sh "$0" "$@"; fi
  done
  echo "SKIP: no mount namespace here (unshare -m and unshare -Urm both refused)"; exit 77
fi
train="$1"; shift
dir=$(mktemp -d)
trap 'umount "$dir/full" 2> /dev/null; rm -rf "$dir"' EXIT
failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
i=0
while [ $i -lt 60 ]; do echo "a full disk must not cost the last good checkpoint" >> "$dir/text"; i=$((i + 1)); done
export STRATA_BACKEND=cpu OMP_NUM_THREADS=1
args="--data $dir/text --steps 5 --batch 2 --seq 16 --layers 1 --embd 32 --heads 2 --ckpt-every 1"

# $1: name; the rest: the launcher prefix (empty for one process).
run_case() {
  name="$1"; shift
  "$@" "$train" $args --stop-at 1 --ckpt "$dir/probe-$name" > /dev/null 2>&1 || { fail "$name: probe run"; return; }
  kb=$(du -sk "$dir/probe-$name" | cut -f1)
  mkdir -p "$dir/full"
  mount -t tmpfs -o size=$((kb * 3 / 2 + 16))k tmpfs "$dir/full" || { echo "SKIP: cannot mount a tmpfs"; exit 77; }
  "$@" "$train" $args --ckpt "$dir/full/ck" > "$dir/out" 2> "$dir/err"; rc=$?
  [ $rc -ne 0 ] || fail "$name: the run on a full disk exited 0"
  grep -q "No space left on device" "$dir/err" || { fail "$name: no 'No space left on device' error"; cat "$dir/err"; }
  [ "$(cat "$dir/full/ck/latest" 2> /dev/null)" = "step-00000001" ] || fail "$name: latest is not step 1: $(ls -A "$dir/full/ck")"
  cp -r "$dir/full/ck" "$dir/ck-$name"
  umount "$dir/full"
  "$@" "$train" $args --ckpt "$dir/ck-$name" --resume > "$dir/out" 2> "$dir/err" || { fail "$name: resume"; cat "$dir/err"; }
  grep -q "^resumed from step 1 " "$dir/out" || fail "$name: not resumed from step 1"
  [ "$(cat "$dir/ck-$name/latest")" = "step-00000005" ] && [ ! -e "$dir/ck-$name/.partial-step-00000002" ] ||
    fail "$name: after the resume: $(ls -A "$dir/ck-$name")"
  echo "ok: $name: out of space at step 2 (${kb} KiB checkpoint in a $((kb * 3 / 2 + 16)) KiB tmpfs), step 1 kept and resumed"
}
if [ $# -ge 2 ]; then
  export STRATA_TOPOLOGY=2x2x1
  args="$args --batch 1 --partition zero2"
  run_case "4 ranks" "$@" 4
else
  run_case "one process"
fi
if [ $failed -ne 0 ]; then echo "$failed failed"; exit 1; fi
echo "passed"
