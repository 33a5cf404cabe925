"""DSIN: Deep Session Interest Network (Feng et al., IJCAI 2019) over one behaviour sequence (default ``click``).

1. Session division: the history is cut into the user's ``sessions`` most recent sessions (by the per-event
   session offsets ``sess_<name>`` of :mod:`denoiserec.data.features`), each its ``session_len`` most recent
   events, ``Q ∈ R^{K×L×E}``.
2. Session interest extractor: bias encoding ``BE_{k,t,c} = w^K_k + w^T_t + w^C_c`` added to ``Q``, one
   Transformer encoder layer (multi-head self-attention + FFN, shared by all sessions) per session, average-pooled
   over its events → ``I_k``.
3. Session interest interacting layer: a Bi-LSTM over ``I_1..I_K`` in time order → ``H_k``.
4. Session interest activating layer: ``a^I_k = softmax_k(I_k W^I X^I)``, ``U^I = Σ_k a^I_k I_k`` and likewise
   ``U^H`` over ``H_k`` (``X^I`` = target item embedding); ``ŷ = σ(MLP([fields, U^I, U^H]))`` (PReLU).

Sessions without events (users with fewer than ``K`` sessions) are masked everywhere; the Bi-LSTM runs over the
present sessions only (packed). Events of the row's own session that came before it form its most recent session.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from denoiserec.data.spec import FeatureSpec
from denoiserec.nn.layers import MLP, FieldEmbedding
from denoiserec.nn.sequence import key_padding, masked_softmax, sequence_names, user_item
from denoiserec.settings import Count, Dim, Dims, MultipleOf, Rate


def divide_sessions(ids: torch.Tensor, ago: torch.Tensor, sessions: int, session_len: int) -> torch.Tensor:
    """``ids [B, T]`` (left-padded, oldest first) with per-event session offsets ``ago [B, T]`` →
    ``[B, K, L]`` item ids: session k = the k-th most recent distinct session (0 = most recent), its events
    left-padded in time order, the ``L`` most recent kept."""
    b, t = ids.shape
    valid = ids > 0
    # session rank from the end: the number of session boundaries at or after t (change[s]: s and s+1 differ)
    change = torch.zeros_like(valid)
    change[:, :-1] = valid[:, :-1] & (ago[:, :-1] != ago[:, 1:])
    k = change.long().flip(1).cumsum(1).flip(1)
    # within-session position from the end
    later = torch.triu(torch.ones(t, t, dtype=torch.bool, device=ids.device), diagonal=1)  # s > t
    same = (k.unsqueeze(2) == k.unsqueeze(1)) & valid.unsqueeze(1) & later
    pos = same.sum(2)
    ok = valid & (k < sessions) & (pos < session_len)
    slot = torch.where(ok, k * session_len + (session_len - 1 - pos), sessions * session_len)
    out = torch.zeros(b, sessions * session_len + 1, dtype=ids.dtype, device=ids.device)
    out.scatter_(1, slot.long(), torch.where(ok, ids, torch.zeros_like(ids)))
    return out[:, :-1].view(b, sessions, session_len)


class DSIN(nn.Module):
    #: histories a one-line `denoiserec train --model dsin` encodes
    default_sequences = ("click",)

    settings_rules = (MultipleOf("embed_dim", "heads"),)  #: attention heads split the embedding

    def __init__(self, spec: FeatureSpec, embed_dim: Dim = 16, sequence: str = "click", sessions: Count = 5,
                 session_len: Count = 10, heads: Count = 2, hidden: Dims = (200, 80), dropout: Rate = 0.0):
        super().__init__()
        self.name = sequence_names(spec, sequence)[0]
        self.k, self.l = sessions, session_len
        self.embed = FieldEmbedding(spec, embed_dim, pool_sequences=False)
        self.bias_k = nn.Parameter(torch.zeros(sessions, 1, 1))
        self.bias_t = nn.Parameter(torch.zeros(1, session_len, 1))
        self.bias_c = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.extractor = nn.TransformerEncoderLayer(embed_dim, heads, 4 * embed_dim, dropout=0.0, batch_first=True)
        self.lstm = nn.LSTM(embed_dim, embed_dim, batch_first=True, bidirectional=True)
        self.w_i = nn.Linear(embed_dim, embed_dim, bias=False)
        self.w_h = nn.Linear(embed_dim, 2 * embed_dim, bias=False)
        self.dnn = MLP((self.embed.n_fields + 3) * embed_dim, tuple(hidden), dropout, activation=nn.PReLU)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        fields = self.embed(batch)
        _, e_item = user_item(self.embed, batch)
        div = divide_sessions(batch[f"seq_{self.name}"], batch[f"sess_{self.name}"], self.k, self.l)  # [B, K, L]
        b = div.shape[0]
        mask = div > 0
        q = self.embed.item_embedding(div) + self.bias_k + self.bias_t + self.bias_c
        flat_mask = mask.view(b * self.k, self.l)
        h = self.extractor(q.view(b * self.k, self.l, -1), src_key_padding_mask=key_padding(flat_mask))
        m = flat_mask.unsqueeze(-1).to(h.dtype)
        interest = ((h * m).sum(1) / m.sum(1).clamp_min(1.0)).view(b, self.k, -1)  # I_k, k = 0 most recent
        present = mask.any(2)  # [B, K]; present sessions are k = 0..n-1
        n = present.sum(1)
        # Bi-LSTM over the sessions in time order: reversed rank, present ones packed
        chrono = interest.flip(1)
        idx = (torch.arange(self.k, device=div.device).unsqueeze(0) + (self.k - n).unsqueeze(1)) % self.k
        chrono = chrono.gather(1, idx.unsqueeze(-1).expand_as(chrono))  # present sessions first, oldest first
        packed = pack_padded_sequence(chrono, n.clamp_min(1).cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        hs, _ = pad_packed_sequence(out, batch_first=True, total_length=self.k)  # [B, K, 2E]
        chrono_mask = torch.arange(self.k, device=div.device).unsqueeze(0) < n.unsqueeze(1)
        a_i = masked_softmax(torch.einsum("bke,be->bk", interest, self.w_i(e_item)), present)
        a_h = masked_softmax(torch.einsum("bke,be->bk", hs, self.w_h(e_item)), chrono_mask)
        u_i = torch.einsum("bk,bke->be", a_i, interest)
        u_h = torch.einsum("bk,bke->be", a_h, hs)
        return self.dnn(torch.cat([fields.flatten(1), u_i, u_h], -1)).squeeze(-1)


MODEL = DSIN
