"""A seqrec results folder's models beside their ceilings: per label the headline, AUC-true, the non-personal checks
(@mean_h, @bias) and gap_closed; then per model the share of the AUC-true gap from pop_up / up_share to oracle_pi it
closes, and paired t-tests against its own non-personal versions and the best non-personal scorers:

    python scripts/seqrec_ceilings.py docs/results/negfeedback_dense_cpu
"""

import math
import sys

import numpy as np

from denoiserec.report.common import paired
from denoiserec.report.seqrec import BASELINES, _entries, load_runs, summarize


def fmt(ms) -> str:
    return "–" if ms is None or math.isnan(ms[0]) else f"{ms[0]:.4f} ± {ms[1]:.4f}"


def main(folder: str) -> None:
    runs = load_runs(folder)
    head, rows = summarize(runs, "baseline")
    print("seeds", sorted(r["seed"] for r in runs), "headline", head)
    for r in rows:
        print(f"{r['label']} | {fmt(r.get(head))} | true {fmt(r.get('user_auc_true'))} | @mean_h "
              f"{fmt(r.get(head + '@mean_h'))} | @bias {fmt(r.get(head + '@bias'))} | true@mean_h "
              f"{fmt(r.get('user_auc_true@mean_h'))} | gap_closed {fmt(r.get('gap_closed'))} | best_epoch "
              f"{fmt(r.get('best_epoch'))}")
    entries = _entries(runs)

    def per(label: str, metric: str) -> dict[int, float]:
        return {s: float(v["test"].get(metric, np.nan)) for s, v in entries[label].items()}

    for lab in [lab for lab in entries if lab not in BASELINES]:
        for floor in ("pop_up", "up_share"):
            x, lo, hi = per(lab, "user_auc_true"), per(floor, "user_auc_true"), per("oracle_pi", "user_auc_true")
            g = [(x[s] - lo[s]) / (hi[s] - lo[s]) for s in x]
            print(f"{lab}: AUC-true gap closed from {floor} to oracle_pi: {np.mean(g):.3f} ± {np.std(g, ddof=1):.3f}")
        for other in ("@mean_h", "@bias", "up_share", "item_mean_pi", "baseline"):
            if other == lab:
                continue
            b = per(lab, f"{head}{other}") if other.startswith("@") else per(other, head)
            d = paired(per(lab, head), b)
            print(f"{lab} {head} minus {other}: {d[0]:+.4f} (p {d[1]:.2g})")


if __name__ == "__main__":
    main(sys.argv[1])
