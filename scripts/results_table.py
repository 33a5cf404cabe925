"""The one table that opens docs/results/README.md: method × world -> effect vs `none`, p, gap closed.

    python scripts/results_table.py docs/results

Read from the committed run records only (``denoiserec.report.ctr.load_runs`` / ``summarize``; seqrec folders through
``denoiserec.report.seqrec``). A world is a results folder that has a ``none`` method beside other methods (folders
comparing models only -- DUMN's -- or with another baseline are left out), or a ``task: seqrec`` folder. Per row:

* **effect**: mean over matched seeds of (method − ``none``) of the headline metric: test ``auc_true`` on simulated
  data (the label-flip control's clean labels included), test ``auc`` on real data; seqrec folders: their headline
  per-user AUC against their config's ``baseline`` label;
* **p**: paired t-test over the matched seeds;
* **gap closed**: (method − popularity) / (oracle − popularity) of the mean headline, where the folder has a
  popularity record and the model an ``oracle`` row above it; seqrec: ``denoiserec.report.seqrec``'s per-seed
  share of the gap from the best popularity baseline to ``oracle_pi`` (the reachable ceiling);
* **n**: matched seeds (the base row: its seeds); fewer than 5 are marked.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import yaml

from denoiserec.report import seqrec as seqrec_report
from denoiserec.report.common import paired
from denoiserec.report.ctr import load_runs, summarize

BASE = "none"
MIN_SEEDS = 5


def world(folder: Path, cfg: dict) -> str:
    """What the folder's data is: the label-flip control, a simulator scenario, or a real sample."""
    data, noise = cfg.get("data") or {}, cfg.get("noise") or {}
    if "simulate" in data:
        if noise.get("flip"):
            return f"flip control ({100 * noise['flip']:.0f} %)"
        if noise.get("flip_pos") or noise.get("flip_neg"):  # class-conditional: P(1 → 0), P(0 → 1)
            return (f"flip control (1→0 {100 * (noise.get('flip_pos') or 0):.0f} %, "
                    f"0→1 {100 * (noise.get('flip_neg') or 0):.0f} %)")
        return "simulator"
    return f"real: {data.get('source', '?')}"


def _num(x: float, fmt: str) -> str:
    return "–" if x is None or math.isnan(x) else format(x, fmt)


def _n(n: int) -> str:
    return f"{n} (< {MIN_SEEDS})" if n < MIN_SEEDS else str(n)


def ctr_rows(folder: Path, cfg: dict) -> list[dict]:
    """One row per (model, method) of a CTR folder: effect and p against ``none``, gap closed."""
    runs = load_runs(folder)
    metric = "auc_true" if "simulate" in (cfg.get("data") or {}) else "auc"
    per_seed: dict[tuple[str, str], dict[int, float]] = {}
    for r in runs:
        per_seed.setdefault((r["model"], r["method"]), {})[r["seed"]] = float(r["test"].get(metric, math.nan))
    summary = {(x["model"], x["method"]): x for x in summarize(runs, BASE)}
    # the popularity scorer (popularity.json) where the folder has it; else a trained `popularity` model's row
    pops = [summary[k][metric][0] for k in (("popularity", "popularity"), ("popularity", BASE))
            if k in summary and metric in summary[k]]
    pop = pops[0] if pops else math.nan
    oracle_keys = {(r["model"], r["method"]) for r in runs if r.get("oracle")}
    oracle = {k[0]: summary[k] for k in oracle_keys}
    rows = []
    for (model, method), by_seed in per_seed.items():
        if model == "popularity" or (model, BASE) not in per_seed:
            continue
        gap = math.nan
        o = oracle.get(model)
        if o is not None and metric in o and o[metric][0] > pop:
            gap = (summary[model, method][metric][0] - pop) / (o[metric][0] - pop)
        if method == BASE:
            effect, p, n = math.nan, math.nan, len(by_seed)
        else:
            effect, p = paired(by_seed, per_seed[model, BASE])
            n = len(set(by_seed) & set(per_seed[model, BASE]))
        rows.append({"model": model, "method": method, "n": n, "effect": effect, "p": p, "gap": gap,
                     "oracle": (model, method) in oracle_keys, "metric": metric})
    return rows


def seqrec_rows(folder: Path, cfg: dict) -> list[dict]:
    """One row per trained label of a seqrec folder (the config's baseline, variants, external baselines)."""
    runs = seqrec_report.load_runs(folder)
    base = cfg.get("baseline")
    head, summary = seqrec_report.summarize(runs, base)
    seeds = {lab: set(by) for lab, by in seqrec_report._entries(runs).items()}
    rows = []
    for r in summary:
        if r["is_baseline"]:
            continue
        effect, p = r.get("vs_baseline", (math.nan, math.nan))
        n = len(seeds[r["label"]]) if r["label"] == base else len(seeds[r["label"]] & seeds.get(base, set()))
        rows.append({"model": "seqrec", "method": r["label"], "n": n, "effect": effect, "p": p,
                     "gap": r.get("gap_closed", (math.nan, math.nan))[0], "oracle": False, "metric": head})
    return rows


def table(root: str | Path) -> str:
    """The Markdown table over every results folder under ``root``."""
    root = Path(root)
    lines = ["| world | folder | model | method | metric | n | effect vs base | p | gap closed |",
             "|---|---|---|---|---|---|---|---|---|"]
    folders = []
    for runs_dir in root.rglob("runs"):
        cfg_path = runs_dir.parent / "config.yaml"
        cfg = (yaml.safe_load(cfg_path.read_text()) or {}) if cfg_path.exists() else {}
        folders.append((runs_dir.parent, cfg))
    kinds = ("flip", "simulator", "real")  # the control first, then each scenario, then the real samples
    folders.sort(key=lambda fc: (next(i for i, k in enumerate(kinds) if world(*fc).startswith(k)), fc[0].parts))
    for folder, cfg in folders:
        if cfg.get("task") == "seqrec":
            rows = seqrec_rows(folder, cfg)
        else:
            rows = ctr_rows(folder, cfg)
            if not any(r["method"] != BASE for r in rows):
                continue
        base = cfg.get("baseline") if cfg.get("task") == "seqrec" else BASE
        name = folder.relative_to(root).as_posix()
        if (folder / "report.md").exists():
            name = f"[{name}]({name}/report.md)"
        order = {base: 0}
        rows.sort(key=lambda r: (r["model"], r["oracle"], order.get(r["method"], 1), r["method"]))
        for r in rows:
            method = f"**{r['method']}** (base)" if r["method"] == base else (
                f"*{r['method']}*" if r["oracle"] else r["method"])
            lines.append(f"| {world(folder, cfg)} | {name} | {r['model']} | "
                         f"{method} | {r['metric']} | {_n(r['n'])} | {_num(r['effect'], '+.4f')} | "
                         f"{_num(r['p'], '.2g')} | {_num(r['gap'], '+.2f')} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", nargs="?", default="docs/results")
    print(table(ap.parse_args().root), end="")


if __name__ == "__main__":
    main()
