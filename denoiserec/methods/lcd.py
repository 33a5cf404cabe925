"""LCD: adaptive label correction (Q. Dai et al., CIKM 2022, "LCD: Adaptive Label Correction for Denoising Music
Recommendation", §2, Eqs. 2-3).

At every step, for each sample i of the batch with noisy label ``y_i``, current prediction ``p_i = σ(s_i)``
(detached: the target carries no gradient) and current BCE loss ``l_i`` against ``y_i``:

    t_i  = (l_i - min_j l_j) / (max_j l_j - min_j l_j)        per-batch min-max normalised loss, in [0, 1]
    w_i  = F(t_i; a, b)                                         F = CDF of Beta(a, b); a = b = 1 gives w = t
    y*_i = w_i · y_i + (1 - w_i) · p_i                          (LCD)
    y*_i = (1 - w_i) · y_i + w_i · p_i                          (LCD-Re, ``reverse=True``, methods/lcd_re.py)

so under LCD a sample whose loss is the largest of its batch keeps its label (w = 1) and the one whose loss is
the smallest is pulled all the way to the model's own prediction (w = 0); LCD-Re does the opposite.

When correction starts. The paper corrects "only when the base CTR model is trained sufficiently well": from
the 1-based epoch ``start_epoch`` (default 20, the paper's setting: 20 of 25 epochs of an industrial data set,
thousands of steps each); before it, plain BCE (``y* = y``). An epoch count does not transfer to a small data
set (a few dozen steps per epoch), so ``start_step`` can give the start in optimizer steps instead: the first
``start_step`` steps are plain BCE and correction is on from step ``start_step + 1`` on (``start_step`` wins
over ``start_epoch`` when given). The method counts the steps it is called for; ``state_dict()`` carries the
count across a resumed run.

Gradient scale. With ``p`` detached, ``∂BCE(σ(s), y*)/∂s = p - y* = w·(p - y)``: besides ranking the samples, LCD
scales the whole batch's gradient by ``mean(w)`` (≈ 0.4 for ``a = b = 1``). Two controls separate the two:
:mod:`~denoiserec.methods.lcd_permuted` (the same ``w`` values permuted within the batch: same per-batch ``w``
distribution, no link to the loss ranking) and :mod:`~denoiserec.methods.lcd_scale` (every sample gets the
batch's ``mean(w)``: a constant gradient scale).

Known answer: LCD up-weights the wrong labels. On the simulator with every label set to the hidden preference
and 20 % of training labels flipped (docs/results/lcd.md §6, DeepFM, 5 seeds), the batch loss does rank the
flipped rows high (LCD's premise), so Eq. 3 keeps the label exactly there (w → 1) and pulls the clean, low-loss
rows to p: relative to the clean rows, the flipped rows get the larger share of their (wrong) label and of the
gradient ``w·(p - y)`` (loss AUC of the flips 0.79; label share 0.32–0.35 on flipped vs 0.17–0.18 on clean
rows). Clean test AUC: raw 0.7056, LCD 0.6900 (RelaImpr −7.6 %, paired p = 0.004), LCD-Re 0.7100 (+2.1 %,
p = 0.29; its clean validation AUC at the selected epoch +0.005, p = 0.04). LCD-Re, which gives the high-loss
rows the smaller label share (the direction of the loss-correction work LCD cites), is the robust direction;
``tests/test_label_noise.py`` checks the direction of both.

A batch whose losses are all equal (``max = min``) carries no ranking: it is left uncorrected (``w = 1`` under
LCD, i.e. ``y* = y``; likewise ``y* = y`` under LCD-Re) instead of dividing by zero.

The sample weights of the trainer's loss stay 1: LCD changes targets only. The method never sees the model.

Beta CDF. ``torch.special`` has no regularised incomplete beta function, so ``F`` is a piecewise-linear table
built once with ``scipy.special.betainc`` and evaluated on the losses' device with ``torch.searchsorted`` and a
lerp (in float64). Its knots are the union of a uniform grid on [0, 1], the Beta(a, b) quantiles ``F^{-1}(j/n)``
and the quantiles at Chebyshev levels ``(1 - cos(πj/n)) / 2``, each with ``n + 1`` points (``n = 4096`` by
default). For a monotone ``F`` the interpolation error on a cell is at most the cell's rise, which the
quantile knots keep ≤ 1/n (2.4e-4) for every (a, b), including a, b < 1 where the density is unbounded (the
Chebyshev levels shrink the rise of the end cells, where that case is worst, to ≈ 1.5e-7); where ``F`` is
smooth the uniform knots make it second order (≈ h²/8 · max|F''|, about 1e-8 for (2, 2)). The error actually
achieved against scipy on a 200,001-point grid is measured at construction and recorded in
``state()["cdf_max_abs_error"]``. (a, b) = (1, 1) is the identity, computed exactly.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import torch

from denoiserec.errors import ConfigError
from denoiserec.methods.base import Method
from denoiserec.settings import NonNegInt, Positive, Range


class BetaCDF:
    """``F(t; a, b)`` for ``t`` in [0, 1] as a device-agnostic torch lookup table (see the module docstring)."""

    def __init__(self, a: float, b: float, n: int = 4096):
        from scipy import special

        if not (a > 0 and b > 0):
            raise ConfigError(f"Beta CDF parameters must be positive, got a={a}, b={b}")
        if n < 2:
            raise ConfigError(f"Beta CDF table needs n >= 2 cells, got {n}")
        self.a, self.b, self.n = float(a), float(b), int(n)
        self.identity = self.a == 1.0 and self.b == 1.0
        levels = np.linspace(0.0, 1.0, n + 1)
        ends = (1.0 - np.cos(np.pi * levels)) / 2  # Chebyshev levels: crowd the knots where F is steepest
        quantiles = special.betaincinv(a, b, np.concatenate([levels, ends]))
        knots = np.unique(np.clip(np.concatenate([levels, quantiles]), 0.0, 1.0))
        values = special.betainc(a, b, knots)
        values[0], values[-1] = 0.0, 1.0
        self._x = torch.from_numpy(knots)  # float64: knots crowd within float32 resolution near 0 and 1
        self._y = torch.from_numpy(np.maximum.accumulate(values))
        self._tables: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}
        check = np.linspace(0.0, 1.0, 200_001)
        approx = self(torch.from_numpy(check)).numpy()
        self.max_abs_error = float(np.abs(approx - special.betainc(a, b, check)).max())

    def _table(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if device not in self._tables:
            self._tables[device] = (self._x.to(device), self._y.to(device))
        return self._tables[device]

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        """``F(t)`` elementwise, in ``t``'s dtype (looked up in float64; a batch-sized op, cheap on any device)."""
        t = t.clamp(0.0, 1.0)
        if self.identity:
            return t
        x, y = self._table(t.device)
        q = t.double().contiguous()
        hi = torch.searchsorted(x, q).clamp(1, len(x) - 1)
        lo = hi - 1
        x0, x1, y0, y1 = x[lo], x[hi], y[lo], y[hi]
        gap = x1 - x0
        frac = torch.where(gap > 0, (q - x0) / gap.clamp_min(1e-300), 0.0).clamp(0.0, 1.0)
        return torch.lerp(y0, y1, frac).to(t.dtype)


def normalised_loss(losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``t = (l - l_min) / (l_max - l_min)`` over the batch, and whether it is defined (``l_max > l_min``, a 0-d
    bool tensor; ``t = 1`` where it is not). No host-device synchronisation."""
    lo, hi = losses.min(), losses.max()
    span = hi - lo
    ok = span > 0
    t = torch.where(ok, (losses - lo) / span.clamp_min(torch.finfo(losses.dtype).tiny), 1.0)
    return t.clamp(0.0, 1.0), ok


class LCD(Method):
    """LCD: ``y* = w·y + (1 - w)·p``, ``w = BetaCDF(minmax(loss); a, b)`` from epoch ``start_epoch`` (1-based) or
    after ``start_step`` plain steps."""

    name = "lcd"
    reverse = False
    #: per-batch min/max, a table lookup and in-place device counters (the step count for ``start_step`` too,
    #: applied with ``torch.where``): no host sync
    graph_safe = True

    def __init__(self, a: Positive = 1.0, b: Positive = 1.0, start_epoch: NonNegInt = 20,
                 start_step: NonNegInt | None = None, table_size: Annotated[int, Range(ge=2)] = 4096):
        self.a, self.b, self.start_epoch = float(a), float(b), int(start_epoch)
        self.start_step = None if start_step is None else int(start_step)
        self.cdf = BetaCDF(self.a, self.b, table_size)
        self.epoch = 0
        self._w_sum = self._degenerate = self._seen = None
        self._count = self._steps = 0
        self._w_sum0 = self._degenerate0 = 0.0  # sums carried over from a checkpoint (see load_state_dict)
        self._seen0 = 0

    @property
    def active(self) -> bool:
        """Whether correction can be on in the current epoch: with ``start_step``, always (the step count decides,
        on the device); otherwise when the current (0-based) epoch is at or past the 1-based ``start_epoch``."""
        if self.start_step is not None:
            return True
        return self.epoch + 1 >= self.start_epoch

    def on_epoch_start(self, epoch: int) -> None:
        self.epoch = epoch

    def mixing_weight(self, losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(w = F(t), defined)``; on a batch whose losses are all equal ``t`` is undefined and ``w = 1``."""
        t, ok = normalised_loss(losses.float())
        return torch.where(ok, self.cdf(t), 1.0), ok

    def label_share(self, w: torch.Tensor, ok: torch.Tensor) -> torch.Tensor:
        """The share of the noisy label in ``y*``: ``w`` (LCD) or ``1 - w`` (LCD-Re); the controls override it."""
        return torch.where(ok, 1.0 - w, 1.0) if self.reverse else w

    def weights_and_targets(self, batch, logits, losses):
        y = batch["label"]
        ones = torch.ones_like(logits)
        if not self.active:
            return ones, y
        p = torch.sigmoid(logits.detach().float())
        w, ok = self.mixing_weight(losses.detach())
        share = self.label_share(w, ok)
        y_star = share * y + (1.0 - share) * p
        on = None
        if self.start_step is not None:
            if self._seen is None:
                self._seen = torch.full((), float(self._seen0), device=logits.device, dtype=torch.float64)
            on = self._seen >= self.start_step
            self._seen += 1
            y_star = torch.where(on, y_star, y)
        self._record(w, ok, on)
        return ones, y_star

    def _record(self, w: torch.Tensor, ok: torch.Tensor, on: torch.Tensor | None = None) -> None:
        """Diagnostics, accumulated in place in device tensors (no synchronisation, no Python-side counter: the
        step stays replayable from a CUDA graph); ``on`` (a 0-d bool tensor) masks the steps before ``start_step``."""
        if self._w_sum is None:
            dev = {"device": w.device, "dtype": torch.float64}  # from the values carried over by load_state_dict
            self._w_sum = torch.full((), self._w_sum0, **dev)
            self._degenerate = torch.full((), self._degenerate0, **dev)
            self._count = torch.full((), float(self._count), **dev)
            self._steps = torch.full((), float(self._steps), **dev)
        gate = 1.0 if on is None else on.double()
        self._w_sum += torch.where(ok, w.sum(), 0.0) * gate
        self._degenerate += (~ok).double() * gate
        self._count += w.numel() * gate
        self._steps += gate

    def _sums(self) -> tuple[float, float]:
        if self._w_sum is None:
            return self._w_sum0, self._degenerate0
        return float(self._w_sum), float(self._degenerate)

    def _seen_steps(self) -> int:
        return self._seen0 if self._seen is None else int(self._seen)

    def state(self) -> dict:
        w_sum, degenerate = self._sums()
        steps, count = int(self._steps), int(self._count)  # device tensors once training has recorded
        return {"a": self.a, "b": self.b, "start_epoch": self.start_epoch, "start_step": self.start_step,
                "first_corrected_step": (self.start_step + 1 if self.start_step is not None else None) if steps
                else None, "reverse": self.reverse,
                "cdf_max_abs_error": self.cdf.max_abs_error, "corrected_steps": steps,
                "degenerate_batches": int(degenerate) if steps else 0,
                "mean_w": w_sum / count if count else None}

    def state_dict(self) -> dict:
        """The diagnostics' counters and the step count, so that a resumed run starts the correction at the same
        step and reports the same ``corrected_steps``/``mean_w``."""
        w_sum, degenerate = self._sums()
        return {"steps": int(self._steps), "count": int(self._count), "w_sum": w_sum, "degenerate": degenerate,
                "seen_steps": self._seen_steps()}

    def load_state_dict(self, state: dict) -> None:
        self._steps, self._count = int(state.get("steps", 0)), int(state.get("count", 0))
        self._w_sum0, self._degenerate0 = float(state.get("w_sum", 0.0)), float(state.get("degenerate", 0.0))
        self._seen0 = int(state.get("seen_steps", 0))
        self._w_sum = self._degenerate = self._seen = None


METHOD = LCD
