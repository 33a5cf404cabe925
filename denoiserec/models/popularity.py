"""Item popularity as a CTR model: ``ŷ = σ(b + w_item)``, one learned bias per item (the logistic-regression form of
the item's training click rate, shrunk toward the global rate by the small initialisation). No user, context or
history input: the floor every personalised model must clear."""

from __future__ import annotations

import torch
from torch import nn

from denoiserec.data.spec import FeatureSpec


class Popularity(nn.Module):
    def __init__(self, spec: FeatureSpec):
        super().__init__()
        self.item_field = spec.item_field
        self.item_bias = nn.Embedding(spec.cardinalities[spec.item_field], 1)
        nn.init.zeros_(self.item_bias.weight)
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.bias + self.item_bias(batch["cat"][:, self.item_field].long()).squeeze(-1)


MODEL = Popularity
