#!/usr/bin/env bash
# The command-line bad-input matrix of toy_translation (issue 6; CTest: toy_translation_bad_input,
# registered by tests/tools/CMakeLists.txt).
#
#   bad_input.sh PATH/TO/toy_translation WORK_DIR
#
# Every bad input must end the program with a non-zero status below 128 (an error, not a signal),
# a message on stderr that names the problem, and no sign of a crash ("Segmentation fault",
# "terminate called", "Aborted", a sanitizer report).
set -u
exe="$1"
work="$2"
rm -rf "$work"
mkdir -p "$work"
cd "$work" || exit 1

failures=0
cases=0
pass() { echo "ok   - $1"; }
fail() { echo "FAIL - $1"; failures=$((failures + 1)); }

# bad NAME WANTED_STATUS PATTERN command...: WANTED_STATUS is 1 (error) or 2 (command line), or
# "nonzero" for any status in 1..127.
bad() {
  local name="$1" want="$2" pattern="$3"
  shift 3
  cases=$((cases + 1))
  "$@" >bad.out 2>bad.err </dev/null
  local st=$?
  if ((st == 0)); then
    fail "$name: exit status 0"
  elif ((st >= 128)); then
    fail "$name: killed by signal $((st - 128))"
  elif [[ "$want" != nonzero && "$st" != "$want" ]]; then
    fail "$name: exit status $st, expected $want"
  elif [[ ! -s bad.err ]]; then
    fail "$name: nothing on stderr"
  elif grep -Eq 'Segmentation fault|terminate called|Aborted|AddressSanitizer|runtime error:|core dumped' bad.err; then
    fail "$name: crash signature on stderr"
  elif ! grep -q -- "$pattern" bad.err; then
    fail "$name: no '$pattern' on stderr"
  else
    pass "$name (exit $st: $(grep -m 1 -- "$pattern" bad.err | cut -c1-160))"
    return
  fi
  sed 's/^/    /' bad.err | head -n 10
}

tiny=(--pairs 400 --embed 8 --layers 1 --batch 32 --epochs 1 --threads 1 --seed 3 --quiet)

# Two small runs of different sizes, for the "checkpoint of another configuration" cases.
"$exe" train --out run16 --hidden 16 "${tiny[@]}" >run16.out 2>run16.err || { echo "setup: training run16 failed"; cat run16.err; exit 1; }
"$exe" train --out run24 --hidden 24 "${tiny[@]}" >run24.out 2>run24.err || { echo "setup: training run24 failed"; cat run24.err; exit 1; }

# --- the corpus file ---------------------------------------------------------------------------
bad "missing corpus file" 1 "cannot read corpus 'nope.tsv'" "$exe" train --out b1 --data nope.tsv "${tiny[@]}"
mkdir -p a_directory.tsv
bad "corpus path is a directory" 1 "a_directory.tsv': it is a directory" "$exe" train --out b2 --data a_directory.tsv "${tiny[@]}"
printf 'hello\tbonjour\n' >unreadable.tsv
chmod 000 unreadable.tsv
if [[ "$(id -u)" -eq 0 ]]; then
  # root reads files whatever their mode: the directory case above stands for an unreadable path.
  echo "skip - unreadable corpus file (chmod 000): running as root, which can read it anyway"
else
  bad "unreadable corpus file" 1 "unreadable.tsv" "$exe" train --out b3 --data unreadable.tsv "${tiny[@]}"
fi
chmod 600 unreadable.tsv
printf 'hello\tbonjour\nthank you\tmerci\nno tab on this line\ngood night\tbonne nuit\n' >malformed.tsv
bad "malformed TSV line (line number)" 1 "malformed.tsv:3: no tab" "$exe" train --out b4 --data malformed.tsv "${tiny[@]}"
printf 'hello\tbonjour\nthank you\tmerci\n   \tbonne nuit\n' >empty_field.tsv
bad "empty source field (line number)" 1 "empty_field.tsv:3: empty source" "$exe" train --out b5 --data empty_field.tsv "${tiny[@]}"
: >empty.tsv
bad "empty corpus" 1 "empty corpus" "$exe" train --out b6 --data empty.tsv "${tiny[@]}"
printf '\n  \n\r\n' >blank.tsv
bad "corpus of blank lines" 1 "empty corpus" "$exe" train --out b7 --data blank.tsv "${tiny[@]}"
printf 'coffee\tcaf\xc3\xa9\ncaf\xe9\tcoffee\n' >latin1.tsv
bad "invalid UTF-8 in the corpus (line number)" 1 "latin1.tsv:2: invalid UTF-8" "$exe" train --out b8 --data latin1.tsv "${tiny[@]}"

# --- checkpoints ---------------------------------------------------------------------------------
bad "resume with another configuration" 1 "trained with --hidden 16" "$exe" train --out run16 --resume --hidden 32 --quiet
cp run16/last.state.safetensors run24/last.state.safetensors
bad "training state of another model size (refused, naming the file or tensor)" 1 "belongs to another model\|tensor 'optim\." "$exe" train --out run24 --resume --quiet
bad "no model" 1 "no model at" "$exe" eval --model does_not_exist
bad "a TSV file given as the model" 1 "malformed.tsv" "$exe" eval --model malformed.tsv
head -c 200 run16/model.safetensors >truncated.safetensors
bad "truncated checkpoint" 1 "truncated.safetensors" "$exe" translate --model truncated.safetensors
cp run16/model.safetensors flipped.safetensors
size=$(stat -c %s flipped.safetensors)
printf '\x5a' | dd of=flipped.safetensors bs=1 seek=$((size - 10)) conv=notrunc status=none
bad "corrupted checkpoint data (checksum)" 1 "checksum" "$exe" eval --model flipped.safetensors

# --- decoding options and input text -----------------------------------------------------------
bad "beam 0" 2 "beam" "$exe" translate --model run16 --beam 0
bad "negative beam" 2 "beam" "$exe" translate --model run16 --beam -2
bad "nbest over beam" 2 "nbest" "$exe" translate --model run16 --beam 2 --nbest 3
bad "unknown precision" 2 "precision" "$exe" translate --model run16 --precision int4
bad "temperature 0" 2 "temperature" "$exe" translate --model run16 --sample --temperature 0
printf '# seq2seq shortlist 1\nthe\tle\nno tab here\n' >bad_shortlist.txt
bad "malformed shortlist file (line number)" 1 "bad_shortlist.txt' line 3: no tab" "$exe" translate --model run16 --shortlist-file bad_shortlist.txt
printf '# seq2seq shortlist 1\nzebrafish\tle\n' >unknown_shortlist.txt
bad "shortlist naming an unknown word" 1 "unknown source word 'zebrafish'" "$exe" translate --model run16 --shortlist-file unknown_shortlist.txt
"$exe" train --out run_nolist --hidden 16 --shortlist-k 0 "${tiny[@]}" >nolist.out 2>nolist.err || { echo "setup: training run_nolist failed"; cat nolist.err; exit 1; }
bad "--shortlist on a model without one" 1 "no stored shortlist" "$exe" eval --model run_nolist --shortlist
printf 'the dog\ncaf\xe9\n' >bad_text.txt
bad "invalid UTF-8 in text to translate (line number)" 1 "bad_text.txt:2" "$exe" translate --model run16 bad_text.txt
printf 'the dog\tle chien\ncaf\xe9\tcoffee\n' >bad_pairs.tsv
bad "invalid UTF-8 in pairs to score (line number)" 1 "bad_pairs.tsv:2: .*invalid UTF-8" "$exe" score --model run16 bad_pairs.tsv
bad "unknown subcommand" 2 "frobnicate" "$exe" frobnicate

# --- bf16 training products ----------------------------------------------------------------------
bad "train --precision int8 (training knows float and bf16)" 2 "precision" "$exe" train --out b11 --precision int8 "${tiny[@]}"
if "$exe" train --out bf16_run --precision bf16 --hidden 64 "${tiny[@]}" >bf16.out 2>bf16.err; then
  bad "resuming a bf16 run with --precision float" 1 "trained with --precision bf16" "$exe" train --out bf16_run --resume --precision float "${tiny[@]}"
elif grep -q -- "--precision bf16 needs" bf16.err; then
  bad "--precision bf16 where it is unavailable (nothing written)" 2 "precision bf16 needs" "$exe" train --out b11 --precision bf16 "${tiny[@]}"
  if [[ -e b11 ]]; then fail "--precision bf16 unavailable: b11 was created"; fi
else
  cases=$((cases + 1))
  fail "train --precision bf16 failed otherwise: $(tail -n 2 bf16.err)"
fi

# --- subwords (SentencePiece) ----------------------------------------------------------------------
bad "--subwords-joint without --subwords" 2 "needs --subwords" "$exe" train --out b9 --subwords-joint "${tiny[@]}"
bad "--subwords with --max-vocab" 2 "max-vocab" "$exe" train --out b9 --subwords 100 --max-vocab 50 "${tiny[@]}"
bad "--subword-alpha without --subwords" 2 "needs --subwords" "$exe" train --out b9 --subword-alpha 0.1 "${tiny[@]}"
bad "--subword-alpha above 1" 2 "subword-alpha" "$exe" train --out b9 --subwords 100 --subword-alpha 1.5 "${tiny[@]}"
if "$exe" train --out sw_probe --subwords 40 --epochs 0.01 --pairs 400 --embed 4 --hidden 4 --layers 1 --quiet >/dev/null 2>sw_probe.err; then
  bad "more pieces than the corpus allows (nothing written)" 1 "Vocabulary size too high" "$exe" train --out b10 --subwords 5000 "${tiny[@]}"
  if [[ -e b10 ]]; then fail "more pieces than the corpus allows: b10 was created"; fi
elif grep -q "needs SentencePiece" sw_probe.err; then
  bad "--subwords in a build without SentencePiece" 1 "needs SentencePiece" "$exe" train --out b10 --subwords 100 "${tiny[@]}"
  if [[ -e b10 ]]; then fail "--subwords without SentencePiece: b10 was created"; fi
else
  fail "subword probe run failed"; sed 's/^/    /' sw_probe.err | head -n 10
fi

echo
echo "$cases bad inputs tried, $failures failed"
if ((failures)); then
  exit 1
fi
echo "all bad-input checks passed"
