"""Early stopping on a validation score, shared by both training loops (:class:`denoiserec.train.trainer.Trainer`
on row metrics, :func:`denoiserec.seqrec.train.train_model` on the validation users' per-user AUC).

One meaning of ``patience``: the number of epochs without a better score that training tolerates; the next one
stops it (``patience: 0`` stops at the first epoch that does not improve, ``patience: 2`` after three in a
row). This is the CTR trainer's meaning since its first version (and RecBole's ``stopping_step``); the seqrec
loop used to stop after ``patience`` such epochs, so its configs now say one less for the same runs.
"""

from __future__ import annotations

import math


class EarlyStopping:
    """Track the best validation score; ``update`` after every epoch, stop when :attr:`should_stop`.

    ``minimize``: lower is better (logloss). A NaN score never improves on a number; with ``blind_keeps_latest``
    a NaN score while there is no finite best yet counts as an improvement and never stops training (the
    seqrec loop on samples whose validation users have no pair: the latest epoch's weights are kept)."""

    def __init__(self, patience: int, minimize: bool = False, blind_keeps_latest: bool = False):
        self.patience, self.minimize, self.blind_keeps_latest = patience, minimize, blind_keeps_latest
        self.best: float | None = None
        self.best_epoch = 0  # 1-based; 0 = none yet
        self.stale = 0  # epochs since the best

    def better(self, score: float) -> bool:
        """Whether ``score`` beats the best so far."""
        if self.best is None or math.isnan(self.best):
            return not math.isnan(score)
        return score < self.best if self.minimize else score > self.best

    def blind(self, score: float) -> bool:
        """No signal yet: ``score`` is NaN and so is every earlier one."""
        return math.isnan(score) and (self.best is None or math.isnan(self.best))

    def update(self, score: float, epoch: int) -> bool:
        """Record the score of (1-based) ``epoch``; True when it is the new best (keep these weights)."""
        if self.better(score) or (self.blind_keeps_latest and self.blind(score)):
            self.best, self.best_epoch, self.stale = score, epoch, 0
            return True
        self.stale += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.stale > self.patience
