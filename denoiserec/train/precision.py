"""The precision policy of both training loops (and of scoring): float32 unless asked.

``amp`` turns on bf16 autocast on CUDA, ``amp_cpu`` on the CPU; both default to off for the CTR trainer
(``TrainConfig``) and the seqrec loop (``SeqTrainConfig``) alike. The default is the measured one of the CTR
trainer: on one H100, bf16 autocast made the launch-bound DeepFM/DCN-V2 step slower, not faster
(docs/performance.md); the seqrec loop used to default to ``amp: true`` without a measurement of its own. On the
CPU, bf16 pays only where the cores compute it natively (AVX512-BF16 / AMX: 1.5x on the Intel machine of
docs/performance.md); elsewhere oneDNN emulates it and the step is several times slower (9x measured on an AVX2
AMD EPYC), which :func:`cpu_bf16_warning` says in one line.
"""

from __future__ import annotations

import torch

#: the default of ``train.amp`` for every task
AMP_DEFAULT = False


def autocast(device: torch.device, amp: bool = AMP_DEFAULT, amp_cpu: bool = False, cache_enabled: bool = True):
    """bf16 autocast on ``device`` when asked for its type (``amp``: CUDA, ``amp_cpu``: CPU); float32 otherwise.
    ``cache_enabled=False`` under CUDA-graph capture (cached casts of the weights would be frozen into the
    graph)."""
    if device.type == "cpu":
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp_cpu)
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda",
                          cache_enabled=cache_enabled)


def native_cpu_bf16() -> bool:
    """Whether oneDNN computes bf16 natively on this CPU (AVX512-BF16 or AMX)."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def cpu_bf16_warning(device: torch.device, amp_cpu: bool) -> str | None:
    """One line when ``amp_cpu`` asks for bf16 on a CPU without native bf16 (oneDNN emulates it: much slower)."""
    if device.type != "cpu" or not amp_cpu or native_cpu_bf16():
        return None
    return (f"train.amp_cpu: this CPU ({torch.backends.cpu.get_cpu_capability()}) has no native bf16, so bf16 "
            "autocast is emulated and several times slower than float32 (9x measured, docs/performance.md); "
            "set train.amp_cpu: false")
