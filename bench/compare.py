#!/usr/bin/env python3
"""Turns bench_lstm's JSON output into ratio tables (medians of repetitions).

  ./bench_lstm --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
      --benchmark_format=json > lstm.json
  python3 bench/compare.py lstm.json [--ours seq2seq_fixed]

Prints, per pass and thread count, the median ms of every implementation per (H, B), the speed-up
of ours over each peer (peer time / our time; > 1 means we are faster) and their geometric means.
A peer timed in several settings (libtorch, libtorch_1x2 = 1 torch thread over 2 OpenBLAS threads)
is compared at its best: the faster setting per shape.
"""
import gzip
import json
import math
import re
import sys
from collections import defaultdict

NAME = re.compile(r"lstm/(?P<pass>\w+)/(?P<impl>\w+)/H:(?P<H>\d+)/B:(?P<B>\d+)/threads:(?P<t>\d+)")


def main():
    args = sys.argv[1:]
    ours = "seq2seq_fixed"
    if "--ours" in args:
        i = args.index("--ours")
        ours = args[i + 1]
        del args[i:i + 2]
    data = json.load(gzip.open(args[0], "rt") if args[0].endswith(".gz") else open(args[0]))
    times = defaultdict(dict)  # (pass, threads) -> {(H, B, impl): ms}
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        m = NAME.match(b["run_name"] if "run_name" in b else b["name"])
        if not m:
            continue
        ms = b["real_time"] * {"ms": 1, "us": 1e-3, "ns": 1e-6, "s": 1e3}[b["time_unit"]]
        times[(m["pass"], int(m["t"]))][(int(m["H"]), int(m["B"]), m["impl"])] = ms
    for (pss, t), tab in sorted(times.items()):
        impls = sorted({k[2] for k in tab})
        # A peer's variants (libtorch and libtorch_1x2: two thread settings) count as one peer
        # at its best: the faster variant per shape.
        peers = sorted({i.split("_")[0] for i in impls if not i.startswith("seq2seq")})

        def peer_ms(H, B, p):
            ts = [v for (h, b, i), v in tab.items() if h == H and b == B and i.split("_")[0] == p]
            return min(ts) if ts else None

        shapes = sorted({(k[0], k[1]) for k in tab})
        print(f"\n### {pss}, {t} thread{'s' if t > 1 else ''} (median ms; speed-up = peer / {ours})\n")
        print("| H | B | " + " | ".join(impls) + " | " + " | ".join(f"vs {p}" for p in peers) + " |")
        print("|" + "---|" * (2 + len(impls) + len(peers)))
        logs = defaultdict(list)
        for H, B in shapes:
            row = [f"{tab.get((H, B, i), float('nan')):.3g}" for i in impls]
            ratios = []
            for p in peers:
                pm = peer_ms(H, B, p)
                if pm is not None and (H, B, ours) in tab:
                    r = pm / tab[(H, B, ours)]
                    logs[p].append(math.log(r))
                    ratios.append(f"{r:.2f}")
                else:
                    ratios.append("-")
            print(f"| {H} | {B} | " + " | ".join(row) + " | " + " | ".join(ratios) + " |")
        for p in peers:
            if logs[p]:
                print(f"\ngeometric-mean speed-up over {p}: {math.exp(sum(logs[p]) / len(logs[p])):.2f} "
                      f"(min {math.exp(min(logs[p])):.2f}, over {len(logs[p])} shapes)")


if __name__ == "__main__":
    main()
