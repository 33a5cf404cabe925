"""Bootstrapping (Reed et al., "Training deep neural networks on noisy labels with bootstrapping", ICLR 2015
workshop, §3), the fixed-weight baseline of LCD (LCD paper, §2 and §3.3.1), for one sigmoid output:

* ``form: soft`` (default): ``L = BCE(q, β·y + (1 - β)·q)`` with ``q = σ(s)`` the model's *live* prediction; the
  target carries gradient (the method declares ``target_grad``), so ``L = β·BCE(q, y) + (1 - β)·H(q)``: the
  noisy-label loss plus a minimum-entropy term, as Reed et al. (and the LCD paper, §2) describe it. Its gradient
  is ``β·(q - y) - (1 - β)·s·q·(1 - q)``, not a multiple of the raw ``q - y``. ``β = 0.95`` (Reed et al.'s soft).
* ``form: hard``: ``y* = β·y + (1 - β)·z`` with ``z = 1[q > 0.5]`` (the MAP class, a constant: the argmax has no
  gradient); ``β = 0.8`` (Reed et al.'s hard).
* ``form: detached``: ``y* = β·y + (1 - β)·q`` with ``q`` detached, the target held constant. Its gradient is
  ``β·(q - y)``, a constant multiple of the raw gradient that Adam cancels: a no-op, kept only because it is what
  every result row called "Bootstrapping" measured before the soft and hard forms (``lam: 0.95`` with no
  ``form``; docs/results/lcd.md).

``β`` is ``lam``; ``None`` takes the form's published value. Correction runs from the first iteration as in Reed
et al. and the LCD paper (``start_epoch = 1``, 1-based; later starts allowed for ablations). Departure: Reed et
al. have a softmax over k classes; with one sigmoid output the two-class softmax is ``(1 - q, q)``, and the
above is their loss on it, term for term. Sample weights stay 1.
"""

from __future__ import annotations

from typing import Literal

import torch

from denoiserec.methods.base import Method
from denoiserec.settings import NonNegInt, Share

#: form -> Reed et al.'s β for it
Form = Literal["soft", "hard", "detached"]
FORMS: dict[str, float] = {"soft": 0.95, "hard": 0.8, "detached": 0.95}


class Bootstrap(Method):
    name = "bootstrap"
    graph_safe = True  # elementwise; the start-epoch branch is fixed within an epoch

    def __init__(self, lam: Share | None = None, form: Form = "soft", start_epoch: NonNegInt = 1):
        lam = FORMS[form] if lam is None else lam
        self.lam, self.form, self.start_epoch, self.epoch = float(lam), form, int(start_epoch), 0
        self.target_grad = form == "soft"  # the trainer hands live logits: y* carries gradient through q

    def weights_and_targets(self, batch, logits, losses):
        y = batch["label"]
        if self.epoch + 1 < self.start_epoch:
            return torch.ones_like(logits), y
        if self.form == "hard":
            q = (logits.detach() > 0).to(y.dtype)
        else:
            q = torch.sigmoid(logits.float() if self.form == "soft" else logits.detach().float())
        return torch.ones_like(y), self.lam * y + (1.0 - self.lam) * q

    def state(self) -> dict:
        return {"lam": self.lam, "form": self.form, "start_epoch": self.start_epoch}


METHOD = Bootstrap
