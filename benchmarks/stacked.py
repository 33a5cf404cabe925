"""Many seeds in one step: a 5-seed table of one model and method, trained as separate runs and as one stacked
group (``train.stack_seeds``, denoiserec/train/stacked.py), side by side in one process (interleaved repeats);
prints runs per hour of each, their ratio and the largest per-seed test-AUC difference.

Usage: ``OMP_NUM_THREADS=1 python -m benchmarks.stacked --users 400 --seeds 5 --epochs 2 --model deepfm``.
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def main(argv=None) -> None:
    from denoiserec.data.encoder import encode_splits
    from denoiserec.data.features import FeatureConfig
    from denoiserec.data.simulate import SimConfig, simulate
    from denoiserec.data.split import split
    from denoiserec.methods import build_method
    from denoiserec.models import build_model
    from denoiserec.train.stacked import fit_stacked
    from denoiserec.train.trainer import TrainConfig, Trainer

    p = argparse.ArgumentParser()
    p.add_argument("--users", type=int, default=400)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--model", default="deepfm")
    p.add_argument("--method", default="none")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    log = split(simulate(SimConfig(users=args.users, seed=0)), how="temporal")
    spec, parts = encode_splits(log, FeatureConfig())
    seeds = list(range(args.seeds))

    def group():
        out = []
        for s in seeds:
            torch.manual_seed(s)
            cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=s, progress=False,
                              device=args.device)
            out.append((Trainer(cfg), build_model(args.model, spec), build_method(args.method)))
        return out

    def separate():
        aucs = []
        for t, m, me in group():
            t.fit(m, parts["train"], parts["valid"], me, spec)
            aucs.append(t.split_metrics(m, parts["test"])["auc"])
        return aucs

    def stacked():
        g = group()
        fit_stacked([x[0] for x in g], [x[1] for x in g], parts["train"], parts["valid"], [x[2] for x in g], spec)
        return [t.split_metrics(m, parts["test"])["auc"] for t, m, _ in g]

    times = {"separate": [], "stacked": []}
    aucs = {}
    for _ in range(args.repeats):
        for name, fn in (("separate", separate), ("stacked", stacked)):
            t0 = time.perf_counter()
            aucs[name] = fn()
            times[name].append(time.perf_counter() - t0)
    best = {k: min(v) for k, v in times.items()}
    res = {"rows_train": len(parts["train"]), "seeds": args.seeds, "epochs": args.epochs, "model": args.model,
           "method": args.method, "device": args.device, "seconds": times,
           "runs_per_hour": {k: 3600 * args.seeds / v for k, v in best.items()},
           "speedup": best["separate"] / best["stacked"],
           "max_abs_test_auc_diff": max(abs(a - b) for a, b in zip(aucs["separate"], aucs["stacked"], strict=True)),
           "torch_threads": torch.get_num_threads()}
    print(json.dumps(res))


if __name__ == "__main__":
    main()
