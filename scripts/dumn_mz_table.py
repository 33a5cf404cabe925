"""DUMN's memory-size grid (Fig. 2) as two tables, m slots × Z slot width, from a results folder whose models are
named ``dumn_m{m}_z{z}`` with ``dumn`` the baseline cell (``configs/dumn_kuairand_mz_cpu.yaml``): mean test AUC and
GAUC over the seeds, with paired t-tests (seeds matched) against the baseline cell.

    python scripts/dumn_mz_table.py docs/results/dumn_kuairand_mz_cpu [--base 256 64]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from scipy.stats import ttest_rel

SIZES = (16, 32, 64, 128, 256)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path)
    ap.add_argument("--base", type=int, nargs=2, default=(256, 64), metavar=("M", "Z"))
    args = ap.parse_args()
    runs = args.folder / "runs"

    def metric(label: str, key: str) -> list[float] | None:
        files = sorted(runs.glob(f"{label}__none__seed*.json"))
        return [json.loads(f.read_text())["test"][key] for f in files] or None

    for key in ("auc", "gauc"):
        base = metric("dumn", key)
        print(f"\n{key.upper()}: mean over seeds (p: paired t-test vs {args.base[0]} × {args.base[1]})\n")
        print("| m \\ Z | " + " | ".join(str(z) for z in SIZES) + " |")
        print("|---|" + "---|" * len(SIZES))
        for m in SIZES:
            cells = []
            for z in SIZES:
                is_base = (m, z) == tuple(args.base)
                v = base if is_base else metric(f"dumn_m{m}_z{z}", key)
                if v is None:
                    cells.append("–")
                elif is_base:
                    cells.append(f"**{sum(v) / len(v):.4f}**")
                elif len(v) != len(base):  # unfinished cell: no paired test
                    cells.append(f"{sum(v) / len(v):.4f} ({len(v)} seeds)")
                else:
                    cells.append(f"{sum(v) / len(v):.4f} (p {ttest_rel(v, base).pvalue:.2g})")
            print(f"| {m} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
