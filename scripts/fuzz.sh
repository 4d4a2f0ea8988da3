#!/usr/bin/env bash
# fuzz.sh: builds the fuzz targets of tests/fuzz with clang's libFuzzer (ASan + UBSan) in
# build-fuzz/ and runs each for SECONDS (default 20) on a copy of its seed corpus. Any crash,
# sanitizer report, leak or input slower than 25 s fails the script; the input that did is saved
# in build-fuzz/artifacts/ (replay it: build-fuzz/bin/fuzz_TARGET FILE).
#
#   scripts/fuzz.sh [SECONDS [TARGET...]]
#
# Needs clang and its runtime libraries (Debian: clang libclang-rt-dev). Without clang the targets
# still run, as ordinary ctests on their seeds and fixed mutations (fuzz_replay_*).
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors llmc data machine ckpt_dir model topology json)
cc=$(command -v clang || command -v clang-14 || true)
if [ -z "$cc" ]; then
    echo "fuzz.sh: no clang here (Debian: apt-get install clang libclang-rt-dev)" >&2
    exit 2
fi
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTRATA_FUZZ=ON \
    -DSTRATA_WITH_CUDA=OFF -DSTRATA_WITH_HIP=OFF -DSTRATA_WITH_OPENCL=OFF -DSTRATA_WITH_MPI=OFF >/dev/null &&
    cmake --build build-fuzz -j2 --target fuzz || exit 1

# The targets use the CPU backend; hwloc's XML import needs no discovery component.
export STRATA_BACKEND=cpu HWLOC_COMPONENTS=-pci,-opencl
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
mkdir -p build-fuzz/artifacts
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for t in "${targets[@]}"; do
    corpus="$work/$t"
    mkdir -p "$corpus"
    cp tests/fuzz/corpus/"$t"/* "$corpus"/
    [ "$t" = topology ] && cp tests/topo/xml/nvidiaDGX2.v3.xml tests/topo/xml/frontier-mi250x.xml "$corpus"/
    echo "== fuzz_$t: ${seconds}s on $(ls "$corpus" | wc -l) seeds"
    # -timeout: one input over 25 s is a hang; the log's last lines say what libFuzzer did
    if build-fuzz/bin/fuzz_"$t" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=4096 -print_final_stats=1 \
        -artifact_prefix=build-fuzz/artifacts/"$t"- "$corpus" >"$work/$t.log" 2>&1; then
        grep -E "^(Done|stat::number_of_executed_units|stat::new_units_added)" "$work/$t.log" | tr '\n' ' '
        echo
    else
        tail -n 60 "$work/$t.log"
        echo "fuzz_$t FAILED (input saved in build-fuzz/artifacts/$t-*)"
        failed+=("$t")
    fi
done
if [ ${#failed[@]} -ne 0 ]; then
    echo "fuzz.sh: failed: ${failed[*]}"
    exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets, ${seconds}s each, no crash"
