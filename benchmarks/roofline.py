"""One-core hardware ceilings for the roofline in docs/performance.md: fp32 and bf16 matmul FLOP/s at the
MLP's first-layer shape (4096×320 @ 320×256) and a large copy's memory bandwidth.

Usage: ``python -m benchmarks.roofline`` (uses 1 thread, about 10 seconds).
"""

from __future__ import annotations

import json
import time

import torch


def _best(fn, reps: int = 20) -> float:
    fn()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def measure() -> dict:
    torch.set_num_threads(1)
    out = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(4096, 320, dtype=dtype), torch.randn(320, 256, dtype=dtype)
        s = _best(lambda a=a, b=b: torch.mm(a, b))
        out[f"matmul_{name}_gflops"] = 2 * 4096 * 320 * 256 / s / 1e9
    x = torch.randn(64 * 2**20 // 4)  # 64 MiB
    y = torch.empty_like(x)
    s = _best(lambda: y.copy_(x), reps=10)
    out["copy_gbytes_per_s"] = 2 * x.numel() * 4 / s / 1e9  # read + write
    return out


if __name__ == "__main__":
    print(json.dumps(measure(), indent=1))
