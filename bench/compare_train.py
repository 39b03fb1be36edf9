#!/usr/bin/env python3
"""The training-step and decoding table: bench_train's JSON beside train_step_torch.py's.

  bench_train --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \\
      --benchmark_format=json > train.json
  /usr/bin/python3 bench/train_step_torch.py --threads 1 --json torch-1.json   (and 2, and 2 over 1 torch thread)
  python3 bench/compare_train.py train.json torch-*.json

Our medians against torch's best run at the same thread count (torch files say their thread count;
several at one count, e.g. 2 torch threads or 1 torch thread over 2 OpenBLAS threads, count as one
peer at its best). Speed-up = torch time / our time (> 1: we are faster).
"""
import json
import re
import sys

NAME = re.compile(r"(?P<what>train|decode_beam5|decode_greedy64)/threads:(?P<t>\d+)")
UNIT = {"ms": 1, "us": 1e-3, "ns": 1e-6, "s": 1e3}
WORK = {"train": (64 * 20, "target tokens/s"), "decode_beam5": (1, "sentences/s"), "decode_greedy64": (64, "sentences/s")}


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    ours = {}
    for b in json.load(open(sys.argv[1]))["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        m = NAME.match(b.get("run_name", b["name"]))
        if m:
            ours[(m["what"], int(m["t"]))] = b["real_time"] * UNIT[b["time_unit"]]
    torch_best = {}
    for path in sys.argv[2:]:
        r = json.load(open(path))
        for what in WORK:
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
        if (what, t) in torch_best:
            tms, setting = torch_best[(what, t)]
            row += f" {tms:.3g} | {work / tms * 1e3:.4g} | {setting} | {tms / ms:.2f} |"
        else:
            row += " - | - | - | - |"
        print(row)


if __name__ == "__main__":
    main()
