"""How much of the simulator's ``dislike_drift`` (each user's preference moved by ``s_u·c·cos(v_i, D_u)``, her
dislikes so far) is in the truth, and how much of it each trained model of a results folder follows.

The drift term of every test row is rebuilt from the log (the world's item vectors from the seed, each user's
dislikes before the row in time order, ``s_u`` by user-number parity), and checked: ``logit(true_pref_prob) − drift``
is the preference without the drift. On the test rows:

* AUC against ``true_preference`` of π (the ceiling), of π without the drift (what is reachable without learning
  the drift), and of the drift term alone;
* per run bundle: the slopes of an OLS fit ``model logit ≈ a + b·base + c_+·drift[+ users] + c_−·drift[− users]``
  (``base`` = logit π − drift), reported as ``c_+/b`` and ``c_−/b``: the truth has 1 and 1; a model that ignores the
  drift has 0 and 0; one that learnt a global rule ("close to her dislikes: less") has one negative.

    OMP_NUM_THREADS=1 python benchmarks/dumn_world_drift.py docs/results/dumn_world_cpu [--method none] [--models M ..]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.metrics import roc_auc_score

from denoiserec.bundle import load
from denoiserec.data import simulate as sim
from denoiserec.experiment import load_config
from denoiserec.tasks.ctr import load_data


def drift_terms(df: pl.DataFrame, cfg: sim.SimConfig) -> np.ndarray:
    """``s_u·c·cos(v_i, D_u)`` of every row of ``df`` (in its order), ``D_u`` from her dislikes before the row."""
    world = sim._World(cfg, np.random.default_rng(np.random.SeedSequence(cfg.seed).spawn(2)[0]))
    unit = world.item_vec / np.linalg.norm(world.item_vec, axis=1, keepdims=True)
    order = df.with_row_index("_r").with_columns(
        u=pl.col("user").str.slice(1).cast(pl.Int64), i=pl.col("item").str.slice(1).cast(pl.Int64)
    ).sort("u", "timestamp", "position")
    u, i, dis = order["u"].to_numpy(), order["i"].to_numpy(), (order["feedback"] == "dislike").to_numpy()
    out = np.zeros(df.height)
    d, last = np.zeros(cfg.dim), -1
    for r, (uu, ii, dd) in enumerate(zip(u, i, dis, strict=True)):
        if uu != last:
            d, last = np.zeros(cfg.dim), uu
        n = np.linalg.norm(d)
        out[r] = (1.0 if uu % 2 == 0 else -1.0) * cfg.dislike_drift * (unit[ii] @ d / n if n > 0 else 0.0)
        if dd:
            d = cfg.dislike_drift_decay * d + unit[ii]
    res = np.zeros(df.height)
    res[order["_r"].to_numpy()] = out
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--method", default="none")
    ap.add_argument("--models", nargs="*", help="only these model labels (default: every saved run)")
    args = ap.parse_args()
    folder = Path(args.folder)
    cfg = load_config(folder / "config.yaml")
    scfg = sim.SimConfig.from_dict(cfg["data"]["simulate"])
    df = load_data(cfg)
    drift = drift_terms(df, scfg)
    p = df["true_pref_prob"].to_numpy().astype(np.float64).clip(1e-6, 1 - 1e-6)
    base = np.log(p / (1 - p)) - drift
    test = (df["split"] == 2).to_numpy()
    y = df["true_preference"].to_numpy()[test]
    plus = (df["user"].str.slice(1).cast(pl.Int64) % 2 == 0).to_numpy()[test]
    print(f"{folder}: c = {scfg.dislike_drift}, decay {scfg.dislike_drift_decay}; {test.sum()} test rows, "
          f"|drift| > 0.5 on {np.mean(np.abs(drift[test]) > 0.5):.3f} of them, sd(drift) {drift[test].std():.3f}, "
          f"sd(base logit) {base[test].std():.3f}")
    print(f"AUC vs true_preference: π {roc_auc_score(y, base[test] + drift[test]):.4f}, π without the drift "
          f"{roc_auc_score(y, base[test]):.4f}, the drift alone {roc_auc_score(y, drift[test]):.4f}")
    x = np.column_stack([np.ones(test.sum()), base[test], drift[test] * plus, drift[test] * ~plus])
    rows = []
    for b in sorted((folder / "bundles").glob(f"*__{args.method}__seed*")):
        if args.models and b.name.split("__")[0] not in args.models:
            continue
        logit, _ = load(b).logits(df)
        coef = np.linalg.lstsq(x, logit.numpy()[test].astype(np.float64), rcond=None)[0]
        model = b.name.split("__")[0]
        rows.append((model, int(b.name.rsplit("seed", 1)[1]), coef[2] / coef[1], coef[3] / coef[1],
                     roc_auc_score(y, logit.numpy()[test])))
        print(f"  {b.name}: b = {coef[1]:.3f}, c+/b = {rows[-1][2]:+.3f}, c-/b = {rows[-1][3]:+.3f}, "
              f"AUC-true {rows[-1][4]:.4f}", flush=True)
    print("\n| model | c₊/b (+ users; truth 1) | c₋/b (− users; truth 1) | AUC vs true preference |\n|---|---|---|---|")
    for m in sorted({r[0] for r in rows}):
        v = np.array([r[2:] for r in rows if r[0] == m])
        sd = v.std(0, ddof=1) if len(v) > 1 else np.zeros(3)
        print(f"| {m} | " + " | ".join(f"{a:+.3f} ± {s:.3f}" if k < 2 else f"{a:.4f} ± {s:.4f}"
                                       for k, (a, s) in enumerate(zip(v.mean(0), sd, strict=True))) + " |")


if __name__ == "__main__":
    main()
