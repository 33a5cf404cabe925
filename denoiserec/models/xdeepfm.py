"""xDeepFM (Lian et al., KDD 2018): ``ŷ = σ(w_linᵀ a + w_dnnᵀ x_dnn + w_cinᵀ p⁺ + b)``.

Compressed Interaction Network over ``X⁰ = [e_1..e_m] ∈ R^{m×D}`` (eq. 6):
``X^k_{h,*} = Σ_{i≤H_{k-1}} Σ_{j≤m} W^{k,h}_{ij} (X^{k-1}_{i,*} ∘ X^0_{j,*})`` -- all outer products at once and
a 1×1 convolution -- then sum pooling over ``D`` per feature map, ``p⁺ = [p¹..p^T]``. With ``split_half`` (as in
the authors' code) every layer but the last feeds half of its maps to the output and half to the next layer.
"""

from __future__ import annotations

import torch
from torch import nn

from denoiserec.data.spec import FeatureSpec
from denoiserec.nn.layers import MLP, FieldEmbedding, LinearTerm
from denoiserec.settings import Dim, Dims, Rate


class CIN(nn.Module):
    def __init__(self, n_fields: int, layers: tuple[int, ...] = (100, 100, 100), split_half: bool = True):
        super().__init__()
        self.convs = nn.ModuleList()
        self.keep: list[int] = []  # maps per layer that go to the output
        h, self.out_dim = n_fields, 0
        for k, size in enumerate(layers):
            self.convs.append(nn.Conv1d(h * n_fields, size, 1))
            h = size // 2 if split_half and k < len(layers) - 1 else size  # maps passed on to the next layer
            self.keep.append(size - h if split_half and k < len(layers) - 1 else size)
            self.out_dim += self.keep[-1]

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        b, m, d = x0.shape
        x, pooled = x0, []
        for conv, keep in zip(self.convs, self.keep, strict=True):
            z = (x.unsqueeze(2) * x0.unsqueeze(1)).reshape(b, -1, d)  # [B, H_{k-1}·m, D]
            out = conv(z)  # [B, H_k, D]
            if keep < out.shape[1]:
                x, out = out[:, keep:], out[:, :keep]
            else:
                x = out
            pooled.append(out.sum(-1))
        return torch.cat(pooled, 1)


class XDeepFM(nn.Module):
    def __init__(self, spec: FeatureSpec, embed_dim: Dim = 8, hidden: Dims = (256, 128, 64),
                 cin_layers: Dims = (100, 100, 100), split_half: bool = True, dropout: Rate = 0.0):
        super().__init__()
        self.embed = FieldEmbedding(spec, embed_dim, first_order=True)
        self.linear = LinearTerm(spec, fused=True)  # w_f: the table's last column
        self.cin = CIN(self.embed.n_fields, tuple(cin_layers), split_half)
        self.cin_out = nn.Linear(self.cin.out_dim, 1, bias=False)
        self.dnn = MLP(self.embed.n_fields * embed_dim, tuple(hidden), dropout)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        e, first = self.embed.fields(batch)
        return (self.linear(batch, first) + self.cin_out(self.cin(e)).squeeze(-1)
                + self.dnn(e.flatten(1)).squeeze(-1))


MODEL = XDeepFM
