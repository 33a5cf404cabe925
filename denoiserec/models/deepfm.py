"""DeepFM (Guo et al., IJCAI 2017): ``ŷ = σ(y_FM + y_DNN)`` sharing one embedding table, where
``y_FM = b + Σ w_i x_i + Σ_{i<j} <v_i, v_j> x_i x_j`` and ``y_DNN = MLP(concat_f e_f)``.
``sequences`` names the mean-pooled history fields (None: every encoded one; ``[]``: none, the non-sequence setting
of DUMN's Table 1)."""

from __future__ import annotations

import torch
from torch import nn

from denoiserec.data.spec import FeatureSpec
from denoiserec.nn.layers import MLP, FieldEmbedding, LinearTerm, fm_interaction
from denoiserec.settings import Dim, Dims, Rate


class DeepFM(nn.Module):
    def __init__(self, spec: FeatureSpec, embed_dim: Dim = 8, hidden: Dims = (256, 128, 64),
                 dropout: Rate = 0.0, sequences: list[str] | None = None):
        super().__init__()
        self.embed = FieldEmbedding(spec, embed_dim, sequences=sequences, first_order=True)
        self.linear = LinearTerm(spec, fused=True)  # w_f: the table's last column
        self.dnn = MLP(self.embed.n_fields * embed_dim, tuple(hidden), dropout)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        e, first = self.embed.fields(batch)
        return self.linear(batch, first) + fm_interaction(e) + self.dnn(e.flatten(1)).squeeze(-1)


MODEL = DeepFM
