#!/usr/bin/python3
"""Corpus BLEU-4 of translations against the multi-reference test set of a corpus folder.

NLTK's corpus_bleu (no smoothing) over every source of CORPUS_DIR/test.tsv, in its order, against
all references of that source in CORPUS_DIR/test.refs.json. Hypotheses and references are
tokenized the same way: runs of word characters or single other non-space characters, with U+2019
read as an apostrophe, lower-cased unless --cased. So a file of detokenized text and a file of
space-separated tokens of the same translations score the same.

Usage: /usr/bin/python3 bench/quality/bleu.py CORPUS_DIR HYPOTHESES.txt [--cased]
Needs Debian's python3-nltk.
"""
import argparse
import json
import re
import sys

from nltk.translate.bleu_score import corpus_bleu

TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def tokens(text, cased):
    text = text.replace("\u2019", "'")
    return TOKEN.findall(text if cased else text.lower())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("corpus")
    p.add_argument("hypotheses")
    p.add_argument("--cased", action="store_true", help="compare without lower-casing")
    a = p.parse_args()
    with open(f"{a.corpus}/test.refs.json", encoding="utf-8") as f:
        refs = json.load(f)
    with open(f"{a.corpus}/test.tsv", encoding="utf-8") as f:
        sources = [line.split("\t")[0] for line in f]
    with open(a.hypotheses, encoding="utf-8") as f:
        hyps = [line.rstrip("\n") for line in f]
    if len(hyps) != len(sources):
        sys.exit(f"bleu.py: {len(hyps)} translations for {len(sources)} test sources")
    score = corpus_bleu([[tokens(r, a.cased) for r in refs[s]] for s in sources], [tokens(h, a.cased) for h in hyps])
    print(f"BLEU {100 * score:.2f}")


if __name__ == "__main__":
    main()
