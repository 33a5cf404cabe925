"""Known-answer control (b) of docs/results/uae_sim.md: per results folder (one per κ), each attention method's
attention AUC (passive training plays, and those actually played) and its propensity network's ratio
p(after an action) / p(after a passive play) (truth: 1/(1-κ)), its mean α on passive plays and mean auto-play
weight, mean ± std over seeds, and paired t-tests
(seeds matched) of UAE against SAR.

    python scripts/uae_propensity_table.py docs/results/uae_propensity_cpu/kappa{0,08}
"""

import argparse
from pathlib import Path

import numpy as np
import yaml
from scipy.stats import ttest_rel

from denoiserec.report.ctr import load_runs

ap = argparse.ArgumentParser()
ap.add_argument("folders", nargs="+")
ap.add_argument("--methods", nargs="+", default=["sar", "uae"])
args = ap.parse_args()


def per_seed(runs: list[dict], method: str) -> dict[int, dict[str, float]]:
    out = {}
    for r in runs:
        if r.get("method") != method:
            continue
        s = r["method_state"]
        row = {k: s[k] for k in ("att_auc_passive", "att_auc_passive_played") if k in s}
        if "propensity_after_active" in s:
            row["h_ratio"] = s["propensity_after_active"] / s["propensity_after_passive"]
        row["alpha_passive"] = s["mean_attention_passive"]
        row["w_autoplay"] = s["mean_weight_by_kind"]["autoplay"]
        row["auc_true"] = r["test"]["auc_true"]
        out[r["seed"]] = row
    return out


METRICS = ("att_auc_passive", "att_auc_passive_played", "h_ratio", "alpha_passive", "w_autoplay", "auc_true")
print("| folder | κ | method | seeds | " + " | ".join(METRICS) + " |")
print("|---|---|---|---|" + "---|" * len(METRICS))
tests = []
for folder in args.folders:
    runs = load_runs(folder)
    sim = yaml.safe_load((Path(folder) / "config.yaml").read_text())["data"]["simulate"]
    kappa = sim.get("propensity_history", 0.0)
    rows = {m: per_seed(runs, m) for m in args.methods}
    for m, by_seed in rows.items():
        cells = []
        for k in METRICS:
            v = np.array([r[k] for r in by_seed.values() if k in r])
            cells.append(f"{v.mean():.4f} ± {v.std(ddof=1):.4f}" if len(v) > 1 else "–")
        print(f"| {Path(folder).name} | {kappa} | {m} | {len(by_seed)} | " + " | ".join(cells) + " |")
    a, b = rows[args.methods[-1]], rows[args.methods[0]]
    seeds = sorted(set(a) & set(b))
    for k in METRICS:
        x, y = np.array([a[s][k] for s in seeds]), np.array([b[s][k] for s in seeds])
        tests.append((Path(folder).name, kappa, k, float((x - y).mean()), float(ttest_rel(x, y).pvalue), len(seeds)))
print(f"\n| folder | κ | metric | {args.methods[-1]} − {args.methods[0]} | paired t-test p | seeds |")
print("|---|---|---|---|---|---|")
for f, kappa, k, d, p, n in tests:
    print(f"| {f} | {kappa} | {k} | {d:+.4f} | {p:.3g} | {n} |")
