"""AutoInt (Song et al., CIKM 2019): interacting layers of multi-head self-attention over the field embeddings.

Per head ``h`` (eq. 5–6): ``α_{m,k} = softmax_k <W_Q e_m, W_K e_k>``, ``ẽ_m^h = Σ_k α_{m,k} W_V e_k``; the heads are
concatenated and the residual added (eq. 8): ``e_m^Res = ReLU(ẽ_m ⊕ W_Res e_m)``. After the last layer
``ŷ = σ(wᵀ [e_1^Res..e_F^Res] + b)`` (eq. 9). ``hidden`` non-empty adds an MLP over the raw embeddings to the
logit (AutoInt+); ``scaled`` divides the scores by ``√d'`` (the paper does not).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from denoiserec.data.features import FeatureSpec
from denoiserec.models.layers import MLP, FieldEmbedding


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
    def __init__(self, spec: FeatureSpec, embed_dim: int = 8, layers: int = 3, heads: int = 2, head_dim: int = 32,
                 residual: bool = True, scaled: bool = False, hidden: tuple[int, ...] = (), dropout: float = 0.0):
        super().__init__()
        self.embed = FieldEmbedding(spec, embed_dim)
        dims = [embed_dim] + [heads * head_dim] * layers
        self.attn = nn.Sequential(*(InteractingLayer(dims[i], head_dim, heads, residual, scaled)
                                    for i in range(layers)))
        self.out = nn.Linear(self.embed.n_fields * dims[-1], 1)
        self.dnn = MLP(self.embed.n_fields * embed_dim, tuple(hidden), dropout) if hidden else None

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        e = self.embed(batch)
        logit = self.out(self.attn(e).flatten(1)).squeeze(-1)
        if self.dnn is not None:
            logit = logit + self.dnn(e.flatten(1)).squeeze(-1)
        return logit


MODEL = AutoInt
