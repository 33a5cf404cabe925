"""Product-based Neural Network (Qu et al., ICDM 2016): ``ŷ = σ(MLP(ReLU(l_z + l_p + b_1)))``, where the product
layer's linear part ``l_z`` sees the field embeddings ``z = [f_1..f_N]`` and ``l_p`` the pairwise products.
``l_z + l_p + b_1`` is one linear map of ``[z, p]``, i.e. the first MLP layer over their concatenation.

``product="inner"`` (IPNN): ``p = [<f_i, f_j>]_{i<j}`` (``N(N-1)/2`` values, one batched ``Z Zᵀ``);
``"outer"`` (OPNN, sum-pooled as in the paper's eq. 14): ``p = f_Σ f_Σᵀ`` with ``f_Σ = Σ_i f_i`` (``E²`` values);
``"both"`` (PNN*): the two concatenated.
``sequences`` names the mean-pooled history fields (None: every encoded one; ``[]``: none, the non-sequence setting
of DUMN's Table 1)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from denoiserec.data.spec import FeatureSpec
from denoiserec.nn.layers import MLP, FieldEmbedding
from denoiserec.settings import Dim, Dims, Rate


class PNN(nn.Module):
    def __init__(self, spec: FeatureSpec, embed_dim: Dim = 8, hidden: Dims = (256, 128, 64),
                 product: Literal["inner", "outer", "both"] = "inner", dropout: Rate = 0.0,
                 sequences: list[str] | None = None):
        super().__init__()
        self.inner, self.outer = product in ("inner", "both"), product in ("outer", "both")
        self.embed = FieldEmbedding(spec, embed_dim, sequences=sequences)
        n = self.embed.n_fields
        i, j = torch.triu_indices(n, n, offset=1)
        self.register_buffer("pairs", i * n + j, persistent=False)
        d = n * embed_dim + self.inner * len(self.pairs) + self.outer * embed_dim ** 2
        self.dnn = MLP(d, tuple(hidden), dropout)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        e = self.embed(batch)
        parts = [e.flatten(1)]
        if self.inner:
            parts.append((e @ e.transpose(1, 2)).flatten(1).index_select(1, self.pairs))
        if self.outer:
            s = e.sum(1)
            parts.append((s.unsqueeze(2) * s.unsqueeze(1)).flatten(1))
        return self.dnn(torch.cat(parts, 1)).squeeze(-1)


MODEL = PNN
