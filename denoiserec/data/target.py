"""What a CTR experiment predicts: the log's own label (``target: click``, the default) or DUMN's dislike task
(``target: dislike``, Bian et al., RecSys '21, §4.5 / Table 7, after DFN, Xie et al., IJCAI '20).

``dislike`` relabels every row the CTR task uses: ``label = 1`` where the row's feedback is an explicit negative
(``dislike``: KuaiRand ``is_hate``, the simulator's dislike, Piki's 0), else 0. A skip stays a 0 (DUMN counts it as
implicit negative feedback, ``docs/models.md``). The paper does not say which rows its dislike task scores; every
exposure is the reading used here, as in DFN, where dislike prediction runs over the same impressions as click
prediction. The histories are unchanged (they are built from the feedback kinds of earlier rows).

The simulator's hidden ``true_*`` columns describe preference and attention, not dislike, so a ``dislike`` target
drops them: no ``auc_true`` is reported against a truth that does not describe the target.
"""

from __future__ import annotations

import polars as pl

from denoiserec.data.schema import truth_columns

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
