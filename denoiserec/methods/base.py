"""The denoising-method contract. A method never sees the model: it sees the data and, at each step, the
detached logits and per-sample losses, and returns per-sample weights ``w`` and targets ``y*``. The trainer
minimises ``L = Σ_i w_i · BCE(σ(s_i), y*_i) / Σ_i w_i`` (plus a model's auxiliary loss). ``y*`` is held constant
unless the method declares ``target_grad`` (then it gets the live logits and ``y*`` may carry their gradient:
Reed et al.'s soft bootstrapping)."""

from __future__ import annotations

import torch

from denoiserec.data.spec import FeatureSpec
from denoiserec.data.tensors import EncodedTensors


class Method:
    """Base class: the identity method (``w = 1``, ``y* = y``), i.e. training on the noisy labels as given."""

    name = "none"
    #: ``weights_and_targets`` can be captured in a CUDA graph (trainer ``cuda_graph``): no host synchronisation,
    #: static shapes, no Python-side state changed per step, tensors it reads not replaced within an epoch.
    #: The identity method is; a subclass that overrides ``weights_and_targets`` declares it.
    graph_safe = False
    #: the batch metadata ``weights_and_targets`` reads besides ``label`` (a subset of
    #: :data:`denoiserec.train.batch.METADATA`); the trainer passes nothing else
    needs: tuple[str, ...] = ()
    #: a per-training-row estimate of the user's attention (``[N]``, set by :meth:`fit`), or None. Where a method
    #: sets it, the CTR task scores it against the simulator's hidden ``true_attention`` after training
    #: (:func:`denoiserec.eval.truth.attention_metrics`, recorded in the run's ``method_state``)
    attention: torch.Tensor | None = None
    #: ``y*`` is a function of the live logits whose gradient the loss keeps (the trainer then passes the logits
    #: undetached, outside ``no_grad``); ``w`` stays without gradient either way
    target_grad = False
    #: one instance per seed can train in a stacked group (``train.stack_seeds``, denoiserec/train/stacked.py):
    #: its state lives in the instance and its randomness in the global RNG during ``fit`` or its own generator
    stackable = True

    def fit(self, train: EncodedTensors, spec: FeatureSpec, device: torch.device | str = "cpu") -> None:
        """Called once before training (e.g. UAE trains its attention and propensity estimators here), with the
        training data less its hidden ``true_*`` tensors."""

    def attention_on(self, rows: EncodedTensors) -> torch.Tensor | None:
        """The estimate of :attr:`attention` for other rows (``[len(rows)]``, e.g. the held-out sessions of the
        test period, given without their hidden ``true_*`` tensors), after :meth:`fit`; None where the method has
        none."""
        return None

    def on_epoch_start(self, epoch: int) -> None:
        """Called at the start of every epoch (0-based)."""
        self.epoch = epoch

    def weights_and_targets(self, batch: dict[str, torch.Tensor], logits: torch.Tensor,
                            losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch`` holds ``label`` and the metadata in :attr:`needs`; ``losses`` is detached ``[B]``, ``logits`` too
        unless :attr:`target_grad`; return ``(w [B], y* [B])``."""
        return torch.ones_like(logits), batch["label"]

    def state(self) -> dict:
        """What to record in the run's results (fitted statistics, diagnostics)."""
        return {}

    def state_dict(self) -> dict:
        """What a checkpoint must keep so that a resumed run continues exactly (counters accumulated over the
        steps so far); plain Python numbers, lists, dicts and CPU tensors only (loaded with
        ``torch.load(weights_only=True)``). State rebuilt by :meth:`fit` need not be kept."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (called after :meth:`fit` when a run resumes)."""
