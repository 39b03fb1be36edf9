#!/usr/bin/env python3
"""Sentences per second of seq2seq.Translator.translate from one and from two Python threads.

Two threads share one Translator and translate the same sentences at once; the ratio of their
combined sentences/s to one thread's shows that the GIL is released while C++ computes. The same
ratio for two `toy_translation translate` processes (--cli) is the machine's ceiling: on a loaded
machine neither reaches 2. "Cores busy" is the process's CPU time over wall time: above 1.0 for
two threads only if they run C++ at the same time, i.e. without the GIL. Every figure is the median of --reps repetitions; the load average is
printed with each.

    PYTHONPATH=build/python /usr/bin/python3 bench/python_threads.py MODEL TEST.tsv \
        [--beam 5] [--sentences 200] [--reps 5] [--cli build/examples/toy_translation/toy_translation]
"""
import argparse
import os
import statistics
import subprocess
import tempfile
import threading
import time

import seq2seq


def load():
    return "load %.2f %.2f %.2f" % os.getloadavg()


def median_rate(fn, sentences, reps, cpu=None):
    """Median sentences/s of `reps` runs; with a list `cpu`, also appends the median cores the
    process used (its CPU seconds over wall seconds: at most 1.0 while the GIL serialises threads)."""
    rates, cores = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = time.perf_counter() - t0
        rates.append(sentences / wall)
        cores.append((time.process_time() - c0) / wall)
    if cpu is not None:
        cpu.append(statistics.median(cores))
    return statistics.median(rates), rates


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("tsv")
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--sentences", type=int, default=200)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--cli")
    a = ap.parse_args()
    with open(a.tsv, encoding="utf-8") as f:
        sources = list(dict.fromkeys(line.split("\t")[0] for line in f.read().splitlines()))[: a.sentences]
    n = len(sources)
    t = seq2seq.Translator(a.model)
    t.translate(sources[:10], beam=a.beam)  # warm-up

    print(f"{n} sentences, beam {a.beam}, {a.reps} repetitions, {os.cpu_count()} cores; {load()}")
    cores = []
    one, r1 = median_rate(lambda: t.translate(sources, beam=a.beam), n, a.reps, cores)
    print(f"1 Python thread:  {one:8.2f} sentences/s (runs {', '.join('%.2f' % r for r in r1)}), "
          f"{cores[-1]:.2f} cores busy; {load()}")

    def two_threads():
        ths = [threading.Thread(target=t.translate, args=(sources,), kwargs={"beam": a.beam}) for _ in range(2)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()

    two, r2 = median_rate(two_threads, 2 * n, a.reps, cores)
    print(f"2 Python threads: {two:8.2f} sentences/s (runs {', '.join('%.2f' % r for r in r2)}), "
          f"{cores[-1]:.2f} cores busy; {load()}")
    print(f"ratio 2/1 threads: {two / one:.2f}")

    # The GIL while translate runs, whatever the load: a pure-Python thread counts and notes its
    # longest pause. Were the GIL held through the C++ work, that pause would be the whole call.
    gaps = []
    for _ in range(a.reps):
        done = threading.Event()
        longest = [0.0]

        def spin():
            last = time.perf_counter()
            while not done.is_set():
                now = time.perf_counter()
                longest[0] = max(longest[0], now - last)
                last = now

        th = threading.Thread(target=spin)
        th.start()
        time.sleep(0.05)
        longest[0] = 0.0
        t0 = time.perf_counter()
        t.translate(sources, beam=a.beam)
        call = time.perf_counter() - t0
        done.set()
        th.join()
        gaps.append((longest[0], call))
    g, c = sorted(gaps)[len(gaps) // 2]
    print(f"a Python thread's longest pause during one {c:.2f} s translate call: {1000 * g:.1f} ms (median of {a.reps}); {load()}")

    if a.cli:
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
            f.write("".join(s + "\n" for s in sources))
        cmd = [a.cli, "translate", "--model", a.model, "--beam", str(a.beam), f.name]

        def processes(k):
            ps = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(k)]
            for p in ps:
                if p.wait() != 0:
                    raise RuntimeError("toy_translation translate failed")

        c1, q1 = median_rate(lambda: processes(1), n, a.reps)
        print(f"1 CLI process:    {c1:8.2f} sentences/s (runs {', '.join('%.2f' % r for r in q1)}); {load()}")
        c2, q2 = median_rate(lambda: processes(2), 2 * n, a.reps)
        print(f"2 CLI processes:  {c2:8.2f} sentences/s (runs {', '.join('%.2f' % r for r in q2)}); {load()}")
        print(f"ratio 2/1 processes (the ceiling): {c2 / c1:.2f}")
        os.unlink(f.name)


if __name__ == "__main__":
    main()
