"""Control for LCD (methods/lcd.py): the batch's LCD weights ``w = F(minmax(loss))`` randomly permuted among its
samples before ``y* = w·y + (1 - w)·p``. Same per-batch distribution of ``w`` -- so the same gradient scale,
``mean(w)`` -- but no link between a sample's loss and its weight: what remains of LCD's gain here is not label
correction by loss ranking. The permutation comes from the method's own generator (seed ``perm_seed``), so the
trainer's random stream is the same as under LCD (and the step is not CUDA-graph-safe)."""

from __future__ import annotations

import torch

from denoiserec.methods.lcd import LCD
from denoiserec.settings import NonNegInt


class LCDPermuted(LCD):
    name = "lcd_permuted"
    graph_safe = False  # the permutation is drawn on the host from the method's own generator

    def __init__(self, perm_seed: NonNegInt = 0, **hparams):
        super().__init__(**hparams)
        self.perm_seed = int(perm_seed)
        self._generator = torch.Generator().manual_seed(self.perm_seed)

    def label_share(self, w: torch.Tensor, ok: torch.Tensor) -> torch.Tensor:
        perm = torch.randperm(len(w), generator=self._generator).to(w.device)
        return w[perm]

    def state(self) -> dict:
        return {**super().state(), "perm_seed": self.perm_seed}


METHOD = LCDPermuted
