"""DIEN: Deep Interest Evolution Network (Zhou et al., AAAI 2019) over one behaviour sequence (default
``click``): the interest extractor GRU ``h_t = GRU(e_t, h_{t−1})`` with the auxiliary loss (eq. 8)
``L_aux = −mean_t [log σ(g(h_t, e_{t+1})) + log(1 − σ(g(h_t, ê_{t+1})))]`` against a random item ``ê``, the
attention ``a_t = softmax_t(h_t W e_A)`` (eq. 11) and the interest evolving AUGRU (eqs. 12-13) whose final
state joins the other fields (and the behaviour sequence mean-pooled, as the official code's sum of history
embeddings; other encoded sequences are not inputs) in ``ŷ = σ(MLP(·))``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from denoiserec.data.spec import FeatureSpec
from denoiserec.nn.layers import MLP, FieldEmbedding
from denoiserec.nn.sequence import MaskedGRU, masked_softmax, sequence_names, user_item
from denoiserec.settings import Dim, Dims, NonNeg, Rate


class DIEN(nn.Module):
    #: histories a one-line `denoiserec train --model dien` encodes
    default_sequences = ("click",)

    def __init__(self, spec: FeatureSpec, embed_dim: Dim = 16, sequence: str = "click", gru_dim: Dim | None = None,
                 hidden: Dims = (200, 80), dropout: Rate = 0.0, aux_loss: bool = True,
                 aux_weight: NonNeg = 1.0):
        super().__init__()
        self.name = sequence_names(spec, sequence)[0]
        self.embed = FieldEmbedding(spec, embed_dim, sequences=[self.name])  # the behaviour sequence, mean-pooled
        h = gru_dim or embed_dim
        self.extractor = MaskedGRU(embed_dim, h)
        self.att = nn.Linear(embed_dim, h, bias=False)
        self.evolver = MaskedGRU(h, h)
        self.aux = MLP(h + embed_dim, (100, 50), activation=nn.Sigmoid) if aux_loss else None
        self.aux_weight = aux_weight
        self.n_items = spec.cardinalities[spec.item_field]
        self.dnn = MLP(self.embed.n_fields * embed_dim + h, tuple(hidden), dropout, activation=nn.PReLU)

    def forward(self, batch: dict[str, torch.Tensor]):
        fields = self.embed(batch)
        _, e_item = user_item(self.embed, batch)
        ids = batch[f"seq_{self.name}"]
        mask = ids > 0
        e = self.embed.item_embedding(ids)
        states = self.extractor(e, mask)
        a = masked_softmax(torch.einsum("bth,bh->bt", states, self.att(e_item)), mask)
        final = self.evolver(states, mask, att=a)[:, -1]
        logits = self.dnn(torch.cat([fields.flatten(1), final], -1)).squeeze(-1)
        if not self.training or self.aux is None:
            return logits
        return logits, self.aux_weight * self.auxiliary(states, e, ids, mask)

    def auxiliary(self, states, e, ids, mask) -> torch.Tensor:
        """Next-behaviour prediction from each extractor state (pairs where step t and t+1 are both real)."""
        h, nxt = states[:, :-1], e[:, 1:]
        neg_ids = torch.randint(1, max(self.n_items, 2), ids[:, 1:].shape, device=ids.device)
        neg = self.embed.item_embedding(neg_ids)
        valid = (mask[:, :-1] & mask[:, 1:]).to(h.dtype)
        pos_logit = self.aux(torch.cat([h, nxt], -1)).squeeze(-1)
        neg_logit = self.aux(torch.cat([h, neg], -1)).squeeze(-1)
        loss = F.softplus(-pos_logit) + F.softplus(neg_logit)
        return (loss * valid).sum() / valid.sum().clamp_min(1.0)


MODEL = DIEN
