#!/usr/bin/env bash
# The Python references some tests compare against (never needed by Strata itself): a virtual
# environment with the PyPI packages below, and GPT-2's own vocabulary, gpt2.tiktoken, taken from
# PyPI's openai-whisper (whisper/assets/gpt2.tiktoken; downloaded, not installed).
#   scripts/python-refs.sh [DIR]      (default: .venv in the repository root)
# Tests find DIR/bin/python and DIR/gpt2.tiktoken there, or where STRATA_TEST_PYTHON and
# STRATA_GPT2_TIKTOKEN say; without them they skip, saying why. .ci/run calls this script.
# strata-bench uses DIR/bin/python for its PyTorch peer (train) and DIR/lib's libmkl_rt (MKL).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-$PWD/.venv}
packages=(tiktoken tokenizers)
# tests/train/hf_check.py: transformers' GPT-2 and llm.c's loop in PyTorch (PyPI's torch brings its
# CUDA wheels: ~5 GB, minutes); a failure here only skips those tests.
torch_packages=(torch transformers safetensors numpy)

if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends python3 python3-venv
  else
    echo "python-refs: python3 with venv is missing (apt-get install python3-venv)"; exit 1
  fi
fi
[ -x "$dir/bin/python" ] || python3 -m venv "$dir"
"$dir/bin/python" -m pip install -q --disable-pip-version-check "${packages[@]}"
echo "python-refs: $("$dir/bin/python" -c 'import tiktoken, tokenizers; print("tiktoken", tiktoken.__version__, "tokenizers", tokenizers.__version__)')"
if "$dir/bin/python" -m pip install -q --disable-pip-version-check "${torch_packages[@]}"; then
  echo "python-refs: $("$dir/bin/python" -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)')"
else
  echo "python-refs: torch/transformers could not be installed: tests/train's train_hf will skip"
fi

# strata-bench's optional second SGEMM reference: Intel's oneMKL (libmkl_rt in $dir/lib, which
# strata-bench looks in); a failure here only leaves the MKL rows out ("MKL: skipped").
if "$dir/bin/python" -m pip install -q --disable-pip-version-check mkl; then
  echo "python-refs: $(ls "$dir"/lib/libmkl_rt.so* 2>/dev/null | head -1)"
else
  echo "python-refs: mkl could not be installed: strata-bench skips its MKL reference"
fi

if [ ! -s "$dir/gpt2.tiktoken" ]; then
  dl=$(mktemp -d)
  trap 'rm -rf "$dl"' EXIT
  "$dir/bin/python" -m pip download -q --disable-pip-version-check --no-deps -d "$dl" openai-whisper
  "$dir/bin/python" - "$dl" "$dir/gpt2.tiktoken" <<'PY'
import glob, sys, tarfile, zipfile
src, dst = sys.argv[1], sys.argv[2]
(archive,) = glob.glob(src + "/openai[-_]whisper-*")
if archive.endswith(".whl"):
    data = zipfile.ZipFile(archive).read("whisper/assets/gpt2.tiktoken")
else:
    with tarfile.open(archive) as t:
        (m,) = [m for m in t.getmembers() if m.name.endswith("/whisper/assets/gpt2.tiktoken")]
        data = t.extractfile(m).read()
with open(dst + ".tmp", "wb") as f:
    f.write(data)
import os; os.replace(dst + ".tmp", dst)
print(f"python-refs: {dst} ({len(data)} bytes) from {archive.rsplit('/', 1)[-1]}")
PY
fi
