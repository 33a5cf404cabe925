"""The precision policy of both training loops (and of scoring): float32 unless asked.

``amp`` turns on bf16 autocast on CUDA, ``amp_cpu`` on the CPU; both default to off for the CTR trainer
(``TrainConfig``) and the seqrec loop (``SeqTrainConfig``) alike. The default is the measured one of the CTR
trainer: on one H100, bf16 autocast made the launch-bound DeepFM/DCN-V2 step slower, not faster
(docs/performance.md); the seqrec loop used to default to ``amp: true`` without a measurement of its own.
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
