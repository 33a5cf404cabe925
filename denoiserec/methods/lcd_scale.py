"""Control for LCD (methods/lcd.py): a constant gradient scale equal to LCD's ``mean(w)`` and nothing else.

With ``p = σ(s)`` detached, the soft-bootstrap target ``y* = λ·y + (1 - λ)·p`` gives ``∂BCE(σ(s), y*)/∂s = λ·(p - y)``:
a constant ``λ`` is exactly a gradient (learning-rate) scale of ``λ`` on every sample. Here ``λ`` is, per batch,
the mean of the LCD weights ``w = F(minmax(loss))`` that LCD would use on that batch, so the batch's total
gradient scale matches LCD's while no sample is corrected more than another. It is implemented through the
target, not the sample weights: the trainer's ``weighted`` reduction divides by ``Σ w``, which would cancel a
constant weight, while the weights stay 1 here and the scale survives (tests/test_lcd.py checks the gradient)."""

from __future__ import annotations

import torch

from denoiserec.methods.lcd import LCD


class LCDScale(LCD):
    name = "lcd_scale"

    def label_share(self, w: torch.Tensor, ok: torch.Tensor) -> torch.Tensor:
        return w.mean().expand_as(w)


METHOD = LCDScale
