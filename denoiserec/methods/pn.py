"""PN: the UAE paper's PU-learning baseline (Eq. 4, [41]) that "treats the attention of all unlabeled (passive)
samples as zero" -- active plays are positives of attention and *all* passive plays negatives.

Two variants, reported side by side (``classifier``):

* ``classifier=False`` (default, the paper's description of its effect in Table V: PN "directly discarded all the
  valuable information in the passive feedback", only active samples effectively remain): the passive plays'
  attention is taken as the PN label itself, ``α = e = 0``, so every re-weighted passive play gets
  ``w = 1 - 1^(-γ) = 0``. No network is trained.
* ``classifier=True``: the same GRU attention network g as UAE trained on ``min mean[BCE(α, e)]`` over every play
  (Eq. 4), then passive plays weighted ``w = 1 - (α + 1)^(-γ)`` with its (smooth, non-zero) outputs -- what a
  learned PN classifier gives when applied like UAE.
"""

from __future__ import annotations

import torch

from denoiserec.methods._attention import NetAttentionMethod
from denoiserec.methods._sessions import Sessions, SessionTensors


class PN(NetAttentionMethod):
    name = "pn"

    def __init__(self, classifier: bool = False, **hparams):
        super().__init__(**hparams)
        self.classifier = bool(classifier)

    def keep(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
        """The plays the classifier is trained on: all of them."""
        return b["mask"]

    def estimate(self, train, spec, device):
        if not self.classifier:
            return train["active"].detach().float().cpu()  # α = e: passive attention is zero
        return super().estimate(train, spec, device)

    def attention_on(self, rows):
        """``classifier=False``: the same rule on the rows' own actions (``α = e``, nothing fitted)."""
        if not self.classifier:
            return rows["active"].detach().float().cpu()
        return super().attention_on(rows)

    def train_epoch(self, sessions: Sessions, data: SessionTensors, order: torch.Tensor) -> dict:
        total, used = torch.zeros((), device=data.device), 0
        for i in order.tolist():
            b = data.batch(sessions.index[i])
            total = total + self.bce_step(b, self.keep(b))
            used += 1
        return {"bce": float(total) / max(used, 1)}

    def state(self) -> dict:
        return {**super().state(), "classifier": self.classifier}


METHOD = PN
