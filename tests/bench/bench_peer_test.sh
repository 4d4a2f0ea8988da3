#!/bin/sh
# strata-bench train's PyTorch peer (scripts/torch_peer.py): skipped with the reason when there is
# no Python or torch is not importable (a shadowing torch package that raises ImportError), the
# JSON still valid; and, where a Python with torch is available (STRATA_TEST_PYTHON or the
# repository's .venv), the peer's line is printed with its ratio and recorded in the JSON.
# usage: bench_peer_test.sh STRATA_BENCH BENCH_CHECK SCHEMA WORKDIR SOURCE_DIR
set -u
bench=$1 check=$2 schema=$3 dir=$4 src=$5
fail() { echo "FAIL: $*"; exit 1; }
mkdir -p "$dir" && cd "$dir" || fail "no work directory $dir"
rm -rf nopy.json notorch.json peer.json fake
train="train --model tiny --batch 2 --seq 32 --steps 3 --backend cpu --peer torch"

STRATA_PYTHON=/nonexistent/python "$bench" $train --json nopy.json > nopy.txt 2>&1 || { cat nopy.txt; fail "train without python"; }
grep -q "peer: PyTorch skipped: no python: cannot run '/nonexistent/python'" nopy.txt || { cat nopy.txt; fail "no skip reason without python"; }
"$check" schema "$schema" nopy.json || fail "nopy.json does not validate"
grep -q '"ran": false' nopy.json || fail "nopy.json does not record the skipped peer"

py=${STRATA_TEST_PYTHON:-$src/.venv/bin/python}
[ -x "$py" ] || py=$(command -v python3 || true)
if [ -n "$py" ]; then
  mkdir -p fake/torch && echo 'raise ImportError("shadowed by bench_peer_test")' > fake/torch/__init__.py
  PYTHONPATH=$PWD/fake STRATA_PYTHON=$py "$bench" $train --json notorch.json > notorch.txt 2>&1 || fail "train without torch"
  grep -q "peer: PyTorch skipped: torch is not importable by .*shadowed by bench_peer_test" notorch.txt ||
    { cat notorch.txt; fail "no skip reason without torch"; }
  "$check" schema "$schema" notorch.json || fail "notorch.json does not validate"
else
  echo "SKIP the torch-not-importable case: no python3"
fi

if [ -n "$py" ] && "$py" -c 'import torch' > /dev/null 2>&1; then
  STRATA_PYTHON=$py "$bench" $train --peer-modes f32 --json peer.json > peer.txt 2>&1 || { cat peer.txt; fail "train with the peer"; }
  grep -Eq '^  PyTorch f32 eager +[0-9.]+ .* [0-9.]+x  \(PyTorch ms / Strata f32 ms\)' peer.txt || { cat peer.txt; fail "no peer line"; }
  "$check" schema "$schema" peer.json || fail "peer.json does not validate"
  grep -q '"peer_ms_over_strata_ms": [0-9]' peer.json || fail "peer.json has no ratio"
else
  echo "SKIP the peer's own run: no Python with torch (scripts/python-refs.sh makes .venv)"
fi
echo "PASS"
