"""No denoising: the naive labels as given (``w = 1``, ``y* = y``) -- the baseline every method is compared to."""

from denoiserec.methods.base import Method

METHOD = Method
