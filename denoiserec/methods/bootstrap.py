"""Bootstrapping (Reed et al., ICLR 2015 workshop, "soft" variant), the fixed-weight ablation of LCD (LCD paper,
§3.3.1): ``y* = λ·y + (1 - λ)·p`` with ``p = σ(s)`` the model's current, detached prediction and a fixed ``λ`` for
every sample, from the first iteration as in Reed et al. and the LCD paper (``start_epoch = 1``, 1-based; later
starts allowed for ablations). ``λ = 0.95``: Reed et al.'s setting for the soft variant (0.8 is their hard one)."""

from __future__ import annotations

import torch

from denoiserec.errors import ConfigError
from denoiserec.methods.base import Method


class Bootstrap(Method):
    name = "bootstrap"
    graph_safe = True  # elementwise; the start-epoch branch is fixed within an epoch

    def __init__(self, lam: float = 0.95, start_epoch: int = 1):
        if not 0.0 <= lam <= 1.0:
            raise ConfigError(f"bootstrap: lam must lie in [0, 1], got {lam}")
        if int(start_epoch) != start_epoch or start_epoch < 0:
            raise ConfigError(f"bootstrap: start_epoch must be a non-negative integer, got {start_epoch!r}")
        self.lam, self.start_epoch, self.epoch = float(lam), int(start_epoch), 0

    def weights_and_targets(self, batch, logits, losses):
        y = batch["label"]
        if self.epoch + 1 < self.start_epoch:
            return torch.ones_like(logits), y
        p = torch.sigmoid(logits.detach().float())
        return torch.ones_like(logits), self.lam * y + (1.0 - self.lam) * p

    def state(self) -> dict:
        return {"lam": self.lam, "start_epoch": self.start_epoch}


METHOD = Bootstrap
