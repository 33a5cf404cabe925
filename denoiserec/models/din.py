"""DIN: Deep Interest Network (Zhou et al., KDD 2018). Each behaviour sequence is pooled by the local
activation unit against the target item (eq. 3: ``v_U = Σ_j a(e_j, v_A) e_j``, ``a`` an MLP over
``[e_j, v_A, e_j − v_A, e_j ⊙ v_A]``, unnormalised), then ``ŷ = σ(MLP([fields, v_U^(1), ..., v_U^(S)]))`` with
PReLU activations. ``sequences`` picks the histories (default: every encoded one)."""

from __future__ import annotations

import torch
from torch import nn

from denoiserec.data.spec import FeatureSpec
from denoiserec.nn.layers import MLP, FieldEmbedding
from denoiserec.nn.sequence import ActivationUnit, sequence_names, user_item
from denoiserec.settings import Dim, Dims, Rate


class DIN(nn.Module):
    default_sequences = ("hist",)  # every earlier event (the CLI's and the API's default)

    def __init__(self, spec: FeatureSpec, embed_dim: Dim = 16, sequences: list[str] | None = None,
                 att_hidden: Dims = (80, 40), hidden: Dims = (200, 80), dropout: Rate = 0.0,
                 softmax: bool = False):
        super().__init__()
        self.names = sequence_names(spec, sequences)
        self.embed = FieldEmbedding(spec, embed_dim, pool_sequences=False)
        self.att = nn.ModuleDict({n: ActivationUnit(embed_dim, tuple(att_hidden), softmax) for n in self.names})
        self.dnn = MLP((self.embed.n_fields + len(self.names)) * embed_dim, tuple(hidden), dropout,
                       activation=nn.PReLU)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        fields = self.embed(batch)
        _, e_item = user_item(self.embed, batch)
        pooled = []
        for n in self.names:
            ids = batch[f"seq_{n}"]
            pooled.append(self.att[n](e_item, self.embed.item_embedding(ids), ids > 0))
        return self.dnn(torch.cat([fields.flatten(1), *pooled], -1)).squeeze(-1)


MODEL = DIN
