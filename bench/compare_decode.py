#!/usr/bin/env python3
"""Markdown tables of a decoding run (bench/run.sh --decode-model ...): bench_decode's medians
beside decode_torch.py's, the ratios the issue-14 targets name, and BLEU per system.

  compare_decode.py DECODE.json TORCH.json [--bleu BLEU.json] [--load TEXT]

DECODE.json is Google Benchmark's JSON (with --benchmark_repetitions: the medians are used),
TORCH.json decode_torch.py's, BLEU.json {"<translation file stem>": bleu} from bench/run.sh.
"""
import argparse
import json


def medians(path):
    """name -> (real time in ms, sentences/s or None, GFLOPS or None), medians only."""
    data = json.load(open(path))
    out = {}
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = b.get("run_name", b["name"])
        if name.endswith("/real_time"):  # UseRealTime() appends it
            name = name[: -len("/real_time")]
        unit = {"ms": 1.0, "us": 1e-3, "ns": 1e-6, "s": 1e3}[b.get("time_unit", "ns")]
        ms, cpu_ms = b["real_time"] * unit, b["cpu_time"] * unit
        rate = b.get("sentences/s")
        # Sentences per CPU second: on a loaded machine, what one thread would do alone.
        cpu_rate = None if rate is None or not cpu_ms else rate * ms / cpu_ms
        gflops = b.get("GFLOPS")  # Google Benchmark stores the rate in FLOP/s
        out[name] = (ms, rate, None if gflops is None else gflops / 1e9, cpu_rate)
    return out


def fmt(x, digits=1):
    return "-" if x is None else f"{x:,.{digits}f}"


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def table(tag, ours, torch, bleu, cpu=False):
    def rate(name):
        v = ours.get(f"{tag}/{name}")
        return (v[3] if cpu else v[1]) if v else None

    def trate(name):
        v = torch.get(tag, {}).get(name)
        return v.get("sentences_per_cpu_s" if cpu else "sentences_per_s") if v else None

    rows = [  # label, beam 5 rate, greedy rate, BLEU keys (translation file stems)
        ("ours, float (packed copies), batched", rate("beam5/float/batched"), rate("greedy/float/batched"),
         "beam5-float", "greedy-float"),
        ("ours, bf16, batched", rate("beam5/bf16/batched"), rate("greedy/bf16/batched"), "beam5-bf16", "greedy-bf16"),
        ("ours, int8, batched", rate("beam5/int8/batched"), rate("greedy/int8/batched"), "beam5-int8", "greedy-int8"),
        ("ours, float + shortlist, batched", rate("beam5/float+shortlist/batched"), rate("greedy/float+shortlist/batched"),
         "beam5-float+shortlist", "greedy-float+shortlist"),
        ("ours, int8 + shortlist, batched", rate("beam5/int8+shortlist/batched"), rate("greedy/int8+shortlist/batched"),
         "beam5-int8+shortlist", "greedy-int8+shortlist"),
        ("ours, parameters (no copies), batched", rate("beam5/params/batched"), rate("greedy/params/batched"),
         "beam5-params", "greedy-params"),
        ("ours, one sentence at a time (the search before issue 14)", rate("beam5/params/one"), None,
         "beam5-params-one", None),
        ("PyTorch float, torch_ref.py-style beam; greedy", trate("beam5_ref/float"), trate("greedy/float"),
         "torch-beam5_ref-float", "torch-greedy-float"),
        ("PyTorch float, hypotheses batched", trate("beam5_batched/float"), None, "torch-beam5_batched-float", None),
        ("PyTorch quantize_dynamic, torch_ref.py-style beam; greedy", trate("beam5_ref/qdynamic"), trate("greedy/qdynamic"),
         "torch-beam5_ref-qdynamic", "torch-greedy-qdynamic"),
        ("PyTorch quantize_dynamic, hypotheses batched", trate("beam5_batched/qdynamic"), None,
         "torch-beam5_batched-qdynamic", None),
    ]
    unit = "sentences per CPU s" if cpu else "sentences/s"
    lines = [f"| system | beam 5, {unit} | greedy, {unit} | BLEU beam 5 | BLEU greedy |", "|---|---|---|---|---|"]
    for label, beam, greedy, bleu_beam, bleu_greedy in rows:
        if beam is None and greedy is None:
            continue
        lines.append(f"| {label} | {fmt(beam)} | {fmt(greedy)} | {fmt(bleu.get(bleu_beam), 2)} | "
                     f"{fmt(bleu.get(bleu_greedy), 2)} |")
    targets = [
        ("beam 5, float: ours / PyTorch float (torch_ref.py-style)", ratio(rate("beam5/float/batched"), trate("beam5_ref/float")), 5.0),
        ("beam 5, float: ours / PyTorch float (hypotheses batched)", ratio(rate("beam5/float/batched"), trate("beam5_batched/float")), None),
        ("beam 5, float: batched / one sentence at a time (ours before)", ratio(rate("beam5/float/batched"), rate("beam5/params/one")), 3.0),
        ("greedy, float: ours / PyTorch float", ratio(rate("greedy/float/batched"), trate("greedy/float")), 3.0),
        ("beam 5: ours int8 / ours float", ratio(rate("beam5/int8/batched"), rate("beam5/float/batched")), 1.8),
        ("beam 5: ours bf16 / ours float", ratio(rate("beam5/bf16/batched"), rate("beam5/float/batched")), 1.8),
        ("beam 5: ours int8 / PyTorch quantize_dynamic (torch_ref.py-style)", ratio(rate("beam5/int8/batched"), trate("beam5_ref/qdynamic")), None),
        ("greedy: ours int8 / PyTorch quantize_dynamic", ratio(rate("greedy/int8/batched"), trate("greedy/qdynamic")), None),
    ]
    lines += ["", "| ratio (same run) | value | target |", "|---|---|---|"]
    for label, value, target in targets:
        if value is None:
            continue
        met = "" if target is None else (" (met)" if value >= target else f" (missed by {100 * (1 - value / target):.0f}%)")
        lines.append(f"| {label} | {value:.2f}{met} | {'-' if target is None else f'>= {target}'} |")
    if bleu.get("beam5-float") is not None:
        for p in ("bf16", "int8", "float+shortlist", "int8+shortlist"):
            if bleu.get(f"beam5-{p}") is not None:
                lines.append(f"| BLEU beam 5: {p} - float | {bleu[f'beam5-{p}'] - bleu['beam5-float']:+.2f} | "
                             f"{'within 0.3' if '+' not in p else '-'} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("decode_json")
    ap.add_argument("torch_json", nargs="?")
    ap.add_argument("--bleu")
    ap.add_argument("--load", default="")
    args = ap.parse_args()
    ours = medians(args.decode_json)
    torch = json.load(open(args.torch_json)) if args.torch_json else {}
    bleu = json.load(open(args.bleu)) if args.bleu else {}
    print(f"Decoding, 1 thread, medians (torch {torch.get('torch', '-')}). {args.load}\n")
    for tag, title in (("corpus", "Shared corpus: the 604 test sources, the emb = H = 256, 2-layer model trained on it"),
                       ("vocab8k", "bench_train's model: 8,000-word vocabularies, random weights, 64 sources of 20 words, 20 words out")):
        if any(k.startswith(tag + "/") for k in ours):
            print(f"### {title}\n\n{table(tag, ours, torch, bleu if tag == 'corpus' else {})}\n")
            print(f"### {title}: CPU time (sentences per CPU second of the 1-thread process)\n\n"
                  f"{table(tag, ours, torch, bleu if tag == 'corpus' else {}, cpu=True)}\n")
    cells = {k: v for k, v in ours.items() if k.startswith("cell/")}
    if cells:
        print("### One LSTM layer, inference (H = 256, B = 64, T = 20)\n")
        print("| implementation | ms | GFLOP/s |\n|---|---|---|")
        for k, (ms, _, gf, _) in sorted(cells.items()):
            print(f"| {k.split('/')[1]} | {ms:.3f} | {fmt(gf)} |")
        ref = {k.split("/")[1]: v[0] for k, v in cells.items()}
        for a, b in (("ours-int8", "onednn-int8"), ("ours-float", "onednn-f32"), ("ours-bf16", "onednn-f32")):
            if a in ref and b in ref:
                print(f"\n{a} is {ref[b] / ref[a]:.2f}x the speed of {b}", end="")
        print()


if __name__ == "__main__":
    main()
