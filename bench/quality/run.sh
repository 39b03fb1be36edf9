#!/usr/bin/env bash
# The translation-quality benchmark: trains toy_translation and the PyTorch model of the same recipe
# (torch_seq2seq.py) on the bundled Tatoeba English-French corpus with the same seeds, translates the
# 604 multi-reference test sources with beam 5, and prints BLEU (bleu.py) and training speed of both.
#
#   bench/quality/run.sh [--seeds "1 2 3"] [--recipes "reference recommended"] [--torch-recommended]
#                        [--no-torch] [--bin PATH] [--build DIR] [--out DIR] [--data DIR]
#
#   reference     the recipe of the issue: emb = H = 256, 2 layers, Adam 1e-3, batch 32, clip 5,
#                 12 epochs, beam 5; ours keeps its default model (the last one); PyTorch the final one
#   recommended   the example README's real-text recipe (see RECOMMENDED below), which must fit in
#                 the wall-clock time of PyTorch's 12 reference epochs; --torch-recommended also
#                 runs PyTorch with it (dropout, epochs, average of the last epochs)
#
# Writes OUT/<side>-<recipe>-s<seed>/ (model or log, hyp.txt) and OUT/summary.md. Takes about
# 5 minutes per run of ours and 7 per PyTorch run on an idle core; runs one at a time.
# Needs python3-torch, python3-nltk and libopenblas0 (scripts/install-deps.sh installs them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

seeds="1 2 3" recipes="reference recommended" torch=1 torch_recommended=0
bin="" build="build-quality" out="bench/results/quality" data="bench/quality/data/tatoeba-eng-fra"
while (($#)); do
  case "$1" in
    --seeds) seeds="$2"; shift 2 ;;
    --recipes) recipes="$2"; shift 2 ;;
    --torch-recommended) torch_recommended=1; shift ;;
    --no-torch) torch=0; shift ;;
    --bin) bin="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "bench/quality/run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for f in train.tsv test.tsv test.refs.json; do
  [[ -f "$data/$f" ]] || { echo "bench/quality/run.sh: no $data/$f" >&2; exit 2; }
done

# The recipes. RECOMMENDED is what examples/toy_translation/README.md recommends for real text.
COMMON=(--data "$data/train.tsv" --test "$data/test.tsv" --optimizer adam --lr 0.001 --schedule constant
        --embed 256 --hidden 256 --layers 2 --batch 32 --clip 5 --beam 5 --threads 1 --quiet --show 0)
REFERENCE=(--valid-fraction 0.02 --epochs 12)
RECOMMENDED=(--valid-fraction 0.02 --epochs 18 --dropout 0.2 --keep average --average 3)
TORCH_RECOMMENDED=(--epochs 18 --dropout 0.2 --average-last 3)

if [[ -z "$bin" ]]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSEQ2SEQ_BUILD_TESTS=OFF -DSEQ2SEQ_BUILD_BENCHMARKS=OFF \
    -DSEQ2SEQ_HEADER_CHECK=OFF >/dev/null
  cmake --build "$build" -j "$(nproc)" --target toy_translation
  bin="$build/examples/toy_translation/toy_translation"
fi
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
mkdir -p "$out"
bleu() { /usr/bin/python3 bench/quality/bleu.py "$data" "$1" 2>/dev/null | awk '{print $2}'; }

rows=()  # "side|recipe|seed|BLEU|tok/s|seconds"
ours() {  # ours RECIPE SEED
  local recipe=$1 seed=$2 dir="$out/ours-$1-s$2" args
  if [[ $recipe == reference ]]; then args=("${REFERENCE[@]}"); else args=("${RECOMMENDED[@]}"); fi
  echo "--- ours, $recipe recipe, seed $seed -> $dir" >&2
  "$bin" train "${COMMON[@]}" "${args[@]}" --seed "$seed" --out "$dir" --overwrite >"$dir.out" 2>"$dir.err"
  cut -f1 "$data/test.tsv" | "$bin" translate --model "$dir/model.safetensors" --beam 5 >"$dir.hyp.txt" 2>"$dir.translate.err"
  # "stopped: ... this run trained M:SS at 4.5k target tokens/s": the wall time includes validation.
  local line rate secs
  line=$(grep '^stopped:' "$dir.err" | tail -n 1)
  rate=$(sed -E 's/.* at ([0-9.]+k?M?) target tokens\/s.*/\1/' <<<"$line")
  secs=$(awk -F, '$4 == "valid" || $4 == "train" { t = $3 } END { printf "%.0f", t }' "$dir/train_log.csv")
  rows+=("ours|$recipe|$seed|$(bleu "$dir.hyp.txt")|$rate|$secs")
}
theirs() {  # theirs RECIPE SEED
  local recipe=$1 seed=$2 dir="$out/torch-$1-s$2" args=()
  [[ $recipe == recommended ]] && args=("${TORCH_RECOMMENDED[@]}")
  echo "--- PyTorch, $recipe recipe, seed $seed -> $dir.log" >&2
  /usr/bin/python3 bench/quality/torch_seq2seq.py "$data" --threads 1 --seed "$seed" "${args[@]}" \
    --output "$dir.hyp.txt" >"$dir.log"
  # "train time 331.2s (2391 tgt tok/s)"
  local line
  line=$(grep '^train time' "$dir.log")
  rows+=("PyTorch|$recipe|$seed|$(bleu "$dir.hyp.txt")|$(sed -E 's/.*\(([0-9]+) tgt.*/\1/' <<<"$line")|$(sed -E 's/train time ([0-9.]+)s.*/\1/' <<<"$line")")
}

for recipe in $recipes; do
  for seed in $seeds; do
    ours "$recipe" "$seed"
    if ((torch)) && { [[ $recipe == reference ]] || ((torch_recommended)); }; then theirs "$recipe" "$seed"; fi
  done
done

{
  echo "| side | recipe | seed | BLEU | train target tok/s | train wall s |"
  echo "|---|---|---|---|---|---|"
  for r in "${rows[@]}"; do echo "| ${r//|/ | } |"; done
  echo
  echo "| side | recipe | mean BLEU |"
  echo "|---|---|---|"
  printf '%s\n' "${rows[@]}" | awk -F'|' '{ k = $1 " | " $2; s[k] += $4; n[k]++ } END { for (k in s) printf "| %s | %.2f |\n", k, s[k] / n[k] }' | sort
} | tee "$out/summary.md"
