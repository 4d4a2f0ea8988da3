#!/usr/bin/env bash
# Installs the Debian packages Strata builds and tests with. Run as root (or with sudo).
# The CUDA toolkit is not among them: it is used from /usr/local/cuda when present.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
packages=(
  build-essential cmake pkg-config git       # toolchain
  libopenblas-dev libomp-dev                 # CPU backend: BLAS, OpenMP
  ocl-icd-opencl-dev opencl-headers pocl-opencl-icd libclblast-dev clinfo  # OpenCL on the CPU
  libhwloc-dev hwloc libxml2-dev             # topology (libxml2: saved topologies checked and converted)
  libpcre2-dev                               # tokenizer: GPT-2's pre-tokenizer pattern
  libopenmpi-dev openmpi-bin                 # multi-rank
  hipcc libamdhip64-dev                      # HIP plugin (compiles here; runs on AMD GPUs)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi
