#!/usr/bin/env bash
# Install the Debian 12 packages seq2seq needs to build and test.
#
#   scripts/install-deps.sh            build + tests + benchmarks + example + Python module
#   scripts/install-deps.sh --all      also the optional peers, backends, MPI, sanitizer/fuzz tools, docs
#   scripts/install-deps.sh [--all] pkg...   extra packages on top
#
# Uses sudo only when not root. Non-interactive (no stdin needed).
set -euo pipefail

# libicu-dev (Unicode NFC: seq2seq::icu) and libsentencepiece-dev + sentencepiece (subwords:
# seq2seq::sentencepiece) are optional for the library; the example and the tests use them.
packages=(build-essential cmake pkg-config libeigen3-dev doctest-dev libbenchmark-dev
          nlohmann-json3-dev libcli11-dev libicu-dev libsentencepiece-dev sentencepiece
          pybind11-dev python3-dev python3-numpy)
optional=(libdnnl-dev libtorch-dev python3-torch libopenblas-dev libopenmpi-dev openmpi-bin
          clang-14 libclang-rt-14-dev valgrind doxygen)

for arg in "$@"; do
  case "$arg" in
    --all) packages+=("${optional[@]}") ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    -*) echo "install-deps.sh: unknown option $arg" >&2; exit 2 ;;
    *) packages+=("$arg") ;;
  esac
done

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
  sudo=(sudo)
fi

"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${packages[@]}"
