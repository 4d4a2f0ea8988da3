#!/usr/bin/env bash
# The whole GPU check in one go, for a person on a machine with an NVIDIA and/or AMD GPU:
# build, plugin and device-code tests, the conformance suite on every GPU backend that has a
# device, compute-sanitizer memcheck over the CUDA conformance run, and the benchmark.
#
#   scripts/gpu-check.sh                  # build dir: build-gpucheck (BUILD_DIR=... to change)
#   CUDA_ARCHS=90 HIP_ARCHS=gfx90a scripts/gpu-check.sh   # limit the architectures built
#
# When all is well the last lines are, per vendor with a device (example for one H100):
#   cuda: 1 device(s): conformance passed, memcheck clean, bench -> build-gpucheck/bench-cuda.json
#   hip: no device (no HIP device: ...), skipped
#   GPU CHECK PASSED
# Anything else ends with "GPU CHECK FAILED: <what>" and a non-zero exit status.
set -uo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$src/build-gpucheck}
jobs=${JOBS:-$(nproc)}
summary=()
fail() { printf '%s\n' "${summary[@]}"; echo "GPU CHECK FAILED: $*"; exit 1; }

args=(-DCMAKE_BUILD_TYPE=Release -DSTRATA_BUILD_TESTS=ON)
[ -n "${CUDA_ARCHS:-}" ] && args+=("-DSTRATA_CUDA_ARCHS=$CUDA_ARCHS")
[ -n "${HIP_ARCHS:-}" ] && args+=("-DSTRATA_HIP_ARCHS=$HIP_ARCHS")
cmake -S "$src" -B "$build" "${args[@]}" || fail "configure"
cmake --build "$build" -j "$jobs" || fail "build"
export STRATA_PLUGIN_PATH=$build/lib

# Plugin-level tests (device code present for each architecture, both plugins in one process).
ctest --test-dir "$build" -R '^(cuda_device_code|hip_device_code|gpu_plugins_load_both)$' --output-on-failure \
    || fail "plugin tests"

# Devices per vendor, as Strata itself sees them.
probe=$("$build/bin/gpu_plugins_load_both" 2>&1) || true
devices() { sed -n "s/^$1: loaded=1 devices=\([0-9]*\).*/\1/p" <<<"$probe"; }
reason() { grep -A2 "^$1:" <<<"$probe" | sed -n 's/^  reason: //p'; }

gpus=0
for vendor in cuda hip; do
    n=$(devices "$vendor")
    if [ -z "$n" ] || [ "$n" = 0 ]; then
        summary+=("$vendor: no device ($(reason "$vendor")), skipped")
        continue
    fi
    gpus=$((gpus + n))
    # Exit code 77 (skip) must not pass for a backend that has a device.
    out=$(ctest --test-dir "$build" -L "^$vendor\$" --output-on-failure 2>&1)
    rc=$?
    echo "$out"
    [ $rc -eq 0 ] || fail "$vendor: ctest -L $vendor"
    grep -q "conformance_$vendor .*Skipped" <<<"$out" && fail "$vendor: conformance suite skipped despite $n device(s)"
    line="$vendor: $n device(s): conformance passed"
    if [ "$vendor" = cuda ]; then
        sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
        [ -x "$sanitizer" ] || fail "compute-sanitizer not found"
        "$sanitizer" --tool memcheck --leak-check full --error-exitcode 1 "$build/bin/strata-conformance" cuda \
            || fail "cuda: compute-sanitizer memcheck"
        line+=", memcheck clean"
    fi
    "$build/bin/strata-bench" --backend "$vendor" --json "$build/bench-$vendor.json" || fail "$vendor: strata-bench"
    summary+=("$line, bench -> $build/bench-$vendor.json")
done

[ $gpus -gt 0 ] || fail "no GPU found by either plugin"
printf '%s\n' "${summary[@]}"
echo "GPU CHECK PASSED"
