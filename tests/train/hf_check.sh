#!/bin/sh
# Runs hf_check.py (strata-train against transformers and an llm.c loop in PyTorch) with the Python
# that has torch and transformers: $STRATA_TEST_PYTHON, else the repository's .venv (made by
# scripts/python-refs.sh, which .ci/run calls), else python3. Exit 77
# (skipped, with the reason) when neither imports them.
# usage: hf_check.sh STRATA_TRAIN HF_LOGITS SCRIPT
venv="$(dirname "$0")/../../.venv/bin/python"
[ -x "$venv" ] || venv=python3
py="${STRATA_TEST_PYTHON:-$venv}"
if ! command -v "$py" > /dev/null 2>&1; then echo "SKIP: no Python ($py)"; exit 77; fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$py" "$3" "$1" "$2" "$dir"
