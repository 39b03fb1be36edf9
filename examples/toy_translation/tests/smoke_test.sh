#!/usr/bin/env bash
# Smoke test of the toy_translation example (registered in CTest as toy_translation_smoke).
#
#   smoke_test.sh PATH/TO/toy_translation WORK_DIR
#
# Trains a tiny model for a few seconds on a small built-in corpus, then checks that the training
# loss falls, that eval / translate / score / pca / corpus produce well-formed output, that Ctrl-C
# (SIGINT) saves a checkpoint that --resume continues, and that bad input gives a clear message
# and a non-zero exit status, never a crash.
set -u
exe="$1"
work="$2"
rm -rf "$work"
mkdir -p "$work"
cd "$work" || exit 1

failures=0
pass() { echo "ok   - $1"; }
fail() { echo "FAIL - $1"; failures=$((failures + 1)); }
# expect_status NAME WANTED ACTUAL
expect_status() { if [[ "$3" == "$2" ]]; then pass "$1 (exit $3)"; else fail "$1: exit status $3, expected $2"; fi; }
# expect_grep NAME PATTERN FILE
expect_grep() { if grep -q -- "$2" "$3"; then pass "$1"; else fail "$1: no '$2' in $3:"; sed 's/^/    /' "$3" | head -20; fi; }
# A crash (signal) shows up as a status above 128 other than our 130.
expect_no_crash() { if (($2 >= 131)); then fail "$1: killed by signal $(($2 - 128))"; fi; }

tiny=(--pairs 3000 --embed 32 --hidden 64 --layers 1 --batch 32 --threads 1 --log-every 5 --seed 7)

# --- train: the loss falls --------------------------------------------------------------------
"$exe" train --out run "${tiny[@]}" --epochs 3 >train.out 2>train.err
expect_status "train" 0 $?
for f in model.safetensors last.safetensors last.state.safetensors train_log.csv learning_curve.svg; do
  [[ -s run/$f ]] && pass "train wrote $f" || fail "train did not write $f"
done
expect_grep "train prints the test BLEU" "^test (greedy" train.out
if awk -F, '$4 == "train" { if (!n++) first = $6; last = $6 } END { exit !(n >= 4 && last < 0.7 * first) }' run/train_log.csv; then
  pass "training perplexity falls ($(awk -F, '$4 == "train" { if (!n++) f = $6; l = $6 } END { print f " -> " l }' run/train_log.csv))"
else
  fail "training perplexity does not fall:"; cat run/train_log.csv
fi
head -c 5 run/learning_curve.svg | grep -q '<svg' && pass "learning curve is SVG" || fail "learning curve is not SVG"

# --- eval ---------------------------------------------------------------------------------------
"$exe" eval --model run --show 2 >eval.out 2>eval.err
expect_status "eval" 0 $?
if grep -Eq '^BLEU [0-9]+\.[0-9]+ .*exact match [0-9]+\.[0-9]+% of [0-9]+ sentences, perplexity [0-9]+\.[0-9]+' eval.out; then
  pass "eval prints BLEU, exact match and perplexity"
else
  fail "eval output is malformed:"; cat eval.out
fi
"$exe" corpus --pairs 3000 --part test --output test.tsv
expect_status "corpus --part test" 0 $?
"$exe" eval --model run/model.safetensors --test test.tsv --beam 2 --show 0 >eval2.out 2>&1
expect_status "eval --test FILE --beam 2" 0 $?
expect_grep "eval on a file" "^BLEU" eval2.out

# --- translate ----------------------------------------------------------------------------------
printf 'the dog sees the cat\nmy two big horses did not eat the apple\n' >in.txt
"$exe" translate --model run <in.txt >tr.out 2>tr.err
expect_status "translate (stdin, greedy)" 0 $?
[[ $(wc -l <tr.out) -eq 2 ]] && pass "translate: one line per input line" || { fail "translate: $(wc -l <tr.out) lines for 2"; cat tr.out; }
"$exe" translate --model run --beam 3 --nbest 2 --scores in.txt >nbest.out 2>nbest.err
expect_status "translate FILE --beam 3 --nbest 2" 0 $?
if awk -F'\t' 'NF != 4 || $3 > 0 || $2 < 1 || $2 > 2 { bad = 1 } END { exit bad || NR != 4 }' nbest.out; then
  pass "n-best lines are 'line<TAB>rank<TAB>log p<=0<TAB>text'"
else
  fail "n-best output malformed:"; cat nbest.out
fi

for precision in bf16 int8; do
  "$exe" translate --model run --beam 3 --precision "$precision" --shortlist in.txt >tr_$precision.out 2>tr_$precision.err
  expect_status "translate --precision $precision --shortlist" 0 $?
  [[ $(wc -l <tr_$precision.out) -eq 2 ]] && pass "translate --precision $precision: one line per input line" ||
    { fail "translate --precision $precision: $(wc -l <tr_$precision.out) lines for 2"; cat tr_$precision.out; }
done
"$exe" translate --model run --sample --nbest 3 --temperature 0.8 --top-k 5 --seed 7 --scores in.txt >s1.out 2>&1 &&
  "$exe" translate --model run --sample --nbest 3 --temperature 0.8 --top-k 5 --seed 7 --scores --batch 1 in.txt >s2.out 2>&1
expect_status "translate --sample" 0 $?
[[ $(wc -l <s1.out) -eq 6 ]] && cmp -s s1.out s2.out && pass "translate --sample: 3 draws per line, the same for a seed" ||
  { fail "translate --sample output differs or is malformed"; cat s1.out s2.out; }
"$exe" eval --model run --precision int8 --shortlist --show 0 >eval_int8.out 2>&1
expect_status "eval --precision int8 --shortlist" 0 $?
expect_grep "eval --precision int8 --shortlist" "^BLEU" eval_int8.out

# --- score ---------------------------------------------------------------------------------------
printf 'the dog sees the cat\tkano le ga miso le o wemi\nthe dog sees the cat\tmiso le ga kano le o wemi\n' >pairs.tsv
"$exe" score --model run pairs.tsv >score.out 2>score.err
expect_status "score" 0 $?
if awk '!($1 ~ /^-?[0-9]+\.[0-9]+$/) || $1 > 0 { bad = 1 } END { exit bad || NR != 2 }' score.out; then
  pass "score prints one log p <= 0 per pair"
else
  fail "score output malformed:"; cat score.out
fi

# --- pca -----------------------------------------------------------------------------------------
"$exe" pca --model run --svg vectors.svg >pca.out 2>pca.err
expect_status "pca" 0 $?
head -c 5 vectors.svg | grep -q '<svg' && pass "pca wrote an SVG" || fail "pca did not write an SVG"
[[ $(wc -l <pca.out) -eq 25 ]] && pass "pca prints 24 projected sentences" || { fail "pca output:"; cat pca.out; }

# --- resume --------------------------------------------------------------------------------------
"$exe" train --out run --resume --epochs 4 >resume.out 2>resume.err
expect_status "train --resume --epochs 4" 0 $?
expect_grep "resume continues from the checkpoint" "resuming at step" resume.err
expect_grep "resume trains the fourth epoch" "^epoch 4.00" resume.err

# --- Ctrl-C saves a checkpoint, --resume continues -----------------------------------------------
"$exe" train --out run_int "${tiny[@]}" --pairs 20000 --epochs 50 >int.out 2>int.err &
pid=$!
for _ in $(seq 1 100); do grep -q '^step' int.err 2>/dev/null && break; sleep 0.1; done
sleep 1
kill -INT "$pid"
wait "$pid"
expect_status "SIGINT during training" 130 $?
expect_grep "SIGINT message" "continue with" int.err
[[ -s run_int/last.state.safetensors ]] && pass "SIGINT saved the training state" || fail "SIGINT saved no training state"
"$exe" train --out run_int --resume --time-budget 1 >int2.out 2>int2.err
expect_status "resume after SIGINT" 0 $?
expect_grep "resume after SIGINT continues" "resuming at step" int2.err

# --- a run stopped twice mid-epoch and resumed equals a run that never stopped --------------------
checksum() { grep -a -o '"seq2seq.checksum": *"[0-9a-f]*"' "$1" | head -n 1; }
# With SGD (no optimizer state) and with Adam (its moments go through the training-state file).
exact=(--pairs 2000 --embed 16 --hidden 32 --layers 2 --batch 16 --seed 11 --quiet --epochs 2)
for opt in sgd adam; do
  lr=(); [[ $opt == adam ]] && lr=(--lr 0.01 --schedule constant)
  "$exe" train --out run_a_$opt "${exact[@]}" --optimizer $opt "${lr[@]}" >/dev/null 2>&1
  "$exe" train --out run_b_$opt "${exact[@]}" --optimizer $opt "${lr[@]}" --time-budget 0.3 >/dev/null 2>&1
  "$exe" train --out run_b_$opt --resume --time-budget 0.3 >/dev/null 2>&1
  "$exe" train --out run_b_$opt --resume >/dev/null 2>&1
  a=$(checksum run_a_$opt/last.safetensors)
  b=$(checksum run_b_$opt/last.safetensors)
  if [[ -n "$a" && "$a" == "$b" ]]; then
    pass "stopped and resumed training is bit-identical, --optimizer $opt ($a)"
  else
    fail "resumed training differs, --optimizer $opt: '$a' vs '$b'"
  fi
done

# --- dropout is deterministic under a seed; --keep average is the average command's mean ---------
params() { grep -a -o '"seq2seq.checksum": *"[0-9a-f]*"' "$1" | head -n 1; }
losses() { awk -F, '$4 == "train" { print $5 }' "$1/train_log.csv"; }
small=(--pairs 2000 --embed 16 --hidden 32 --layers 2 --batch 16 --seed 5 --quiet --show 0 --log-every 10 --epochs 2)
"$exe" train --out run_d1 "${small[@]}" --dropout 0.3 --keep average --average 2 >d1.out 2>d1.err
expect_status "train --dropout 0.3 --keep average --average 2" 0 $?
"$exe" train --out run_d2 "${small[@]}" --dropout 0.3 --keep average --average 2 >/dev/null 2>&1
"$exe" train --out run_d0 "${small[@]}" >/dev/null 2>&1
if [[ -n "$(losses run_d1)" && "$(losses run_d1)" == "$(losses run_d2)" && "$(params run_d1/last.safetensors)" == "$(params run_d2/last.safetensors)" ]]; then
  pass "dropout runs with one seed are identical"
else
  fail "two dropout runs with one seed differ"
fi
[[ "$(losses run_d1)" != "$(losses run_d0)" ]] && pass "dropout changes training" || fail "--dropout 0.3 trains exactly like no dropout"
[[ -s run_d1/epoch1.safetensors && -s run_d1/epoch2.safetensors ]] && pass "--keep average keeps the epoch-end models" ||
  fail "--keep average kept no epoch<N>.safetensors: $(ls run_d1)"
expect_grep "the kept model says it is an average" "average of" d1.out
"$exe" average --out avg.safetensors run_d1/epoch2.safetensors run_d1/epoch1.safetensors >avg.out 2>avg.err
expect_status "average MODEL MODEL" 0 $?
if [[ -n "$(params avg.safetensors)" && "$(params avg.safetensors)" == "$(params run_d1/model.safetensors)" ]]; then
  pass "the kept average equals the average command's"
else
  fail "kept average $(params run_d1/model.safetensors) vs average command $(params avg.safetensors)"
fi
[[ "$(params avg.safetensors)" != "$(params run_d1/last.safetensors)" ]] && pass "the average differs from the last model" ||
  fail "the average is the last model"
"$exe" average --out bad.safetensors run_d1/epoch2.safetensors run/model.safetensors >bad_avg.out 2>bad_avg.err
status=$?
expect_no_crash "average of models of two sizes" $status
[[ $status -ne 0 && ! -e bad.safetensors ]] && pass "average refuses models of different sizes, writes nothing" ||
  fail "average of models of two sizes: exit $status"

# --- early stopping: --patience 1 stops at the first validation that is not better ---------------
# With a learning rate of 1e-7 the greedy translations, and so their BLEU, do not change.
"$exe" train --out run_es "${small[@]}" --epochs 5 --lr 0.0000001 --valid-metric bleu --patience 1 >es.out 2>es.err
expect_status "train --patience 1" 0 $?
expect_grep "--patience stops early" "stopped: early stopping after step" es.err

# --- your own corpus: --data FILE in the Tatoeba layout (a third, ignored column) ----------------
"$exe" corpus --pairs 2000 | awk -F'\t' '{ print toupper(substr($1, 1, 1)) substr($1, 2) ".\t" $2 ".\tCC-BY 2.0 (France) Attribution: example #" NR }' >own.tsv
"$exe" train --out run_own --data own.tsv --embed 16 --hidden 32 --layers 1 --epochs 3 --threads 1 --min-count 2 >own.out 2>own.err
expect_status "train --data FILE" 0 $?
expect_grep "--data: the file is the corpus" "data: 'own.tsv'" own.err
"$exe" eval --model run_own --show 0 >own_eval.out 2>&1
expect_status "eval of a --data model (its own test split)" 0 $?
expect_grep "eval of a --data model" "^BLEU" own_eval.out

# --- readable output: detokenized by the spacing of the training text; --tokenized the tokens -----
printf 'The dog sees the cat.\n' >sentence.txt
"$exe" translate --model run_own sentence.txt >detok.out 2>&1
expect_status "translate (detokenized)" 0 $?
"$exe" translate --model run_own --tokenized sentence.txt >tok.out 2>&1
expect_status "translate --tokenized" 0 $?
if grep -q ' \.' tok.out && [[ "$(sed 's/ \././g' tok.out)" == "$(cat detok.out)" ]]; then
  pass "translate attaches '.' as the corpus does; --tokenized keeps 'word .' ($(cat detok.out) / $(cat tok.out))"
else
  fail "detokenized '$(cat detok.out)', tokenized '$(cat tok.out)'"
fi
"$exe" eval --model run_own --show 0 --output own_hyp.txt >/dev/null 2>&1 && grep -q '[a-z]\.' own_hyp.txt && ! grep -q ' \.' own_hyp.txt
expect_status "eval --output writes detokenized text" 0 $?

# --- subwords: SentencePiece trained on the training split, stored in the model file -------------
if "$exe" train --out run_sw --data own.tsv --subwords 60 --embed 16 --hidden 32 --layers 1 --epochs 1 --threads 1 \
    --show 0 >sw.out 2>sw.err; then
  pass "train --subwords 60"
  expect_grep "subwords: SentencePiece trained on the training split" "subwords: SentencePiece unigram, 60 pieces per side" sw.err
  expect_grep "no <unk> in the subword training targets" "training targets: .* 0 <unk>" sw.err
  expect_grep "cased BLEU beside BLEU" "cased BLEU" sw.out
  "$exe" translate --model run_sw sentence.txt >sw_tr.out 2>sw_tr.err
  expect_status "translate with the subword model (tokenizers from the model file)" 0 $?
  [[ $(wc -l <sw_tr.out) -eq 1 ]] && pass "subword translate: one line" || fail "subword translate: $(cat sw_tr.out)"
  "$exe" train --out run_swj --data own.tsv --subwords 80 --subwords-joint --subword-type bpe --embed 16 --hidden 16 \
    --layers 1 --epochs 0.2 --threads 1 --show 0 >swj.out 2>swj.err
  expect_status "train --subwords 80 --subwords-joint --subword-type bpe" 0 $?
  # Subword regularisation: a sampled segmentation per epoch, the same again when a run resumes.
  sampled=(--data own.tsv --subwords 80 --subword-type bpe --embed 16 --hidden 16 --layers 1 --epochs 2 --threads 1 --quiet)
  "$exe" train --out run_swa "${sampled[@]}" --subword-alpha 0.1 >swa.out 2>swa.err
  expect_status "train --subword-alpha 0.1" 0 $?
  expect_grep "train says it samples subwords" "subwords sampled each epoch (alpha 0.1)" swa.err
  "$exe" train --out run_swb "${sampled[@]}" --subword-alpha 0.1 --time-budget 0.3 >/dev/null 2>&1
  "$exe" train --out run_swb --resume >/dev/null 2>&1
  "$exe" train --out run_swc "${sampled[@]}" >/dev/null 2>&1
  a=$(checksum run_swa/last.safetensors); b=$(checksum run_swb/last.safetensors); c=$(checksum run_swc/last.safetensors)
  if [[ -n "$a" && "$a" == "$b" && "$a" != "$c" ]]; then
    pass "--subword-alpha: stopped and resumed is bit-identical, and differs from one segmentation"
  else
    fail "--subword-alpha: uninterrupted '$a', resumed '$b', unsampled '$c'"
  fi
elif grep -q "needs SentencePiece" sw.err; then
  echo "skip - subwords: this build has no SentencePiece"
else
  fail "train --subwords 60:"; sed 's/^/    /' sw.err | head -20
fi

# --- bad input: clear message, non-zero exit, no crash --------------------------------------------
bad() {  # bad NAME WANTED_STATUS PATTERN command...
  local name="$1" want="$2" pattern="$3"
  shift 3
  "$@" >bad.out 2>bad.err
  local st=$?
  expect_no_crash "$name" "$st"
  expect_status "$name" "$want" "$st"
  expect_grep "$name: message" "$pattern" bad.err
}
bad "missing --data file" 1 "cannot read corpus 'nope.tsv'" "$exe" train --out bad1 --data nope.tsv
printf 'hello\tbonjour\nthank you\tmerci\nno tab on this line\n' >malformed.tsv
bad "malformed TSV line" 1 "malformed.tsv:3: no tab" "$exe" train --out bad2 --data malformed.tsv
: >empty.tsv
bad "empty corpus" 1 "empty corpus" "$exe" train --out bad3 --data empty.tsv
printf 'caf\xe9\tcoffee\n' >latin1.tsv
bad "invalid UTF-8 in the corpus" 1 "latin1.tsv:1: invalid UTF-8" "$exe" train --out bad4 --data latin1.tsv
bad "resume with another configuration" 1 "trained with --hidden 64" "$exe" train --out run --resume --hidden 128
bad "train over an existing run" 1 "already holds a training run" "$exe" train --out run "${tiny[@]}"
bad "no model" 1 "no model at" "$exe" translate --model does_not_exist
head -c 300 run/model.safetensors >truncated.safetensors
bad "truncated checkpoint" 1 "truncated.safetensors" "$exe" eval --model truncated.safetensors
printf 'not a checkpoint at all\n' >garbage.safetensors
bad "garbage checkpoint" 1 "garbage.safetensors" "$exe" eval --model garbage.safetensors
bad "beam 0" 2 "beam" "$exe" translate --model run --beam 0
bad "nbest over beam" 2 "nbest" "$exe" translate --model run --beam 2 --nbest 3
bad "unknown subcommand" 2 "frobnicate" "$exe" frobnicate
printf 'the dog sees the cat\n\ncaf\xe9\nthe zebra sees the cat\n' >mixed.txt
"$exe" translate --model run mixed.txt >mixed.out 2>mixed.err
st=$?
expect_no_crash "translate with bad lines" $st
expect_status "translate with bad lines" 1 $st
[[ $(wc -l <mixed.out) -eq 4 ]] && pass "translate keeps one output line per input line" || fail "translate: $(wc -l <mixed.out) lines for 4"
expect_grep "empty line reported with its number" "mixed.txt:2: error: empty sentence" mixed.err
expect_grep "invalid UTF-8 reported with its number" "mixed.txt:3: error: .*invalid UTF-8" mixed.err
expect_grep "unknown word becomes <unk>" "mixed.txt:4: note: 1 unknown word" mixed.err
printf 'the dog sees the cat\n' >notab.tsv
bad "score without a tab" 1 "notab.tsv:1: no tab" "$exe" score --model run notab.tsv
long=$(printf 'the dog %.0s' $(seq 1 40))
bad "sentence over the length limit" 1 "longer than the model's limit" bash -c "echo '$long' | '$exe' translate --model run"
bad "non-finite loss (NaN guard)" 1 "10 non-finite steps in a row" "$exe" train --out nan_run --pairs 2000 --embed 16 --hidden 32 --layers 1 --lr 1e38 --clip 0 --epochs 1 --quiet
expect_grep "NaN guard reports the step" "warning: step [0-9]* has a non-finite" bad.err
"$exe" --version >version.out 2>&1
expect_status "--version" 0 $?
expect_grep "--version names the products' backend" "products: \(Eigen\|oneDNN\|OpenBLAS\)" version.out
"$exe" translate --help >help.out 2>&1
expect_status "translate --help" 0 $?

echo
if ((failures)); then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
