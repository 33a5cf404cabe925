"""DUMN's memory-size grid (Fig. 2) as two tables, m slots × Z slot width, from a results folder whose models are
named ``dumn_m{m}_z{z}`` with ``dumn`` the baseline cell (``configs/dumn_kuairand_mz_cpu.yaml``): mean test AUC and
GAUC over the seeds, with the report's paired t-tests (seeds matched) against the baseline cell
(:func:`denoiserec.report.ctr.summarize`).

    python scripts/dumn_mz_table.py docs/results/dumn_kuairand_mz_cpu [--base 256 64]
"""

from __future__ import annotations

import argparse

from denoiserec.report.ctr import load_runs, summarize

SIZES = (16, 32, 64, 128, 256)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--base", type=int, nargs=2, default=(256, 64), metavar=("M", "Z"))
    args = ap.parse_args()
    rows = {r["model"]: r for r in summarize(load_runs(args.folder), "none", baseline_model="dumn")
            if r["method"] == "none"}
    for key in ("auc", "gauc"):
        print(f"\n{key.upper()}: mean over seeds (p: paired t-test vs {args.base[0]} × {args.base[1]})\n")
        print("| m \\ Z | " + " | ".join(str(z) for z in SIZES) + " |")
        print("|---|" + "---|" * len(SIZES))
        for m in SIZES:
            cells = []
            for z in SIZES:
                is_base = (m, z) == tuple(args.base)
                row = rows.get("dumn" if is_base else f"dumn_m{m}_z{z}")
                if row is None:
                    cells.append("–")
                elif is_base:
                    cells.append(f"**{row[key][0]:.4f}**")
                elif row["seeds"] != rows["dumn"]["seeds"]:  # unfinished cell: no paired test
                    cells.append(f"{row[key][0]:.4f} ({row['seeds']} seeds)")
                else:
                    cells.append(f"{row[key][0]:.4f} (p {row[f'p_{key}']:.2g})")
            print(f"| {m} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
