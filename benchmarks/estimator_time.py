"""Estimator time of the attention methods (UAE, SAR, EDM) ÷ the CTR model's own training time, on the demo's
simulated service (``denoiserec/demo.yaml``: DeepFM, its ``train`` section), in one run and one process.

``method.fit`` (the estimator phase, what ``state()["estimate_seconds"]`` records) is timed for each method; the
model's training time is ``Trainer.fit`` of DeepFM with ``none``. Target (issue 30): ratio ≤ 1.

    OMP_NUM_THREADS=1 python -m benchmarks.estimator_time [--config denoiserec/demo.yaml] [--methods uae sar edm]
        [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import time
from importlib import resources

import torch

from denoiserec.data.encoder import fit_encode_splits
from denoiserec.data.features import FeatureConfig
from denoiserec.experiment import load_config, load_data
from denoiserec.methods import build_method
from denoiserec.models import build_model
from denoiserec.train.trainer import TrainConfig, Trainer


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(resources.files("denoiserec") / "demo.yaml"))
    ap.add_argument("--methods", nargs="+", default=["uae", "sar", "edm"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config)
    t0 = time.perf_counter()
    encoder, parts = fit_encode_splits(load_data(cfg), FeatureConfig.from_dict(cfg.get("features")))
    train = parts["train"]
    print(f"data: {len(train):,} training rows, encoded in {time.perf_counter() - t0:.1f} s; "
          f"{args.threads} thread(s), device {args.device}")
    tcfg = TrainConfig.from_dict({**(cfg.get("train") or {}), "seed": args.seed, "device": args.device,
                                  "threads": args.threads, "progress": False})
    trainer = Trainer(tcfg)
    torch.manual_seed(args.seed)
    model = build_model("deepfm", encoder.spec)
    t0 = time.perf_counter()
    trainer.fit(model, train, parts["valid"], build_method("none"), encoder.spec)
    model_s = time.perf_counter() - t0
    print(f"model training (deepfm, none, {len(trainer.history)} epochs): {model_s:.1f} s")
    print("| method | estimator s | estimator ÷ model training |")
    print("|---|---|---|")
    for name in args.methods:
        hp = dict((cfg.get("methods") or {}).get(name) or {})
        torch.manual_seed(args.seed)
        method = build_method(hp.pop("method", name), **hp)
        t0 = time.perf_counter()
        method.fit(train, encoder.spec, trainer.device)
        s = time.perf_counter() - t0
        print(f"| {name} | {s:.1f} | {s / model_s:.2f} |", flush=True)


if __name__ == "__main__":
    main()
