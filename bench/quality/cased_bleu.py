#!/usr/bin/env python3
"""Corpus BLEU-4 of a translation file against the multi-reference test set of a corpus folder,
tokenized exactly as the project's yardstick bleu.py tokenizes (runs of word characters or single
punctuation characters, U+2019 read as '), NLTK corpus_bleu without smoothing, but *cased*: a
model that writes "tom" where the references say "Tom" loses the match. With --uncased it is
bleu.py's figure (lower-cased), so the two numbers come from one script.

Usage: python3 bench/quality/cased_bleu.py CORPUS_DIR HYPOTHESES.txt [--uncased]
  CORPUS_DIR has test.tsv (source<TAB>first reference) and test.refs.json (source -> all references);
  HYPOTHESES.txt has one translation per line of test.tsv, in its order.
Needs Debian's python3-nltk."""
import json
import re
import sys

from nltk.translate.bleu_score import corpus_bleu

TOK = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def tokens(text, cased):
    text = text.replace("\u2019", "'")
    return TOK.findall(text if cased else text.lower())


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    if len(args) != 2:
        sys.exit(__doc__)
    cased = "--uncased" not in argv
    corpus, hyp_file = args
    refs = json.load(open(f"{corpus}/test.refs.json", encoding="utf-8"))
    sources = [line.split("\t")[0] for line in open(f"{corpus}/test.tsv", encoding="utf-8")]
    hyps = [line.rstrip("\n") for line in open(hyp_file, encoding="utf-8")]
    if len(hyps) != len(sources):
        sys.exit(f"cased_bleu.py: {len(hyps)} translations for {len(sources)} test sources")
    score = corpus_bleu([[tokens(r, cased) for r in refs[s]] for s in sources], [tokens(h, cased) for h in hyps])
    print(f"{'cased' if cased else 'uncased'} BLEU {100 * score:.2f}")


if __name__ == "__main__":
    main(sys.argv)
