import math
from pathlib import Path

import pytest
import torch
from conftest import make_log

from denoiserec.data.features import EncodedData, FeatureConfig, encode_splits
from denoiserec.methods import build_method
from denoiserec.methods._attention import (
    AttentionNet,
    PropensityNet,
    Sessions,
    SessionTensors,
    attention_metrics,
    passive_run,
    passive_weight,
    pu_risk,
)
from denoiserec.models import build_model
from denoiserec.train.trainer import TrainConfig, Trainer


@pytest.fixture(autouse=True)
def _one_thread():
    """Small GRU batches run fastest on one thread (and the test machine's cores are shared)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


ATTENTION_METHODS = ["edm", "ndb", "pn", "sar", "uae"]
FAST = {"epochs": 2, "hidden": 16, "embed_dim": 4, "batch_rows": 256}
L2 = math.log(2.0)


def _lp(s):  # -log σ(s)
    return math.log1p(math.exp(-s))


def _ln(s):  # -log(1 - σ(s))
    return math.log1p(math.exp(s))


def test_pu_risk_on_hand_computed_values():
    logits, e, c = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.25, 0.9, 0.5])
    pos = (4 * _lp(2.0)) / 3
    neg = ((1 - 4) * _ln(2.0) + _ln(-1.0) + _ln(0.5)) / 3
    risk, obj = pu_risk(logits, e, c, non_negative=False)
    assert risk.item() == pytest.approx(pos + neg, rel=1e-6) and obj.item() == pytest.approx(pos + neg, rel=1e-6)
    # q = 1/2 everywhere: l+ = l- = log 2; (e/c) = (2, 0) -> R+ = log 2, R- = (-log 2 + log 2) / 2 = 0
    risk, _ = pu_risk(torch.zeros(2), torch.tensor([1.0, 0.0]), torch.tensor([0.5, 0.5]))
    assert risk.item() == pytest.approx(L2)


def test_pu_risk_mask_excludes_padding():
    logits, e, c = torch.tensor([[2.0, -7.0]]), torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, 0.5]])
    risk, _ = pu_risk(logits, e, c, torch.tensor([[True, False]]), non_negative=False)
    assert risk.item() == pytest.approx(2 * _lp(2.0) + (1 - 2) * _ln(2.0), rel=1e-6)


def test_non_negative_correction_clips_and_pushes_the_negative_part_up():
    # all labelled with c = 1/2 at q = 1/2: R+ = 2 log 2, R- = (1 - 2) log 2 = -log 2 < 0
    logits = torch.zeros(2, requires_grad=True)
    e, c = torch.ones(2), torch.full((2,), 0.5)
    raw, _ = pu_risk(logits, e, c, non_negative=False)
    risk, obj = pu_risk(logits, e, c)
    assert raw.item() == pytest.approx(L2)
    assert risk.item() == pytest.approx(2 * L2)  # negative part clipped at zero
    assert obj.item() == pytest.approx(L2)  # objective = -R-
    obj.backward()
    # d(-R-)/ds = -(1 - 2)·σ(s)/2 = +1/4: the step lowers s, raising l-(q) and R- back towards 0
    assert torch.allclose(logits.grad, torch.full((2,), 0.25))
    # R- >= 0: the objective is the plain risk
    risk, obj = pu_risk(torch.zeros(2), torch.tensor([1.0, 0.0]), torch.tensor([0.5, 0.5]))
    assert obj.item() == pytest.approx(risk.item())


def test_passive_weight_formula():
    w = passive_weight(torch.tensor([0.0, 1.0, 0.5, 0.2]), torch.tensor([0.0, 0.0, 1.0, 0.0]), gamma=2.0)
    assert torch.allclose(w, torch.tensor([0.0, 0.75, 1.0, 1 - 1.2 ** -2]))


def test_passive_run_and_edm():
    e = torch.tensor([[1.0, 0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0]])
    assert passive_run(e).tolist() == [[0, 0, 1, 2, 0], [0, 1, 2, 0, 1]]
    data = EncodedData({
        "session": torch.tensor([0, 0, 0, 0, 1, 1]), "position": torch.tensor([3, 1, 0, 2, 1, 0]),
        "active": torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0, 0.0]), "label": torch.zeros(6),
        "cat": torch.zeros(6, 1, dtype=torch.int32), "num": torch.zeros(6, 0)})
    alpha = build_method("edm", decay=0.5).estimate(data, None, "cpu")
    # session 0 in order: positions 0..3 = rows 2, 1, 3, 0 with e = 0, 1, 0, 0
    assert alpha.tolist() == [0.25, 1.0, 0.5, 0.5, 0.25, 0.5]


def test_sessions_cover_every_row_in_order():
    spec, parts = encode_splits(make_log(), FeatureConfig())
    train = parts["train"]
    s = Sessions(train, batch_rows=64)
    idx = torch.cat([i[i >= 0] for i in s.index])
    assert sorted(idx.tolist()) == list(range(len(train)))
    for i in s.index:
        assert i.numel() <= 64 or i.shape[0] == 1
        valid = i >= 0
        assert (valid[:, :-1] | ~valid[:, 1:]).all()  # right padded
        rows = i.clamp_min(0)
        sess, pos = train["session"][rows], train["position"][rows]
        assert ((sess == sess[:, :1]) | ~valid).all()
        assert ((pos[:, 1:] > pos[:, :-1]) | ~valid[:, 1:]).all()


def test_networks_shapes_and_causality():
    spec, parts = encode_splits(make_log(), FeatureConfig())
    data = SessionTensors(parts["train"], "cpu")
    b = data.batch(Sessions(parts["train"], 256).index[0])
    g, h = AttentionNet(spec, 4, 8), PropensityNet(spec, 4, 8)
    ga, ha = g(b), h(b)
    assert ga.shape == b["mask"].shape == ha.shape
    # a change at the last step never changes earlier outputs (so right padding is harmless)
    b2 = {**b, "cat": b["cat"].clone(), "e": b["e"].clone()}
    b2["cat"][:, -1] = 0
    b2["e"][:, -1] = 1 - b2["e"][:, -1]
    assert torch.allclose(g(b2)[:, :-1], ga[:, :-1]) and torch.allclose(h(b2)[:, :-1], ha[:, :-1])


def test_alternating_steps_update_only_the_intended_network():
    spec, parts = encode_splits(make_log(), FeatureConfig())
    uae = build_method("uae", **FAST)
    uae.build(spec, "cpu")
    b = SessionTensors(parts["train"], "cpu").batch(Sessions(parts["train"], 256).index[0])

    def snap(net):
        return [p.detach().clone() for p in net.parameters()]

    def same(net, before):
        return all(torch.equal(p, q) for p, q in zip(net.parameters(), before, strict=True))

    g0, h0 = snap(uae.g), snap(uae.h)
    uae.step_attention(b)
    assert not same(uae.g, g0) and same(uae.h, h0)
    g1 = snap(uae.g)
    uae.step_propensity(b)
    assert same(uae.g, g1) and not same(uae.h, h0)


@pytest.mark.parametrize("name", ATTENTION_METHODS)
def test_methods_fit_and_weight_through_the_trainer(name):
    spec, parts = encode_splits(make_log(n_users=30), FeatureConfig())
    train = parts["train"]
    method = build_method(name, **({} if name == "edm" else FAST))
    model = build_model("deepfm", spec, embed_dim=4, hidden=(16,))
    trainer = Trainer(TrainConfig(epochs=1, batch_size=128, progress=False))
    trainer.fit(model, train, None, method, spec)
    device = trainer.device  # CUDA when visible: the method's weights live on the trainer's device
    a, w = method.attention.cpu(), method.weights
    assert w.device.type == device.type
    w = w.cpu()
    assert a.shape == w.shape == (len(train),) and ((a >= 0) & (a <= 1)).all()
    active = train["active"] > 0.5
    assert (w[active] == 1).all() and ((w[~active] >= 0) & (w[~active] <= 1)).all()
    batch = next(train.to(device).batches(50, shuffle=True, generator=torch.Generator().manual_seed(1)))
    zeros = torch.zeros(50, device=device)
    wb, y = method.weights_and_targets(batch, zeros, zeros)
    assert wb.device.type == device.type
    assert torch.equal(wb.cpu(), w[batch["index"].cpu()]) and torch.equal(y, batch["label"])
    assert method.state()["gamma"] == 15.0


def test_attention_metrics_on_known_truth():
    t = {"true_attention": torch.tensor([1.0, 0.0, 1.0, 0.0]), "active": torch.tensor([1.0, 0.0, 0.0, 0.0]),
         "feedback": torch.tensor([3, 2, 2, 2])}
    m = attention_metrics(torch.tensor([0.1, 0.2, 0.9, 0.3]), t)
    assert m["att_auc_passive"] == 1.0 and m["att_auc"] == 1.0 and m["att_auc_raw"] == 0.5
    assert attention_metrics(torch.zeros(2), {"active": torch.zeros(2)}) == {}


def test_uae_attention_beats_chance_on_simulated_log():
    sim = pytest.importorskip("denoiserec.data.simulate")
    df = sim.simulate(sim.SimConfig(users=80, items=400, artists=80, seed=3))
    spec, parts = encode_splits(df.with_columns(split=0), FeatureConfig())
    method = build_method("uae", epochs=5, hidden=16, batch_rows=512)
    method.fit(parts["train"], spec, "cpu")
    state = method.state()
    assert state["att_auc_passive"] > 0.6, state


def test_quick_config_is_valid():
    from denoiserec.experiment import load_config

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "uae_quick.yaml")
    assert set(cfg["methods"]) == {"none", *ATTENTION_METHODS}


def test_calibration_bins():
    from denoiserec.methods._attention import calibration

    pred = torch.tensor([0.05, 0.05, 0.95, 0.95, 0.55])
    truth = torch.tensor([0.0, 1.0, 1.0, 1.0, 0.0])
    assert calibration(pred, truth) == [[pytest.approx(0.05), 0.5, 2], [pytest.approx(0.55), 0.0, 1],
                                        [pytest.approx(0.95), 1.0, 2]]
