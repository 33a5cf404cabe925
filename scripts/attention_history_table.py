"""Summarise docs/results/attention_history_cpu/lambda{0,1}: per λ and method, the attention AUC against the hidden
attention on passive training plays and the test AUC against the true preference (mean ± sd over seeds), and
paired t-tests (seeds matched) of UAE / PN / the PN classifier against EDM, and a Welch t-test of how those
differences change from λ = 0 to λ = 1.

    python scripts/attention_history_table.py docs/results/attention_history_cpu
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from scipy import stats

#: attention AUCs against the hidden attention: passive training plays, and the same without unplayed rows
ATT = ("att_auc_passive", "att_auc_passive_played")


def main(root: str) -> None:
    print("| λ | method | seeds | att_auc_passive | att_auc_passive_played | auc_true | gauc_true | gap_auc_true |")
    print("|---|---|---|---|---|---|---|---|")
    tests, diffs = [], {}
    for lam_dir in sorted(Path(root).glob("lambda*")):
        runs = [json.loads(f.read_text()) for f in sorted((lam_dir / "runs").glob("*.json"))]
        by: dict[str, dict[int, dict]] = {}
        for r in runs:
            by.setdefault(r["method"], {})[r["seed"]] = {**r["test"], **{
                k: v for k, v in (r.get("method_state") or {}).items() if k in ATT}}
        mean = {m: {k: np.mean([s[k] for s in v.values() if k in s]) for k in ("auc_true", "gauc_true")}
                for m, v in by.items()}
        for m, v in by.items():
            cells = []
            for k in (*ATT, "auc_true", "gauc_true"):
                x = np.array([s[k] for s in v.values() if k in s])
                cells.append(f"{x.mean():.4f} ± {x.std(ddof=1):.4f}" if len(x) > 1 else "–")
            gap = float("nan")
            if {"none", "oracle"} <= set(mean):
                gap = (mean[m]["auc_true"] - mean["none"]["auc_true"]) / (mean["oracle"]["auc_true"]
                                                                           - mean["none"]["auc_true"])
            print(f"| {lam_dir.name[6:]} | {m} | {len(v)} | " + " | ".join(cells) + f" | {gap:+.2f} |")
        for other in ("uae", "pn", "pn_classifier"):
            for k in (*ATT, "auc_true"):
                if other in by and "edm" in by:
                    seeds = sorted(set(by[other]) & set(by["edm"]))
                    a = np.array([by[other][s][k] for s in seeds])
                    b = np.array([by["edm"][s][k] for s in seeds])
                    # a constant difference (PN's attention is the actions, EDM's is fitted once): no test
                    p = f"{stats.ttest_rel(a, b).pvalue:.3g}" if np.ptp(a - b) > 0 else "–"
                    tests.append(f"| {lam_dir.name[6:]} | {other} − edm | {k} | {np.mean(a - b):+.4f} | {p} | "
                                 f"{len(seeds)} |")
                    diffs.setdefault((other, k), []).append(a - b)
    print("\n| λ | difference | metric | mean difference | paired t-test p | seeds |\n|---|---|---|---|---|---|")
    print("\n".join(tests))
    print("\n| difference | metric | change from the first λ to the last | Welch t-test p |\n|---|---|---|---|")
    for (other, k), d in diffs.items():
        if len(d) >= 2:
            p = f"{stats.ttest_ind(d[-1], d[0], equal_var=False).pvalue:.3g}" if np.ptp(d[-1]) + np.ptp(d[0]) else "–"
            print(f"| {other} − edm | {k} | {np.mean(d[-1]) - np.mean(d[0]):+.4f} | {p} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/results/attention_history_cpu")
