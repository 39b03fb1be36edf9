#!/usr/bin/env python3
"""python_module: the Python module against the C++ program, bit for bit.

Trains a tiny model with seq2seq.train and the same model with `toy_translation train`; the two
runs must write the same model file. Then, on the test split: Translator.translate gives the
command line's `translate` output line for line (greedy and beam 3), its n-best log-probabilities
and its scores are python_reference's exact values (and the command line's 4-decimal ones), and so
are they with threads=2, from two Python threads at once, and for a model file that io::save_model
wrote alone; a pure-Python thread keeps running during a translate call (the GIL is released).
The numpy views of the parameters are the model's memory: a write changes the
translations, undoing it restores them, and save() keeps it.

    test_module.py --cli toy_translation --reference python_reference --work DIR
"""
import argparse
import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np

import seq2seq

# A model small enough to train in seconds; two layers so that every kind of parameter is there.
SETTINGS = dict(pairs=400, embed=24, hidden=24, layers=2, epochs=2, batch=16, log_every=5, show=0, quiet=True)


def flags(settings):
    out = []
    for key, value in settings.items():
        flag = "--" + key.replace("_", "-")
        out += [flag] if value is True else [flag, str(value)]
    return out


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, **kw).stdout


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--reference", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    py_dir, cli_dir = os.path.join(a.work, "py"), os.path.join(a.work, "cli")

    # --- training: the same run from Python and from the command line -----------------------
    rows = []
    model = seq2seq.train(out=py_dir, progress=rows.append, **SETTINGS)
    check(model == os.path.join(py_dir, "model.safetensors") and os.path.exists(model), "train returns the kept model")
    run([a.cli, "train", "--out", cli_dir] + flags(SETTINGS), stderr=subprocess.DEVNULL)
    for name in ("model.safetensors", "last.safetensors", "last.state.safetensors"):
        with open(os.path.join(py_dir, name), "rb") as f, open(os.path.join(cli_dir, name), "rb") as g:
            check(f.read() == g.read(), f"{name}: the Python run and the command-line run differ")
    with open(os.path.join(py_dir, "train_log.csv")) as f:
        logged = [line.split(",")[:4] for line in f.read().splitlines()[1:]]
    check([[str(r["step"]), f'{r["epoch"]:.4f}', r["kind"]] for r in rows] == [[s, e, k] for s, e, _, k in logged],
          "progress rows are train_log.csv's rows")
    check(any(r["kind"] == "valid" and "bleu" in r for r in rows) and any(r["kind"] == "train" for r in rows),
          "progress sees training and validation rows")
    print(f"train: Python and command-line runs wrote identical files; {len(rows)} progress rows")

    # --- the test split ----------------------------------------------------------------------
    test_tsv = os.path.join(a.work, "test.tsv")
    run([a.cli, "corpus", "--pairs", str(SETTINGS["pairs"]), "--part", "test", "--output", test_tsv])
    with open(test_tsv, encoding="utf-8") as f:
        pairs = [line.split("\t")[:2] for line in f.read().splitlines()]
    sources = list(dict.fromkeys(s for s, _ in pairs))
    sources_txt = os.path.join(a.work, "sources.txt")
    with open(sources_txt, "w", encoding="utf-8") as f:
        f.write("".join(s + "\n" for s in sources))
    print(f"test split: {len(pairs)} pairs, {len(sources)} distinct sources")

    t = seq2seq.Translator(py_dir)
    check(t.config["hidden"] == 24 and t.config["layers"] == 2, "config")
    for beam in (1, 3):
        cli = run([a.cli, "translate", "--model", cli_dir, "--beam", str(beam), sources_txt]).splitlines()
        ours = t.translate(sources, beam=beam)
        check(ours == cli, f"beam {beam}: translate differs from the command line")
    print("translate: the command line's output, greedy and beam 3")

    # Exact values: python_reference (the C++ calls of the translate and score commands).
    ref = run([a.reference, "run", cli_dir, "3", "2", sources_txt, test_tsv]).splitlines()
    ref_nbest = {}
    ref_scores = []
    for line in ref:
        f = line.split("\t")
        if f[0] == "T":
            ref_nbest.setdefault(int(f[1]), []).append((f[4], float.fromhex(f[3]).hex()))  # %a trims zeros
        else:
            ref_scores.append(float.fromhex(f[2]).hex())
    cli_scores = run([a.cli, "score", "--model", cli_dir, test_tsv]).split()
    cli_nbest = run([a.cli, "translate", "--model", cli_dir, "--beam", "3", "--nbest", "2", sources_txt]).splitlines()

    def nbest_matches(result):
        got = [[(text, lp.hex()) for text, lp in hyps] for hyps in result]
        return got == [ref_nbest[i] for i in range(len(sources))]

    def scores_match(result):
        return [s.hex() for s in result] == ref_scores

    nbest = t.translate(sources, beam=3, nbest=2)
    check(nbest_matches(nbest), "n-best log-probabilities are not python_reference's, bit for bit")
    check([f"{i + 1}\t{r + 1}\t{lp:.4f}\t{text}" for i, hyps in enumerate(nbest) for r, (text, lp) in enumerate(hyps)] == cli_nbest,
          "n-best lists differ from the command line's --nbest 2")
    scores = t.score([s for s, _ in pairs], [g for _, g in pairs])
    check(scores_match(scores), "scores are not python_reference's, bit for bit")
    check([f"{s:.4f}" for s in scores] == cli_scores, "scores differ from the command line's score")
    check(t.translate(sources[:3], beam=3, with_scores=True) == [h[:1] for h in nbest[:3]], "with_scores: the 1-best of nbest")
    ids = t.translate_ids([t.encode(s) for s in sources], beam=3)
    check([t.decode(i) for i in ids] == t.translate(sources, beam=3), "translate_ids agrees with translate")
    check([x.hex() for x in t.score_ids([t.encode(s) for s, _ in pairs], [t.encode(g, side="target") for _, g in pairs])] == ref_scores,
          "score_ids agrees with score")
    print(f"n-best and {len(scores)} scores: python_reference's values bit for bit, the command line's to 4 decimals")

    # --- threads: Translator(threads=2), and two Python threads at once ----------------------
    t2 = seq2seq.Translator(py_dir, threads=2)
    check(nbest_matches(t2.translate(sources, beam=3, nbest=2)), "threads=2: n-best differs")
    check(scores_match(t2.score([s for s, _ in pairs], [g for _, g in pairs])), "threads=2: scores differ")
    results = [None, None]

    def work(k):
        results[k] = (t.translate(sources * 3, beam=3, nbest=2), t.score([s for s, _ in pairs], [g for _, g in pairs]))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for k in range(2):
        check(nbest_matches(results[k][0][: len(sources)]) and results[k][0][len(sources):] == results[k][0][: len(sources)] * 2,
              f"Python thread {k}: translations differ")
        check(scores_match(results[k][1]), f"Python thread {k}: scores differ")
    print("threads: threads=2 and two Python threads sharing one Translator give the same values")

    # The GIL is released while C++ translates: a pure-Python thread keeps running during the call.
    # Held, it would pause for the whole call; released, for a switch interval or a time slice.
    def longest_pause(batch):
        done, longest = threading.Event(), [0.0]

        def spin():
            last = time.perf_counter()
            while not done.is_set():
                now = time.perf_counter()
                longest[0] = max(longest[0], now - last)
                last = now

        th = threading.Thread(target=spin)
        th.start()
        time.sleep(0.02)
        longest[0] = 0.0
        t0 = time.perf_counter()
        t.translate(batch, beam=3)
        call = time.perf_counter() - t0
        done.set()
        th.join()
        return longest[0], call

    batch = sources
    pause, call = longest_pause(batch)
    while call < 0.3 and len(batch) < 100000:
        batch = batch * 4
        pause, call = longest_pause(batch)
    check(pause < call / 3, f"a Python thread paused {pause:.3f} s during a {call:.3f} s translate call: the GIL is held")
    print(f"GIL: a Python thread paused at most {1000 * pause:.1f} ms during a {call:.2f} s translate call")

    # --- a model file of io::save_model alone ------------------------------------------------
    plain = os.path.join(a.work, "plain.safetensors")
    run([a.reference, "save-plain", cli_dir, plain])
    tp = seq2seq.Translator(plain)
    check("training" not in tp.metadata and "training" in t.metadata, "the plain file has no training settings")
    check(nbest_matches(tp.translate(sources, beam=3, nbest=2)), "io::save_model's file translates differently")
    print("a file of io::save_model alone: the same translations")

    # --- parameters: numpy views of the model's memory ---------------------------------------
    params = t.parameters()
    expected = {"encoder.embedding.E", "decoder.embedding.E", "decoder.softmax.W", "decoder.softmax.b"}
    expected |= {f"{side}.layer{l}.{p}" for side in ("encoder", "decoder") for l in (0, 1) for p in "WUb"}
    check(set(params) == expected, f"parameter names: {sorted(params)}")
    H, E = 24, 24
    check(params["encoder.layer0.W"].shape == (4 * H, E) and params["encoder.layer1.W"].shape == (4 * H, H), "shapes")
    check(params["decoder.softmax.b"].shape == (t.config["target_vocab"], 1) and params["decoder.softmax.b"].dtype == np.float32, "dtype")
    other = seq2seq.Translator(cli_dir).parameters()
    check(all(np.array_equal(params[n], other[n]) for n in params), "views of two loads of one file are equal")
    b = params["decoder.softmax.b"]
    saved = b.copy()
    word = 4  # the most frequent target word
    eos = t.target_vocab.index("<EOS>")
    b[:] = -30
    b[eos] = 30  # every translation is now empty: <EOS> first
    check(t.translate(sources, beam=1) == [""] * len(sources), "a write through the view changes the translations")
    b[:] = saved
    check(nbest_matches(t.translate(sources, beam=3, nbest=2)), "undoing the write restores the translations")
    params["decoder.softmax.W"][word, 0] += 1.0
    edited = os.path.join(a.work, "edited.safetensors")
    t.save(edited)
    check(np.array_equal(seq2seq.Translator(edited).parameters()["decoder.softmax.W"], params["decoder.softmax.W"]),
          "save() writes the edited weights")
    del t, params
    check(b.sum() == saved.sum(), "a view outlives the name of its Translator (it keeps the model alive)")
    print("parameters: views read and write the model; save() keeps the edit")
    print("python_module: all checks passed")


if __name__ == "__main__":
    main()
