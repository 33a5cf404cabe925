"""AutoInt (Song et al., CIKM 2019): interacting layers of multi-head self-attention over the field embeddings.

Per head ``h`` (eq. 5–6): ``α_{m,k} = softmax_k <W_Q e_m, W_K e_k>``, ``ẽ_m^h = Σ_k α_{m,k} W_V e_k``; the heads are
concatenated and the residual added (eq. 8): ``e_m^Res = ReLU(ẽ_m ⊕ W_Res e_m)``. After the last layer
``ŷ = σ(wᵀ [e_1^Res..e_F^Res] + b)`` (eq. 9). ``hidden`` non-empty adds an MLP over the raw embeddings to the
logit (AutoInt+); ``scaled`` divides the scores by ``√d'`` (the paper does not). ``sequences`` names the
mean-pooled history fields (None: every encoded one; DUMN's Table 1 runs AutoInt on ``[click]``).

``umn: true`` is AutoInt+UMN of DUMN's Table 3: one DUMN user memory per sequence in ``umn_sequences``
(:class:`denoiserec.nn.sequence.UserMemory`, controller ``FFN([mean-pooled e_x, e_user])`` — AutoInt has no
sequence attention, so the pooled history is the short-term representation), the reads gated as DUMN's PAIR
(``r ⊙ σ(r W)``) and added to the output layer's input, and DUMN's triplet loss (weight 1) as auxiliary loss.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from denoiserec.data.spec import FeatureSpec
from denoiserec.nn.layers import MLP, FieldEmbedding, masked_mean
from denoiserec.nn.sequence import Gate, UserMemory, sequence_names, umn_triplet, user_item
from denoiserec.settings import Count, Dim, Dims, NonNeg, Rate


class InteractingLayer(nn.Module):
    def __init__(self, in_dim: int, head_dim: int, heads: int, residual: bool = True, scaled: bool = False):
        super().__init__()
        self.heads, self.head_dim, self.scaled = heads, head_dim, scaled
        self.qkv = nn.Linear(in_dim, 3 * heads * head_dim, bias=False)
        self.res = nn.Linear(in_dim, heads * head_dim, bias=False) if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, f, _ = x.shape
        q, k, v = self.qkv(x).view(b, f, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)  # each [B, H, F, d']
        out = F.scaled_dot_product_attention(q, k, v, scale=None if self.scaled else 1.0)
        out = out.transpose(1, 2).reshape(b, f, self.heads * self.head_dim)
        if self.res is not None:
            out = out + self.res(x)
        return torch.relu(out)


class AutoInt(nn.Module):
    def __init__(self, spec: FeatureSpec, embed_dim: Dim = 8, layers: Count = 3, heads: Count = 2, head_dim: Dim = 32,
                 residual: bool = True, scaled: bool = False, hidden: Dims = (), dropout: Rate = 0.0,
                 sequences: list[str] | None = None, umn: bool = False,
                 umn_sequences: tuple[str, ...] = ("click", "unclick", "like", "dislike"), slots: Count = 256,
                 width: Dim = 64, ffn: Dim = 512, triplet: Literal["hard", "random", "none"] = "hard",
                 triplet_weight: NonNeg = 1.0, margin: NonNeg = 0.5, triplet_pool: Count = 1024):
        super().__init__()
        self.embed = FieldEmbedding(spec, embed_dim, sequences=sequences)
        dims = [embed_dim] + [heads * head_dim] * layers
        self.attn = nn.Sequential(*(InteractingLayer(dims[i], head_dim, heads, residual, scaled)
                                    for i in range(layers)))
        self.umn = sequence_names(spec, list(umn_sequences)) if umn else []
        if umn:
            self.memories = nn.ModuleDict({n: UserMemory(2 * embed_dim, slots, width, ffn) for n in self.umn})
            self.gates = nn.ModuleDict({n: Gate(width) for n in self.umn})
            self.sample_proj = nn.Linear(embed_dim, width)
            self.triplet, self.triplet_weight, self.margin, self.triplet_pool = triplet, triplet_weight, margin, \
                triplet_pool
        self.out = nn.Linear(self.embed.n_fields * dims[-1] + len(self.umn) * width, 1)
        self.dnn = MLP(self.embed.n_fields * embed_dim, tuple(hidden), dropout) if hidden else None

    def forward(self, batch: dict[str, torch.Tensor]):
        e = self.embed(batch)
        parts, queries, ids = [self.attn(e).flatten(1)], {}, {}
        if self.umn:
            e_user, _ = user_item(self.embed, batch)
            for n in self.umn:
                ids[n] = batch[f"seq_{n}"]
                mask = ids[n] > 0
                short = masked_mean(self.embed.item_embedding(ids[n]), mask)
                read, queries[n] = self.memories[n](torch.cat([short, e_user], -1), write_mask=mask.any(1))
                parts.append(self.gates[n](read))
        logit = self.out(torch.cat(parts, -1)).squeeze(-1)
        if self.dnn is not None:
            logit = logit + self.dnn(e.flatten(1)).squeeze(-1)
        if not self.training or not self.umn or self.triplet == "none":
            return logit
        aux = umn_triplet(queries, ids, self.embed, self.sample_proj, self.margin, self.triplet == "hard",
                          self.triplet_pool)
        return logit, self.triplet_weight * aux


MODEL = AutoInt
