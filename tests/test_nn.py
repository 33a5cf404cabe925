"""Building blocks of :mod:`denoiserec.nn` shared by several models."""

from __future__ import annotations

import torch

from denoiserec.nn.sequence import masked_softmax


def _reference(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the unmasked entries of each row, written out; 0 where masked or the row is empty."""
    e = torch.where(mask, (scores - scores.masked_fill(~mask, -torch.inf).amax(-1, keepdim=True)).exp(), 0)
    return torch.nan_to_num(e / e.sum(-1, keepdim=True))


def test_masked_softmax_keeps_float64_and_masks():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(6, 7, generator=g, dtype=torch.float64) * 3
    mask = torch.rand(6, 7, generator=g) > 0.4
    mask[0] = False  # an empty row: all zeros, not NaN
    mask[1] = True
    out = masked_softmax(scores, mask)
    assert out.dtype == torch.float64
    assert (out[~mask] == 0).all() and (out[0] == 0).all()
    # in float64 throughout: a float32 pass would be ~1e-8 away
    assert torch.allclose(out, _reference(scores, mask), rtol=0, atol=1e-15)
    assert torch.allclose(out.sum(-1)[1:], torch.ones(5, dtype=torch.float64), rtol=0, atol=1e-15)


def test_masked_softmax_of_half_precision_scores_runs_in_float32():
    g = torch.Generator().manual_seed(1)
    scores = torch.randn(4, 9, generator=g)
    mask = torch.rand(4, 9, generator=g) > 0.3
    for dtype in (torch.bfloat16, torch.float16):
        low = scores.to(dtype)
        out = masked_softmax(low, mask)
        assert out.dtype == dtype
        assert torch.equal(out, _reference(low.float(), mask).to(dtype))
    assert torch.allclose(masked_softmax(scores, mask), _reference(scores, mask), rtol=0, atol=1e-7)
