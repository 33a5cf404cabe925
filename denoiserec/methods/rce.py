"""R-CE, the reweighted loss of Wang et al., "Denoising Implicit Feedback for Recommendation" (WSDM 2021, §4.2),
as in the authors' code (github.com/WenjieWWJ/DenoisingRec, ``R_CE/loss.py``):

    w_i = p_i^β          for a positive (y_i = 1)      p = σ(s), detached
    w_i = (1 - p_i)^β    for a negative (y_i = 0)      (the code; ``negatives: false`` leaves negatives at w = 1)

so a positive the model finds unlikely (a large loss, likely a false positive) counts less. Targets are the
labels. ``β = 0.2``: the authors' ``main.py`` default (the paper searches β ∈ {0.05, 0.1, 0.25, 0.5, 1.0}).

Departures. (1) The paper's text weights positive interactions; the authors' code weights negatives as well,
by ``(1 - p)^β``, and is followed by default. (2) The authors average ``w·BCE`` over the batch
(``torch.mean``); the trainer's default ``weighted`` reduction divides by ``Σ w`` instead (a per-batch scale; the
rows' relative weights are the same). ``train.reduction: mean`` gives the authors' exactly.
"""

from __future__ import annotations

import torch

from denoiserec.methods.base import Method
from denoiserec.settings import NonNeg


class RCE(Method):
    name = "rce"
    graph_safe = True  # elementwise

    def __init__(self, beta: NonNeg = 0.2, negatives: bool = True):
        self.beta, self.negatives = float(beta), bool(negatives)

    def weights_and_targets(self, batch, logits, losses):
        y = batch["label"]
        p = torch.sigmoid(logits.detach().float())
        negative = (1.0 - p) ** self.beta if self.negatives else torch.ones_like(p)
        return torch.where(y > 0.5, p ** self.beta, negative), y

    def state(self) -> dict:
        return {"beta": self.beta, "negatives": self.negatives}


METHOD = RCE
