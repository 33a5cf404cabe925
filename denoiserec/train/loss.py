"""The training loss, one definition for both training loops (train/trainer.py, train/stacked.py).

``L = Σ_i w_i · BCE(σ(s_i), y*_i) / Σ_i w_i`` (``reduction="weighted"``) or ``/ B`` (``"mean"``), with ``(w, y*)``
from the denoising method: :func:`method_targets` asks the method, :func:`weighted_bce` is the loss as one
``binary_cross_entropy_with_logits`` with the weights inside it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from denoiserec.methods.base import Method
from denoiserec.train.batch import method_inputs


def method_targets(method: Method, batch: dict[str, torch.Tensor],
                   logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The method's ``(w, y*)`` for ``batch`` and the model's ``logits``: it is given the per-sample BCE on the
    observed labels (detached), the label and its declared metadata. ``w`` comes back detached; ``y*`` carries the
    logits' gradient only where the method declares ``target_grad`` (else it sees detached logits)."""
    with torch.no_grad():
        losses = F.binary_cross_entropy_with_logits(logits, batch["label"], reduction="none")
    with torch.set_grad_enabled(method.target_grad):
        w, y_star = method.weights_and_targets(method_inputs(batch, method.needs),
                                               logits if method.target_grad else logits.detach(), losses)
    return w.detach(), y_star


def weighted_bce(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor,
                 reduction: str = "weighted") -> torch.Tensor:
    """``Σ_i w_i · BCE(σ(s_i), y*_i)`` over the last dimension, divided by ``Σ_i w_i`` (``"weighted"``, at least
    1e-12) or by the row count (``"mean"``): a scalar for ``[B]`` inputs, one loss per stacked seed for ``[S, B]``."""
    total = F.binary_cross_entropy_with_logits(logits, targets, weight=weights, reduction="none").sum(-1)
    if reduction == "weighted":
        return total / weights.sum(-1).clamp_min(1e-12)
    return total / logits.shape[-1]
