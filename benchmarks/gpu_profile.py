"""Per-step profile of denoiserec's training step (run by :mod:`benchmarks.gpu`): milliseconds per step, kernels
per step and device time per kernel class (``torch.profiler``), for the plain step and the CUDA-graph step, and
the fraction of the device's limits reached (analytic FLOPs and the fused Adam's bytes per step against the peak
figures given on the command line).

``python -m benchmarks.gpu_profile --data D.npz --model deepfm --device cuda:0 --out P.json [--cuda-graph]``;
on the CPU (``--device cpu``) it profiles operators instead of kernels (a dry run of the code).
"""

from __future__ import annotations

import argparse
import json
import re
import time

import numpy as np
import torch

from benchmarks.ours import build_model, encoded, fuxictr_init
from denoiserec.data.spec import FeatureSpec
from denoiserec.methods.base import Method
from denoiserec.train.trainer import GraphStep, TrainConfig, Trainer, make_adam

CLASSES = [  # first match wins
    ("gemm", r"gemm|cutlass|cublas|sm90_|sm80_|ampere_|hopper|xmma|addmm|aten::mm|matmul"),
    ("adam", r"adam"),
    ("embedding / index", r"index|embedding|gather|scatter|take"),
    ("reduction", r"reduce|sum|mean|norm|softmax"),
    ("elementwise", r"elementwise|vectorized|unrolled|pointwise|triton_poi|mul|add|relu|sigmoid|copy|fill|cast"),
]


def kernel_class(name: str) -> str:
    low = name.lower()
    return next((c for c, pat in CLASSES if re.search(pat, low)), "other")


def flops_per_sample(model: torch.nn.Module) -> float:
    """Forward multiply-adds of every Linear layer (and DCN-V2's cross matrices) × 2, × 3 for forward + backward
    (weight and input gradients); embedding lookups and elementwise work are not counted."""
    macs = sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear))
    return 2.0 * 3.0 * macs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--model", default="deepfm")
    p.add_argument("--device", default="cuda:0")
    p.add_argument("--out", required=True)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--cuda-graph", action="store_true")
    p.add_argument("--amp", action="store_true")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--peak-tflops", type=float, default=67.0, help="fp32 (non-tensor-core) peak, H100 SXM: 67")
    p.add_argument("--peak-tbps", type=float, default=3.35, help="memory bandwidth, H100 SXM HBM3: 3.35 TB/s")
    args = p.parse_args(argv)
    with np.load(args.data) as z:
        d = {k: z[k] for k in z.files}
    spec = FeatureSpec(categorical=tuple(str(f) for f in d["fields"]),
                       cardinalities=tuple(int(c) for c in d["cards"]), numeric=(), sequences=())
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_model(args.model, spec)
    fuxictr_init(model)
    trainer = Trainer(TrainConfig(device=args.device, amp=args.amp, cuda_graph=args.cuda_graph, progress=False))
    model.to(device)
    optim = make_adam(model, 1e-3, capturable=args.cuda_graph)
    step = trainer._step_fn(model, Method(), optim)
    if args.cuda_graph:
        step = GraphStep(step)
    train = encoded(d, "train").to(device)
    batches = [b for b, _ in zip(train.batches(args.batch_size, shuffle=True, generator=torch.Generator()
                                               .manual_seed(0)), range(3 * args.steps + 10), strict=False)]
    batches = [b for b in batches if len(b["label"]) == args.batch_size]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for b in batches[:10]:  # warm-up (and graph capture)
        step(b)
    sync()
    timed = batches[10:10 + 2 * args.steps]
    t0 = time.perf_counter()
    for b in timed:
        step(b)
    sync()
    ms = 1e3 * (time.perf_counter() - t0) / len(timed)
    acts = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA]
                                                     if device.type == "cuda" else [])
    prof_batches = batches[10:10 + args.steps]
    with torch.profiler.profile(activities=acts) as prof:
        for b in prof_batches:
            step(b)
        sync()
    n = len(prof_batches)
    by_class: dict[str, dict] = {}
    for evt in prof.key_averages():
        is_kernel = (evt.device_type == torch.autograd.DeviceType.CUDA) if device.type == "cuda" else \
            evt.key.startswith("aten::")
        if not is_kernel:
            continue
        us = (getattr(evt, "self_device_time_total", None) or getattr(evt, "self_cuda_time_total", 0)
              if device.type == "cuda" else evt.self_cpu_time_total)
        c = by_class.setdefault(kernel_class(evt.key), {"per_step": 0.0, "us_per_step": 0.0, "top": []})
        c["per_step"] += evt.count / n
        c["us_per_step"] += us / n
        c["top"].append((evt.key[:80], round(us / n, 1)))
    for c in by_class.values():
        c["top"] = sorted(c["top"], key=lambda t: -t[1])[:3]
    params = sum(p.numel() for p in model.parameters())
    flops = flops_per_sample(model) * args.batch_size
    adam_bytes = 28.0 * params  # fused Adam: reads p, g, m, v and writes p, m, v (fp32)
    result = {
        "model": args.model, "device": str(device), "cuda_graph": args.cuda_graph, "amp": args.amp,
        "batch_size": args.batch_size, "ms_per_step": ms, "samples_per_s": args.batch_size / ms * 1e3,
        "kernels_per_step": sum(c["per_step"] for c in by_class.values()),
        "kernel_us_per_step": sum(c["us_per_step"] for c in by_class.values()), "classes": by_class,
        "params": params, "gflop_per_step": flops / 1e9, "adam_mb_per_step": adam_bytes / 1e6,
        "fraction_of_peak_flops": flops / (ms / 1e3) / (args.peak_tflops * 1e12),
        "fraction_of_peak_bandwidth_adam_only": adam_bytes / (ms / 1e3) / (args.peak_tbps * 1e12),
    }
    if device.type == "cuda":
        result["gpu"] = torch.cuda.get_device_name()
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: v for k, v in result.items() if k != "classes"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
