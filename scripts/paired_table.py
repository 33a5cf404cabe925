"""A results folder's test metrics, with RelaImpr and the paired t-test (seeds matched) of every method against
each of several baselines -- the tables of docs/results/lcd.md and uae_sim.md.

    python scripts/paired_table.py docs/results/lcd_table_cpu --vs none lcd --metrics auc_true auc

One Markdown table per model: mean ± std over seeds of each metric, then ``RelaImpr % (p)`` of each metric against
each baseline (denoiserec.report.ctr.summarize), the share of the gap to the oracle closed on the first metric
(against the first baseline, where the folder has an ``oracle`` row), the best validation epoch per seed, and the
popularity row when the folder has one.
"""

import argparse
import math

from denoiserec.report.ctr import load_runs, summarize

ap = argparse.ArgumentParser()
ap.add_argument("folders", nargs="+")
ap.add_argument("--vs", nargs="+", default=["none"])
ap.add_argument("--metrics", nargs="+", default=["auc_true", "auc"])
ap.add_argument("--state", nargs="*", default=[], help="method_state keys to average over seeds (a.b: nested)")
args = ap.parse_args()

runs = [r for f in args.folders for r in load_runs(f)]
best_epoch: dict = {}
state: dict = {}
for r in runs:
    for k in args.state:
        v = r.get("method_state") or {}
        for part in k.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        if isinstance(v, (int, float)):
            state.setdefault((r["model"], r["method"], k), []).append(float(v))
    if r.get("history"):
        va = [h["valid_auc"] for h in r["history"]]
        best_epoch.setdefault((r["model"], r["method"]), {})[r["seed"]] = va.index(max(va)) + 1
by_base = {b: {(x["model"], x["method"]): x for x in summarize(runs, b)} for b in args.vs}
models = sorted({r["model"] for r in runs if r["model"] != "popularity"})
pop = next((x for x in summarize(runs, None) if x["model"] == "popularity"), None)


def cell(row, key):
    v = row.get(key)
    return "–" if v is None else f"{v[0]:.4f} ± {v[1]:.4f}"


def cmp(row, m):
    r, p = row.get(f"relaimpr_{m}"), row.get(f"p_{m}")
    if r is None or p is None or math.isnan(p):
        return "–"
    return ("–" if math.isnan(r) else f"{r:+.2f} %") + f" ({p:.2g})"


for model in models:
    gap = f"gap_{args.metrics[0]}"
    head = ["method", *args.metrics, *[f"{m} vs {b}" for b in args.vs for m in args.metrics],
            f"gap closed ({args.metrics[0]})", *args.state, "best valid epoch"]
    print(f"\n**{model}**\n\n| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    rows = [k for k in by_base[args.vs[0]] if k[0] == model]
    for key in rows:
        row = by_base[args.vs[0]][key]
        cells = [row["method"], *[cell(row, m) for m in args.metrics]]
        cells += [cmp(by_base[b][key], m) for b in args.vs for m in args.metrics]
        g = by_base[args.vs[0]][key].get(gap)
        cells.append("–" if g is None or math.isnan(g) else f"{g:+.2f}")
        for k in args.state:
            v = state.get((*key, k))
            cells.append(f"{sum(v) / len(v):.3f}" if v else "–")
        ep = best_epoch.get(key, {})
        cells.append(", ".join(str(ep[s]) for s in sorted(ep)))
        print("| " + " | ".join(cells) + " |")
    if pop:
        print("| popularity | " + " | ".join(cell(pop, m) for m in args.metrics) + " |"
              + " |" * (len(head) - 1 - len(args.metrics)))
