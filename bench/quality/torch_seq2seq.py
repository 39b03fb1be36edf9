#!/usr/bin/python3
"""The PyTorch side of the translation-quality benchmark: Sutskever et al. (2014) in PyTorch.

An L-layer LSTM encoder reads the source reversed and followed by </s>; an L-layer LSTM decoder
starts from the encoder's final (h, c) of each layer, reads <s> y_1 .. y_n and predicts
y_1 .. y_n </s> through a linear layer and a softmax. No attention. The recipe is the one
toy_translation is compared with:

  * every parameter (both LSTM bias vectors included) uniform in [-0.08, 0.08];
  * Adam (lr 1e-3), batches of 32 pairs, the loss summed over the target tokens and divided by the
    sentences of the batch, the global gradient norm clipped at 5;
  * batches of similar source length: every epoch the pairs are sorted by source length with random
    tie-breaks, cut into batches, and the batches shuffled;
  * training on every pair of DATA_DIR/train.tsv (no validation split), for --epochs epochs;
  * test: beam search (beam 5, no length normalisation, at most 30 words) on the sources of
    DATA_DIR/test.tsv, multi-reference corpus BLEU-4 (NLTK corpus_bleu, no smoothing) against
    DATA_DIR/test.refs.json, with the tokenizer of bleu.py (lower case, runs of word characters or
    single punctuation characters, U+2019 read as ').

Options beyond that recipe:

  --dropout P        dropout as in Zaremba, Sutskever & Vinyals (2014), on the non-recurrent
                     connections only: on the source and target embeddings, between the LSTM layers
                     (nn.LSTM's dropout=) and on the decoder's top output before the softmax layer.
                     The recurrent state, including the encoder state handed to the decoder, is
                     never dropped. Off in evaluation. 0 (the default) draws no random numbers, so
                     a run is then step for step the plain recipe.
  --average-last N   evaluate the average of the parameters after each of the last N epochs
                     (checkpoint averaging) instead of the final parameters. A list (1,3) evaluates
                     each; the final `BLEU` line is the first one's.
  --eval-at E1,E2..  also evaluate after these epochs (with --average-last applied there too): the
                     learning rate is constant, so the model after epoch E of a longer run is the
                     model of a run of E epochs, and one run answers several epoch counts.

Prints the vocabulary sizes, then one line per epoch (train loss per token, perplexity, seconds,
target tokens/s), then for each evaluation the test BLEU, and finally `BLEU xx.xx` (the last
evaluation). Deterministic for a given --seed and --threads.

Usage:
  OPENBLAS_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=10000000000 MALLOC_TRIM_THRESHOLD_=10000000000 \\
    /usr/bin/python3 bench/quality/torch_seq2seq.py DATA_DIR --threads 1 --seed 1 [--epochs 12]
    [--dropout 0.3 --average-last 3 --eval-at 16,20,24]
Needs Debian's python3-torch, python3-nltk and libopenblas0 (without OpenBLAS torch's CPU matrix
products are several times slower); the environment variables keep glibc from returning the
allocator's memory to the system between steps, which otherwise costs 10-20% of the time.
"""
import argparse
import collections
import json
import math
import os
import random
import re
import sys
import time

import torch
import torch.nn as nn
from nltk.translate.bleu_score import corpus_bleu

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def tokenize(text):
    """bleu.py's tokenizer: lower case, U+2019 as ', word-character runs and single punctuation."""
    return _TOKEN.findall(text.lower().replace("\u2019", "'"))


class Vocab:
    """Token <-> id, the four special tokens first, then the words in order of first appearance."""

    def __init__(self, sentences):
        self.words = list(SPECIALS)
        self.ids = {w: i for i, w in enumerate(self.words)}
        for sentence in sentences:
            for w in sentence:
                if w not in self.ids:
                    self.ids[w] = len(self.words)
                    self.words.append(w)

    def __len__(self):
        return len(self.words)

    def encode(self, words):
        return [self.ids.get(w, UNK) for w in words]

    def decode(self, ids):
        return [self.words[i] for i in ids if i not in (PAD, BOS, EOS)]


class Seq2Seq(nn.Module):
    """Embeddings, an LSTM encoder and decoder, and the output layer (created in this order)."""

    def __init__(self, source_vocab, target_vocab, embed, hidden, layers, dropout, init):
        super().__init__()
        self.source_embedding = nn.Embedding(source_vocab, embed, padding_idx=PAD)
        self.target_embedding = nn.Embedding(target_vocab, embed, padding_idx=PAD)
        between = dropout if layers > 1 else 0.0
        self.encoder = nn.LSTM(embed, hidden, layers, dropout=between)
        self.decoder = nn.LSTM(embed, hidden, layers, dropout=between)
        self.output = nn.Linear(hidden, target_vocab)
        # With p = 0 no dropout module runs at all, so no random numbers are drawn.
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        for p in self.parameters():
            nn.init.uniform_(p, -init, init)

    def encode(self, source, lengths):
        """source: S x B ids (already reversed, </s> last, left-aligned); returns (h, c), L x B x H."""
        x = self.drop(self.source_embedding(source))
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
        _, state = self.encoder(packed)
        return state

    def decode(self, target_in, state):
        """target_in: T x B ids; returns the logits T x B x V and the decoder's final state."""
        y, state = self.decoder(self.drop(self.target_embedding(target_in)), state)
        return self.output(self.drop(y)), state

    def forward(self, source, lengths, target_in):
        logits, _ = self.decode(target_in, self.encode(source, lengths))
        return logits


def source_layout(ids, reverse):
    """The encoder's input: the words (reversed unless --no-reverse), then </s>."""
    return (ids[::-1] if reverse else list(ids)) + [EOS]


def make_batch(pairs, reverse):
    """Padded tensors of a list of (source ids, target ids): source S x B, lengths, decoder input
    <s> y (T x B) and decoder output y </s> (T x B)."""
    sources = [source_layout(s, reverse) for s, _ in pairs]
    S = max(len(s) for s in sources)
    T = max(len(t) for _, t in pairs) + 1
    B = len(pairs)
    source = torch.full((S, B), PAD, dtype=torch.long)
    target_in = torch.full((T, B), PAD, dtype=torch.long)
    target_out = torch.full((T, B), PAD, dtype=torch.long)
    for b, (s, (_, t)) in enumerate(zip(sources, pairs)):
        source[: len(s), b] = torch.tensor(s)
        target_in[: len(t) + 1, b] = torch.tensor([BOS] + t)
        target_out[: len(t) + 1, b] = torch.tensor(t + [EOS])
    return source, [len(s) for s in sources], target_in, target_out


def epoch_batches(pairs, batch_size, rng):
    """Pair indices sorted by source length (random tie-breaks), cut into batches, batches shuffled."""
    order = sorted(range(len(pairs)), key=lambda i: (len(pairs[i][0]), rng.random()))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


@torch.no_grad()
def beam_search(model, source_ids, beam, max_words, reverse):
    """Left-to-right beam search without length normalisation. Each step expands every live
    hypothesis by its `beam` best words, keeps the `beam` best expansions, and moves those that end
    in </s> to the finished list; it stops once `beam` hypotheses have finished (or after
    `max_words` steps). Returns the best finished hypothesis (the best live one if none finished),
    without <s> and </s>. The live hypotheses run through the decoder as one batch."""
    src = source_layout(source_ids, reverse)
    state = model.encode(torch.tensor(src).unsqueeze(1), [len(src)])
    scores, sequences, finished = [0.0], [[BOS]], []
    for _ in range(max_words):
        tokens = torch.tensor([[seq[-1] for seq in sequences]])  # 1 x live
        logits, (h, c) = model.decode(tokens, state)
        top = torch.log_softmax(logits[0], dim=-1).topk(beam, dim=-1)
        candidates = []
        for k, (values, words) in enumerate(zip(top.values.tolist(), top.indices.tolist())):
            candidates.extend((scores[k] + v, k, w) for v, w in zip(values, words))
        candidates.sort(key=lambda z: -z[0])
        live = []
        for score, k, w in candidates[:beam]:
            if w == EOS:
                finished.append((score, sequences[k] + [w]))
            else:
                live.append((score, k, w))
        if len(finished) >= beam or not live:
            break
        keep = torch.tensor([k for _, k, _ in live])
        state = (h[:, keep], c[:, keep])
        sequences = [sequences[k] + [w] for _, k, w in live]
        scores = [score for score, _, _ in live]
    pool = finished or list(zip(scores, sequences))
    return max(pool, key=lambda z: z[0])[1][1:]


def average_state(states):
    """The elementwise mean of several state_dicts."""
    out = {}
    for name in states[0]:
        out[name] = sum(s[name] for s in states) / len(states)
    return out


def evaluate(model, test, target_vocab, args):
    """Test BLEU (x 100) of beam search, the hypotheses as token lists, and the decoding seconds."""
    model.eval()
    t0 = time.perf_counter()
    hypotheses = [target_vocab.decode(beam_search(model, ids, args.beam, args.max_words, not args.no_reverse))
                  for ids, _ in test]
    seconds = time.perf_counter() - t0
    model.train()
    return 100 * corpus_bleu([refs for _, refs in test], hypotheses), hypotheses, seconds


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="folder with train.tsv, test.tsv and test.refs.json")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--seed", type=int, default=1, help="seed of initialisation, batch order and dropout")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (match OPENBLAS_NUM_THREADS)")
    p.add_argument("--embed", type=int, default=256)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (constant)")
    p.add_argument("--clip", type=float, default=5.0, help="global gradient-norm clipping threshold")
    p.add_argument("--init", type=float, default=0.08, help="uniform initialisation range")
    p.add_argument("--dropout", type=float, default=0.0, help="Zaremba et al. dropout rate (0 = off)")
    p.add_argument("--average-last", default="1", metavar="N[,N2..]",
                   help="evaluate the parameter average of the last N epochs (1 = the final model); a list evaluates each")
    p.add_argument("--eval-at", default="", metavar="E1,E2,..", help="also evaluate after these epochs")
    p.add_argument("--beam", type=int, default=5)
    p.add_argument("--max-words", type=int, default=30, help="longest translation beam search makes")
    p.add_argument("--no-reverse", action="store_true", help="read the source in order")
    p.add_argument("--output", help="write the final evaluation's translations here, one per test.tsv line")
    a = p.parse_args(argv)
    if not 0.0 <= a.dropout < 1.0:
        p.error("--dropout must be in [0, 1)")
    try:
        a.eval_at = sorted({int(e) for e in a.eval_at.split(",") if e.strip()})
        a.average_last = list(dict.fromkeys(int(n) for n in a.average_last.split(",") if n.strip()))
    except ValueError:
        p.error("--eval-at and --average-last take comma-separated numbers")
    if a.epochs < 1 or not a.average_last or min(a.average_last) < 1 or a.beam < 1:
        p.error("--epochs, --average-last and --beam must be at least 1")
    if any(e < 1 or e > a.epochs for e in a.eval_at):
        p.error("--eval-at epochs must be between 1 and --epochs")
    return a


def main(argv):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    with open(os.path.join(args.data, "train.tsv"), encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f]
    source_tokens = [tokenize(r[0]) for r in rows]
    target_tokens = [tokenize(r[1]) for r in rows]
    source_vocab, target_vocab = Vocab(source_tokens), Vocab(target_tokens)
    train = [(source_vocab.encode(s), target_vocab.encode(t)) for s, t in zip(source_tokens, target_tokens)]
    with open(os.path.join(args.data, "test.refs.json"), encoding="utf-8") as f:
        references = json.load(f)
    with open(os.path.join(args.data, "test.tsv"), encoding="utf-8") as f:
        test_sources = [line.split("\t")[0] for line in f]
    test = [(source_vocab.encode(tokenize(s)), [tokenize(r) for r in references[s]]) for s in test_sources]

    model = Seq2Seq(len(source_vocab), len(target_vocab), args.embed, args.hidden, args.layers, args.dropout,
                    args.init)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss(ignore_index=PAD, reduction="sum")
    print(f"vocab src {len(source_vocab)} tgt {len(target_vocab)}; {len(train)} pairs; "
          f"{sum(p.numel() for p in model.parameters())} parameters; {args.layers} x {args.hidden} LSTM, "
          f"{args.embed}-d embeddings, dropout {args.dropout}, Adam {args.lr}, batch {args.batch}, clip {args.clip}, "
          f"{args.epochs} epochs, seed {args.seed}, threads {args.threads}", flush=True)

    keep_states = max(args.average_last)
    recent = collections.deque(maxlen=keep_states)  # parameter copies after the last epochs
    evals = sorted(set(args.eval_at) | {args.epochs})
    train_seconds, train_tokens, result = 0.0, 0, None
    model.train()
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        total, tokens = 0.0, 0
        for batch in epoch_batches(train, args.batch, rng):
            source, lengths, target_in, target_out = make_batch([train[i] for i in batch], not args.no_reverse)
            optimizer.zero_grad()
            logits = model(source, lengths, target_in)
            loss = loss_fn(logits.reshape(-1, logits.size(-1)), target_out.reshape(-1))
            (loss / len(batch)).backward()
            nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            optimizer.step()
            total += loss.item()
            tokens += int((target_out != PAD).sum())
        seconds = time.perf_counter() - t0
        train_seconds += seconds
        train_tokens += tokens
        print(f"epoch {epoch} loss/tok {total / tokens:.3f} ppl {math.exp(total / tokens):.2f} {seconds:.1f}s "
              f"{tokens / seconds:.0f} tgt tok/s", flush=True)
        if keep_states > 1:
            recent.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        if epoch in evals:
            final = {k: v.detach().clone() for k, v in model.state_dict().items()}
            for i, n in enumerate(args.average_last):
                states = list(recent)[-n:]
                if len(states) > 1:
                    model.load_state_dict(average_state(states))
                    what = f"average of epochs {epoch - len(states) + 1}-{epoch}"
                else:
                    model.load_state_dict(final)
                    what = f"model after epoch {epoch}"
                bleu, hypotheses, decode_seconds = evaluate(model, test, target_vocab, args)
                print(f"test after epoch {epoch} ({what}): BLEU {bleu:.2f}; train time so far {train_seconds:.1f}s; "
                      f"decode {len(test)} sents beam {args.beam} in {decode_seconds:.1f}s", flush=True)
                if i == 0:
                    result = (bleu, hypotheses)
            model.load_state_dict(final)

    print(f"train time {train_seconds:.1f}s ({train_tokens / train_seconds:.0f} tgt tok/s)")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.writelines(" ".join(h) + "\n" for h in result[1])
    print(f"BLEU {result[0]:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
