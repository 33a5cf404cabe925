"""PN: the naive attention classifier of the UAE paper -- active plays are positives and *all* passive plays
negatives, i.e. ``min mean[BCE(α, e)]`` with the same GRU attention network g as UAE; passive plays are then
weighted ``w = 1 - (α + 1)^(-γ)``."""

from __future__ import annotations

import torch

from denoiserec.methods._attention import NetAttentionMethod, Sessions, SessionTensors


class PN(NetAttentionMethod):
    name = "pn"

    def keep(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
        """The plays the classifier is trained on: all of them."""
        return b["mask"]

    def train_epoch(self, sessions: Sessions, data: SessionTensors, order: torch.Tensor) -> dict:
        total, used = torch.zeros((), device=data.device), 0
        for i in order.tolist():
            b = data.batch(sessions.index[i])
            total = total + self.bce_step(b, self.keep(b))
            used += 1
        return {"bce": float(total) / max(used, 1)}


METHOD = PN
