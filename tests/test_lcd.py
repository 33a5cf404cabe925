import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import make_log
from scipy import special

from denoiserec.data.encoder import encode_splits
from denoiserec.data.features import FeatureConfig
from denoiserec.errors import ConfigError
from denoiserec.methods import build_method
from denoiserec.methods.lcd import BetaCDF, normalised_loss
from denoiserec.models import build_model
from denoiserec.train.trainer import TrainConfig, Trainer


def _batch(labels, logits):
    y = torch.tensor(labels, dtype=torch.float32)
    s = torch.tensor(logits, dtype=torch.float32)
    return {"label": y}, s, F.binary_cross_entropy_with_logits(s, y, reduction="none")


def _random_batch(n):
    """``n`` noisy labels (40 % ones) and logits, their per-sample BCE and predictions ``p = σ(s)``, seed 0."""
    g = torch.Generator().manual_seed(0)
    y = (torch.rand(n, generator=g) < 0.4).float()
    s = torch.randn(n, generator=g) * 2
    return y, s, F.binary_cross_entropy_with_logits(s, y, reduction="none"), torch.sigmoid(s)


def _active(name, **hp):
    m = build_method(name, **hp)
    m.on_epoch_start(10**6)
    return m


# ---------------------------------------------------------------------------------------------------- Beta CDF
@pytest.mark.parametrize("a,b", [(0.5, 0.5), (1, 1), (2, 2), (5, 1), (0.3, 3), (1, 0.2), (20, 20), (0.1, 0.1)])
def test_beta_cdf_matches_scipy(a, b):
    cdf = BetaCDF(a, b)
    assert cdf.max_abs_error < 1 / cdf.n  # the documented guarantee, as measured at construction
    t = torch.rand(20000, generator=torch.Generator().manual_seed(1))
    t = torch.cat([t, t**8, 1 - t**8, torch.tensor([0.0, 1.0])])  # crowd the endpoints, where F can be steep
    got = cdf(t).double().numpy()
    want = special.betainc(a, b, t.double().numpy())
    assert np.abs(got - want).max() < 5e-6  # measured ≤ 3e-7 in float32; guaranteed ≤ 1/n = 2.4e-4


def test_beta_cdf_closed_forms():
    t = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0])
    torch.testing.assert_close(BetaCDF(1, 1)(t), t)
    torch.testing.assert_close(BetaCDF(2, 2)(t), 3 * t**2 - 2 * t**3, atol=1e-6, rtol=0)
    arcsine = 2 / math.pi * torch.asin(torch.sqrt(t))
    torch.testing.assert_close(BetaCDF(0.5, 0.5)(t), arcsine, atol=1e-5, rtol=0)


def test_beta_cdf_rejects_bad_parameters():
    with pytest.raises(ConfigError):
        BetaCDF(0, 1)
    with pytest.raises(ConfigError):
        build_method("lcd", a=1, b=1, start_epoch=-1)


# ---------------------------------------------------------------------------------------------------- LCD equations
def test_minmax_normalisation_per_batch():
    t, ok = normalised_loss(torch.tensor([1.0, 2.0, 5.0]))
    assert bool(ok)
    torch.testing.assert_close(t, torch.tensor([0.0, 0.25, 1.0]))
    t2, _ = normalised_loss(torch.tensor([1.0, 2.0, 5.0]) * 3 + 7)  # invariant to the batch's scale and offset
    torch.testing.assert_close(t, t2)


def test_lcd_hand_computed_case():
    # labels/logits chosen so the losses are known: l = softplus(-s) for y = 1, softplus(s) for y = 0
    batch, s, losses = _batch([1.0, 0.0, 1.0, 0.0], [2.0, -1.0, 0.0, 3.0])
    m = _active("lcd", a=0.5, b=0.5)
    w, ok = m.mixing_weight(losses)
    t = (losses - losses.min()) / (losses.max() - losses.min())
    expected_w = 2 / math.pi * torch.asin(torch.sqrt(t))  # Beta(0.5, 0.5) CDF in closed form
    torch.testing.assert_close(w, expected_w, atol=1e-5, rtol=0)
    weights, y_star = m.weights_and_targets(batch, s, losses)
    p = torch.sigmoid(s)
    torch.testing.assert_close(weights, torch.ones(4))
    torch.testing.assert_close(y_star, expected_w * batch["label"] + (1 - expected_w) * p, atol=1e-5, rtol=0)
    # the largest-loss sample (y = 0, s = 3) keeps its label; the smallest-loss one (y = 1, s = 2) gets p
    assert int(losses.argmax()) == 3 and int(losses.argmin()) == 0
    assert abs(float(y_star[3]) - 0.0) < 1e-6
    assert abs(float(y_star[0]) - float(p[0])) < 1e-6


def test_lcd_asymmetric_beta_parameters_are_not_swapped():
    """Beta(a = 5, b = 1) has CDF t^5 (w stays small until the loss is near the batch's largest), Beta(1, 5) has
    1 - (1 - t)^5: every test with a = b would pass with the two swapped."""
    batch, s, losses = _batch([1.0, 0.0, 1.0, 0.0], [2.0, -1.0, 0.0, 3.0])
    t = (losses - losses.min()) / (losses.max() - losses.min())
    p = torch.sigmoid(s)
    for name, (a, b), w in [("lcd", (5, 1), t**5), ("lcd", (1, 5), 1 - (1 - t) ** 5), ("lcd_re", (5, 1), t**5)]:
        m = _active(name, a=a, b=b)
        torch.testing.assert_close(m.mixing_weight(losses)[0], w, atol=1e-5, rtol=0)
        share = 1 - w if name == "lcd_re" else w
        _, y_star = m.weights_and_targets(batch, s, losses)
        torch.testing.assert_close(y_star, share * batch["label"] + (1 - share) * p, atol=1e-5, rtol=0)
        assert (m.state()["a"], m.state()["b"]) == (a, b)


def test_the_trainer_hands_the_method_the_loss_against_the_label():
    """Through the trainer's step, LCD (a = b = 1: w = t) must rank rows by BCE against the noisy label y; ranked
    by the loss against 1 - y it silently becomes LCD-Re (t → 1 - t)."""
    y, s, losses, p = _random_batch(64)
    t = (losses - losses.min()) / (losses.max() - losses.min())
    got = _trainer_gradient(build_method("lcd", start_step=0), y, s)
    torch.testing.assert_close(got, t * (p - y) / len(y))  # ∂BCE(σ(s), y*)/∂s = w·(p - y), y* held constant
    got = _trainer_gradient(build_method("lcd_re", start_step=0), y, s)
    torch.testing.assert_close(got, (1 - t) * (p - y) / len(y))
    seen = {}

    class Spy(type(build_method("none"))):
        def weights_and_targets(self, batch, logits, losses):
            seen.update(label=batch["label"], logits=logits, losses=losses)
            return super().weights_and_targets(batch, logits, losses)

    _trainer_gradient(Spy(), y, s)
    torch.testing.assert_close(seen["losses"], losses)
    torch.testing.assert_close(seen["logits"], s)
    assert torch.equal(seen["label"], y) and not seen["logits"].requires_grad


def test_lcd_re_is_the_reverse():
    batch, s, losses = _batch([1.0, 0.0, 1.0, 0.0], [2.0, -1.0, 0.0, 3.0])
    w, _ = _active("lcd", a=2, b=2).mixing_weight(losses)
    _, y_star = _active("lcd_re", a=2, b=2).weights_and_targets(batch, s, losses)
    torch.testing.assert_close(y_star, (1 - w) * batch["label"] + w * torch.sigmoid(s))
    assert abs(float(y_star[3]) - float(torch.sigmoid(s[3]))) < 1e-6  # largest loss: replaced by p
    assert float(y_star[0]) == 1.0  # smallest loss: keeps its label


def test_identity_before_start_epoch():
    batch, s, losses = _batch([1.0, 0.0, 1.0], [2.0, 1.0, -3.0])
    for name in ("lcd", "lcd_re"):
        m = build_method(name, a=2, b=2, start_epoch=3)  # 1-based: epochs 0 and 1 (0-based) are plain BCE
        for epoch, on in [(0, False), (1, False), (2, True), (5, True)]:
            m.on_epoch_start(epoch)
            w, y_star = m.weights_and_targets(batch, s, losses)
            torch.testing.assert_close(w, torch.ones(3))
            assert torch.equal(y_star, batch["label"]) != on


def test_monotone_in_loss_and_target_between_label_and_prediction():
    y, s, losses, p = _random_batch(500)
    for a, b in [(0.5, 0.5), (1, 1), (2, 2), (3, 0.7)]:
        for name in ("lcd", "lcd_re"):
            m = _active(name, a=a, b=b)
            w, _ = m.mixing_weight(losses)
            order = torch.argsort(losses)
            assert bool((w[order].diff() >= -1e-7).all())  # w non-decreasing in the loss
            assert float(w[order[0]]) == 0.0 and abs(float(w[order[-1]]) - 1.0) < 1e-7
            _, y_star = m.weights_and_targets({"label": y}, s, losses)
            lo, hi = torch.minimum(y, p), torch.maximum(y, p)
            assert bool(((y_star >= lo - 1e-6) & (y_star <= hi + 1e-6)).all())


def test_all_equal_losses_do_not_produce_nan():
    batch, s, losses = _batch([1.0, 1.0, 1.0], [0.5, 0.5, 0.5])
    for name in ("lcd", "lcd_re"):
        m = _active(name, a=0.5, b=0.5)
        w, y_star = m.weights_and_targets(batch, s, losses)
        assert torch.isfinite(y_star).all() and torch.isfinite(w).all()
        torch.testing.assert_close(y_star, batch["label"])  # no ranking information: left uncorrected
        assert m.state()["degenerate_batches"] == 1
    _, y1 = _active("lcd").weights_and_targets({"label": torch.ones(1)}, torch.zeros(1), torch.ones(1))
    assert torch.equal(y1, torch.ones(1))  # a batch of one


def test_defaults_match_the_docstrings():
    lcd, boot = build_method("lcd"), build_method("bootstrap")
    assert (lcd.a, lcd.b, lcd.start_epoch, lcd.start_step) == (1.0, 1.0, 20, None)  # the paper: from epoch 20
    assert (boot.lam, boot.start_epoch) == (0.95, 1)  # Reed et al.'s soft λ, from the first iteration
    with pytest.raises(ConfigError):
        build_method("lcd", start_step=-1)


@pytest.mark.parametrize("name", ["lcd", "lcd_re", "lcd_permuted", "lcd_scale"])
def test_start_step_counts_plain_steps(name):
    batch, s, losses = _batch([1.0, 0.0, 1.0], [2.0, 1.0, -3.0])
    m = build_method(name, a=2, b=2, start_epoch=99, start_step=3)  # start_step wins over start_epoch
    m.on_epoch_start(0)
    corrected = [not torch.equal(m.weights_and_targets(batch, s, losses)[1], batch["label"]) for _ in range(5)]
    assert corrected == [False, False, False, True, True]
    st = m.state()
    assert st["first_corrected_step"] == 4 and st["corrected_steps"] == 2
    resumed = build_method(name, a=2, b=2, start_step=6)  # 5 steps done: a resumed run corrects from step 7
    resumed.load_state_dict(m.state_dict())
    resumed.on_epoch_start(1)
    corrected = [not torch.equal(resumed.weights_and_targets(batch, s, losses)[1], batch["label"]) for _ in range(2)]
    assert corrected == [False, True] and resumed.state()["corrected_steps"] == 3


def test_permuted_control_keeps_the_w_values_but_not_their_order():
    y, s, losses, p = _random_batch(400)
    w, _ = _active("lcd").mixing_weight(losses)
    _, y_star = _active("lcd_permuted").weights_and_targets({"label": y}, s, losses)
    # y* = v·y + (1 - v)·p  =>  v = (y* - p) / (y - p)
    v = (y_star - p) / (y - p)
    torch.testing.assert_close(v.sort().values, w.sort().values, atol=1e-4, rtol=0)  # same multiset of w
    assert (v - w).abs().max() > 0.5  # not tied to the sample's own loss
    assert abs(float(torch.corrcoef(torch.stack([v, losses]))[0, 1])) < 0.2


def test_scale_control_is_a_constant_gradient_scale_that_the_weighted_reduction_keeps():
    batch, s, _ = _batch([1.0, 0.0, 1.0, 0.0, 1.0], [2.0, -1.0, 0.0, 3.0, -0.5])
    s = s.clone().requires_grad_(True)
    y = batch["label"]
    losses = F.binary_cross_entropy_with_logits(s.detach(), y, reduction="none")
    w_lcd, _ = _active("lcd").mixing_weight(losses)
    w, y_star = _active("lcd_scale").weights_and_targets(batch, s, losses)
    per = F.binary_cross_entropy_with_logits(s, y_star, reduction="none")
    loss = (w * per).sum() / w.sum()  # the trainer's default "weighted" reduction
    (grad,) = torch.autograd.grad(loss, s)
    # ∂/∂s = mean(w)·(p - y) / B: every sample's gradient scaled by the same λ = mean(w) < 1
    torch.testing.assert_close(grad, w_lcd.mean() * (torch.sigmoid(s) - y).detach() / len(s))
    assert 0.1 < float(w_lcd.mean()) < 0.9


def test_scale_control_with_a_run_wide_constant():
    batch, s, _ = _batch([1.0, 0.0, 1.0, 0.0, 1.0], [2.0, -1.0, 0.0, 3.0, -0.5])
    s = s.clone().requires_grad_(True)
    y = batch["label"]
    losses = F.binary_cross_entropy_with_logits(s.detach(), y, reduction="none")
    w, y_star = _active("lcd_scale", scale=0.3).weights_and_targets(batch, s, losses)
    loss = (w * F.binary_cross_entropy_with_logits(s, y_star, reduction="none")).sum() / w.sum()
    (grad,) = torch.autograd.grad(loss, s)
    torch.testing.assert_close(grad, 0.3 * (torch.sigmoid(s) - y).detach() / len(s))  # λ = 0.3, not mean(w)
    with pytest.raises(ConfigError):
        build_method("lcd_scale", scale=1.5)


def test_no_gradient_flows_through_the_prediction_in_the_target():
    batch, s, _ = _batch([1.0, 0.0, 1.0, 0.0], [2.0, -1.0, 0.0, 3.0])
    s = s.clone().requires_grad_(True)
    losses = F.binary_cross_entropy_with_logits(s.detach(), batch["label"], reduction="none")
    for name, hp in [("lcd", {"a": 2, "b": 2}), ("lcd_re", {}), ("bootstrap", {"lam": 0.7, "form": "detached"}),
                     ("bootstrap", {"form": "hard"}), ("lcd_scale", {}), ("lcd_permuted", {})]:
        m = _active(name, **hp)
        assert not m.target_grad
        w, y_star = m.weights_and_targets(batch, s, losses)  # even when handed live logits
        assert not y_star.requires_grad
        loss = (w * F.binary_cross_entropy_with_logits(s, y_star, reduction="none")).sum() / w.sum()
        (grad,) = torch.autograd.grad(loss, s)
        torch.testing.assert_close(grad, (torch.sigmoid(s) - y_star).detach() / len(s))  # y* held constant


def _trainer_gradient(method, y, s):
    """The gradient the trainer's step puts on logits ``s`` (a leaf standing in for the model's output)."""
    s = s.clone().requires_grad_(True)
    trainer = Trainer(TrainConfig(progress=False, threads=1))
    step = trainer._step_fn(lambda inputs: s, method, torch.optim.SGD([s], lr=0.0))
    step({"label": y, "cat": torch.zeros(len(y), 1, dtype=torch.int32)})
    return s.grad


def test_bootstrap_soft_trains_through_the_target():
    """Reed et al.'s soft form: L = β·BCE(q, y) + (1 - β)·H(q), gradient β(q - y) - (1 - β)·s·q(1 - q) per row."""
    y, s, _, q = _random_batch(64)
    beta = 0.8
    grad = _trainer_gradient(_active("bootstrap", lam=beta), y, s)
    want = (beta * (q - y) - (1 - beta) * s * q * (1 - q)) / len(y)
    torch.testing.assert_close(grad, want)
    raw = _trainer_gradient(build_method("none"), y, s)
    ratio = grad / raw
    assert ratio.std() > 0.05  # not a constant multiple of raw's (the detached form is: ratio = β everywhere)
    detached = _trainer_gradient(_active("bootstrap", lam=beta, form="detached"), y, s)
    torch.testing.assert_close(detached, beta * raw)
    # the entropy term pushes every prediction away from 0.5: more confident, whatever the label
    entropy_push = (grad - beta * raw) * len(y)
    assert (entropy_push * s <= 0).all() and (entropy_push * s < 0).any()
    torch.testing.assert_close(_trainer_gradient(_active("bootstrap", lam=1.0), y, s), raw)


def test_bootstrap_hard_uses_the_map_class():
    batch, s, losses = _batch([1.0, 0.0, 1.0, 0.0], [2.0, 1.0, -3.0, -0.5])
    w, y_star = _active("bootstrap", form="hard").weights_and_targets(batch, s, losses)
    z = torch.tensor([1.0, 1.0, 0.0, 0.0])  # 1[σ(s) > 0.5]
    torch.testing.assert_close(y_star, 0.8 * batch["label"] + 0.2 * z)  # Reed et al.'s hard β = 0.8
    y, s, _, q = _random_batch(64)
    grad = _trainer_gradient(_active("bootstrap", form="hard", lam=0.6), y, s)
    torch.testing.assert_close(grad, (0.6 * (q - y) + 0.4 * (q - (s > 0).float())) / len(y))


def test_bootstrap_fixed_mixture():
    batch, s, losses = _batch([1.0, 0.0, 1.0], [2.0, 1.0, -3.0])
    m = build_method("bootstrap", lam=0.8)
    m.on_epoch_start(0)  # from the first step
    w, y_star = m.weights_and_targets(batch, s, losses)
    torch.testing.assert_close(y_star, 0.8 * batch["label"] + 0.2 * torch.sigmoid(s))
    _, y1 = _active("bootstrap", lam=1.0).weights_and_targets(batch, s, losses)
    assert torch.equal(y1, batch["label"])
    assert build_method("bootstrap").lam == 0.95 and build_method("bootstrap", form="hard").lam == 0.8
    with pytest.raises(ConfigError):
        build_method("bootstrap", lam=1.5)
    with pytest.raises(ConfigError):
        build_method("bootstrap", form="argmax")


# ---------------------------------------------------------------------------------------------------- T-CE, R-CE
def test_tce_drop_rate_ramps_linearly_to_eps_max():
    m = build_method("tce", eps_max=0.2, eps_n=11)
    rates = [m.drop_rate(t) for t in range(14)]
    torch.testing.assert_close(torch.tensor(rates[:11]), torch.linspace(0, 0.2, 11), rtol=0, atol=1e-7)
    assert rates[11:] == [0.2] * 3  # np.linspace(0, ε_max, ε_N)[t], then ε_max (authors' main.py)
    d = build_method("tce")
    assert (d.eps_max, d.eps_n) == (0.2, 30000)
    with pytest.raises(ConfigError):
        build_method("tce", eps_max=1.0)


def test_tce_drops_the_largest_loss_positives():
    #           y:   1     1     1     0     0     1     0     1     0     0
    batch, s, losses = _batch([1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0],
                              [2.0, -3.0, 0.5, 4.0, -1.0, -1.0, 0.0, 1.0, 3.0, -2.0])
    m = build_method("tce", eps_max=0.2, eps_n=1)  # ε = 0 at step 0 (linspace(0, ε, 1) = [0]), then 0.2
    assert torch.equal(m.weights_and_targets(batch, s, losses)[0], torch.ones(10))
    w, y_star = m.weights_and_targets(batch, s, losses)  # drop 2 of 10
    assert torch.equal(y_star, batch["label"])
    # positives' losses: s = -3 (largest), -1 (second), then 0.5, 1, 2; the negative with s = 4 (largest loss of
    # the batch) is kept: only positives are truncated
    assert w.tolist() == [1, 0, 1, 1, 1, 0, 1, 1, 1, 1]
    m = build_method("tce", eps_max=0.6, eps_n=1)  # 6 to drop, 5 positives: the negatives still stay
    m.weights_and_targets(batch, s, losses)
    w, _ = m.weights_and_targets(batch, s, losses)
    assert torch.equal(w, 1 - batch["label"])
    ramp = build_method("tce", eps_max=0.2, eps_n=3)  # ε = 0, 0.1, 0.2: 0, 1, 2 rows dropped
    assert [int(10 - ramp.weights_and_targets(batch, s, losses)[0].sum()) for _ in range(4)] == [0, 1, 2, 2]
    assert ramp.state_dict()["steps"] == 4
    resumed = build_method("tce", eps_max=0.2, eps_n=3)
    resumed.load_state_dict(ramp.state_dict())
    assert int(10 - resumed.weights_and_targets(batch, s, losses)[0].sum()) == 2


def test_rce_weights_by_the_prediction():
    batch, s, losses = _batch([1.0, 1.0, 0.0, 0.0], [2.0, -2.0, 1.0, -3.0])
    p = torch.sigmoid(s)
    w, y_star = build_method("rce", beta=0.5).weights_and_targets(batch, s, losses)
    assert torch.equal(y_star, batch["label"])
    torch.testing.assert_close(w, torch.stack([p[0] ** 0.5, p[1] ** 0.5, (1 - p[2]) ** 0.5, (1 - p[3]) ** 0.5]))
    assert w[0] > w[1] and w[3] > w[2]  # the row the model disbelieves counts less, in both classes
    w, _ = build_method("rce", beta=0.5, negatives=False).weights_and_targets(batch, s, losses)
    torch.testing.assert_close(w[2:], torch.ones(2))
    w0, _ = build_method("rce", beta=0.0).weights_and_targets(batch, s, losses)
    assert torch.equal(w0, torch.ones(4))
    assert build_method("rce").beta == 0.2
    y, s, _, q = _random_batch(64)
    grad = _trainer_gradient(build_method("rce", beta=0.25), y, s)
    w = torch.where(y > 0, q ** 0.25, (1 - q) ** 0.25)
    torch.testing.assert_close(grad, w * (q - y) / w.sum())  # weights detached: no gradient through p^β


# ---------------------------------------------------------------------------------------------------- end to end
CFG = dict(epochs=2, batch_size=256, lr=1e-2, progress=False, patience=10, threads=1)


def _data():
    return encode_splits(make_log(), FeatureConfig.from_dict({"sequences": {"hist": {"max_len": 5}}}))


def _run(spec, parts, method):
    torch.manual_seed(0)
    model = build_model("deepfm", spec, embed_dim=8)
    trainer = Trainer(TrainConfig(**CFG))
    trainer.fit(model, parts["train"], parts["valid"], method, spec)
    return trainer, trainer.predict(model, parts["test"]), trainer.split_metrics(model, parts["test"])


def test_lcd_through_the_trainer():
    spec, parts = _data()
    _, base, _ = _run(spec, parts, build_method("none"))
    _, dormant, _ = _run(spec, parts, build_method("lcd", a=2, b=2, start_epoch=99))  # never switched on
    assert torch.equal(base, dormant)
    methods = {"lcd": build_method("lcd", a=0.5, b=0.5, start_epoch=2), "lcd_re": build_method("lcd_re", start_epoch=2),
               "bootstrap": build_method("bootstrap", lam=0.8, start_epoch=2)}
    for method in methods.values():
        trainer, logits, metrics = _run(spec, parts, method)
        assert len(trainer.history) == 2 and torch.isfinite(logits).all() and math.isfinite(metrics["auc_true"])
        assert not torch.equal(logits, base)  # the correction (second epoch only) changed training
    st = methods["lcd"].state()
    assert st["corrected_steps"] == math.ceil(len(parts["train"]) / CFG["batch_size"])  # one epoch's worth
    assert 0 < st["mean_w"] < 1 and st["degenerate_batches"] == 0


def test_lcd_configs_name_real_methods():
    import yaml
    from conftest import ROOT

    files = sorted((ROOT / "configs").glob("lcd*.yaml")) + [ROOT / "configs" / "label_flip_cpu.yaml"]
    assert files
    for f in files:
        cfg = yaml.safe_load(f.read_text())
        for label, hp in cfg["methods"].items():
            hp = dict(hp or {})
            oracle = hp.pop("oracle", False)  # the headroom row: method none on the hidden truth
            build_method(hp.pop("method", "none" if oracle else label), **hp)  # unknown name or hparam: ConfigError
        if f.name.startswith("lcd"):
            assert cfg["train"]["batch_size"] == 8192, f.name  # the paper's batch size (t is normalised per batch)
        for label, hp in cfg["methods"].items():
            if (hp or {}).get("method", label) == "bootstrap":  # Reed et al.'s λ for the form, from the first step
                lam = {"soft": 0.95, "hard": 0.8}[hp.get("form", "soft")]
                assert hp.get("lam", lam) == lam and hp.get("start_epoch", 1) == 1, (f.name, label)
