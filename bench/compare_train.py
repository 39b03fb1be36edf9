#!/usr/bin/env python3
"""The training-step and decoding table: bench_train's JSON beside train_step_torch.py's.

  bench_train --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \\
      --benchmark_format=json > train.json
  /usr/bin/python3 bench/train_step_torch.py --threads 1 --json torch-1.json   (and 2, and 2 over 1 torch thread)
  python3 bench/compare_train.py train.json torch-*.json [--peak peak.json]

Our medians against torch's best run at the same thread count (torch files say their thread count;
several at one count, e.g. 2 torch threads or 1 torch thread over 2 OpenBLAS threads, count as one
peer at its best). Speed-up = torch time / our time (> 1: we are faster). With --peak (bench_peak's
JSON, the FMA peak measured in the same run), a second table gives the training step's GFLOP/s as
a fraction of that peak at each thread count, and the 2-thread rate over the 1-thread rate.
"""
import json
import re
import sys

NAME = re.compile(r"(?P<what>train_bf16|train|decode_beam5|decode_greedy64)/threads:(?P<t>\d+)")
UNIT = {"ms": 1, "us": 1e-3, "ns": 1e-6, "s": 1e3}
WORK = {"train": (64 * 20, "target tokens/s"), "train_bf16": (64 * 20, "target tokens/s"), "decode_beam5": (1, "sentences/s"), "decode_greedy64": (64, "sentences/s")}


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    args = sys.argv[1:]
    peak_path = None
    if "--peak" in args:
        i = args.index("--peak")
        peak_path = args[i + 1]
        del args[i:i + 2]
    ours, gflops = {}, {}
    for b in json.load(open(args[0]))["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        m = NAME.match(b.get("run_name", b["name"]))
        if m:
            ours[(m["what"], int(m["t"]))] = b["real_time"] * UNIT[b["time_unit"]]
            if "GFLOPS" in b:
                gflops[(m["what"], int(m["t"]))] = b["GFLOPS"]
    torch_best = {}
    for path in args[1:]:
        r = json.load(open(path))
        for what in ("train", "decode_beam5", "decode_greedy64"):
            key = (what, int(r["threads"]) if str(r["openblas_threads"]) in ("unset", str(r["threads"]))
                   else max(int(r["threads"]), int(r["openblas_threads"])))
            ms = r[f"{what}_ms"]
            if key not in torch_best or ms < torch_best[key][0]:
                torch_best[key] = (ms, f"torch {r['threads']} x OpenBLAS {r['openblas_threads']}")
    print("| what | threads | seq2seq ms | seq2seq rate | torch ms | torch rate | torch setting | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for (what, t), ms in sorted(ours.items()):
        work, unit = WORK[what]
        row = f"| {what} | {t} | {ms:.3g} | {work / ms * 1e3:.4g} {unit} |"
        peer = "train" if what == "train_bf16" else what  # bf16 products beside torch's float step
        if (peer, t) in torch_best:
            tms, setting = torch_best[(peer, t)]
            row += f" {tms:.3g} | {work / tms * 1e3:.4g} | {setting} | {tms / ms:.2f} |"
        else:
            row += " - | - | - | - |"
        print(row)
    for t in sorted({t for (what, t) in ours if what == "train_bf16"}):
        if ("train", t) in ours:
            print(f"\nbf16 products over float, {t} thread(s): {ours[('train', t)] / ours[('train_bf16', t)]:.2f}x the step rate")
    if peak_path:
        print_peak(peak_path, gflops)


def print_peak(path, gflops):
    """The training step against the FMA peak (bench_peak), per thread count."""
    peak = {}
    for b in json.load(open(path))["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        m = re.match(r"peak/fma/(?:real_time/)?threads:(\d+)", b.get("run_name", b["name"]))
        if m:
            peak[int(m[1])] = b["GFLOPS"]
    print()
    print("| training step | threads | GFLOP/s | FMA peak GFLOP/s | fraction of peak | rate over 1 thread |")
    print("|---|---|---|---|---|---|")
    one = gflops.get(("train", 1))
    for t in sorted(t for (what, t) in gflops if what == "train"):
        g = gflops[("train", t)]
        p = peak.get(t)
        frac = f"{g / p:.0%}" if p else "-"
        over = f"{g / one:.2f}x" if one else "-"
        print(f"| train | {t} | {g:.1f} | {p:.1f} | {frac} | {over} |" if p else f"| train | {t} | {g:.1f} | - | - | {over} |")


if __name__ == "__main__":
    main()
