"""What a CTR experiment predicts: the log's own label (``target: click``, the default) or DUMN's dislike task
(``target: dislike``, Bian et al., RecSys '21, §4.5 / Table 7, after DFN, Xie et al., IJCAI '20).

``dislike`` relabels every row the CTR task uses: ``label = 1`` where the row's feedback is an explicit negative
(``dislike``: KuaiRand ``is_hate``, the simulator's dislike, Piki's 0), else 0. A skip stays a 0 (DUMN counts it as
implicit negative feedback, ``docs/models.md``). The paper does not say which rows its dislike task scores; every
exposure is the reading used here, as in DFN, where dislike prediction runs over the same impressions as click
prediction. The histories are unchanged (they are built from the feedback kinds of earlier rows).

The simulator's hidden ``true_*`` columns describe preference and attention, not dislike, so a ``dislike`` target
drops them: no ``auc_true`` is reported against a truth that does not describe the target.

**Oracle.** A method entry with ``oracle: true`` (its label must start with ``oracle``; the method defaults to
``none``) trains the same model on the simulator's hidden ``true_preference`` instead of the noisy label,
substituted in the training and validation tensors by the CTR task *before* training (:func:`oracle_labels`).
This is the one documented exception to "training never reads the truth": neither the method nor the model sees
it, only the label column changes, and the row is labelled ``oracle`` in every table (its gap:
:mod:`denoiserec.eval.gap`).
"""

from __future__ import annotations

import polars as pl
import torch

from denoiserec.data.schema import truth_columns
from denoiserec.data.tensors import EncodedTensors
from denoiserec.errors import ConfigError

#: target -> feedback kinds labelled 1 (``None``: the log's label as it is)
TARGETS: dict[str, tuple[str, ...] | None] = {"click": None, "dislike": ("dislike",)}


def relabel(df: pl.DataFrame, target: str = "click") -> pl.DataFrame:
    """``df`` with ``label`` set for ``target`` (one of :data:`TARGETS`)."""
    if target not in TARGETS:
        raise ValueError(f"target: must be one of {sorted(TARGETS)}, got {target!r}")
    kinds = TARGETS[target]
    if kinds is None:
        return df
    df = df.drop(truth_columns(df.columns))
    return df.with_columns(label=pl.col("feedback").is_in(list(kinds)).cast(pl.Int8))


def oracle_labels(part: EncodedTensors, where: str = "oracle") -> EncodedTensors:
    """``part`` with ``label`` replaced by the hidden ``true_preference`` (simulated data only)."""
    if "true_preference" not in part.tensors:
        raise ConfigError(f"{where}: the oracle trains on the hidden true_preference, which this data lacks "
                          f"(only simulated logs have it)")
    truth = part["true_preference"]
    if torch.isnan(truth).any():
        raise ConfigError(f"{where}: true_preference is missing on some rows")
    return EncodedTensors({**part.tensors, "label": truth.clone()})


def check_oracle_label(label: str, where: str) -> None:
    if not label.startswith("oracle"):
        raise ConfigError(f"{where}: methods.{label} has oracle: true, so its label must start with 'oracle' "
                          f"(it trains on the hidden truth and must read as such in every table)")

