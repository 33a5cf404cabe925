"""The training loss (``denoiserec/train/loss.py``): one weighted BCE-with-logits with the method's weights and
soft targets, shared by the trainer's step and the stacked-seeds loop, equal to the expression both used before."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from conftest import make_log

from denoiserec.data.encoder import encode_splits
from denoiserec.data.features import FeatureConfig
from denoiserec.methods import build_method
from denoiserec.models import build_model
from denoiserec.train.batch import method_inputs, model_inputs
from denoiserec.train.encoded import batchable
from denoiserec.train.loss import weighted_bce
from denoiserec.train.trainer import TrainConfig, Trainer, make_adam


def _previous(logits, y_star, w, reduction):
    """The loss as the trainer wrote it before train/loss.py (two BCE passes' second half, then the reduction)."""
    per = F.binary_cross_entropy_with_logits(logits, y_star, reduction="none")
    denom = w.sum().clamp_min(1e-12) if reduction == "weighted" else len(per)
    return (w * per).sum() / denom


def _random(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(n, generator=g) * 3
    y = torch.rand(n, generator=g)  # soft targets
    w = torch.rand(n, generator=g) * (torch.rand(n, generator=g) > 0.2)  # some rows dropped
    return s, y, w


@pytest.mark.parametrize("reduction", ["weighted", "mean"])
def test_weighted_bce_is_the_previous_expression(reduction):
    s, y, w = _random(1000)
    # same numbers to the last bit (tolerance 0): the weight multiplies inside the same BCE kernel
    assert torch.equal(weighted_bce(s, y, w, reduction), _previous(s, y, w, reduction))


def test_weighted_bce_by_hand_and_per_stacked_seed():
    s, y, w = torch.tensor([0.0, 2.0]), torch.tensor([0.25, 1.0]), torch.tensor([2.0, 0.5])
    bce = torch.stack([torch.log(torch.tensor(2.0)), torch.log1p(torch.exp(torch.tensor(-2.0)))])
    torch.testing.assert_close(weighted_bce(s, y, w), (w * bce).sum() / w.sum())
    torch.testing.assert_close(weighted_bce(s, y, w, "mean"), (w * bce).sum() / 2)
    assert float(weighted_bce(s, y, torch.zeros(2))) == 0.0  # all rows dropped: 0, not NaN
    rows = [_random(300, seed) for seed in range(3)]  # [S, B]: one loss per seed, each its own row's
    stacked = weighted_bce(*(torch.stack(t) for t in zip(*rows, strict=True)))
    assert stacked.shape == (3,)
    for k, r in enumerate(rows):
        torch.testing.assert_close(stacked[k], weighted_bce(*r), rtol=1e-6, atol=0)


@pytest.mark.parametrize("method,hp", [("lcd", {}), ("bootstrap", {"lam": 0.7}), ("bootstrap", {"form": "hard"})])
def test_trainer_step_trains_the_previous_losses(method, hp):
    """The trainer's step (train/loss.py) against the step as written before, on one model and batch stream: the
    same losses over the first 6 steps, bit for bit (tolerance 0)."""
    torch.set_num_threads(1)
    spec, parts = encode_splits(make_log(), FeatureConfig.from_dict({"sequences": {"hist": {"max_len": 5}}}))
    train = batchable(parts["train"])
    torch.manual_seed(0)
    model = build_model("deepfm", spec, hidden=(32, 16))
    ref = copy.deepcopy(model)
    m_new, m_ref = build_method(method, **hp), build_method(method, **hp)
    for m in (m_new, m_ref):
        m.fit(train, spec, torch.device("cpu"))
        m.on_epoch_start(0)
    step = Trainer(TrainConfig(progress=False, threads=1))._step_fn(model, m_new, make_adam(model, 1e-2))
    optim = make_adam(ref, 1e-2)
    got, want = [], []
    for i, batch in enumerate(train.batches(64, shuffle=True, generator=torch.Generator().manual_seed(1))):
        if i == 6:
            break
        got.append(float(step(batch)))
        logits = ref(model_inputs(batch))
        with torch.no_grad():
            losses = F.binary_cross_entropy_with_logits(logits, batch["label"], reduction="none")
        with torch.set_grad_enabled(m_ref.target_grad):  # soft bootstrap: y* carries the logits' gradient
            w, y_star = m_ref.weights_and_targets(method_inputs(batch, m_ref.needs),
                                                  logits if m_ref.target_grad else logits.detach(), losses)
        loss = _previous(logits, y_star, w.detach(), "weighted")
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        want.append(float(loss.detach()))
    assert got == want and len(got) == 6
