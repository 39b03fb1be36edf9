#!/usr/bin/python3
"""The issue-5 model in PyTorch, to set beside bench_train (same sizes, batch and thread count).

Embeddings 256, hidden 256, 2-layer nn.LSTM encoder and decoder, vocabularies of 8,000 words,
batch 64, 20 source and 20 target words, Adam, clip_grad_norm_ 5; the loss is the summed token
NLL divided by the batch size (the paper's), the source is reversed and followed by <EOS>, the
decoder reads <s> y and predicts y <EOS> (seq2seq's layout). Prints medians of repeated timings:

  train target_tokens/s   (20 target words x 64 sentences per step)
  decode_beam5 sentences/s (beam search, the 5 hypotheses as one batch, 20 words)
  decode_greedy64 sentences/s

Run with Debian's torch:  /usr/bin/python3 bench/train_step_torch.py --threads 1
Best settings (see ANCHORS.md): OPENBLAS_NUM_THREADS matched to --threads and
MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296 in the environment.
"""
import argparse
import json
import os
import statistics
import time

import torch
import torch.nn as nn

V, E, H, L, B, WORDS = 8000, 256, 256, 2, 64, 20
PAD, UNK, BOS, EOS = 0, 1, 2, 3


class Seq2Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.src_emb = nn.Embedding(V, E)
        self.tgt_emb = nn.Embedding(V, E)
        self.enc = nn.LSTM(E, H, L)
        self.dec = nn.LSTM(E, H, L)
        self.out = nn.Linear(H, V)
        for p in self.parameters():
            nn.init.uniform_(p, -0.08, 0.08)

    def encode(self, src):  # src: (T, B) reversed words then <EOS>
        _, state = self.enc(self.src_emb(src))
        return state

    def loss(self, src, tgt_in, tgt_out):
        state = self.encode(src)
        out, _ = self.dec(self.tgt_emb(tgt_in), state)
        logits = self.out(out)
        return nn.functional.cross_entropy(logits.view(-1, V), tgt_out.view(-1), reduction="sum") / src.shape[1]

    def step(self, tokens, state):
        out, state = self.dec(self.tgt_emb(tokens).unsqueeze(0), state)
        return torch.log_softmax(self.out(out[0]), dim=-1), state


def make_batch(gen):
    words_src = torch.randint(4, V, (WORDS, B), generator=gen)
    words_tgt = torch.randint(4, V, (WORDS, B), generator=gen)
    eos = torch.full((1, B), EOS)
    src = torch.cat([words_src.flip(0), eos])
    tgt_in = torch.cat([torch.full((1, B), BOS), words_tgt])
    tgt_out = torch.cat([words_tgt, eos])
    return src, tgt_in, tgt_out


def beam_search(model, src, beam, max_len):
    with torch.no_grad():
        h, c = model.encode(src)
        alive = [([], 0.0)]
        done = []
        last = torch.tensor([BOS])
        for t in range(max_len + 1):
            logp, (h, c) = model.step(last, (h, c))
            logp[:, PAD] = -float("inf")
            logp[:, BOS] = -float("inf")
            if t == max_len:
                mask = torch.full_like(logp, -float("inf"))
                mask[:, EOS] = 0
                logp = logp + mask
            scores = logp + torch.tensor([s for _, s in alive]).unsqueeze(1)
            top = torch.topk(scores.view(-1), min(2 * beam + len(alive), scores.numel()))
            nxt, parents, toks = [], [], []
            for s, idx in zip(top.values.tolist(), top.indices.tolist()):
                k, v = divmod(idx, V)
                if v == EOS:
                    done.append((alive[k][0], s))
                else:
                    nxt.append((alive[k][0] + [v], s))
                    parents.append(k)
                    toks.append(v)
                if len(nxt) == beam:
                    break
            if not nxt:
                break
            idx = torch.tensor(parents)
            h, c = h[:, idx], c[:, idx]
            last = torch.tensor(toks)
            alive = nxt
        return max(done, key=lambda x: x[1]) if done else None


def greedy(model, src, max_len):
    with torch.no_grad():
        state = model.encode(src)
        last = torch.full((src.shape[1],), BOS)
        outs = []
        for _ in range(max_len + 1):
            logp, state = model.step(last, state)
            last = logp.argmax(-1)
            outs.append(last)
        return torch.stack(outs)


def timed(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", metavar="FILE", help="also write the medians to FILE as JSON (for compare_train.py)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(1)
    model = Seq2Seq()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    src, tgt_in, tgt_out = make_batch(gen)

    def train_step():
        opt.zero_grad()
        loss = model.loss(src, tgt_in, tgt_out)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()

    blas = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    result = {"torch": torch.__version__, "threads": args.threads, "openblas_threads": blas}
    t = timed(train_step, args.reps)
    result["train_ms"] = t * 1e3
    print(f"torch {torch.__version__} threads {args.threads} (OPENBLAS_NUM_THREADS {blas})")
    print(f"train: {t * 1e3:.1f} ms/step, target_tokens/s {B * WORDS / t:.0f}")
    t = timed(lambda: beam_search(model, src[:, :1], 5, WORDS), args.reps)
    result["decode_beam5_ms"] = t * 1e3
    print(f"decode_beam5: {t * 1e3:.1f} ms/sentence, sentences/s {1 / t:.1f}")
    t = timed(lambda: greedy(model, src, WORDS), args.reps)
    result["decode_greedy64_ms"] = t * 1e3
    print(f"decode_greedy64: {t * 1e3:.1f} ms/batch, sentences/s {B / t:.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
