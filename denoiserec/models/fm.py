"""Factorization Machine (Rendle, ICDM 2010): ``ŷ = σ(b + Σ_i w_i x_i + Σ_{i<j} <v_i, v_j> x_i x_j)``, the pair
sum computed in ``O(F·E)`` as ``½ Σ_k [(Σ_f v_fk)² − Σ_f v_fk²]``. Pooled histories enter as extra fields."""

from __future__ import annotations

import torch
from torch import nn

from denoiserec.data.spec import FeatureSpec
from denoiserec.nn.layers import FieldEmbedding, LinearTerm, fm_interaction
from denoiserec.settings import Dim


class FM(nn.Module):
    def __init__(self, spec: FeatureSpec, embed_dim: Dim = 8):
        super().__init__()
        self.embed = FieldEmbedding(spec, embed_dim, first_order=True)
        self.linear = LinearTerm(spec, fused=True)  # w_f: the table's last column

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        e, first = self.embed.fields(batch)
        return self.linear(batch, first) + fm_interaction(e)


MODEL = FM
