"""Known-answer label noise on simulated data (a config's ``noise`` section): every row's label is set to the
simulator's hidden ``true_preference``, then a known share of the *training and validation* labels is flipped;
test labels stay clean. Denoising methods can then be judged against a known answer: which rows are noisy, and
how well the model ranks the clean test labels (``auc`` = ``auc_true`` there).

::

    noise: {flip: 0.3}                        # uniform: each train/valid label flipped with probability 0.3
    noise: {flip_pos: 0.4, flip_neg: 0.1}     # class-conditional: P(1 → 0) = 0.4, P(0 → 1) = 0.1
    noise: {flip: 0.3, seed: 1}               # the flips' own seed (default 0: the same noisy data for every run
                                              # seed, so runs pair by seed on one data set)

The log's ``label`` is replaced, its ``feedback`` kinds (and so the histories built from them) are not: the inputs
are the service's, only the target is the known-answer one. ``true_*`` columns stay for the metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import numpy as np
import polars as pl

from denoiserec.data.split import TEST
from denoiserec.errors import ConfigError
from denoiserec.settings import Range

#: a flip rate: at 0.5 the label carries nothing, above it is inverted
FlipRate = Annotated[float, Range(ge=0, lt=0.5)]


@dataclass
class LabelNoise:
    flip: FlipRate | None = None  # uniform rate: flip_pos = flip_neg = flip
    flip_pos: FlipRate | None = None  # P(observed 0 | true 1)
    flip_neg: FlipRate | None = None  # P(observed 1 | true 0)
    seed: int = 0

    def __post_init__(self):
        from denoiserec.settings import declared_problem

        if self.flip is not None and (self.flip_pos is not None or self.flip_neg is not None):
            raise ConfigError("noise: give flip (uniform) or flip_pos/flip_neg (class-conditional), not both")
        if self.flip is not None:
            self.flip_pos = self.flip_neg = self.flip
        self.flip_pos, self.flip_neg = float(self.flip_pos or 0.0), float(self.flip_neg or 0.0)
        if bad := declared_problem(type(self), {"flip_pos": self.flip_pos, "flip_neg": self.flip_neg}):
            raise ConfigError(f"noise.{bad[0]}: {bad[1]}")


def flip_labels(df: pl.DataFrame, noise: LabelNoise) -> pl.DataFrame:
    """``df`` (with a ``split`` column) with ``label := true_preference``, flipped at ``noise``'s rates on the
    ``train`` and ``valid`` rows."""
    if "true_preference" not in df.columns:
        raise ConfigError("noise: sets labels to the hidden true_preference, which only simulated logs have")
    truth = df["true_preference"].to_numpy().astype(np.int8)
    u = np.random.default_rng(noise.seed).random(len(df))
    rate = np.where(truth == 1, noise.flip_pos, noise.flip_neg)
    flipped = (u < rate) & (df["split"].to_numpy() != TEST)
    label = np.where(flipped, 1 - truth, truth)
    return df.with_columns(label=pl.Series(label).cast(df["label"].dtype))
