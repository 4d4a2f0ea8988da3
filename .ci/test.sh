#!/usr/bin/env bash
# The README's test command, written once here so that the README and CI run the same thing.
# Run from anywhere; builds in ./build of the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2 && ctest --test-dir build --output-on-failure -j2
