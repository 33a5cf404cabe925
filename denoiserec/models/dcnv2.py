"""DCN-V2 (Wang et al., WWW 2021): cross layers ``x_{l+1} = x_0 ⊙ (W_l x_l + b_l) + x_l`` with full ``d×d``
matrices (or the low-rank ``U_l V_lᵀ`` with ``rank``), over ``x_0 = [e_1..e_F]``.

``structure="parallel"`` (default): ``ŷ = σ(wᵀ [x_L, MLP(x_0)] + b)``; ``"stacked"``: ``ŷ = σ(wᵀ MLP(x_L) + b)``.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from denoiserec.data.spec import FeatureSpec
from denoiserec.nn.layers import MLP, CrossNetwork, FieldEmbedding
from denoiserec.settings import Dim, Dims, NonNegInt, Rate


class DCNV2(nn.Module):
    def __init__(self, spec: FeatureSpec, embed_dim: Dim = 8, hidden: Dims = (256, 128, 64),
                 cross_layers: NonNegInt = 3, structure: Literal["parallel", "stacked"] = "parallel",
                 rank: Dim | None = None, dropout: Rate = 0.0):
        super().__init__()
        self.structure = structure
        self.embed = FieldEmbedding(spec, embed_dim)
        d = self.embed.n_fields * embed_dim
        self.cross = CrossNetwork(d, cross_layers, kind="matrix", rank=rank)
        if structure == "stacked":
            self.dnn = MLP(d, tuple(hidden), dropout)
        else:
            self.dnn = MLP(d, tuple(hidden), dropout, out_dim=None)
            self.out = nn.Linear(d + self.dnn.out_dim, 1)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        x0 = self.embed(batch).flatten(1)
        if self.structure == "stacked":
            return self.dnn(self.cross(x0)).squeeze(-1)
        return self.out(torch.cat([self.cross(x0), self.dnn(x0)], 1)).squeeze(-1)


MODEL = DCNV2
