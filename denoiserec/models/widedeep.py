"""Wide & Deep (Cheng et al., DLRS 2016): ``ŷ = σ(w_wideᵀ [x, φ(x)] + w_deepᵀ a^(L) + b)`` with the deep part an
MLP over the concatenated field embeddings. The wide part here is the first-order term over the raw features
(``LinearTerm``); the paper's hand-crafted cross-product transformations ``φ(x)`` are left to feature engineering.
``sequences`` names the mean-pooled history fields (None: every encoded one; ``[]``: none, the non-sequence setting
of DUMN's Table 1)."""

from __future__ import annotations

import torch
from torch import nn

from denoiserec.data.spec import FeatureSpec
from denoiserec.nn.layers import MLP, FieldEmbedding, LinearTerm
from denoiserec.settings import Dim, Dims, Rate


class WideDeep(nn.Module):
    def __init__(self, spec: FeatureSpec, embed_dim: Dim = 8, hidden: Dims = (256, 128, 64),
                 dropout: Rate = 0.0, sequences: list[str] | None = None):
        super().__init__()
        self.embed = FieldEmbedding(spec, embed_dim, sequences=sequences, first_order=True)
        self.wide = LinearTerm(spec, fused=True)  # w_f: the table's last column
        self.deep = MLP(self.embed.n_fields * embed_dim, tuple(hidden), dropout)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        e, first = self.embed.fields(batch)
        return self.wide(batch, first) + self.deep(e.flatten(1)).squeeze(-1)


MODEL = WideDeep
