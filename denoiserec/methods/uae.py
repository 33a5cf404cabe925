"""UAE: user attention as sequential positive-unlabeled learning ("Modeling User Attention in Music
Recommendation", ICDE 2024).

Active plays (``e = 1``) are labelled positives of attention, passive plays (``e = 0``) are unlabelled. Two
networks over each session:

* attention ``g``: ``α_t = σ(MLP_1(GRU_1(x_1..x_t)))``;
* propensity ``h``: ``p_t = σ(MLP_2([z_1(x_t) ⊕ z_2(e_{t-1}) ⊕ e_{t-1}]))``, ``z_2`` = GRU_2 over ``e_1..e_{t-1}``;

trained alternately on the unbiased PU risks (:func:`~denoiserec.methods._attention.pu_risk`)

``R_att(g | p) = mean[(e/p)·l⁺(α) + (1 - e/p)·l⁻(α)]``,  ``R_pro(h | α) = mean[(e/α)·l⁺(p) + (1 - e/α)·l⁻(p)]``

with the non-negative correction, ``p`` and ``α`` clipped to ``[clip, 1]`` in the divisions: per batch of
sessions, ``n_att`` Adam steps of g with h fixed, then ``n_pro`` steps of h with g fixed. Afterwards every
passive training play gets ``w = 1 - (α + 1)^(-γ)`` and active plays ``w = 1`` in the CTR model's loss.
"""

from __future__ import annotations

import torch

from denoiserec.methods._attention import NetAttentionMethod, PropensityNet, Sessions, SessionTensors, pu_risk


class UAE(NetAttentionMethod):
    name = "uae"
    sequential_propensity = True

    def __init__(self, gamma: float = 15.0, embed_dim: int = 8, hidden: int = 64, mlp: tuple[int, ...] = (64,),
                 epochs: int = 5, lr: float = 1e-3, weight_decay: float = 0.0, batch_rows: int = 1024,
                 feedback_input: bool = False, n_att: int = 1, n_pro: int = 2, clip: float = 0.05,
                 non_negative: bool = True):
        super().__init__(gamma, embed_dim, hidden, mlp, epochs, lr, weight_decay, batch_rows, feedback_input)
        self.n_att, self.n_pro, self.clip, self.non_negative = int(n_att), int(n_pro), float(clip), non_negative

    def build(self, spec, device):
        super().build(spec, device)
        self.h = PropensityNet(spec, self.embed_dim, self.hidden, self.mlp, self.sequential_propensity).to(device)
        self.opt_h = torch.optim.Adam(self.h.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    def step_attention(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
        """One step of g on ``R_att(g | p)`` with h fixed; returns the (clipped) risk."""
        with torch.no_grad():
            p = torch.sigmoid(self.h(b)).clamp_min(self.clip)
        risk, objective = pu_risk(self.g(b), b["e"], p, b["mask"], self.non_negative)
        self.opt_g.zero_grad(set_to_none=True)
        objective.backward()
        self.opt_g.step()
        return risk.detach()

    def step_propensity(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
        """One step of h on ``R_pro(h | α)`` with g fixed; returns the (clipped) risk."""
        with torch.no_grad():
            alpha = torch.sigmoid(self.g(b)).clamp_min(self.clip)
        risk, objective = pu_risk(self.h(b), b["e"], alpha, b["mask"], self.non_negative)
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
            for _ in range(self.n_pro):
                r_pro = r_pro + self.step_propensity(b) / self.n_pro
        n = max(len(order), 1)
        return {"risk_att": float(r_att) / n, "risk_pro": float(r_pro) / n}

    def state(self) -> dict:
        return {**super().state(), "n_att": self.n_att, "n_pro": self.n_pro, "clip": self.clip}


METHOD = UAE
