"""DUMN: Denoising User-aware Memory Network (Bian et al., "Denoising User-aware Memory Network for
Recommendation", RecSys '21, §3), over the click / unclick / like / dislike sequences (disjoint presets in
:data:`denoiserec.data.features.DUMN_KINDS`).

1. Embedding (§3.2): ``e_user`` = concatenated user-profile field embeddings (the ``user`` field), ``e_item`` =
   concatenated item field embeddings (``item`` plus ``artist`` / ``category`` when present: the paper's
   item_id + brand/category), each sequence ``e_x ∈ R^{T×E}``.
2. Multi-head interaction attention (eqs. 1-5): ``e_x`` is split into ``H`` heads of ``E/H`` columns, head h is
   ``softmax(e_h W^Q_h (e_h W^K_h)^T / √T) e_h W^V_h`` (``T`` = the sequence's configured ``max_len``; padding
   keys masked), ``O = [head_1..head_H] W^F``; ``α_j = softmax_j ReLU([e_user, e_item, o_j] W_x)``,
   ``f_x = Σ_j α_j o_j``.
3. Feature purification (eqs. 6-7): ``f_c^o = f_c − proj(f_c, f_d)``, ``f_u^o = f_u − proj(f_u, f_l)``; like and
   dislike are used as they are.
4. User memory network (eqs. 8-12): one memory per sequence, controller ``FFN([f_x^o, e_user])``; read, then
   erase/add write into a memory state that later batches and evaluation read — see
   :class:`denoiserec.nn.sequence.UserMemory` for exactly how the state is kept over a batch.
5. PAIR (eqs. 13-15): ``U_x = [f_x^o ⊙ σ(f_x^o W1), r_x ⊙ σ(r_x W2)]``, ``R = [U_c, U_u, U_l, U_d]``,
   ``ŷ = σ(FFN([e_user, e_item, e_other, R]))``.
6. Loss (eqs. 16-20): ``L = L1 + L2`` (``triplet_weight = 1``), ``L2 = Σ_x mean_i max(d(q_x,i, s_x) −
   d(q_x,i, s_x̄) + margin, 0)``, ``d = 1 − cos``, anchor ``q`` of eq. 18 (:class:`UserMemory`); the positive and
   negative are embedding-layer outputs of items from the same and the opposite polarity (click↔unclick,
   like↔dislike), mapped to ``Z`` by a learned ``E→Z`` projection. Each row contributes one item drawn at random
   from each of its sequences (§3.6 "randomly sample an item from each of the four feedback sequences"); per
   anchor the hardest of the batch's candidates by cosine (§4.3.4), or a random one (``triplet: random``).

Ablations as hyper-parameters (Tables 2-6): ``purify: false`` (DUMN−FP), ``memory: false`` (DUMN−UMN),
``shared_memory: true`` (DUMN+UMN1), ``triplet: none|random`` (DUMN−TL, DUMN_RS), ``fusion:
concat|cross|ffn|atte`` (DUMN_CONCAT: ``[f, r]``; DUMN_CROSS: ``[f + rW, f − rW, f ⊙ rW]``; DUMN_FFN:
``[FFN(f), FFN(r)]``; DUMN_ATTE: ``Σ_{v∈{f, rW}} softmax(a^T tanh(W_a v)) v``), ``sequences: [click, unclick]``
(DUMN_IF: no like/dislike memories and hence no purification) or ``[all]`` (DUMN_AF: one sequence of every
feedback kind in time order, no purification, no triplet partner).

Departures from the paper, and why:

* ``e_other``: fields that are neither user profile nor item (``context``, ``hour``, numeric ``f_*``) join the
  final FFN input of eq. 15 — the paper has no such fields; dropping them would hide data the baselines see.
* The write is the batch mean of the rows' eq.-12 updates, once per training batch, with no gradient through
  earlier batches' writes; evaluation reads without writing (the paper leaves both open; per-row sequential
  writes would cost a ``[B, m, Z]`` scan per step).
* The triplet samples come from the batch rows' histories (``T`` most recent events per kind), not from a
  separate store of all interactions (§3.6): the histories are the interactions the data pipeline hands a model.
* ``margin`` (0.5), ``triplet_pool`` (anchors/candidates taken from the first 1,024 rows of the shuffled batch,
  bounding the ``[P, P]`` distance matrices) and the controller's single hidden layer: the paper gives no value.
* eq. 13's ``W`` are square (``E×E``, ``Z×Z``): the Hadamard product needs the gate to match its vector.
* A row whose history x is empty neither writes memory x nor anchors its triplet term (it has nothing to store;
  the paper is silent). Numeric side fields (``f_*``) cannot be told apart as user or item attributes, so they
  are in ``e_other``, not in ``e_user`` / ``e_item``.
* ``memory_state: user`` (default ``shared``, the paper's one memory per feedback type): each row's four
  memories are written by her own sequences, event by event from the learned initial content, and read at
  training and evaluation alike (after MIMN, Pi et al. 2019; :class:`UserMemory`). The shared state, written by
  batch means and frozen at evaluation, gives a read that depends only on inputs the final network already
  receives (``docs/results/dumn.md``); the per-user state is the reading in which a memory can carry what a
  user's history says beyond the attention summary. Costs a ``[B, m, Z]`` scan of ``T`` steps per memory.
* ``key_strength`` (default off, as eq. 9): NTM's learned sharpness ``β``; offered because eq. 9's softmax of a
  cosine over ``m = 256`` slots is close to uniform, which makes every user's read close to the slots' mean
  (measured in ``docs/results/dumn.md``).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from denoiserec.data.spec import FeatureSpec
from denoiserec.errors import ConfigError
from denoiserec.nn.layers import MLP, FieldEmbedding
from denoiserec.nn.sequence import (
    Gate,
    UserMemory,
    masked_softmax,
    purify,
    sequence_names,
    umn_triplet,
)
from denoiserec.settings import Count, Dim, Dims, MultipleOf, NonNeg, Rate

#: f_x^o = f_x − proj(f_x, f_partner) (eqs. 6-7)
PURIFY = {"click": "dislike", "unclick": "like"}
#: categorical fields that describe the item (§3.2: item_id + brand/category); ``user`` is the user profile
ITEM_FIELDS = ("item", "artist", "category")
USER_FIELDS = ("user",)
Fusions = Literal["gate", "concat", "cross", "ffn", "atte"]  #: the fusion ablations of Table 4


class InteractionAttention(nn.Module):
    """Eqs. 1-5: split-then-project multi-head self-attention scaled by ``√T``, then user/item-aware pooling."""

    def __init__(self, dim: int, heads: int, max_len: int, context_dim: int):
        super().__init__()
        if dim % heads:
            raise ConfigError(f"dumn: embed_dim {dim} must be divisible by heads {heads}")
        self.heads, self.d, self.scale = heads, dim // heads, math.sqrt(max_len)
        self.qkv = nn.Parameter(torch.randn(3, heads, self.d, self.d) / math.sqrt(self.d))  # W^Q_h, W^K_h, W^V_h
        self.out = nn.Linear(dim, dim, bias=False)  # W^F
        self.score = nn.Linear(context_dim + dim, 1)  # W_c of eq. 3

    def forward(self, e_seq: torch.Tensor, mask: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, t, _ = e_seq.shape
        e = e_seq.view(b, t, self.heads, self.d)
        q, k, v = (torch.einsum("bthd,hde->bhte", e, w) for w in self.qkv)
        s = torch.einsum("bhte,bhse->bhts", q, k) / self.scale
        att = masked_softmax(s, mask[:, None, None, :].expand_as(s))
        o = self.out(torch.einsum("bhts,bhse->bthe", att, v).reshape(b, t, -1))
        o = o * mask.unsqueeze(-1).to(o.dtype)
        ctx = context.unsqueeze(1).expand(-1, t, -1)
        alpha = masked_softmax(torch.relu(self.score(torch.cat([ctx, o], -1))).squeeze(-1), mask)
        return torch.einsum("bt,bte->be", alpha, o)


class Fusion(nn.Module):
    """PAIR (eq. 13) and the fusion ablations of Table 4 for one feedback type: ``f`` ``[B, E]``, ``r`` ``[B, Z]``."""

    def __init__(self, kind: str, dim: int, width: int, memory: bool):
        super().__init__()
        self.kind, self.memory = kind, memory
        if kind == "gate":
            self.gate_f = Gate(dim)
            self.gate_r = Gate(width) if memory else None
        elif kind == "ffn":
            self.ffn_f = MLP(dim, (dim,), out_dim=dim)
            self.ffn_r = MLP(width, (width,), out_dim=width) if memory else None
        elif kind in ("cross", "atte") and memory:
            self.to_dim = nn.Linear(width, dim, bias=False)
            if kind == "atte":
                self.att = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, 1, bias=False))
        self.out_dim = dim + (0 if not memory else {"gate": width, "concat": width, "ffn": width,
                                                    "cross": 2 * dim, "atte": 0}[kind])

    def forward(self, f: torch.Tensor, r: torch.Tensor | None) -> torch.Tensor:
        if self.kind == "gate":
            parts = [self.gate_f(f)] + ([self.gate_r(r)] if self.memory else [])
        elif self.kind == "ffn":
            parts = [self.ffn_f(f)] + ([self.ffn_r(r)] if self.memory else [])
        elif not self.memory or self.kind == "concat":
            parts = [f] + ([r] if self.memory else [])
        elif self.kind == "cross":
            rr = self.to_dim(r)
            parts = [f + rr, f - rr, f * rr]
        else:  # atte
            v = torch.stack([f, self.to_dim(r)], 1)
            a = torch.softmax(self.att(v), 1)
            parts = [(a * v).sum(1)]
        return torch.cat(parts, -1)


class DUMN(nn.Module):
    #: histories a one-line `denoiserec train --model dumn` encodes (presets of data/features.py)
    default_sequences = ("click", "unclick", "like", "dislike")

    settings_rules = (MultipleOf("embed_dim", "heads"),)  #: attention heads split the embedding

    def __init__(self, spec: FeatureSpec, embed_dim: Dim = 16, sequences: list[str] | None = None, heads: Count = 2,
                 slots: Count = 256, width: Dim = 64, ffn: Dim = 512, hidden: Dims = (256, 128, 64),
                 dropout: Rate = 0.0, purify: bool = True, memory: bool = True, shared_memory: bool = False,
                 triplet: Literal["hard", "random", "none"] = "hard", triplet_weight: NonNeg = 1.0,
                 margin: NonNeg = 0.5, triplet_pool: Count = 1024,
                 fusion: Fusions = "gate", key_strength: bool = False,
                 memory_state: Literal["shared", "user"] = "shared"):
        super().__init__()
        self.per_user = memory_state == "user"
        self.names = sequence_names(spec, sequences or [n for n in ("click", "unclick", "like", "dislike")
                                                        if n in dict(spec.sequences)])
        lengths = dict(spec.sequences)
        self.embed = FieldEmbedding(spec, embed_dim, pool_sequences=False)
        self.user_idx = [i for i, c in enumerate(spec.categorical) if c in USER_FIELDS]
        self.item_idx = [i for i, c in enumerate(spec.categorical) if c in ITEM_FIELDS]
        du, di = len(self.user_idx) * embed_dim, len(self.item_idx) * embed_dim
        self.attn = nn.ModuleDict({n: InteractionAttention(embed_dim, heads, lengths[n], du + di) for n in self.names})
        self.do_purify, self.use_memory = purify, memory
        self.triplet, self.triplet_weight, self.margin = triplet, triplet_weight, margin
        self.triplet_pool = triplet_pool
        if memory:
            make = lambda: UserMemory(embed_dim + du, slots, width, ffn, key_strength)  # noqa: E731
            shared = make() if shared_memory else None
            self.memories = nn.ModuleDict({n: shared or make() for n in self.names})
            if triplet != "none":
                self.sample_proj = nn.Linear(embed_dim, width)  # E → Z for the triplet samples
        self.fuse = nn.ModuleDict({n: Fusion(fusion, embed_dim, width, memory) for n in self.names})
        per = self.fuse[self.names[0]].out_dim
        self.dnn = MLP(self.embed.n_fields * embed_dim + len(self.names) * per, tuple(hidden), dropout)

    def forward(self, batch: dict[str, torch.Tensor]):
        fields = self.embed(batch)
        b = fields.shape[0]
        e_user = fields[:, self.user_idx].reshape(b, -1)
        e_item = fields[:, self.item_idx].reshape(b, -1)
        context = torch.cat([e_user, e_item], -1)
        f, masks, ids = {}, {}, {}
        for n in self.names:
            ids[n] = batch[f"seq_{n}"]
            masks[n] = ids[n] > 0
            f[n] = self.attn[n](self.embed.item_embedding(ids[n]), masks[n], context)
        if self.do_purify:
            f = {n: purify(v, f[PURIFY[n]]) if PURIFY.get(n) in f else v for n, v in f.items()}
        parts, queries = [fields.flatten(1)], {}
        for n in self.names:
            r = None
            if self.use_memory:
                x = torch.cat([f[n], e_user], -1)
                if self.per_user:  # her own events write her own memory (class docstring)
                    t = ids[n].shape[1]
                    ev = torch.cat([self.embed.item_embedding(ids[n]), e_user.unsqueeze(1).expand(-1, t, -1)], -1)
                    r, queries[n] = self.memories[n](x, None, ev, masks[n])
                else:
                    r, queries[n] = self.memories[n](x, write_mask=masks[n].any(1))
            parts.append(self.fuse[n](f[n], r))
        logits = self.dnn(torch.cat(parts, -1)).squeeze(-1)
        if not self.training or not self.use_memory or self.triplet == "none":
            return logits
        aux = umn_triplet(queries, ids, self.embed, self.sample_proj, self.margin, self.triplet == "hard",
                          self.triplet_pool)
        return logits, self.triplet_weight * aux


MODEL = DUMN
