"""The attention estimators' networks of UAE (S. Dai et al., "Modeling User Attention in Music Recommendation",
ICDE 2024, §IV-B) and its baselines: the play features ``x_t``, g (:class:`AttentionNet`, Eq. 2) and h
(:class:`PropensityNet`, Eq. 12; SAR's feature-only propensity with ``sequential=False``). The methods that
train them and turn their outputs into weights are in :mod:`denoiserec.methods._attention`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from denoiserec.data.spec import FeatureSpec
from denoiserec.nn.layers import MLP, FieldEmbedding


class PlayFeatures(nn.Module):
    """``x_t``: the play's categorical and numeric fields embedded and concatenated, ``[B, T, F·E]``."""

    def __init__(self, spec: FeatureSpec, embed_dim: int):
        super().__init__()
        self.embed = FieldEmbedding(spec, embed_dim, pool_sequences=False)
        self.out_dim = self.embed.n_fields * embed_dim

    def forward(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
        B, T = b["mask"].shape
        e = self.embed({"cat": b["cat"].reshape(B * T, -1), "num": b["num"].reshape(B * T, -1)})
        return e.reshape(B, T, -1)


def previous_feedback(e: torch.Tensor) -> torch.Tensor:
    """``[B, T, 2]``: ``e_{t-1}`` (0 at the session start) and a session-start flag."""
    prev = F.pad(e[:, :-1], (1, 0))
    first = torch.zeros_like(prev)
    first[:, 0] = 1.0
    return torch.stack([prev, first], dim=-1)


class AttentionNet(nn.Module):
    """g: ``z_1(x_t), h_t = GRU_1(x_t, h_{t-1})``, ``α_t = σ(MLP_1(z_1(x_t)))`` (UAE §IV-B, Eq. 2); returns logits
    ``[B, T]``. ``summary`` gives ``z_1`` ``[B, T, hidden]``, the GRU_1 summary of ``x_1..x_t`` that the
    propensity network h also reads. With ``feedback_input`` (not in the paper) GRU_1 also reads ``e_{t-1}``
    at step t, so g can see when the user last acted."""

    def __init__(self, spec: FeatureSpec, embed_dim: int = 8, hidden: int = 64,
                 mlp: tuple[int, ...] = (256, 128, 64), feedback_input: bool = False):
        super().__init__()
        self.x = PlayFeatures(spec, embed_dim)
        self.feedback_input = feedback_input
        self.hidden = hidden
        self.gru = nn.GRU(self.x.out_dim + (2 if feedback_input else 0), hidden, batch_first=True)
        self.mlp = MLP(hidden, tuple(mlp), out_dim=1)

    def summary(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
        x = self.x(b)
        if self.feedback_input:
            x = torch.cat([x, previous_feedback(b["e"])], dim=-1)
        out, _ = self.gru(x)
        return out

    def forward(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.mlp(self.summary(b)).squeeze(-1)


class PropensityNet(nn.Module):
    """h (UAE Eq. 12, §IV-B): ``p_t = σ(MLP_2(z_1(x_t) ⊕ z_2(e_{t-1}) ⊕ e_{t-1}))`` with ``z_1`` the GRU_1
    summary of the feature history ``x_1..x_t`` (computed by g, passed in; GRU_1 belongs to Θ_g, so h's
    risk does not train it) and ``z_2`` = GRU_2 over ``e_1..e_{t-1}`` (input at step t: ``e_{t-1}`` and a
    session-start flag), so ``p_t = h(X_t, E_{t-1})``. ``sequential=False`` is SAR's feature-only propensity
    (Bekker et al., 2019): ``p_t = σ(MLP_2(ReLU(W·x_t)))`` from the current play's own features, no
    history. Returns logits ``[B, T]``."""

    def __init__(self, spec: FeatureSpec, embed_dim: int = 8, hidden: int = 64,
                 mlp: tuple[int, ...] = (256, 128, 64), sequential: bool = True, z1_dim: int | None = None):
        super().__init__()
        self.sequential = sequential
        if sequential:
            self.gru = nn.GRU(2, hidden, batch_first=True)
            self.mlp = MLP((z1_dim or hidden) + hidden + 1, tuple(mlp), out_dim=1)
        else:
            self.x = PlayFeatures(spec, embed_dim)
            self.z1 = nn.Sequential(nn.Linear(self.x.out_dim, hidden), nn.ReLU())
            self.mlp = MLP(hidden, tuple(mlp), out_dim=1)

    def forward(self, b: dict[str, torch.Tensor], z1: torch.Tensor | None = None) -> torch.Tensor:
        if not self.sequential:
            return self.mlp(self.z1(self.x(b))).squeeze(-1)
        if z1 is None:
            raise ValueError("the sequential propensity network needs z_1, the GRU_1 summary from g")
        prev = previous_feedback(b["e"])
        z2, _ = self.gru(prev)
        return self.mlp(torch.cat([z1, z2, prev[..., :1]], dim=-1)).squeeze(-1)
