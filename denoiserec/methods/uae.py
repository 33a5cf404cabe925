"""UAE: user attention as sequential positive-unlabeled learning (S. Dai et al., "Modeling User Attention in
Music Recommendation", ICDE 2024, §IV).

Active plays (``e = 1``) are labelled positives of attention, passive plays (``e = 0``) are unlabelled. Two
networks over each session (§IV-B, Fig. 4):

* attention ``g``: ``z_1(x_t), h_t = GRU_1(x_t, h_{t-1})``, ``α_t = σ(MLP_1(z_1(x_t)))`` -- ``α_t = g(X_t)``;
* propensity ``h``: ``p_t = σ(MLP_2(z_1(x_t) ⊕ z_2(e_{t-1}) ⊕ e_{t-1}))``, ``z_2`` = GRU_2 over ``e_1..e_{t-1}``
  -- ``p_t = h(X_t, E_{t-1})`` (Eq. 12); ``z_1`` is g's GRU_1 summary, which h reads but does not train
  (Θ_h = GRU_2, MLP_2);

trained alternately (Algorithm 1) on the unbiased PU risks (:func:`~denoiserec.methods._attention.pu_risk`)

``R_att(g | p) = mean[(e/p)·l⁺(α) + (1 - e/p)·l⁻(α)]`` (Eq. 16), ``R_pro(h | α) = mean[(e/α)·l⁺(p) + (1 - e/α)·l⁻(p)]``
(Eq. 17), with the non-negative risk correction ("risk-clipped technique", §VI-A, Kiryo et al.): per batch of
sessions, ``n_att = 1`` Adam step of g with h fixed, then ``n_pro = 2`` steps of h with g fixed. Afterwards every
passive-positive training play (auto-play; see :mod:`denoiserec.methods._attention`) gets
``w = 1 - (α + 1)^(-γ)`` (Eq. 19, γ = 15, the paper's best in Fig. 6) and every other play ``w = 1``.

Settings as in §VI-A: embedding size 8, MLPs (256, 128, 64), GRU hidden size from {64, 128, 256} and learning
rate from {1e-2, 1e-3, 1e-4, 1e-5} tuned (the configs' ``select:`` picks hidden/lr on validation from a small
grid of these), Adam.

Departures:

* ``clip`` (0.05): ``p`` and ``α`` are clipped to ``[clip, 1]`` in the divisions ``e/p``, ``e/α``. The paper
  names propensity clipping as the usual variance control (§V-A, Theorems 3-4: the variance grows with 1/p)
  but gives no value; without it one near-zero estimate early in training makes a weight of 1e3 and more.
  ``clip = 0`` divides by the raw estimates (floored at 1e-6 to stay finite).
* The estimators train for ``epochs`` (5) passes over the training sessions; the paper does not give N_e.
* ``feedback_input`` (off by default) lets GRU_1 also read ``e_{t-1}``; not in the paper.
"""

from __future__ import annotations

import torch

from denoiserec.methods._attention import NetAttentionMethod, Passive, pu_risk
from denoiserec.methods._sessions import Sessions, SessionTensors
from denoiserec.nn.attention import PropensityNet
from denoiserec.settings import Count, Dim, Dims, NonNeg, Positive, Rate


class UAE(NetAttentionMethod):
    name = "uae"
    sequential_propensity = True

    def __init__(self, gamma: NonNeg = 15.0, embed_dim: Dim = 8, hidden: Dim = 64, mlp: Dims = (256, 128, 64),
                 epochs: Count = 5, lr: Positive = 1e-3, weight_decay: NonNeg = 0.0, batch_rows: Count = 1024,
                 feedback_input: bool = False, n_att: Count = 1, n_pro: Count = 2, clip: Rate = 0.05,
                 non_negative: bool = True, passive: Passive = "positive"):
        super().__init__(gamma, embed_dim, hidden, mlp, epochs, lr, weight_decay, batch_rows, feedback_input,
                         passive)
        self.n_att, self.n_pro, self.clip, self.non_negative = int(n_att), int(n_pro), float(clip), non_negative

    def build(self, spec, device):
        super().build(spec, device)
        self.h = PropensityNet(spec, self.embed_dim, self.hidden, self.mlp, self.sequential_propensity,
                               z1_dim=self.hidden).to(device)
        self.opt_h = torch.optim.Adam(self.h.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    def propensity_logits(self, b: dict[str, torch.Tensor], z1: torch.Tensor | None = None) -> torch.Tensor:
        """``h(X_t, E_{t-1})`` logits ``[B, T]``; ``z1`` (g's GRU_1 summary) is computed, without gradient, when not
        given."""
        if not self.sequential_propensity:
            return self.h(b)
        if z1 is None:
            with torch.no_grad():
                z1 = self.g.summary(b)
        return self.h(b, z1)

    def _floor(self) -> float:
        return self.clip if self.clip > 0 else 1e-6

    def step_attention(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
        """One step of g on ``R_att(g | p)`` (Eq. 16) with h fixed; returns the (non-negative) risk. h reads g's
        ``z_1`` from the same forward pass, detached (one GRU_1 pass per step)."""
        z1 = self.g.summary(b)
        with torch.no_grad():
            p = torch.sigmoid(self.propensity_logits(b, z1.detach())).clamp_min(self._floor())
        risk, objective = pu_risk(self.g.mlp(z1).squeeze(-1), b["e"], p, b["mask"], self.non_negative)
        self.opt_g.zero_grad(set_to_none=True)
        objective.backward()
        self.opt_g.step()
        return risk.detach()

    @torch.no_grad()
    def fixed_attention(self, b: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(z_1, α)`` of g, clipped for the division in ``R_pro``: what h's steps read while g is fixed."""
        z1 = self.g.summary(b)
        return z1, torch.sigmoid(self.g.mlp(z1).squeeze(-1)).clamp_min(self._floor())

    def step_propensity(self, b: dict[str, torch.Tensor],
                        fixed: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """One step of h on ``R_pro(h | α)`` (Eq. 17) with g fixed; returns the (non-negative) risk. ``fixed`` is
        :meth:`fixed_attention`'s ``(z_1, α)`` for ``b``, computed when not given (g does not move during
        the ``n_pro`` steps, so they share it)."""
        z1, alpha = self.fixed_attention(b) if fixed is None else fixed
        risk, objective = pu_risk(self.propensity_logits(b, z1), b["e"], alpha, b["mask"], self.non_negative)
        self.opt_h.zero_grad(set_to_none=True)
        objective.backward()
        self.opt_h.step()
        return risk.detach()

    def train_epoch(self, sessions: Sessions, data: SessionTensors, order: torch.Tensor) -> dict:
        r_att = r_pro = torch.zeros((), device=data.device)
        for i in order.tolist():
            b = data.batch(sessions.index[i])
            for _ in range(self.n_att):
                r_att = r_att + self.step_attention(b) / self.n_att
            fixed = self.fixed_attention(b)
            for _ in range(self.n_pro):
                r_pro = r_pro + self.step_propensity(b, fixed) / self.n_pro
        n = max(len(order), 1)
        return {"risk_att": float(r_att) / n, "risk_pro": float(r_pro) / n}

    @torch.no_grad()
    def predict_attention(self, sessions: Sessions, data: SessionTensors) -> torch.Tensor:
        """g's ``α`` per row; also records h's mean propensity after an action and after a passive play
        (``propensity_after_active`` / ``_passive``, over the plays after a session's first): what h makes of
        the feedback history (SAR's h cannot see it)."""
        self.h.eval()
        total = torch.zeros(2, device=data.device)
        count = torch.zeros(2, device=data.device)
        for index in sessions.index:
            b = data.batch(index)
            p = torch.sigmoid(self.propensity_logits(b))[:, 1:]
            after = (b["e"][:, :-1] > 0.5).long()
            m = b["mask"][:, 1:]
            total.index_add_(0, after[m], p[m])
            count.index_add_(0, after[m], torch.ones_like(p[m]))
        self.h.train()
        mean = (total / count.clamp_min(1)).tolist()
        self.diagnostics.update(propensity_after_passive=mean[0], propensity_after_active=mean[1])
        return super().predict_attention(sessions, data)

    def state(self) -> dict:
        return {**super().state(), "n_att": self.n_att, "n_pro": self.n_pro, "clip": self.clip,
                "hidden": self.hidden, "lr": self.lr}


METHOD = UAE
