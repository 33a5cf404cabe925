"""Large batch on the CPU, a proxy of the GPU's 4096 -> 65,536 (issue 30): DeepFM (``--model dcnv2``: DCN-V2,
as :mod:`benchmarks.ours` builds it) on the benchmark's 40-field data trained at a small batch and at a 16×
larger one for the same number of epochs, the large batch under each learning-rate recipe, scored by test AUC
(the same rank AUC as :mod:`benchmarks.run`).

Recipes (``--recipes``; ``lr`` is the small batch's, B/B_ref = 16 by default):

* ``none``: the same lr; ``linear``: lr × 16 (Goyal et al. 2017); ``sqrt``: lr × √16 (Krizhevsky 2014);
* ``+warmup``: linear warm-up over ``--warmup-steps`` optimiser steps;
* ``+emb``: the embedding tables at ``--emb-scale`` × the (scaled) lr (``TrainConfig.embedding_lr_scale``).

The default warm-up, 24 steps of 4096 on 240k training rows, is about the fraction of an epoch (0.41) that
the GPU run's 10 steps of 65,536 on 1.6M rows are. Model and initialisation as :mod:`benchmarks.ours`.

Usage: ``python -m benchmarks.large_batch [--data D.npz] [--seeds 0,1] [--out R.json]`` (1 thread);
``--merge R1.json R2.json`` prints one table of several runs' files (other seeds, another ``--emb-scale``); on a GPU
the same script with ``--device cuda --small 4096 --large 65536 --epochs 1 --warmup-steps 10`` on the 2M-row
file (docs/performance.md, "Large batch on the CPU (proxy)").
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks import data as bdata
from benchmarks.ours import build_model, encoded, fuxictr_init, spec_of
from benchmarks.run import WORK, auc
from denoiserec.train.trainer import TrainConfig, Trainer

#: recipe -> TrainConfig settings of the large batch (lr_ref_batch is filled in with the small batch)
RECIPES = {
    "none": {},
    "linear": {"lr_scaling": "linear"},
    "sqrt": {"lr_scaling": "sqrt"},
    "linear+warmup": {"lr_scaling": "linear", "warmup": True},
    "sqrt+warmup": {"lr_scaling": "sqrt", "warmup": True},
    "sqrt+emb": {"lr_scaling": "sqrt", "emb": True},
    "sqrt+warmup+emb": {"lr_scaling": "sqrt", "warmup": True, "emb": True},
}
DEFAULT_RECIPES = "none,linear,sqrt,linear+warmup,sqrt+warmup,sqrt+emb"


def settings(recipe: str, args) -> dict:
    """The large batch's TrainConfig settings for ``recipe``."""
    r = RECIPES[recipe]
    out = {"batch_size": args.large}
    if "lr_scaling" in r:
        out.update(lr_ref_batch=args.small, lr_scaling=r["lr_scaling"])
    if r.get("warmup"):
        out["warmup_steps"] = args.warmup_steps
    if r.get("emb"):
        out["embedding_lr_scale"] = args.emb_scale
    return out


def train_one(d: dict, seed: int, args, **cfg) -> dict:
    """Train ``args.model`` for ``args.epochs`` epochs; test AUC, seconds, samples/s and the peak lr."""
    spec = spec_of(d)
    train, test = encoded(d, "train"), encoded(d, "test")
    torch.manual_seed(seed)
    model = build_model(args.model, spec)
    fuxictr_init(model)
    config = TrainConfig(**{"epochs": args.epochs, "lr": args.lr, "seed": seed, "progress": False,
                            "threads": args.threads, "device": args.device, **cfg})
    trainer = Trainer(config)
    trainer.fit(model, train)
    seconds = sum(h["seconds"] for h in trainer.history)
    score = auc(d["y_test"], trainer.predict(model, test).numpy().astype(np.float64))
    return {"seed": seed, "auc": score, "seconds": seconds, "samples_per_s": len(train) * args.epochs / seconds,
            "peak_lr": config.scaled_lr(), "batch_size": config.batch_size}


def label(recipe: str, warmup_steps: int, emb_scale: float) -> str:
    """The run's name in the table: ``warmup`` carries its steps, ``emb`` its scale (``sqrt+warmup24+emb4``)."""
    recipe = re.sub(r"warmup(?!\d)", f"warmup{warmup_steps}", recipe)
    return re.sub(r"emb(?![\d.])", f"emb{emb_scale:g}", recipe)


def table(results: dict) -> str:
    """One row per run: mean test AUC over the seeds, the mean and range of its paired difference to the small
    batch of the same seed, and the median throughput (wall clock: noisy on a shared machine)."""
    base = {r["seed"]: r["auc"] for r in results["small"]}
    lines = ["| run | batch | peak lr | seeds | mean AUC | Δ vs small, mean ± sd | Δ min … max | samples/s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, runs in results.items():
        d = np.array([r["auc"] - base[r["seed"]] for r in runs if r["seed"] in base])
        delta = "–" if name == "small" else f"{d.mean():+.4f} ± {d.std(ddof=1) if len(d) > 1 else 0:.4f}"
        spread = "–" if name == "small" else f"{d.min():+.4f} … {d.max():+.4f}"
        lines.append(f"| {name} | {runs[0]['batch_size']:,} | {runs[0]['peak_lr']:.4g} | {len(runs)} | "
                     f"{np.mean([r['auc'] for r in runs]):.4f} | {delta} | {spread} | "
                     f"{np.median([r['samples_per_s'] for r in runs]):,.0f} |")
    return "\n".join(lines)


def merge(files: list[str]) -> dict:
    """The runs of several ``--out`` files in one table's form (a seed's run kept once, named by :func:`label`)."""
    results: dict[str, dict] = {}
    models = set()
    for f in files:
        saved = json.loads(Path(f).read_text())
        models.add(saved["args"].get("model", "deepfm"))
        if len(models) > 1:
            raise SystemExit(f"--merge: the files train different models {sorted(models)}: one table per model")
        for name, runs in saved["results"].items():
            name = label(name, saved["args"]["warmup_steps"], saved["args"]["emb_scale"])
            for r in runs:
                results.setdefault(name, {}).setdefault(r["seed"], r)
    return {k: [v[s] for s in sorted(v)] for k, v in results.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="benchmarks.data .npz (default: the --rows file, built if absent)")
    p.add_argument("--rows", type=int, default=300_000)
    p.add_argument("--model", default="deepfm", choices=("deepfm", "dcnv2"))
    p.add_argument("--small", type=int, default=256)
    p.add_argument("--large", type=int, default=4096)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup-steps", type=int, default=24)
    p.add_argument("--emb-scale", type=float, default=4.0)
    p.add_argument("--seeds", default="0")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu", help="cpu, or cuda for the GPU's 4096 vs 65,536 (docs/performance.md)")
    p.add_argument("--recipes", default=DEFAULT_RECIPES)
    p.add_argument("--out", default=None, help="write the runs as JSON here")
    p.add_argument("--merge", nargs="+", default=None, help="print one table of these --out files, run nothing")
    args = p.parse_args(argv)
    if args.merge:
        print(table(merge(args.merge)))
        return 0
    seeds = [int(s) for s in args.seeds.split(",")]
    recipes = args.recipes.split(",")
    bad = [r for r in recipes if r not in RECIPES]
    if bad:
        raise SystemExit(f"--recipes: unknown {bad}; known: {', '.join(RECIPES)}")
    path = Path(args.data) if args.data else bdata.path_for(WORK / "data", args.rows)
    if not path.exists():
        print(bdata.build(path, args.rows), flush=True)
    d = bdata.load(path)
    print(f"{args.model}, data {path}: {len(d['y_train']):,} training rows; batch {args.small} vs {args.large}, "
          f"{args.epochs} epochs, lr {args.lr}, seeds {seeds}, {args.device}, {args.threads} thread(s)", flush=True)
    runs = [("small", {"batch_size": args.small})]
    runs += [(label(r, args.warmup_steps, args.emb_scale), settings(r, args)) for r in recipes]
    results: dict[str, list] = {}
    t0 = time.perf_counter()
    for seed in seeds:
        for name, cfg in runs:
            r = train_one(d, seed, args, **cfg)
            results.setdefault(name, []).append(r)
            print(f"[{time.perf_counter() - t0:.0f}s] seed {seed} {name}: AUC {r['auc']:.4f}, "
                  f"{r['samples_per_s']:,.0f} samples/s", flush=True)
            if args.out:
                Path(args.out).write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
