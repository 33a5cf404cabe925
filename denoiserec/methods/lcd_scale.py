"""Control for LCD (methods/lcd.py): a constant gradient scale equal to LCD's ``mean(w)`` and nothing else.

With ``p = σ(s)`` detached, the soft-bootstrap target ``y* = λ·y + (1 - λ)·p`` gives ``∂BCE(σ(s), y*)/∂s = λ·(p - y)``:
a constant ``λ`` is exactly a gradient (learning-rate) scale of ``λ`` on every sample. By default ``λ`` is, per
batch, the mean of the LCD weights ``w = F(minmax(loss))`` that LCD would use on that batch, so the batch's total
gradient scale matches LCD's while no sample is corrected more than another. ``scale: <λ>`` fixes one run-wide
constant instead (e.g. the ``mean_w`` that LCD itself recorded on its own trajectory: the per-batch mean on the
control's trajectory can differ from LCD's). It is implemented through the target, not the sample weights: the
trainer's ``weighted`` reduction divides by ``Σ w``, which would cancel a constant weight, while the weights stay
1 here and the scale survives (tests/test_lcd.py checks the gradient)."""

from __future__ import annotations

import torch

from denoiserec.methods.lcd import LCD
from denoiserec.settings import Share


class LCDScale(LCD):
    name = "lcd_scale"

    def __init__(self, *args, scale: Share | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.scale = None if scale is None else float(scale)

    def label_share(self, w: torch.Tensor, ok: torch.Tensor) -> torch.Tensor:
        if self.scale is not None:
            return torch.full_like(w, self.scale)
        return w.mean().expand_as(w)

    def state(self) -> dict:
        return {**super().state(), "scale": self.scale}


METHOD = LCDScale
