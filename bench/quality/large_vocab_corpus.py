#!/usr/bin/env python3
"""A parallel corpus with a large vocabulary, made from Debian's word lists (no network): the
throughput check of subword training (issue 13: "a corpus of 50,000+ word types trains with 8,000
pieces per side").

Source words come from wamerican (/usr/share/dict/american-english), target words from wfrench
(/usr/share/dict/french); a fixed random pairing of the two lists is the "lexicon", and each pair
of the corpus is a random English word sequence (lengths 4-12; 70% of the words drawn by a Zipf
law over the lexicon, 30% uniformly, so that most of the lexicon occurs) with its word-by-word
French translation. Meaningless as language, but its type counts and sentence lengths are those
of a real corpus with a large vocabulary, which is what decides the softmax's cost.

Usage: python3 bench/quality/large_vocab_corpus.py OUT.tsv [PAIRS] [SEED]   (defaults 40000, 1)
Prints the number of word types per side. Needs: apt install wamerican wfrench."""
import random
import re
import sys


def words(path):
    out, seen = [], set()
    for line in open(path, encoding="utf-8"):
        w = line.strip().lower()
        if re.fullmatch(r"[^\W\d_]+", w) and w not in seen:  # letters only: no possessives, digits
            seen.add(w)
            out.append(w)
    return out


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    out, pairs = argv[1], int(argv[2]) if len(argv) > 2 else 40000
    rng = random.Random(int(argv[3]) if len(argv) > 3 else 1)
    en, fr = words("/usr/share/dict/american-english"), words("/usr/share/dict/french")
    n = min(len(en), len(fr), 60000)
    rng.shuffle(en)
    rng.shuffle(fr)
    en, fr = en[:n], fr[:n]
    weights = [1.0 / (rank + 1) for rank in range(n)]
    cum, total = [], 0.0
    for w in weights:
        total += w
        cum.append(total)
    src_types, tgt_types = set(), set()
    with open(out, "w", encoding="utf-8") as f:
        for _ in range(pairs):
            length = rng.randint(4, 12)
            idx = [rng.choices(range(n), cum_weights=cum)[0] if rng.random() < 0.7 else rng.randrange(n)
                   for _ in range(length)]
            s = [en[i] for i in idx]
            t = [fr[i] for i in idx]
            src_types.update(s)
            tgt_types.update(t)
            f.write(" ".join(s).capitalize() + ".\t" + " ".join(t).capitalize() + ".\n")
    print(f"{pairs} pairs, {len(src_types)} source and {len(tgt_types)} target word types -> {out}")


if __name__ == "__main__":
    main(sys.argv)
