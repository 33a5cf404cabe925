"""YouTube DNN (Covington et al., RecSys 2016), as a CTR model.

The user tower is an MLP over the concatenated user/context embeddings -- every field that is not an item-side
field, the numeric fields and the mean-pooled history sequences (``seq_hist``: the watch-history average of the
paper) -- ``x_u = [e_user, e_ctx, mean_t e_{h_t}]``. The candidate item vector ``v_i`` is the sum of its item-side
field embeddings (item id, artist, category; the same table the history is pooled from).

``score="mlp"`` (default; YoutubeNet as the CTR baseline of DIN, Zhou et al. 2018, and the papers that follow it):
``s = MLP([x_u, v_i])``. ``score="dot"`` (the paper's softmax logit, for retrieval): the tower ends in a linear
layer to ``E + 1`` dimensions, ``[u, b_u] = MLP(x_u)``, and ``s = <u, v_i> + b_u + b_i + b`` with per-item bias
``b_i`` (the user bias ``b_u``, i.e. a constant 1 appended to ``v_i``, lets the dot form model how often a
user clicks at all, which the paper's softmax over items never needed).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from denoiserec.data.spec import FeatureSpec
from denoiserec.nn.layers import MLP, FieldEmbedding
from denoiserec.settings import Dim, Dims, Rate

ITEM_FIELDS = ("item", "artist", "category")


class YoutubeNet(nn.Module):
    def __init__(self, spec: FeatureSpec, embed_dim: Dim = 8, hidden: Dims = (256, 128, 64),
                 dropout: Rate = 0.0, score: Literal["dot", "mlp"] = "mlp", item_fields: tuple[str, ...] = ITEM_FIELDS):
        super().__init__()
        self.score = score
        self.embed = FieldEmbedding(spec, embed_dim)
        item_idx = [i for i, c in enumerate(spec.categorical) if c in item_fields]
        if spec.categorical and "item" not in spec.categorical:
            raise ValueError("YoutubeNet needs the 'item' field")
        user_idx = [i for i in range(self.embed.n_fields) if i not in item_idx]
        if not user_idx:
            raise ValueError("YoutubeNet needs at least one user/context field or history sequence")
        self.register_buffer("item_idx", torch.tensor(item_idx, dtype=torch.long), persistent=False)
        self.register_buffer("user_idx", torch.tensor(user_idx, dtype=torch.long), persistent=False)
        self.item_field = spec.item_field
        user_dim = len(user_idx) * embed_dim
        if score == "dot":
            self.tower = MLP(user_dim, tuple(hidden), dropout, out_dim=embed_dim + 1)
            self.item_bias = nn.Embedding(spec.cardinalities[spec.item_field], 1)
            nn.init.zeros_(self.item_bias.weight)
            self.bias = nn.Parameter(torch.zeros(1))
        else:
            self.tower = MLP(user_dim + embed_dim, tuple(hidden), dropout)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        e = self.embed(batch)
        user = e.index_select(1, self.user_idx).flatten(1)
        item = e.index_select(1, self.item_idx).sum(1)
        if self.score == "mlp":
            return self.tower(torch.cat([user, item], 1)).squeeze(-1)
        bias = self.item_bias(batch["cat"][:, self.item_field].long()).squeeze(-1)
        u = self.tower(user)
        return (u[:, :-1] * item).sum(-1) + u[:, -1] + bias + self.bias


MODEL = YoutubeNet
