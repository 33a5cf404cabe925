"""The SASRec/BERT4Rec hybrid of "Negative Feedback for Music Personalization" (Mei et al., UMAP '24, §3).

Input at position t: ``x_t = E_song[s_t] + E_station[c_t] + E_type[f_t] + E_pos[t]`` (song id replaced by the
mask token at prediction positions; station 0 = null; the type and position terms can be switched off for
the ablations). A stack of pre-LN Transformer encoder blocks (bidirectional self-attention through
:func:`torch.nn.functional.scaled_dot_product_attention`, padding keys masked) gives ``h_t``; an item's score
at t is ``h_t · E_song[i] + b_i`` (output embeddings tied to the input ones, as in SASRec).

This is not a CTR model (it does not follow ``Model(spec)``), which is why it lives in ``denoiserec.seqrec``
and not in the model registry ``denoiserec.models``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from denoiserec.settings import Count, Dim, MultipleOf, Rate

#: Song tokens: 0 padding, 1 mask, item id i (1..n_items) -> i + 1.
PAD_TOKEN, MASK_TOKEN = 0, 1


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(4 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, attend: torch.Tensor) -> torch.Tensor:
        B, L, E = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(B, L, 3, self.heads, E // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=attend,
                                           dropout_p=self.dropout if self.training else 0.0)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(B, L, E)))
        return x + self.drop(self.ffn(self.ln2(x)))


class NegFeedbackTransformer(nn.Module):
    settings_rules = (MultipleOf("dim", "heads"),)  #: attention heads split the embedding

    def __init__(self, n_items: int, n_stations: int, max_len: Count, dim: Dim = 64, layers: Count = 2,
                 heads: Count = 2, dropout: Rate = 0.1, positional: bool = True, feedback_inputs: bool = True):
        super().__init__()
        self.n_items, self.max_len = n_items, max_len
        self.positional, self.feedback_inputs = positional, feedback_inputs
        self.song = nn.Embedding(n_items + 2, dim, padding_idx=PAD_TOKEN)
        self.bias = nn.Embedding(n_items + 2, 1)
        self.station = nn.Embedding(n_stations + 1, dim, padding_idx=0)
        self.feedback = nn.Embedding(4, dim, padding_idx=0)  # pad, up, skip, down
        self.pos = nn.Embedding(max_len, dim)
        for emb in (self.song, self.station, self.feedback, self.pos):
            nn.init.normal_(emb.weight, std=0.02)
            if emb.padding_idx is not None:
                with torch.no_grad():
                    emb.weight[emb.padding_idx].zero_()
        nn.init.zeros_(self.bias.weight)
        self.blocks = nn.ModuleList(_Block(dim, heads, dropout) for _ in range(layers))
        self.ln = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, tokens: torch.Tensor, fb: torch.Tensor, station: torch.Tensor) -> torch.Tensor:
        """``tokens``/``fb``/``station``: ``[B, L]`` (left-padded, L <= max_len) -> hidden states ``[B, L, E]``."""
        B, L = tokens.shape
        x = self.song(tokens) + self.station(station)
        if self.feedback_inputs:
            x = x + self.feedback(fb)
        if self.positional:
            x = x + self.pos(torch.arange(self.max_len - L, self.max_len, device=tokens.device))[None]
        x = self.drop(x)
        attend = (tokens != PAD_TOKEN)[:, None, None, :]  # [B, 1, 1, L]: keys to attend to
        for block in self.blocks:
            x = block(x, attend)
        return self.ln(x)

    def score(self, hidden: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``hidden [..., E]`` and item ids ``[..., K]`` (1..n_items) -> scores ``[..., K]``."""
        tok = items.long() + 1
        return (hidden.unsqueeze(-2) * self.song(tok)).sum(-1) + self.bias(tok).squeeze(-1)

    def score_all(self, hidden: torch.Tensor) -> torch.Tensor:
        """``hidden [M, E]`` -> scores of every item 1..n_items ``[M, n_items]`` (one matrix product)."""
        w = self.song.weight[2:]
        return hidden @ w.T.to(hidden.dtype) + self.bias.weight[2:, 0].to(hidden.dtype)

    def feedback_similarity(self) -> dict[str, float]:
        """Cosine similarity of the learned up/skip/down type embeddings."""
        w = F.normalize(self.feedback.weight[1:].detach().float(), dim=1)
        c = (w @ w.T).cpu()
        return {"cos_up_skip": float(c[0, 1]), "cos_up_down": float(c[0, 2]), "cos_skip_down": float(c[1, 2])}
