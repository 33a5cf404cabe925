"""T-CE, the truncated loss of Wang et al., "Denoising Implicit Feedback for Recommendation" (WSDM 2021, §4.1),
as in the authors' code (github.com/WenjieWWJ/DenoisingRec, ``T_CE/loss.py``, ``T_CE/main.py``).

At optimiser step ``t`` (0-based, counted over the whole run) the drop rate is

    ε(t) = ε_max · t / (ε_N - 1)   for t < ε_N,   ε_max after        (``np.linspace(0, ε_max, ε_N)[t]``)

and the ``B - ⌊(1 - ε(t))·B⌋`` rows of the batch with the largest ``loss · y`` are dropped (``w = 0``): the
largest-loss positives. The rest keep ``w = 1`` and their label; the trainer's ``weighted`` reduction then
averages over the kept rows, as the authors' ``binary_cross_entropy_with_logits(y[kept], t[kept])`` does.

Defaults: the authors' ``main.py`` (``drop_rate = 0.2``, ``num_gradual = 30000``, ``exponent = 1``); the paper
searches ε_max ∈ {0.05, 0.1, 0.2} and ε_N ∈ {1k, 5k, 10k, 20k, 30k}. On a data set of a few dozen steps per epoch
ε_N must be given in steps of that run (the configs do).

Departures. (1) When more rows are to be dropped than the batch has positives, the authors' sort also drops
negatives (their ``loss · y`` is 0, so which ones is the order of ties); here only positives are ever dropped
(the paper's definition). (2) The authors' ``exponent`` (ε_max^exponent as the end of the ramp, 1 by default)
is not offered. The step count is carried across a resumed run (``state_dict``).
"""

from __future__ import annotations

import torch

from denoiserec.methods.base import Method
from denoiserec.settings import Count, Rate


class TCE(Method):
    name = "tce"
    graph_safe = False  # the drop count changes per step on the host

    def __init__(self, eps_max: Rate = 0.2, eps_n: Count = 30000):
        self.eps_max, self.eps_n, self.steps = float(eps_max), int(eps_n), 0
        self._dropped = self._positives = 0.0

    def drop_rate(self, step: int) -> float:
        """ε(step), the authors' linear ramp."""
        if step >= self.eps_n:
            return self.eps_max
        return self.eps_max * step / (self.eps_n - 1) if self.eps_n > 1 else 0.0

    def weights_and_targets(self, batch, logits, losses):
        y = batch["label"]
        n = len(y)
        n_drop = n - int((1.0 - self.drop_rate(self.steps)) * n)
        self.steps += 1
        w = torch.ones_like(losses)
        if n_drop > 0:
            top = torch.topk(losses * y, n_drop).indices
            w[top] = torch.where(y[top] > 0, 0.0, 1.0)
        self._dropped += float(n - w.sum())
        self._positives += float(y.sum())
        return w, y

    def state(self) -> dict:
        return {"eps_max": self.eps_max, "eps_n": self.eps_n, "steps": self.steps,
                "dropped_share_of_positives": self._dropped / self._positives if self._positives else None}

    def state_dict(self) -> dict:
        return {"steps": self.steps, "dropped": self._dropped, "positives": self._positives}

    def load_state_dict(self, state: dict) -> None:
        self.steps = int(state.get("steps", 0))
        self._dropped, self._positives = float(state.get("dropped", 0.0)), float(state.get("positives", 0.0))


METHOD = TCE
