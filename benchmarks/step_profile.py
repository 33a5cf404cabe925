"""Where denoiserec's CPU training step spends its time: self CPU share per aten operator (torch.profiler), and
the share of the matrix products (``aten::mm``/``addmm``/``bmm``) -- the part any library running the same model
pays alike, which bounds how much faster than a competitor an implementation of the same arithmetic can be.

Usage: ``OMP_NUM_THREADS=1 python -m benchmarks.step_profile [--models deepfm,dcnv2] [--steps 4]`` (batch 4096,
the benchmark's 40-field inputs of ``benchmarks.fused``, embed 8, MLP 256-128-64, method ``none``, 1 thread).
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

GEMM = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")


def main(argv=None) -> None:
    from benchmarks.fused import make_spec_and_batches
    from denoiserec.methods import build_method
    from denoiserec.models import build_model
    from denoiserec.train.trainer import TrainConfig, Trainer, make_adam

    p = argparse.ArgumentParser()
    p.add_argument("--models", default="deepfm,dcnv2")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--top", type=int, default=8)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    spec, batches = make_spec_and_batches(args.steps + 2, args.batch_size)
    trainer = Trainer(TrainConfig(progress=False, threads=1))
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = build_model(name, spec, embed_dim=8, hidden=(256, 128, 64))
        model.train()
        step = trainer._step_fn(model, build_method("none"), make_adam(model, 1e-3))
        for b in batches[:2]:  # warm-up
            step(b)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for b in batches[2:]:
                step(b)
        self_us = {e.key: e.self_cpu_time_total for e in prof.key_averages()}
        total = sum(self_us.values())
        gemm = sum(v for k, v in self_us.items() if k in GEMM)
        print(f"{name}: matrix products {gemm / total:.0%} of the step's self CPU time")
        for k, v in sorted(self_us.items(), key=lambda kv: -kv[1])[: args.top]:
            print(f"  {k:32s} {v / total:6.1%}")


if __name__ == "__main__":
    main()
