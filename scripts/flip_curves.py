"""Over-fitting under known label flips (docs/results/lcd.md §6): per method, the clean validation AUC
(``valid_auc_true``) at its best epoch over training (an oracle stopping rule), at the epoch the noisy
validation labels select (what the run keeps) and at the last epoch (where over-fitting has gone), with the
paired t-test (seeds matched) of each against the baseline method.

    python scripts/flip_curves.py docs/results/label_flip20_cpu [--vs none]
"""

import argparse
from collections import defaultdict

import numpy as np
from scipy import stats

from denoiserec.report.ctr import load_runs

ap = argparse.ArgumentParser()
ap.add_argument("folder")
ap.add_argument("--vs", default="none")
args = ap.parse_args()

cols = {"best clean valid AUC (any epoch)": lambda h: max(e["valid_auc_true"] for e in h),
        "at the noisy-valid-selected epoch": lambda h: max(h, key=lambda e: e["valid_auc"])["valid_auc_true"],
        "last epoch": lambda h: h[-1]["valid_auc_true"]}
values: dict = defaultdict(dict)
for r in load_runs(args.folder):
    if r.get("history"):
        values[(r["model"], r["method"])][r["seed"]] = [f(r["history"]) for f in cols.values()]
print("| model | method | " + " | ".join(cols) + " |")
print("|---|---|" + "---|" * len(cols))
for (model, method), by_seed in values.items():
    base = values.get((model, args.vs), {})
    seeds = sorted(set(by_seed) & set(base))
    cells = []
    for i in range(len(cols)):
        x = np.array([by_seed[s][i] for s in sorted(by_seed)])
        cell = f"{x.mean():.4f} ± {x.std(ddof=1) if len(x) > 1 else 0:.4f}"
        if method != args.vs and len(seeds) > 1:
            a, b = (np.array([d[s][i] for s in seeds]) for d in (by_seed, base))
            cell += f" ({(a - b).mean():+.4f}, p = {stats.ttest_rel(a, b).pvalue:.2g})"
        cells.append(cell)
    print(f"| {model} | {method} | " + " | ".join(cells) + " |")
