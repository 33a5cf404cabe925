"""Logistic regression: ``ŷ = σ(b + Σ_f w_f[x_f] + Σ_d w_d·x_d)`` over the categorical and numeric fields
(history sequences, being sets of ids, are not used: LR has no embedding to pool)."""

from __future__ import annotations

import torch
from torch import nn

from denoiserec.data.spec import FeatureSpec
from denoiserec.nn.layers import LinearTerm


class LR(nn.Module):
    def __init__(self, spec: FeatureSpec):
        super().__init__()
        self.linear = LinearTerm(spec)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.linear(batch)


MODEL = LR
