import math
from functools import partial
from pathlib import Path

import pytest
import torch
from conftest import make_log

from denoiserec.data.encoder import encode_splits
from denoiserec.data.features import FeatureConfig
from denoiserec.errors import ConfigError
from denoiserec.eval.truth import attention_metrics
from denoiserec.methods import build_method
from denoiserec.methods._attention import passive_weight, pu_risk, reweighted_rows
from denoiserec.methods._sessions import Sessions, SessionTensors, passive_run
from denoiserec.models import build_model
from denoiserec.nn.attention import AttentionNet, PropensityNet
from denoiserec.train.encoded import EncodedData, batchable
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
#: UAE's att_auc_passive on the small simulated log below: 0.672 (torch seed 0; 0.698 and 0.705 with seeds 1, 2);
#: EDM's fixed decay reaches 0.810 there, SAR 0.682-0.691 (docs/results/uae_sim.md).
UAE_AUC_BAR = 0.65


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
    w = passive_weight(torch.tensor([0.0, 1.0, 0.5, 0.2]), torch.tensor([True, True, False, True]), gamma=2.0)
    assert torch.allclose(w, torch.tensor([0.0, 0.75, 1.0, 1 - 1.2 ** -2]))


def test_passive_set_is_passive_positives_by_default():
    active, label = torch.tensor([0.0, 0.0, 1.0, 1.0]), torch.tensor([1.0, 0.0, 1.0, 0.0])  # autoplay, unplayed, ...
    assert reweighted_rows(active, label).tolist() == [True, False, False, False]
    assert reweighted_rows(active, label, "all").tolist() == [True, True, False, False]
    with pytest.raises(ConfigError):
        build_method("uae", passive="some")


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


def _uae_batch(**hp):
    spec, parts = encode_splits(make_log(), FeatureConfig())
    uae = build_method("uae", **{**FAST, **hp})
    uae.build(spec, "cpu")
    b = SessionTensors(parts["train"], "cpu").batch(Sessions(parts["train"], 256).index[0])
    assert b["mask"].all() and b["mask"].shape[1] >= 5  # full sessions: every position below is real
    return uae, b


def _outputs(uae, b):
    with torch.no_grad():
        return uae.g(b), uae.propensity_logits(b)


@pytest.mark.parametrize("feedback_input", [False, True])
def test_no_leak_of_e_t_into_g_or_h_at_step_t(feedback_input):
    uae, b = _uae_batch(feedback_input=feedback_input)
    ga, ha = _outputs(uae, b)
    assert ga.shape == b["mask"].shape == ha.shape
    k = 2
    b2 = {**b, "e": b["e"].clone()}
    b2["e"][:, k] = 1 - b2["e"][:, k]  # flip the feedback at step k only
    ga2, ha2 = _outputs(uae, b2)
    # g(X_t) and h(X_t, E_{t-1}) at steps <= k do not see e_k ...
    assert torch.equal(ga2[:, :k + 1], ga[:, :k + 1]) and torch.equal(ha2[:, :k + 1], ha[:, :k + 1])
    # ... h sees it at step k + 1 (E_k) and, through GRU_2 over e_1..e_{t-1}, later (E_{k+1} holds e_k); g does
    # only when it reads feedback (feedback_input)
    assert not torch.allclose(ha2[:, k + 1], ha[:, k + 1]) and not torch.allclose(ha2[:, k + 2], ha[:, k + 2])
    assert torch.allclose(ga2[:, k + 1:], ga[:, k + 1:]) != feedback_input


def test_h_reads_the_feature_history_and_the_future_never_reaches_back():
    uae, b = _uae_batch()
    ga, ha = _outputs(uae, b)
    k = 1
    b2 = {**b, "cat": b["cat"].clone(), "num": b["num"].clone()}
    b2["cat"][:, k] = (b2["cat"][:, k] + 1) % 3  # change x_k only
    b2["num"][:, k] = b2["num"][:, k] + 5.0
    ga2, ha2 = _outputs(uae, b2)
    assert torch.equal(ha2[:, :k], ha[:, :k]) and torch.equal(ga2[:, :k], ga[:, :k])  # causal
    # p_t = h(X_t, E_{t-1}) depends on x_1..x_t through z_1, GRU_1's summary of the feature history (Eq. 12):
    # on the play's own x_t (kills h reading z_1 only up to x_{t-1}) and on the earlier ones
    assert (ha2[:, k] - ha[:, k]).abs().max() > 1e-5
    assert (ha2[:, k + 1] - ha[:, k + 1]).abs().max() > 1e-5
    assert (ga2[:, k + 1] - ga[:, k + 1]).abs().max() > 1e-5


def test_networks_alone():
    spec, parts = encode_splits(make_log(), FeatureConfig())
    b = SessionTensors(parts["train"], "cpu").batch(Sessions(parts["train"], 256).index[0])
    g, sar_h = AttentionNet(spec, 4, 8), PropensityNet(spec, 4, 8, sequential=False)
    assert g.summary(b).shape == (*b["mask"].shape, 8) and sar_h(b).shape == b["mask"].shape
    with pytest.raises(ValueError):
        PropensityNet(spec, 4, 8)(b)  # the sequential h needs g's z_1


def _set_output_bias(net, value):
    with torch.no_grad():
        net.mlp.net[-1].bias.fill_(value)
        net.mlp.net[-1].weight.mul_(0.01)


def test_each_risk_divides_by_the_other_networks_estimate():
    """R_att divides e by the propensity p (Eq. 16), R_pro by the attention α (Eq. 17): with p ≈ 0.95 and α ≈
    0.12 the two choices give different risks, so swapping either denominator fails here."""
    uae, b = _uae_batch(clip=0.01)
    _set_output_bias(uae.h, 3.0)  # p ≈ 0.95
    _set_output_bias(uae.g, -2.0)  # α ≈ 0.12
    with torch.no_grad():
        s_g, s_h = uae.g(b), uae.propensity_logits(b)
    p, alpha = torch.sigmoid(s_h).clamp_min(0.01), torch.sigmoid(s_g).clamp_min(0.01)
    want_att, _ = pu_risk(s_g, b["e"], p, b["mask"])
    swapped_att, _ = pu_risk(s_g, b["e"], alpha, b["mask"])
    want_pro, _ = pu_risk(s_h, b["e"], alpha, b["mask"])
    swapped_pro, _ = pu_risk(s_h, b["e"], p, b["mask"])
    assert abs(float(want_att - swapped_att)) > 0.1 and abs(float(want_pro - swapped_pro)) > 0.1
    got_att = uae.step_attention(b)  # the risk before its update
    assert float(got_att) == pytest.approx(float(want_att), rel=1e-5)
    with torch.no_grad():  # g moved; recompute what h's step sees
        s_g, s_h = uae.g(b), uae.propensity_logits(b)
    want_pro, _ = pu_risk(s_h, b["e"], torch.sigmoid(s_g).clamp_min(0.01), b["mask"])
    assert float(uae.step_propensity(b)) == pytest.approx(float(want_pro), rel=1e-5)


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
    assert not any(p in set(uae.h.parameters()) for p in uae.g.parameters())  # GRU_1 is Θ_g only
    uae.step_attention(b)
    assert not same(uae.g, g0) and same(uae.h, h0)
    g1 = snap(uae.g)
    uae.step_propensity(b)
    assert same(uae.g, g1) and not same(uae.h, h0)


def test_clip_floors_both_denominators():
    """``clip`` floors p in R_att and α in R_pro (the divisions e/p, e/α): with both estimates near 0.002, the
    risks equal pu_risk with c = clip, and differ from the unclipped ones."""
    uae, b = _uae_batch(clip=0.05)
    _set_output_bias(uae.h, -6.0)
    _set_output_bias(uae.g, -6.0)
    with torch.no_grad():
        s_g, s_h = uae.g(b), uae.propensity_logits(b)
    assert torch.sigmoid(s_g).max() < 0.01 and torch.sigmoid(s_h).max() < 0.01
    floor = torch.full_like(s_g, 0.05)
    want_att, _ = pu_risk(s_g, b["e"], floor, b["mask"])
    raw_att, _ = pu_risk(s_g, b["e"], torch.sigmoid(s_h), b["mask"])
    assert abs(float(want_att - raw_att)) > 0.1
    assert float(uae.step_attention(b)) == pytest.approx(float(want_att), rel=1e-5)
    with torch.no_grad():
        s_g, s_h = uae.g(b), uae.propensity_logits(b)
    assert torch.sigmoid(s_g).max() < 0.05  # still below the floor after g's one step
    want_pro, _ = pu_risk(s_h, b["e"], floor, b["mask"])
    assert float(uae.step_propensity(b)) == pytest.approx(float(want_pro), rel=1e-5)


def _reference_epoch(uae, sessions, data, order):
    """Algorithm 1 written step by step, one network forward per use (the estimator loop before the passes
    were shared): per batch of sessions, n_att steps of g with p = h(X, E) recomputed, then n_pro steps of h,
    each with g's z_1 and α recomputed."""
    floor = uae._floor()
    for i in order.tolist():
        b = data.batch(sessions.index[i])
        for _ in range(uae.n_att):
            with torch.no_grad():
                p = torch.sigmoid(uae.propensity_logits(b)).clamp_min(floor)
            _, obj = pu_risk(uae.g(b), b["e"], p, b["mask"], uae.non_negative)
            uae.opt_g.zero_grad(set_to_none=True)
            obj.backward()
            uae.opt_g.step()
        for _ in range(uae.n_pro):
            with torch.no_grad():
                z1 = uae.g.summary(b)
                alpha = torch.sigmoid(uae.g.mlp(z1).squeeze(-1)).clamp_min(floor)
            _, obj = pu_risk(uae.propensity_logits(b, z1), b["e"], alpha, b["mask"], uae.non_negative)
            uae.opt_h.zero_grad(set_to_none=True)
            obj.backward()
            uae.opt_h.step()


@pytest.mark.parametrize("name", ["uae", "sar"])
def test_estimator_epoch_equals_the_step_by_step_reference(name):
    """The epoch loop shares g's forward passes between h's and g's steps; the estimates equal Algorithm 1
    written step by step from the same initialisation (tolerance 1e-5 on α, float32 summation order)."""
    spec, parts = encode_splits(make_log(n_users=30), FeatureConfig())
    train = parts["train"]
    sessions, data = Sessions(train, 256), SessionTensors(train, "cpu")
    order = torch.randperm(len(sessions), generator=torch.Generator().manual_seed(0))
    got = []
    for run in ("epoch", "reference"):
        torch.manual_seed(0)
        uae = build_method(name, **{**FAST, "n_pro": 2})
        uae.build(spec, "cpu")
        (uae.train_epoch if run == "epoch" else partial(_reference_epoch, uae))(sessions, data, order)
        got.append((uae.predict_attention(sessions, data), torch.sigmoid(uae.propensity_logits(
            data.batch(sessions.index[0])).detach())))
    assert torch.allclose(got[0][0], got[1][0], atol=1e-5) and torch.allclose(got[0][1], got[1][1], atol=1e-5)
    assert not torch.allclose(got[0][0], torch.full_like(got[0][0], float(got[0][0].mean())))  # it learned


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
    batch = next(batchable(train.to(device)).batches(50, shuffle=True, generator=torch.Generator().manual_seed(1)))
    zeros = torch.zeros(50, device=device)
    wb, y = method.weights_and_targets(batch, zeros, zeros)
    assert wb.device.type == device.type
    assert torch.equal(wb.cpu(), w[batch["index"].cpu()]) and torch.equal(y, batch["label"])
    state = method.state()
    assert state["gamma"] == 15.0 and state["passive"] == "positive"
    assert not any(k.startswith("att_") for k in state)  # the truth is scored outside the method
    by_kind = state["mean_weight_by_kind"]
    assert by_kind["unplayed"] == by_kind["like"] == by_kind["skip"] == 1.0  # only autoplay is re-weighted
    assert 0 <= by_kind["autoplay"] < 1
    if name == "pn":
        assert by_kind["autoplay"] == 0.0  # the paper's PN: passive attention 0 -> weight 0


def test_pn_classifier_variant_and_the_old_passive_set():
    spec, parts = encode_splits(make_log(n_users=30), FeatureConfig())
    train = parts["train"]
    pn = build_method("pn", classifier=True, passive="all", **FAST)
    pn.fit(train, spec, "cpu")
    by_kind = pn.state()["mean_weight_by_kind"]
    assert 0 < by_kind["autoplay"] < 1 and 0 < by_kind["unplayed"] < 1 and by_kind["like"] == 1.0


def test_attention_metrics_on_known_truth():
    t = {"true_attention": torch.tensor([1.0, 0.0, 1.0, 0.0]), "active": torch.tensor([1.0, 0.0, 0.0, 0.0]),
         "feedback": torch.tensor([3, 2, 2, 2])}
    m = attention_metrics(torch.tensor([0.1, 0.2, 0.9, 0.3]), t)
    assert m["att_auc_passive"] == 1.0 and m["att_auc"] == 1.0 and m["att_auc_raw"] == 0.5
    assert attention_metrics(torch.zeros(2), {"active": torch.zeros(2)}) == {}


def test_uae_attention_on_simulated_log():
    """UAE's attention on passive plays that were heard, against the hidden truth: the bar is what UAE reaches
    here (see ``UAE_AUC_BAR``), well above chance."""
    sim = pytest.importorskip("denoiserec.data.simulate")
    df = sim.simulate(sim.SimConfig(users=80, items=400, artists=80, seed=3))
    spec, parts = encode_splits(df.with_columns(split=0), FeatureConfig())
    torch.manual_seed(0)
    method = build_method("uae", epochs=5, hidden=16, batch_rows=512)
    method.fit(parts["train"], spec, "cpu")
    m = attention_metrics(method.attention, parts["train"].tensors)
    assert m["att_auc_passive"] > UAE_AUC_BAR, m


def test_h_finds_a_history_dependent_propensity_that_sar_cannot():
    """Known answer (b): with ``propensity_history`` κ = 0.8 an attentive user acts 5 times as often after an
    action as after a passive play, and attention depends on the features only (λ = 1). UAE's h reads E_{t-1}
    and finds the ratio (3.4-4.1 over torch seeds 0-2 here); SAR's feature-only h stays near 1 (1.00-1.01).
    The size is in docs/results/uae_sim.md."""
    sim = pytest.importorskip("denoiserec.data.simulate")
    df = sim.simulate(sim.SimConfig(users=40, items=400, artists=80, seed=3, attention_history=1.0,
                                    propensity_history=0.8))
    spec, parts = encode_splits(df.with_columns(split=0), FeatureConfig())
    ratio = {}
    for name in ("uae", "sar"):
        torch.manual_seed(0)
        method = build_method(name, epochs=3, hidden=16, batch_rows=512)
        method.fit(parts["train"], spec, "cpu")
        state = method.state()
        ratio[name] = state["propensity_after_active"] / state["propensity_after_passive"]
    assert ratio["uae"] > 2.5 and ratio["sar"] < 1.5, ratio


def test_quick_config_is_valid():
    from denoiserec.experiment import load_config

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "uae_quick.yaml")
    assert set(cfg["methods"]) == {"none", "pn_classifier", *ATTENTION_METHODS}


def test_calibration_bins():
    from denoiserec.eval.truth import calibration

    pred = torch.tensor([0.05, 0.05, 0.95, 0.95, 0.55])
    truth = torch.tensor([0.0, 1.0, 1.0, 1.0, 0.0])
    assert calibration(pred, truth) == [[pytest.approx(0.05), 0.5, 2], [pytest.approx(0.55), 0.0, 1],
                                        [pytest.approx(0.95), 1.0, 2]]


def test_attention_on_held_out_sessions(tmp_path, monkeypatch):
    """Attention scored on the test period's own sessions beside the training rows: g's estimate on rows it was not
    trained on, given without their truth; the rule-based EDM and PN(w = 0) apply their rule to the rows' actions."""
    import json

    import denoiserec.methods.uae as uae_module
    from denoiserec.experiment import check_config, run_experiment
    from denoiserec.report.ctr import summarize

    seen = []

    class Spy(uae_module.UAE):  # records what attention_on is given
        def attention_on(self, rows):
            seen.append(set(rows.tensors))
            return super().attention_on(rows)

    monkeypatch.setattr(uae_module, "METHOD", Spy)
    cfg = check_config({"name": "t", "data": {"simulate": {"users": 40, "items": 300, "artists": 60, "seed": 3}},
                        "seeds": [0], "train": {"epochs": 1, "batch_size": 512},
                        "models": {"deepfm": {"embed_dim": 4, "hidden": [8]}},
                        "methods": {"none": {}, "edm": {}, "pn": {}, "uae": {**FAST, "epochs": 1}}})
    run_experiment(cfg, tmp_path / "o", progress=False)
    state = {m: json.loads((tmp_path / "o" / "runs" / f"deepfm__{m}__seed0.json").read_text())["method_state"]
             for m in ("none", "edm", "pn", "uae")}
    assert not any(k.startswith("att_") for k in state["none"])
    for m in ("edm", "pn", "uae"):
        assert 0 <= state[m]["att_auc_passive_heldout"] <= 1 and "att_auc_passive_played_heldout" in state[m]
    assert state["pn"]["att_auc_passive_heldout"] == 0.5  # α = e: every passive row 0
    assert state["edm"]["att_auc_passive_heldout"] > 0.6  # the decay rule on the test rows' own actions
    assert seen and not any(k.startswith("true_") for k in seen[0])  # the method never gets the truth
    rows = summarize([json.loads(f.read_text()) for f in (tmp_path / "o" / "runs").glob("*.json")], "none")
    assert all("att_auc_passive_heldout" in r for r in rows if r["method"] != "none")
    text = (tmp_path / "o" / "report.md").read_text()
    assert "att_auc_passive_heldout" in text
    # the per-kind table: mean α / mean w of every attention method, 1 seed -> plain means
    edm = state["edm"]
    alpha, w = edm["mean_attention_by_kind"]["autoplay"], edm["mean_weight_by_kind"]["autoplay"]
    assert 0 < alpha < 1 and 0 < w < 1 and f"{alpha:.3f}" != f"{w:.3f}"
    section = text.split("## Attention and passive weight per feedback kind")[1].splitlines()
    row = next(line for line in section if line.startswith("| deepfm | edm | 1 |"))
    head = next(line for line in section if "α / w: autoplay" in line).split(" | ")
    assert row.split(" | ")[head.index("α / w: autoplay")] == f"{alpha:.3f} / {w:.3f}"
    assert state["pn"]["mean_attention_by_kind"]["autoplay"] == 0
    assert not any(line.startswith("| deepfm | none |") for line in section)


@pytest.mark.parametrize("name", ["ndb", "uae"])
def test_attention_on_training_rows_is_the_fitted_attention(name):
    """g applied through ``attention_on`` to the rows it was fitted on gives back its in-sample estimate, and on
    other rows g's own output (not the actions, not a constant)."""
    spec, parts = encode_splits(make_log(n_users=30), FeatureConfig())
    torch.manual_seed(0)
    method = build_method(name, **FAST)
    method.fit(parts["train"], spec, "cpu")
    assert torch.allclose(method.attention_on(parts["train"]), method.attention, atol=1e-6)
    test = parts["test"]
    alpha = method.attention_on(test)
    assert alpha.shape == (len(test),) and alpha.std() > 0
    sessions = Sessions(test, 256)
    b = SessionTensors(test, "cpu").batch(sessions.index[0])
    with torch.no_grad():
        expect = torch.sigmoid(method.g(b))[b["mask"]]
    assert torch.allclose(alpha[b["index"][b["mask"]]], expect, atol=1e-6)


def test_grid_config_covers_the_papers_grid():
    """configs/uae_grid_cpu.yaml: hidden {64, 128, 256} x lr {1e-2, 1e-3} (+ (64, 1e-4)), all selected on validation."""
    from denoiserec.experiment import load_config

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "uae_grid_cpu.yaml")
    grid = {(hp.get("hidden", 64), hp.get("lr", 1e-3)) for name, hp in cfg["methods"].items() if name != "none"}
    assert {(h, lr) for h in (64, 128, 256) for lr in (1e-2, 1e-3)} | {(64, 1e-4)} == grid
    assert set(cfg["select"]["uae_best"]) == set(cfg["methods"]) - {"none"}
    assert cfg["methods"]["uae"] == {"gamma": 15, "epochs": 5, "hidden": 64}  # the earlier runs keep their names
