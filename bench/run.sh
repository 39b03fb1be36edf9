#!/usr/bin/env bash
# Builds the benchmarks with one GEMM backend and runs all of them, writing JSON and Markdown
# tables to an output folder:
#
#   bench/run.sh [--backend eigen|dnnl|openblas] [--reps N] [--min-time S] [--out DIR] [--build DIR]
#                [--filter REGEX] [--no-torch-script]
#
#   lstm.json / lstm.md     the cell grid (ours, oneDNN, libtorch; 1 and 2 threads), via compare.py
#   train.json / train.md   training step, beam-5 and greedy decoding beside PyTorch, via compare_train.py
#   lstm.txt / train.txt    Google Benchmark's console output; train.txt starts with the peak
#                           memory of a training step beside its BPTT cache
#
# Peers run at their best settings: glibc's malloc thresholds raised for torch (its LSTM is up to
# 2.8x slower without), OpenBLAS threads matched to the thread count (and, at 2 threads, also
# 1 torch thread over 2 OpenBLAS threads; the faster counts). Medians of N repetitions (default 5).
# Run it on an otherwise idle machine: the 2-thread cases need both cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

backend=eigen reps=5 min_time=0.3 out="" build="" filter="" torch_script=1
while (($#)); do
  case "$1" in
    --backend) backend="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --min-time) min_time="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --filter) filter="$2"; shift 2 ;;
    --no-torch-script) torch_script=0; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
out="${out:-bench/results/${backend}}"
build="${build:-build-bench-${backend}}"
mkdir -p "$out"

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSEQ2SEQ_BUILD_BENCHMARKS=ON \
  -DSEQ2SEQ_BUILD_TESTS=OFF -DSEQ2SEQ_BUILD_EXAMPLES=OFF -DSEQ2SEQ_HEADER_CHECK=OFF \
  -DSEQ2SEQ_GEMM_BACKEND="$backend" >/dev/null
cmake --build "$build" -j "$(nproc)"

export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296
# OpenBLAS starts with 2 threads; bench_lstm sets the count per case (openblas_set_num_threads).
export OPENBLAS_NUM_THREADS=2
args=(--benchmark_repetitions="$reps" --benchmark_min_time="$min_time" --benchmark_report_aggregates_only=true
      --benchmark_out_format=json)
[[ -n "$filter" ]] && args+=(--benchmark_filter="$filter")

echo "--- cell grid ($backend backend) -> $out/lstm.json"
"$build/bench/bench_lstm" "${args[@]}" --benchmark_out="$out/lstm.json" >"$out/lstm.txt"
python3 bench/compare.py "$out/lstm.json" | tee "$out/lstm.md"

echo "--- training step and decoding ($backend backend) -> $out/train.json"
"$build/bench/bench_train" "${args[@]}" --benchmark_out="$out/train.json" | tee "$out/train.txt"
torch_json=()
if ((torch_script)) && /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  for setting in "1 1" "2 2" "1 2"; do
    read -r tt bt <<<"$setting"
    f="$out/torch-${tt}x${bt}.json"
    OPENBLAS_NUM_THREADS="$bt" /usr/bin/python3 bench/train_step_torch.py --threads "$tt" --reps "$reps" --json "$f"
    torch_json+=("$f")
  done
fi
python3 bench/compare_train.py "$out/train.json" "${torch_json[@]}" | tee "$out/train.md"
