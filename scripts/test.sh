#!/usr/bin/env bash
# Configure, build and run the whole seq2seq test suite in a Release build.
#
#   scripts/test.sh [extra cmake -D options...]
#
# Environment: BUILD_DIR (default build), JOBS (default nproc), CI=true adds -DSEQ2SEQ_WERROR=ON.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BUILD_DIR:-build}"
jobs="${JOBS:-$(nproc)}"

args=(-DCMAKE_BUILD_TYPE=Release)
if [[ "${CI:-}" == "true" ]]; then
  args+=(-DSEQ2SEQ_WERROR=ON)
fi

cd "$root"
cmake -S . -B "$build_dir" "${args[@]}" "$@"
cmake --build "$build_dir" -j "$jobs"
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs"
