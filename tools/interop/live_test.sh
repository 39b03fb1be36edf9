#!/usr/bin/env bash
# Live PyTorch interop test: both directions, same log p(y | x) to 1e-5.
#
#   live_test.sh <interop_cli> <python with torch> <work dir> <pairs file>
#
# 1. C++ -> torch: interop_cli writes a model (seq2seq::init_uniform), torch loads it with
#    seq2seq_torch.py and scores the pairs; the C++ scores must agree (both source orders).
# 2. torch -> C++: seq2seq_torch.py writes a torch-initialised model (both LSTM biases non-zero);
#    interop_cli loads it with load_parameters; the scores must agree.
# 3. Round trip: C++ checkpoint -> torch modules -> checkpoint is byte-identical.
set -euo pipefail
cli="$1" python="$2" work="$3" pairs="$4"
script="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/seq2seq_torch.py"
sizes=(--src-vocab 12 --tgt-vocab 14 --embed 6 --hidden 5 --layers 2)

rm -rf "$work"
mkdir -p "$work"
cd "$work"

step() { printf '\n--- %s\n' "$*"; }

for order in reversed in_order; do
  flag=()
  [[ $order == in_order ]] && flag=(--no-reverse)
  step "C++ -> torch (source $order)"
  "$cli" init "cpp_$order.safetensors" "${sizes[@]}" --seed 7 "${flag[@]}"
  "$cli" score "cpp_$order.safetensors" "$pairs" >"cpp_$order.cpp.txt"
  "$python" "$script" score "cpp_$order.safetensors" "$pairs" >"cpp_$order.torch.txt"
  paste "cpp_$order.cpp.txt" "cpp_$order.torch.txt"
  "$python" "$script" compare "cpp_$order.cpp.txt" "cpp_$order.torch.txt" --tol 1e-5
done

step "torch -> C++"
"$python" "$script" init torch.safetensors "${sizes[@]}" --seed 3
"$python" "$script" score torch.safetensors "$pairs" >torch.torch.txt
"$cli" score torch.safetensors "$pairs" >torch.cpp.txt
paste torch.cpp.txt torch.torch.txt
"$python" "$script" compare torch.cpp.txt torch.torch.txt --tol 1e-5

step "round trip C++ -> torch -> C++ is byte-identical"
"$python" "$script" roundtrip cpp_reversed.safetensors roundtrip.safetensors
cmp cpp_reversed.safetensors roundtrip.safetensors
"$cli" score roundtrip.safetensors "$pairs" | cmp - cpp_reversed.cpp.txt
echo "identical"
