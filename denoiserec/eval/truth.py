"""Scores against the simulator's hidden truth (``docs/simulator.md``): the one place besides
:func:`denoiserec.eval.metrics.split_metrics` (``*_true`` metrics) that reads ``true_*`` columns. The trainer drops
them before a model or method sees the data (:mod:`denoiserec.train.batch`); the experiment runner applies these
scores after training.
"""

from __future__ import annotations

import torch

from denoiserec.data.kinds import FEEDBACK_CODE
from denoiserec.eval.metrics import auc


def calibration(pred: torch.Tensor, truth: torch.Tensor, bins: int = 10) -> list[list[float]]:
    """Reliability diagram: for ``bins`` equal-width bins of ``pred`` in [0, 1], ``[mean pred, observed rate of
    truth, rows]`` of every non-empty bin."""
    idx = (pred.clamp(0, 1) * bins).long().clamp(max=bins - 1)
    n = torch.bincount(idx, minlength=bins).double()
    p = torch.bincount(idx, weights=pred.double(), minlength=bins)
    t = torch.bincount(idx, weights=truth.double(), minlength=bins)
    return [[float(p[b] / n[b]), float(t[b] / n[b]), int(n[b])] for b in range(bins) if n[b] > 0]


def attention_metrics(attention: torch.Tensor, tensors: dict[str, torch.Tensor]) -> dict[str, float]:
    """AUC of estimated attention against the simulator's hidden ``true_attention`` (empty on real data).

    ``att_auc_passive``: among passive plays, the ones the weights act on (the main number);
    ``att_auc_passive_played``: the same without ``unplayed`` rows (never heard, truth 0 by construction);
    ``att_auc``: all rows, active plays counted as attended (α := 1, since an action proves attention);
    ``att_auc_raw``: all rows, the estimator's own α;
    ``att_calibration_passive``: the reliability diagram on passive plays (see :func:`calibration`).
    """
    if "true_attention" not in tensors:
        return {}
    a = attention.detach().float().cpu()
    truth = tensors["true_attention"].float().cpu()
    active = tensors["active"].cpu() > 0.5
    known = ~torch.isnan(truth)
    passive = known & ~active
    played = tensors["feedback"].cpu() != FEEDBACK_CODE["unplayed"]
    post = torch.where(active, torch.ones_like(a), a)
    return {
        "att_calibration_passive": calibration(a[passive], truth[passive]),
        "att_auc_passive": auc(a[passive], truth[passive]),
        "att_auc_passive_played": auc(a[passive & played], truth[passive & played]),
        "att_auc": auc(post[known], truth[known]),
        "att_auc_raw": auc(a[known], truth[known]),
    }
