"""Attention estimation on the simulator, scored against its hidden truth (UAE: S. Dai et al., "Modeling User
Attention in Music Recommendation"), and an optional downstream comparison.

    python scripts/uae_attention.py --users 1000 --methods edm,ndb,pn,sar,uae
    python scripts/uae_attention.py --users 1000 --methods none,pn,uae --model deepfm --seeds 0,1,2

For every attention method: the AUC of its estimated attention against the hidden ``true_attention`` on the
training rows and on the held-out last sessions (``_heldout``; ``denoiserec.tasks.ctr.score_attention``). With
``--model``: the CTR model is trained with each method and tested (GAUC / AUC against the noisy labels and the
true preference). Split: per user, the last session is test, the one before valid, the rest train (sessions stay
whole).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import polars as pl
import torch

from denoiserec.data.encoder import encode_splits
from denoiserec.data.features import FeatureConfig
from denoiserec.data.simulate import SimConfig, simulate
from denoiserec.experiment import score_attention
from denoiserec.methods import build_method
from denoiserec.models import build_model
from denoiserec.train.trainer import TrainConfig, Trainer


def session_split(df: pl.DataFrame) -> pl.DataFrame:
    first = df.group_by("user", "session").agg(pl.col("timestamp").min().alias("_t"))
    first = first.with_columns(pl.col("_t").rank("ordinal", descending=True).over("user").alias("_r"))
    df = df.join(first, on=["user", "session"], how="left")
    return df.with_columns(pl.when(pl.col("_r") == 1).then(2).when(pl.col("_r") == 2).then(1).otherwise(0)
                           .cast(pl.Int8).alias("split")).drop("_t", "_r")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--sim-seed", type=int, default=0)
    ap.add_argument("--methods", default="edm,ndb,pn,sar,uae")
    ap.add_argument("--model", default=None)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--hp", default="{}", help='method hyper-parameters as JSON, e.g. {"epochs": 10}')
    ap.add_argument("--out", default=None, help="write all results as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    df = session_split(simulate(SimConfig(users=args.users, seed=args.sim_seed)))
    spec, parts = encode_splits(df, FeatureConfig.from_dict({"min_count": 1}))
    print(f"rows {len(df)} train {len(parts['train'])} fields {spec.categorical} {spec.numeric}")
    results = []
    hp = json.loads(args.hp)
    for name in args.methods.split(","):
        for seed in [int(s) for s in args.seeds.split(",")]:
            torch.manual_seed(seed)
            method = build_method(name, **({} if name == "none" else
                                           {k: v for k, v in hp.items() if name != "edm" or k == "gamma"}))
            row = {"method": name, "seed": seed}
            t0 = time.perf_counter()
            if args.model:
                model = build_model(args.model, spec)
                trainer = Trainer(TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=0.002, patience=1,
                                              seed=seed, progress=False, threads=args.threads))
                trainer.fit(model, parts["train"], parts["valid"], method, spec)
                test = trainer.split_metrics(model, parts["test"])
                row.update({k: test[k] for k in ("gauc", "auc", "auc_true", "gauc_true") if k in test})
            else:
                method.fit(parts["train"], spec, "cpu")
            scores = score_attention(method, parts["train"], parts["test"])
            state = {k: v for k, v in {**method.state(), **scores}.items() if k != "estimator_history"}
            row.update({k: v for k, v in state.items() if k.startswith(("att_", "mean_"))})
            row["seconds"] = time.perf_counter() - t0
            results.append(row)
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    if args.model:
        print("\nmean over seeds")
        table = pl.DataFrame(results).group_by("method", maintain_order=True).agg(
            [pl.col(c).mean().round(4) for c in ("gauc", "auc", "auc_true", "gauc_true") if c in results[0]]
            + [pl.col("gauc").std().round(4).alias("gauc_sd")])
        print(table)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1, default=lambda x: float(np.asarray(x)))


if __name__ == "__main__":
    main()
