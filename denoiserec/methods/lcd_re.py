"""LCD-Re, the reversed ablation of LCD (the paper's §3.3.1): ``y* = (1 - w)·y + w·p`` with the same
``w = BetaCDF(minmax(loss); a, b)`` and start epoch as methods/lcd.py, so the sample with the largest loss in
its batch is pulled all the way to the model's prediction and the one with the smallest keeps its label."""

from denoiserec.methods.lcd import LCD


class LCDRe(LCD):
    name = "lcd_re"
    reverse = True


METHOD = LCDRe
