"""NDB: an attention classifier trained on reliable labels only (the UAE paper's NDB baseline): active plays
are positives, and negatives are only the passive plays preceded by at least ``min_run`` (10) consecutive
passive plays in their session (a long stretch without any action suggests the user stopped listening).
Same GRU attention network g as UAE, ``min mean[BCE(α, e)]`` over those plays; every play is then scored."""

from __future__ import annotations

import torch

from denoiserec.methods._sessions import passive_run
from denoiserec.methods.pn import PN
from denoiserec.settings import Count


class NDB(PN):
    name = "ndb"

    def __init__(self, min_run: Count = 10, **hparams):
        super().__init__(classifier=True, **hparams)
        self.min_run = int(min_run)

    def keep(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
        return b["mask"] & ((b["e"] > 0.5) | (passive_run(b["e"]) >= self.min_run))

    def state(self) -> dict:
        state = {**super().state(), "min_run": self.min_run}
        state.pop("classifier")
        return state


METHOD = NDB
