#!/usr/bin/env bash
# Builds the benchmarks with one GEMM backend and runs all of them, writing JSON and Markdown
# tables to an output folder:
#
#   bench/run.sh [--backend eigen|dnnl|openblas] [--reps N] [--min-time S] [--out DIR] [--build DIR]
#                [--filter REGEX] [--no-torch-script] [--only lstm|train|decode]
#                [--decode-model FILE --decode-data DIR [--decode-shortlist FILE]]
#
#   lstm.json / lstm.md     the cell grid (ours, oneDNN, libtorch; 1 and 2 threads), via compare.py
#   train.json / train.md   training step, beam-5 and greedy decoding beside PyTorch, via compare_train.py,
#                           and the step's GFLOP/s as a fraction of the FMA peak (peak.json, bench_peak)
#   lstm.txt / train.txt    Google Benchmark's console output; train.txt starts with the peak
#                           memory of a training step beside its BPTT cache
#   decode.json / decode.md translation speed (bench_decode, decode_torch.py; 1 thread) of the
#                           corpus in DIR (test.tsv, test.refs.json) with the model FILE trained on
#                           it, and of the 8,000-word model; BLEU (DIR's ../../reference/bleu.py or
#                           BLEU_PY) of every system's translations, via compare_decode.py
#
# Peers run at their best settings: glibc's malloc thresholds raised for torch (its LSTM is up to
# 2.8x slower without), OpenBLAS threads matched to the thread count (and, at 2 threads, also
# 1 torch thread over 2 OpenBLAS threads; the faster counts). Medians of N repetitions (default 5).
# Run it on an otherwise idle machine: the 2-thread cases need both cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

backend=eigen reps=5 min_time=0.3 out="" build="" filter="" torch_script=1 only="" decode_model="" decode_data="" decode_shortlist=""
while (($#)); do
  case "$1" in
    --backend) backend="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --min-time) min_time="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --filter) filter="$2"; shift 2 ;;
    --no-torch-script) torch_script=0; shift ;;
    --only) only="$2"; shift 2 ;;
    --decode-model) decode_model="$2"; shift 2 ;;
    --decode-data) decode_data="$2"; shift 2 ;;
    --decode-shortlist) decode_shortlist="$2"; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
out="${out:-bench/results/${backend}}"
build="${build:-build-bench-${backend}}"
mkdir -p "$out"

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSEQ2SEQ_BUILD_BENCHMARKS=ON \
  -DSEQ2SEQ_BUILD_TESTS=OFF -DSEQ2SEQ_BUILD_EXAMPLES=OFF -DSEQ2SEQ_HEADER_CHECK=OFF \
  -DSEQ2SEQ_GEMM_BACKEND="$backend" >/dev/null
# --only builds its own binary alone.
targets=()
[[ -n "$only" ]] && targets=(--target "bench_$only")
[[ "$only" == train ]] && targets+=(--target bench_peak)
cmake --build "$build" -j "$(nproc)" "${targets[@]}"

export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296
# OpenBLAS starts with 2 threads; bench_lstm sets the count per case (openblas_set_num_threads).
export OPENBLAS_NUM_THREADS=2
args=(--benchmark_repetitions="$reps" --benchmark_min_time="$min_time" --benchmark_report_aggregates_only=true
      --benchmark_out_format=json)
[[ -n "$filter" ]] && args+=(--benchmark_filter="$filter")

if [[ -z "$only" || "$only" == lstm ]]; then
  echo "--- cell grid ($backend backend) -> $out/lstm.json"
  "$build/bench/bench_lstm" "${args[@]}" --benchmark_out="$out/lstm.json" >"$out/lstm.txt"
  python3 bench/compare.py "$out/lstm.json" | tee "$out/lstm.md"
fi

if [[ -z "$only" || "$only" == train ]]; then
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
  # The FMA peak of this machine, measured in the same run, for the fraction-of-peak table.
  "$build/bench/bench_peak" "${args[@]}" --benchmark_out="$out/peak.json" | tee "$out/peak.txt"
  python3 bench/compare_train.py "$out/train.json" "${torch_json[@]}" --peak "$out/peak.json" | tee "$out/train.md"
fi

if [[ -z "$only" || "$only" == decode ]]; then
  # Translation speed, 1 thread: ours and PyTorch's in one run, so the ratios share the load,
  # which is recorded before and after.
  echo "--- translation (1 thread) -> $out/decode.json"
  load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
  tr_dir="$out/decode-translations"
  rm -rf "$tr_dir"
  mkdir -p "$tr_dir"
  decode_env=(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1)
  if [[ -n "$decode_model" && -n "$decode_data" ]]; then
    cut -f1 "$decode_data/test.tsv" >"$tr_dir/sources.txt"
    decode_env+=(SEQ2SEQ_BENCH_MODEL="$decode_model" SEQ2SEQ_BENCH_SOURCES="$tr_dir/sources.txt" SEQ2SEQ_BENCH_OUT="$tr_dir")
    [[ -n "$decode_shortlist" ]] && decode_env+=(SEQ2SEQ_BENCH_SHORTLIST="$decode_shortlist")
  fi
  env "${decode_env[@]}" "$build/bench/bench_decode" "${args[@]}" --benchmark_out="$out/decode.json" | tee "$out/decode.txt"
  decode_torch=()
  if ((torch_script)) && /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    torch_args=(--vocab8k --reps "$reps" --json "$out/decode-torch.json")
    [[ -n "$decode_model" && -n "$decode_data" ]] &&
      torch_args+=(--model "$decode_model" --sources "$tr_dir/sources.ids" --out "$tr_dir/translations")
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/decode_torch.py "${torch_args[@]}" | tee "$out/decode-torch.txt"
    decode_torch=("$out/decode-torch.json")
  fi
  bleu_args=()
  if [[ -n "$decode_data" && -d "$tr_dir/translations" ]]; then
    bleu_py="${BLEU_PY:-$decode_data/../../reference/bleu.py}"
    {
      echo "{"
      first=1
      for f in "$tr_dir"/translations/*.txt; do
        b="$(/usr/bin/python3 "$bleu_py" "$decode_data" "$f" | awk '{print $2}')"
        ((first)) || echo ","
        first=0
        printf '"%s": %s' "$(basename "$f" .txt)" "$b"
      done
      echo "}"
    } >"$out/decode-bleu.json"
    bleu_args=(--bleu "$out/decode-bleu.json")
  fi
  load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
  python3 bench/compare_decode.py "$out/decode.json" "${decode_torch[@]}" "${bleu_args[@]}" \
    --load "Load average (1, 5, 15 min) before: $load_before; after: $load_after." | tee "$out/decode.md"
fi
