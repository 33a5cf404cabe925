"""How different are DUMN's memory reads across users? Mean pairwise cosine of the read vectors ``r_x`` (eq. 11)
of the first 4,096 test rows, per memory, before and after training (raw, and after subtracting the mean read).

    OMP_NUM_THREADS=1 python benchmarks/dumn_memory_reads.py configs/dumn_ablation_cpu.yaml [--seed 0] [KEY=VALUE ...]

``KEY=VALUE`` are DUMN hyper-parameters (e.g. ``key_strength=true``), parsed as YAML.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
import yaml

from denoiserec.data.encoder import encode_splits
from denoiserec.data.features import FeatureConfig
from denoiserec.experiment import load_config, load_data
from denoiserec.models import build_model
from denoiserec.train.trainer import TrainConfig, Trainer


def mean_pairwise_cos(x: torch.Tensor) -> float:
    z = F.normalize(x.float(), dim=-1)
    n = len(z)
    return float(((z @ z.T).sum() - n) / (n * (n - 1)))


def reads(model, rows) -> dict[str, torch.Tensor]:
    got, hooks = {}, []
    for n, mem in model.memories.items():
        hooks.append(mem.register_forward_hook(lambda mod, inp, out, n=n: got.__setitem__(n, out[0].detach())))
    with torch.no_grad():
        model.eval()(rows)
    for h in hooks:
        h.remove()
    return got


def summary(r: dict[str, torch.Tensor]) -> dict[str, tuple[float, float]]:
    return {n: (round(mean_pairwise_cos(v), 4), round(mean_pairwise_cos(v - v.mean(0)), 4)) for n, v in r.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("hparams", nargs="*")
    args = ap.parse_args()
    cfg = load_config(args.config)
    spec, parts = encode_splits(load_data(cfg), FeatureConfig.from_dict(cfg.get("features")))
    hp = {"embed_dim": 16, **{k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in args.hparams)}}
    torch.manual_seed(args.seed)
    model = build_model("dumn", spec, **hp)
    rows = {k: v[:4096] for k, v in parts["test"].tensors.items()}
    before = summary(reads(model, rows))
    trainer = Trainer(TrainConfig.from_dict({**(cfg.get("train") or {}), "seed": args.seed, "progress": False}))
    trainer.fit(model, parts["train"], parts["valid"])
    after = summary(reads(model, rows))
    print(f"dumn {hp} seed {args.seed}: test auc {trainer.split_metrics(model, parts['test'])['auc']:.4f}")
    print("train_aux_loss per epoch:", [round(h["train_aux_loss"], 4) for h in trainer.history])
    print("memory | mean pairwise cos before (raw, centred) | after (raw, centred)")
    for n in before:
        print(f"{n} | {before[n]} | {after[n]}")


if __name__ == "__main__":
    main()
