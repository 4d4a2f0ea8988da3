#!/bin/sh
# Runs tiktoken_exact.py with the reference environment of scripts/python-refs.sh:
#   tiktoken_exact.sh SOURCE_DIR STRATA_TOKENIZE SCRATCH_DIR
# Python: $STRATA_TEST_PYTHON, else SOURCE_DIR/.venv/bin/python; GPT-2's rank file:
# $STRATA_GPT2_TIKTOKEN, else SOURCE_DIR/.venv/gpt2.tiktoken. Exit 77 (skipped) when missing.
src=$1 tool=$2 scratch=$3
py=${STRATA_TEST_PYTHON:-$src/.venv/bin/python}
ranks=${STRATA_GPT2_TIKTOKEN:-$src/.venv/gpt2.tiktoken}
if ! [ -x "$py" ]; then
    echo "SKIP: no Python reference environment at $py (scripts/python-refs.sh makes it; .ci/run runs it)"
    exit 77
fi
exec "$py" "$src/tests/tokenize/tiktoken_exact.py" "$tool" "$ranks" "$scratch" \
    /usr/share/common-licenses/* "$src/README.md"
