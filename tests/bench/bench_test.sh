#!/bin/sh
# strata-bench end to end: a quick run's JSON validates against docs/bench.schema.json (and a
# document with a member removed does not, so the validator can fail), compare of two runs writes
# a balanced SVG, and a corrupt JSON is refused with a clear message and a non-zero exit.
# usage: bench_test.sh STRATA_BENCH BENCH_CHECK SCHEMA WORKDIR
set -u
bench=$1 check=$2 schema=$3 dir=$4
fail() { echo "FAIL: $*"; exit 1; }
mkdir -p "$dir" && cd "$dir" || fail "no work directory $dir"
rm -f a.json b.json broken.json corrupt.json compare.svg roof.svg

"$bench" --quick --backend cpu --json a.json --roofline roof.svg > run.txt 2>&1 || { cat run.txt; fail "strata-bench --quick"; }
"$check" schema "$schema" a.json || fail "a.json does not validate"
"$check" ops a.json || fail "not every op of the table has a measured row (bench_check names it)"
grep -q '"op": "openblas_sgemm"' a.json || fail "no OpenBLAS reference row"
# MKL, the optional second reference: its rows where it was found, else the reason it was skipped.
grep -q '"mkl": "MKL: skipped: ' a.json || grep -q '"op": "mkl_sgemm"' a.json || fail "neither MKL rows nor MKL's skip reason"
"$check" svg roof.svg || fail "roofline SVG"

# The validator must catch a missing required member and a wrong type.
sed 's/"results":/"resultz":/' a.json > broken.json
"$check" schema "$schema" broken.json 2> broken.txt && fail "a document without \"results\" validated"
grep -q 'required member "results"' broken.txt || fail "the validator did not name the missing member"
sed 's/"reps": \([0-9]*\)/"reps": "\1"/' a.json > broken.json
"$check" schema "$schema" broken.json 2> /dev/null && fail "a string \"reps\" validated"

# compare: two documents (the second an edited copy, as from another machine) and a plot.
sed 's/"host": "[^"]*"/"host": "other-machine"/' a.json > b.json
"$bench" compare a.json b.json --svg compare.svg > compare.txt 2>&1 || { cat compare.txt; fail "compare"; }
grep -q '1.00x' compare.txt || fail "compare printed no ratio"
"$check" svg compare.svg || fail "compare SVG"

# A corrupt document: a clear message and a non-zero exit.
head -c 300 a.json > corrupt.json
"$bench" compare a.json corrupt.json --svg bad.svg > corrupt.txt 2>&1 && fail "compare accepted a corrupt JSON"
grep -q 'corrupt.json: not valid JSON: line' corrupt.txt || { cat corrupt.txt; fail "no clear message for the corrupt JSON"; }
echo '{"schema": "other"}' > corrupt.json
"$bench" compare corrupt.json > corrupt.txt 2>&1 && fail "compare accepted a foreign document"
grep -q 'not a strata-bench document' corrupt.txt || fail "no clear message for a foreign document"
echo "PASS"
