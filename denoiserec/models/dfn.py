"""DFN: Deep Feedback Network (Xie et al., IJCAI 2020) over implicit positive (click), implicit negative
(unclick) and explicit negative (dislike) feedback sequences.

* Internal feedback interaction: per sequence a Transformer over ``[e_target; e_1 … e_T]`` (the candidate
  item as token 0, as in the official code), average-pooled over real tokens → ``f_c, f_u, f_d``.
* External feedback interaction: the strong feedback denoises the weak one by attention,
  ``f_c^ex = Attn(f_d, clicks)`` and ``f_u^ex = Attn(f_c, unclicks)``, where
  ``Attn(q, S) = Σ_j softmax_j(MLP([q, s_j])) s_j``.
* Feature interaction: Wide + FM + Deep, ``ŷ = σ(w^T x + FM(fields) + MLP([fields, five feedback vectors]))``
  (the Transformer outputs are layer-normalised and would swamp the FM's field products).

``umn: true`` adds DUMN's user memory network (controller ``FFN([f_x, e_user])``), gated fusion and triplet loss
(weight 1; click↔unclick item samples, :func:`denoiserec.nn.sequence.umn_triplet`) on ``f_c, f_u, f_d`` (DFN+UMN
of DUMN's Table 3). Simplified: one Transformer layer per sequence, no separate Wide cross features.
"""

from __future__ import annotations

import torch
from torch import nn

from denoiserec.data.spec import FeatureSpec
from denoiserec.nn.layers import MLP, FieldEmbedding, LinearTerm, fm_interaction
from denoiserec.nn.sequence import (
    Gate,
    UserMemory,
    key_padding,
    masked_softmax,
    sequence_names,
    umn_triplet,
    user_item,
)
from denoiserec.settings import Count, Dim, Dims, MultipleOf, NonNeg, Rate


class _Attn(nn.Module):
    def __init__(self, dim: int, hidden: int = 64):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(2 * dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, q, keys, mask):
        s = self.score(torch.cat([q.unsqueeze(1).expand_as(keys), keys], -1)).squeeze(-1)
        return torch.einsum("bt,bte->be", masked_softmax(s, mask), keys)


class DFN(nn.Module):
    #: histories a one-line `denoiserec train --model dfn` encodes
    default_sequences = ("click", "unclick", "dislike")

    settings_rules = (MultipleOf("embed_dim", "heads"),)  #: attention heads split the embedding

    def __init__(self, spec: FeatureSpec, embed_dim: Dim = 16, click: str = "click", unclick: str = "unclick",
                 dislike: str = "dislike", heads: Count = 2, hidden: Dims = (256, 128, 64),
                 dropout: Rate = 0.0, umn: bool = False, slots: Count = 256, width: Dim = 64, ffn: Dim = 512,
                 triplet_weight: NonNeg = 1.0, margin: NonNeg = 0.5, triplet_pool: Count = 1024):
        super().__init__()
        self.names = sequence_names(spec, [click, unclick, dislike])
        self.embed = FieldEmbedding(spec, embed_dim, pool_sequences=False, first_order=True)
        self.linear = LinearTerm(spec, fused=True)  # w_f: the table's last column
        self.internal = nn.ModuleDict({n: nn.TransformerEncoderLayer(embed_dim, heads, 4 * embed_dim, dropout=0.0,
                                                                     batch_first=True) for n in self.names})
        self.ext_click, self.ext_unclick = _Attn(embed_dim), _Attn(embed_dim)
        self.umn = umn
        extra = 0
        if umn:
            self.memories = nn.ModuleDict({n: UserMemory(2 * embed_dim, slots, width, ffn) for n in self.names})
            self.gates = nn.ModuleDict({n: Gate(width) for n in self.names})
            self.triplet_weight, self.margin, self.triplet_pool = triplet_weight, margin, triplet_pool
            self.sample_proj = nn.Linear(embed_dim, width)
            extra = len(self.names) * width
        self.dnn = MLP((self.embed.n_fields + 5) * embed_dim + extra, tuple(hidden), dropout)

    def forward(self, batch: dict[str, torch.Tensor]):
        fields, first = self.embed.fields(batch)
        e_user, e_item = user_item(self.embed, batch)
        c, u, d = self.names
        seqs, masks, f, ids_of = {}, {}, {}, {}
        for n in self.names:
            ids = batch[f"seq_{n}"]
            seqs[n], masks[n] = self.embed.item_embedding(ids), ids > 0
            ids_of[n] = ids
            tokens = torch.cat([e_item.unsqueeze(1), seqs[n]], 1)
            mask = torch.cat([torch.ones_like(masks[n][:, :1]), masks[n]], 1)
            out = self.internal[n](tokens, src_key_padding_mask=key_padding(mask))
            m = mask.unsqueeze(-1).to(out.dtype)
            f[n] = (out * m).sum(1) / m.sum(1)
        ext = [self.ext_click(f[d], seqs[c], masks[c]), self.ext_unclick(f[c], seqs[u], masks[u])]
        vecs = torch.stack([f[c], f[u], f[d], *ext], 1)
        parts = [fields.flatten(1), vecs.flatten(1)]
        queries = {}
        if self.umn:
            for n in self.names:
                read, queries[n] = self.memories[n](torch.cat([f[n], e_user], -1), write_mask=masks[n].any(1))
                parts.append(self.gates[n](read))
        logits = self.linear(batch, first) + fm_interaction(fields) + self.dnn(torch.cat(parts, -1)).squeeze(-1)
        if not self.training or not self.umn:
            return logits
        aux = umn_triplet({n: queries[n] for n in (c, u)}, {n: ids_of[n] for n in (c, u)}, self.embed,
                          self.sample_proj, self.margin, True, self.triplet_pool)
        return logits, self.triplet_weight * aux


MODEL = DFN
