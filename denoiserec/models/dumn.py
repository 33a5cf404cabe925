"""DUMN: Denoising User-aware Memory Network (Bian et al., "Denoising User-aware Memory Network for
Recommendation", RecSys 2021), over the click / unclick / like / dislike sequences.

1. Embedding: ``e_user``, ``e_item`` and each sequence ``e_x ∈ R^{T×E}``.
2. Multi-head interaction attention: ``o = MHSA(e_x)`` (padding masked), then
   ``α_j = softmax_j(v^T ReLU(W [e_user, e_item, o_j] + b))`` and ``f_x = Σ_j α_j o_j``.
3. Feature purification: ``f_c^o = f_c − proj(f_c, f_d)``, ``f_u^o = f_u − proj(f_u, f_l)`` with
   ``proj(a, b) = (a·b/|b|) b/|b|`` (0 when ``|b| = 0``); like/dislike are kept as they are.
4. User memory network: one NTM-style memory per sequence (``m × Z``), controller ``FFN([f_x^o, e_user])``,
   read ``r_x`` after the write (see :class:`denoiserec.models._seq.UserMemory`).
5. PAIR gated fusion: ``U_x = [f_x^o ⊙ σ(f_x^o W1), r_x ⊙ σ(r_x W2)]``;
   ``ŷ = σ(FFN([e_profile, e_item, U_c, U_u, U_l, U_d]))`` where ``e_profile`` are all non-sequence fields.
6. Loss: BCE + ``λ Σ_x mean_i max(d(q_x,i, s⁺) − d(q_x,i, s⁻) + margin, 0)``, ``d = 1 − cos``,
   ``q = Σ_j w^w_j M_j``; positives from the same memory, negatives from the contrasting one (click↔unclick,
   like↔dislike), the hardest in the batch by cosine (``triplet: random`` draws them instead).

Ablations as hyper-parameters: ``purify: false`` (DUMN−FP), ``memory: false`` (DUMN−UMN), ``shared_memory:
true`` (DUMN+UMN1), ``triplet: none|random`` (−TL / random triplets), ``fusion: concat|ffn`` (PAIR variants),
``sequences: [click, unclick]`` (implicit only) or ``[all]`` (all-in-one sequence).
"""

from __future__ import annotations

import torch
from torch import nn

from denoiserec.data.features import FeatureSpec
from denoiserec.errors import ConfigError
from denoiserec.models._seq import (
    Gate,
    UserMemory,
    key_padding,
    masked_softmax,
    purify,
    sequence_names,
    triplet_loss,
    user_item,
)
from denoiserec.models.layers import MLP, FieldEmbedding

#: f_x^o = f_x − proj(f_x, f_partner)
PURIFY = {"click": "dislike", "unclick": "like"}
#: triplet negatives of memory x come from memory CONTRAST[x]
CONTRAST = {"click": "unclick", "unclick": "click", "like": "dislike", "dislike": "like"}


class InteractionAttention(nn.Module):
    """Multi-head self-attention over one sequence, then user/item-aware attention pooling (step 2)."""

    def __init__(self, dim: int, heads: int, hidden: int):
        super().__init__()
        self.mhsa = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.score = nn.Sequential(nn.Linear(3 * dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, e_seq: torch.Tensor, mask: torch.Tensor, e_user: torch.Tensor, e_item: torch.Tensor):
        o, _ = self.mhsa(e_seq, e_seq, e_seq, key_padding_mask=key_padding(mask), need_weights=False)
        o = o * mask.unsqueeze(-1).to(o.dtype)
        t = o.shape[1]
        ctx = torch.cat([e_user, e_item], -1).unsqueeze(1).expand(-1, t, -1)
        alpha = masked_softmax(self.score(torch.cat([ctx, o], -1)).squeeze(-1), mask)
        return torch.einsum("bt,bte->be", alpha, o)


class DUMN(nn.Module):
    def __init__(self, spec: FeatureSpec, embed_dim: int = 16, sequences: list[str] | None = None, heads: int = 2,
                 att_hidden: int = 64, slots: int = 256, width: int = 64, ffn: int = 512,
                 hidden: tuple[int, ...] = (256, 128, 64), dropout: float = 0.0, purify: bool = True,
                 memory: bool = True, shared_memory: bool = False, triplet: str = "hard", triplet_weight: float = 0.1,
                 margin: float = 0.5, triplet_pool: int = 1024, fusion: str = "gate"):
        super().__init__()
        if triplet not in ("hard", "random", "none"):
            raise ConfigError(f"dumn: triplet must be hard, random or none, not {triplet!r}")
        if fusion not in ("gate", "concat", "ffn"):
            raise ConfigError(f"dumn: fusion must be gate, concat or ffn, not {fusion!r}")
        self.names = sequence_names(spec, sequences or [n for n in ("click", "unclick", "like", "dislike")
                                                        if n in dict(spec.sequences)])
        self.embed = FieldEmbedding(spec, embed_dim, pool_sequences=False)
        self.attn = nn.ModuleDict({n: InteractionAttention(embed_dim, heads, att_hidden) for n in self.names})
        self.do_purify, self.use_memory, self.fusion = purify, memory, fusion
        self.triplet, self.triplet_weight, self.margin = triplet, triplet_weight, margin
        self.triplet_pool = triplet_pool
        per = embed_dim
        if memory:
            shared = UserMemory(2 * embed_dim, slots, width, ffn) if shared_memory else None
            self.memories = nn.ModuleDict({n: shared or UserMemory(2 * embed_dim, slots, width, ffn)
                                           for n in self.names})
            per += width
        if fusion == "gate":
            self.gate_f = nn.ModuleDict({n: Gate(embed_dim) for n in self.names})
            self.gate_r = nn.ModuleDict({n: Gate(width) for n in self.names}) if memory else None
        elif fusion == "ffn":
            self.fuse = nn.ModuleDict({n: MLP(per, (per,), out_dim=per) for n in self.names})
        self.dnn = MLP(self.embed.n_fields * embed_dim + len(self.names) * per, tuple(hidden), dropout)

    def forward(self, batch: dict[str, torch.Tensor]):
        fields = self.embed(batch)
        e_user, e_item = user_item(self.embed, batch)
        f, masks = {}, {}
        for n in self.names:
            ids = batch[f"seq_{n}"]
            masks[n] = ids > 0
            f[n] = self.attn[n](self.embed.item_embedding(ids), masks[n], e_user, e_item)
        if self.do_purify:
            f = {n: purify(v, f[PURIFY[n]]) if PURIFY.get(n) in f else v for n, v in f.items()}
        parts, queries = [fields.flatten(1)], {}
        for n in self.names:
            u = [self.gate_f[n](f[n]) if self.fusion == "gate" else f[n]]
            if self.use_memory:
                read, queries[n] = self.memories[n](torch.cat([f[n], e_user], -1))
                u.append(self.gate_r[n](read) if self.fusion == "gate" else read)
            u = torch.cat(u, -1)
            parts.append(self.fuse[n](u) if self.fusion == "ffn" else u)
        logits = self.dnn(torch.cat(parts, -1)).squeeze(-1)
        if not self.training or not self.use_memory or self.triplet == "none":
            return logits
        return logits, self.triplet_weight * self.triplet_aux(queries, masks)

    def triplet_aux(self, queries: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        """Σ over memories with a contrasting partner of the batch triplet loss (on the first ``triplet_pool``
        rows of the already shuffled batch, bounding the ``[P, P]`` distance matrices)."""
        k = self.triplet_pool
        total = None
        for n, q in queries.items():
            other = CONTRAST.get(n)
            if other not in queries:
                continue
            nonempty, other_nonempty = masks[n][:k].any(1), masks[other][:k].any(1)
            loss = triplet_loss(q[:k], q[:k], queries[other][:k], self.margin, anchor_mask=nonempty,
                                pos_mask=nonempty, neg_mask=other_nonempty, hard=self.triplet == "hard")
            total = loss if total is None else total + loss
        return total if total is not None else next(iter(queries.values())).new_zeros(())


MODEL = DUMN
