"""EDM: exponential-decay attention (the UAE paper's EDM baseline). An active play proves attention
(``α = 1``); afterwards attention decays by ``decay`` per play, ``α_t = decay^k`` with ``k`` the number of
plays since the last active one (the session start counts as an action at position -1). No training.

Departure: the paper (citing Spotify's model) says attention decays "with time until another active feedback
happens or plunges to zero"; it gives neither the decay rate nor when attention plunges to zero, so here it never
does: ``decay^k`` only approaches 0 (0.8^10 ≈ 0.11), and ``decay = 0.8`` is our choice. Time is counted in plays,
not seconds (the canonical events carry positions; play durations are not in every source)."""

from __future__ import annotations

from typing import Annotated

import torch

from denoiserec.methods._attention import AttentionMethod, Passive
from denoiserec.methods._sessions import Sessions, SessionTensors, passive_run
from denoiserec.settings import Count, NonNeg, Range


class EDM(AttentionMethod):
    name = "edm"

    def __init__(self, gamma: NonNeg = 15.0, decay: Annotated[float, Range(gt=0, le=1)] = 0.8,
                 batch_rows: Count = 65536, passive: Passive = "positive"):
        super().__init__(gamma, passive)
        self.decay, self.batch_rows = float(decay), int(batch_rows)

    def estimate(self, train, spec, device):
        return self.decayed(train, device)

    def attention_on(self, rows):
        """The same rule on other rows' own actions (nothing is fitted, so held-out rows are scored as in-sample)."""
        return self.decayed(rows, self.device)

    @torch.no_grad()
    def decayed(self, rows, device) -> torch.Tensor:
        """``α`` of every row of ``rows`` from its session's actions."""
        sessions, data = Sessions(rows, self.batch_rows), SessionTensors(rows, device)
        alpha = torch.zeros(sessions.n_rows, device=data.device)
        for index in sessions.index:
            b = data.batch(index)
            k = (passive_run(b["e"]) + 1).float()
            a = torch.where(b["e"] > 0.5, torch.ones_like(k), self.decay ** k)
            alpha[b["index"][b["mask"]]] = a[b["mask"]]
        return alpha.cpu()

    def state(self) -> dict:
        return {**super().state(), "decay": self.decay}


METHOD = EDM
