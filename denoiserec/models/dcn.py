"""Deep & Cross Network (Wang et al., ADKDD 2017): cross layers ``x_{l+1} = x_0 x_lᵀ w_l + b_l + x_l`` over
``x_0 = [e_1..e_F]`` in parallel with an MLP; ``ŷ = σ(w_logitsᵀ [x_L, h_L] + b)``."""

from __future__ import annotations

import torch
from torch import nn

from denoiserec.data.spec import FeatureSpec
from denoiserec.nn.layers import MLP, CrossNetwork, FieldEmbedding
from denoiserec.settings import Dim, Dims, NonNegInt, Rate


class DCN(nn.Module):
    def __init__(self, spec: FeatureSpec, embed_dim: Dim = 8, hidden: Dims = (256, 128, 64),
                 cross_layers: NonNegInt = 3, dropout: Rate = 0.0):
        super().__init__()
        self.embed = FieldEmbedding(spec, embed_dim)
        d = self.embed.n_fields * embed_dim
        self.cross = CrossNetwork(d, cross_layers, kind="vector")
        self.dnn = MLP(d, tuple(hidden), dropout, out_dim=None)
        self.out = nn.Linear(d + self.dnn.out_dim, 1)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        x0 = self.embed(batch).flatten(1)
        return self.out(torch.cat([self.cross(x0), self.dnn(x0)], 1)).squeeze(-1)


MODEL = DCN
