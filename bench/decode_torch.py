#!/usr/bin/python3
"""PyTorch peers of bench_decode (issue 14): the same model translating the same sources, 1 thread.

  beam5_ref      reference/torch_ref.py's beam search: each hypothesis is stepped on its own (one
                 decoder call per hypothesis and step), the top 5 words of each, at most 30 steps,
                 stopping when 5 hypotheses have ended or none is alive
  beam5_batched  the 5 hypotheses as one batch (train_step_torch.py's beam_search), at most
                 2n + 10 words, stopping at the first complete hypothesis that beats every live one
  greedy         batches of 64 sources sorted by length, every sentence of a batch stepped until
                 all have produced <EOS> or reached 2n + 10 words; log_softmax, arg-max over the
                 words (never <pad> or <s>)
each in float and with torch.quantization.quantize_dynamic({nn.LSTM, nn.Linear}, qint8) (--precisions picks): the
dynamically quantized LSTM and output layer (int8 weights, activations quantized per call).

  corpus   --model FILE (a toy_translation model, loaded with tools/interop/seq2seq_torch.py)
           --sources FILE (bench_decode's sources.ids, written with SEQ2SEQ_BENCH_OUT)
  vocab8k  bench_train's model (embeddings 256, hidden 256, 2 layers, 8,000-word vocabularies,
           uniform(-0.08, 0.08) weights) on 64 random 20-word sources, at most 20 words out

Prints and writes (--json) the median seconds of --reps passes over all sources and sentences/s,
in wall time and in this process's CPU time (sentences_per_cpu_s);
with --out DIR also DIR/torch-<case>.txt, the corpus translations (for reference/bleu.py).
Run with Debian's torch and the peers' best settings (ANCHORS.md):
  OPENBLAS_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296 \\
    /usr/bin/python3 bench/decode_torch.py --model M --sources S --json out.json
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "interop"))
import seq2seq_torch as st  # noqa: E402

PAD, UNK, BOS, EOS = 0, 1, 2, 3
PRECISIONS = set()  # --precisions


def limit_of(source, max_length):
    return max_length if max_length > 0 else 2 * len(source) + 10


@torch.no_grad()
def beam_ref(model, src, k, maxlen):
    """reference/torch_ref.py's beam(), on the seq2seq_torch module."""
    h, c = model.encode([src])
    beams = [(0.0, [BOS], (h, c))]
    done = []
    for _ in range(maxlen):
        cand = []
        for sc, seq, (h, c) in beams:
            y, (h2, c2) = model.decoder(model.dec_embedding(torch.tensor([[seq[-1]]])), (h, c))
            lp = torch.log_softmax(model.output(y[0])[0], -1)  # 2-D for the quantized Linear
            top = torch.topk(lp, k)
            for v, i in zip(top.values.tolist(), top.indices.tolist()):
                cand.append((sc + v, seq + [i], (h2, c2)))
        cand.sort(key=lambda z: -z[0])
        beams = []
        for z in cand[:k]:
            (done if z[1][-1] == EOS else beams).append(z)
        if len(done) >= k or not beams:
            break
    best = max(done or beams, key=lambda z: z[0])
    return [i for i in best[1][1:] if i != EOS]


@torch.no_grad()
def beam_batched(model, src, beam, max_len):
    """train_step_torch.py's beam_search: the live hypotheses as one decoder batch."""
    h, c = model.encode([src])
    alive = [([], 0.0)]
    done = []
    last = torch.tensor([BOS])
    V = model.output.out_features
    for t in range(max_len + 1):
        y, (h, c) = model.decoder(model.dec_embedding(last).unsqueeze(0), (h, c))
        logp = torch.log_softmax(model.output(y[0]), dim=-1)
        logp[:, PAD] = -math.inf
        logp[:, BOS] = -math.inf
        if t == max_len:
            mask = torch.full_like(logp, -math.inf)
            mask[:, EOS] = 0
            logp = logp + mask
        scores = logp + torch.tensor([s for _, s in alive]).unsqueeze(1)
        top = torch.topk(scores.view(-1), min(beam + len(alive), scores.numel()))
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
        if not nxt or (done and max(s for _, s in done) >= max(s for _, s in nxt)):
            break
        idx = torch.tensor(parents)
        h, c = h[:, idx], c[:, idx]
        last = torch.tensor(toks)
        alive = nxt
    return max(done, key=lambda x: x[1])[0] if done else []


@torch.no_grad()
def greedy(model, sources, max_length, batch=64):
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    out = [None] * len(sources)
    for b0 in range(0, len(order), batch):
        idx = order[b0:b0 + batch]
        srcs = [sources[i] for i in idx]
        state = model.encode(srcs)
        limits = torch.tensor([limit_of(s, max_length) for s in srcs])
        last = torch.full((len(srcs),), BOS)
        alive = torch.ones(len(srcs), dtype=torch.bool)
        words = [[] for _ in srcs]
        for t in range(int(limits.max()) + 1):
            y, state = model.decoder(model.dec_embedding(last).unsqueeze(0), state)
            logp = torch.log_softmax(model.output(y[0]), dim=-1)
            logp[:, PAD] = -math.inf
            logp[:, BOS] = -math.inf
            nxt = logp.argmax(-1)
            nxt = torch.where(limits <= t, torch.full_like(nxt, EOS), nxt)
            for j in torch.nonzero(alive & (nxt != EOS)).flatten().tolist():
                words[j].append(int(nxt[j]))
            alive &= nxt != EOS
            if not bool(alive.any()):
                break
            last = nxt
        for j, i in enumerate(idx):
            out[i] = words[j]
    return out


def timed(fn, reps):
    """Median wall seconds and median CPU seconds of this process (time.process_time: on a shared
    machine, CPU time is what a 1-thread run would take alone), and the translations."""
    result = fn()  # warm-up, and the translations
    times, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(times), statistics.median(cpu), result


def random_model():
    Model = st.model_class()
    torch.manual_seed(1)
    m = Model(8000, 8000, 256, 256, 2)
    for p in m.parameters():
        nn.init.uniform_(p, -0.08, 0.08)
    gen = torch.Generator().manual_seed(1)
    sources = torch.randint(4, 8000, (64, 20), generator=gen).tolist()
    return m, sources


def run_cases(model, sources, max_length, reps, ref_reps, ref_maxlen, tag, results, out_dir, vocab):
    quantized = torch.quantization.quantize_dynamic(model, {nn.LSTM, nn.Linear}, dtype=torch.qint8)
    for precision, m in (("float", model), ("qdynamic", quantized)):
        if precision not in PRECISIONS:
            continue
        m.eval()
        cases = [
            ("beam5_ref", lambda: [beam_ref(m, s, 5, ref_maxlen) for s in sources], ref_reps),
            ("beam5_batched", lambda: [beam_batched(m, s, 5, limit_of(s, max_length)) for s in sources], reps),
            ("greedy", lambda: greedy(m, sources, max_length), reps),
        ]
        for name, fn, r in cases:
            seconds, cpu_seconds, out = timed(fn, r)
            key = f"{name}/{precision}"
            results[tag][key] = {"seconds": seconds, "sentences_per_s": len(sources) / seconds, "reps": r,
                                 "cpu_seconds": cpu_seconds, "sentences_per_cpu_s": len(sources) / cpu_seconds}
            print(f"{tag}/{key}: {seconds:.3f} s for {len(sources)} sentences, {len(sources) / seconds:.1f} sentences/s"
                  f" ({cpu_seconds:.3f} s CPU, {len(sources) / cpu_seconds:.1f} sentences per CPU second)", flush=True)
            if out_dir and vocab:
                with open(os.path.join(out_dir, f"torch-{name}-{precision}.txt"), "w", encoding="utf-8") as f:
                    for ids in out:
                        f.write(" ".join(vocab[i] for i in ids) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="the corpus model (toy_translation's model.safetensors)")
    ap.add_argument("--sources", help="the corpus sources as ids (bench_decode's sources.ids)")
    ap.add_argument("--vocab8k", action="store_true", help="also the 8,000-word random model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--ref-reps", type=int, default=3, help="repetitions of the slow torch_ref-style search")
    ap.add_argument("--precisions", default="float,qdynamic", help="which of float,qdynamic to time")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--out", metavar="DIR", help="write the corpus translations here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    PRECISIONS.update(args.precisions.split(","))
    results = {"torch": torch.__version__, "threads": args.threads,
               "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "unset"), "corpus": {}, "vocab8k": {}}
    if args.model and args.sources:
        model, metadata = st.load_model(args.model)
        vocab = json.loads(metadata["target_vocab"])["tokens"]
        sources = [[int(x) for x in line.split()] for line in open(args.sources)]
        if args.out:
            os.makedirs(args.out, exist_ok=True)
        run_cases(model, sources, 0, args.reps, args.ref_reps, 30, "corpus", results, args.out, vocab)
    if args.vocab8k:
        model, sources = random_model()
        run_cases(model, sources, 20, args.reps, args.ref_reps, 20, "vocab8k", results, None, None)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
