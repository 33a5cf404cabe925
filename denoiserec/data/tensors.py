"""Encoded rows in memory: equal-length tensors (``docs/design.md``, "Encoded data"), what
:class:`denoiserec.data.encoder.Encoder` returns. The trainer batches them through
:class:`denoiserec.train.encoded.EncodedData`.
"""

from __future__ import annotations

import numpy as np
import torch


class EncodedTensors:
    """Equal-length tensors (see ``docs/design.md``), selected by row and moved whole."""

    def __init__(self, tensors: dict[str, torch.Tensor]):
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors["label"])

    def __getitem__(self, key: str) -> torch.Tensor:
        return self.tensors[key]

    def subset(self, index: torch.Tensor | np.ndarray) -> EncodedTensors:
        index = torch.as_tensor(index)
        return type(self)({k: v[index.to(v.device)] for k, v in self.tensors.items()})

    def to(self, device: torch.device | str) -> EncodedTensors:
        return type(self)({k: v.to(device, non_blocking=True) for k, v in self.tensors.items()})
