"""The CTR model zoo: every model builds, gives logits [B], back-propagates, pins its interaction equation, and
-- through the real Trainer -- beats an item-popularity baseline's AUC on held-out rows of three data sets."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from conftest import make_log

from denoiserec.data.encoder import encode_splits
from denoiserec.data.features import FeatureConfig
from denoiserec.data.split import split
from denoiserec.eval.metrics import auc
from denoiserec.models import MODELS, SEQUENCE_MODELS, build_model
from denoiserec.models.autoint import InteractingLayer
from denoiserec.models.xdeepfm import CIN
from denoiserec.nn.layers import CrossNetwork
from denoiserec.train.encoded import batchable
from denoiserec.train.trainer import TrainConfig, Trainer

#: Registered models trained and checked in another test file instead of this one's zoo (their inputs are behaviour
#: sequences), by registry name; every other registered model is in :data:`ZOO`.
ELSEWHERE = {name: "test_dumn.py" for name in (*SEQUENCE_MODELS, "popularity")}
ZOO = [name for name in MODELS if name not in ELSEWHERE]
#: Small widths keep the file fast; the code paths are the defaults' (paper sizes are checked in test_defaults).
SMALL = {"widedeep": {"hidden": (64, 32)}, "youtubenet": {"hidden": (64, 32)}, "deepfm": {"hidden": (64, 32)},
         "xdeepfm": {"hidden": (64, 32), "cin_layers": (16, 16)}, "dcn": {"hidden": (64, 32)},
         "dcnv2": {"hidden": (64, 32)}, "autoint": {"layers": 2, "head_dim": 8}, "pnn": {"hidden": (64, 32)}}
#: Extra hyper-parameter variants per registered model, each run through the forward/backward check.
VARIANTS = {"youtubenet": [{"score": "dot"}], "dcnv2": [{"structure": "stacked"}, {"rank": 4}],
            "pnn": [{"product": "outer"}, {"product": "both"}],
            "autoint": [{"scaled": True, "hidden": (16,)}, {"residual": False}],
            "xdeepfm": [{"split_half": False, "cin_layers": (6, 5, 4)}]}
FEATURES = {"sequences": {"hist": {"max_len": 10}}}
MARGIN = 0.01  # a model must beat popularity's test AUC by at least this much


def temporal_split(df: pl.DataFrame) -> pl.DataFrame:
    """Per user in time order (as make_log): the last 20 % of the rows are test, the 10 % before them valid."""
    return split(df, how="user_temporal", fractions=(0.7, 0.1, 0.2))


def popularity_auc(df: pl.DataFrame) -> float:
    """Test AUC of the item's click rate on train, smoothed towards the global rate: ``(c_i + 2 ȳ) / (n_i + 2)``."""
    train = df.filter(pl.col("split") == 0)
    g = train["label"].mean()
    ctr = train.group_by("item").agg(c=pl.col("label").sum(), n=pl.len())
    test = df.filter(pl.col("split") == 2).join(ctr, on="item", how="left")
    p = (test["c"].fill_null(0) + 2 * g) / (test["n"].fill_null(0) + 2)
    return auc(torch.tensor(p.to_numpy()), torch.tensor(test["label"].to_numpy().astype(np.float32)))


def _prepare(df: pl.DataFrame):
    spec, parts = encode_splits(df, FeatureConfig.from_dict(FEATURES))
    return spec, parts, popularity_auc(df)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """The trainer runs single-threaded here (tiny batches; the CI box is shared); restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def toy():
    return _prepare(make_log())


@pytest.fixture(scope="module")
def simulated():
    sim = pytest.importorskip("denoiserec.data.simulate")
    cfg = sim.SimConfig(users=600, items=800, artists=100, sessions=4, min_len=5, max_len=15)  # ~24k rows
    return _prepare(temporal_split(sim.simulate(cfg)))


@pytest.fixture(scope="module")
def kuairand():
    from conftest import shared_data_dir

    from denoiserec.data import sources

    path = shared_data_dir()
    if path is None or not (path / "kuairand").is_dir():
        pytest.skip("KuaiRand sample (../shared/data/kuairand) is not present")
    if not hasattr(sources, "read"):
        pytest.skip("the KuaiRand adapter (denoiserec.data.sources) has not landed")
    df = sources.read("kuairand", path / "kuairand")
    df = df.filter(pl.col("user").is_in(df["user"].unique().sort()[:150].implode()))  # ~9k rows
    return _prepare(temporal_split(df))


def _model(name: str, spec, **hp) -> torch.nn.Module:
    return build_model(name, spec, **{**SMALL.get(name, {}), **hp})


def _batch(parts, n: int = 32) -> dict[str, torch.Tensor]:
    return next(batchable(parts["train"]).batches(n))


@pytest.mark.parametrize("name,hp", [(m, {}) for m in ZOO] + [(m, hp) for m, hps in VARIANTS.items() for hp in hps])
def test_forward_shape_and_backward(toy, name, hp):
    spec, parts, _ = toy
    model = _model(name, spec, **hp)
    batch = _batch(parts)
    out = model(batch)
    assert out.shape == (32,) and out.dtype == torch.float32 and torch.isfinite(out).all()
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"parameters without gradient: {missing}"
    assert model.embed.table.weight.grad.abs().sum() > 0 if hasattr(model, "embed") else True


def test_every_registered_model_is_covered():
    """Each registered model is in this file's zoo or named in the file that checks it; no list names a model
    the registry does not have."""
    assert set(ZOO) | set(ELSEWHERE) == set(MODELS) and not set(ZOO) & set(ELSEWHERE)
    assert set(SMALL) | set(VARIANTS) <= set(ZOO)
    assert "SEQ_MODELS = list(SEQUENCE_MODELS)" in (Path(__file__).parent / "test_dumn.py").read_text()
    assert '"popularity"' in (Path(__file__).parent / "test_dumn.py").read_text()


def test_defaults_are_paper_sizes(toy):
    spec, _, _ = toy
    for name in ZOO:
        model = build_model(name, spec)
        if hasattr(model, "embed"):
            assert model.embed.dim == 8, name
        mlps = [m for m in model.modules() if type(m).__name__ == "MLP"]
        for m in mlps:
            widths = [layer.out_features for layer in m.net if isinstance(layer, torch.nn.Linear)]
            assert widths[:3] == [256, 128, 64], (name, widths)


def test_bad_options_raise(toy):
    spec, _, _ = toy
    for name, hp in [("dcnv2", {"structure": "x"}), ("pnn", {"product": "x"}), ("youtubenet", {"score": "x"})]:
        with pytest.raises(ValueError):
            build_model(name, spec, **hp)


# --- the interaction equations against naive loops -------------------------------------------------------------

def test_cross_network_v1_and_v2_equations():
    torch.manual_seed(1)
    x0 = torch.randn(5, 6)
    net = CrossNetwork(6, 2, kind="vector")
    with torch.no_grad():
        net.b.normal_()
    x = x0
    for w, b in zip(net.w, net.b, strict=True):  # x_{l+1} = x0 x_lᵀ w + b + x_l, row by row
        x = torch.stack([x0[r] * torch.dot(x[r], w) + b + x[r] for r in range(5)])
    assert torch.allclose(net(x0), x, atol=1e-5)
    net2 = CrossNetwork(6, 2, kind="matrix")
    x = x0
    for lin in net2.maps:
        x = x0 * (x @ lin.weight.T + lin.bias) + x
    assert torch.allclose(net2(x0), x, atol=1e-5)


def test_cin_equation():
    torch.manual_seed(2)
    b, m, d = 3, 4, 5
    x0 = torch.randn(b, m, d)
    cin = CIN(m, (6, 4), split_half=True)
    # naive: X^k_{h,*} = Σ_i Σ_j W^{k,h}_{ij} (X^{k-1}_{i,*} ∘ X^0_{j,*}) + bias, then sum over D
    x, pooled = x0, []
    for k, conv in enumerate(cin.convs):
        w = conv.weight.squeeze(-1).view(conv.out_channels, x.shape[1], m)
        out = torch.zeros(b, conv.out_channels, d)
        for h in range(conv.out_channels):
            for i in range(x.shape[1]):
                for j in range(m):
                    out[:, h] += w[h, i, j] * x[:, i] * x0[:, j]
            out[:, h] += conv.bias[h]
        if k < len(cin.convs) - 1:
            pooled.append(out[:, :3].sum(-1))
            x = out[:, 3:]
        else:
            pooled.append(out.sum(-1))
    assert cin.out_dim == 3 + 4
    assert torch.allclose(cin(x0), torch.cat(pooled, 1), atol=1e-4)


def test_autoint_attention_equation():
    torch.manual_seed(3)
    layer = InteractingLayer(in_dim=4, head_dim=3, heads=2)
    x = torch.randn(2, 5, 4)
    wq, wk, wv = layer.qkv.weight.view(3, 2, 3, 4)  # [q/k/v, head, d', in]
    heads = []
    for h in range(2):
        q, k, v = x @ wq[h].T, x @ wk[h].T, x @ wv[h].T
        alpha = torch.softmax(q @ k.transpose(1, 2), -1)  # unscaled <W_Q e_m, W_K e_k>
        heads.append(alpha @ v)
    want = torch.relu(torch.cat(heads, -1) + x @ layer.res.weight.T)
    assert torch.allclose(layer(x), want, atol=1e-5)


@torch.no_grad()
def test_pnn_inner_products_and_fm_pairs(toy):
    spec, parts, _ = toy
    batch = _batch(parts, 4)
    pnn = build_model("pnn", spec, hidden=())
    e = pnn.embed(batch)
    n = e.shape[1]
    pairs = [torch.dot(e[0, i], e[0, j]) for i in range(n) for j in range(i + 1, n)]
    z = torch.cat([e[0].flatten(), torch.stack(pairs)])
    lin = pnn.dnn.net[0]
    assert torch.allclose(pnn(batch)[0], lin.weight[0] @ z + lin.bias[0], atol=1e-5)
    fm = build_model("fm", spec)
    e, first = fm.embed.fields(batch)  # the first-order sum comes from the same lookup (the table's last column)
    second = sum(torch.dot(e[0, i], e[0, j]) for i in range(n) for j in range(i + 1, n))
    assert math.isclose(float((fm(batch) - fm.linear(batch, first))[0]), float(second), rel_tol=1e-4, abs_tol=1e-7)
    with pytest.raises(ValueError, match="first-order sum"):
        fm.linear(batch)  # a fused LinearTerm without its sum would silently drop the categorical weights


# --- training through the real Trainer vs popularity ----------------------------------------------------------

def _train_and_compare(data, name, epochs, batch_size):
    spec, parts, pop = data
    torch.manual_seed(0)
    model = _model(name, spec)
    trainer = Trainer(TrainConfig(epochs=epochs, batch_size=batch_size, lr=1e-2, progress=False, patience=3))
    trainer.fit(model, parts["train"], parts["valid"])
    got = trainer.split_metrics(model, parts["test"])["auc"]
    assert got > pop + MARGIN, f"{name}: test AUC {got:.4f} vs popularity {pop:.4f}"


@pytest.mark.parametrize("name", ZOO)
def test_beats_popularity_on_toy_log(toy, name):
    if name == "lr":
        pytest.skip("make_log's signal is a pure user×item parity (XOR): no first-order model can learn it, and "
                    "popularity is at chance; LR is compared on the simulator and KuaiRand")
    _train_and_compare(toy, name, epochs=15, batch_size=64)


@pytest.mark.parametrize("name", ZOO)
def test_beats_popularity_on_simulator(simulated, name):
    _train_and_compare(simulated, name, epochs=4, batch_size=256)


@pytest.mark.parametrize("name", ZOO)
def test_beats_popularity_on_kuairand(kuairand, name):
    _train_and_compare(kuairand, name, epochs=4, batch_size=256)


#: the models with a first-order term, their LinearTerm's attribute, extra hyper-parameters and histories
FIRST_ORDER = {"fm": ("linear", {}, ()), "deepfm": ("linear", {"hidden": (16, 8)}, ("hist",)),
               "widedeep": ("wide", {"hidden": (16, 8)}, ("hist",)),
               "xdeepfm": ("linear", {"hidden": (16, 8), "cin_layers": (6, 4)}, ()),
               "dfn": ("linear", {"hidden": (16, 8), "embed_dim": 8}, ("click", "unclick", "dislike"))}


@pytest.mark.parametrize("name", sorted(FIRST_ORDER))
def test_fused_first_order_weights_train_as_a_separate_table(name):
    """One lookup serves the embeddings and the first-order weights (the table's last column). Against the
    same model with the separate tables of before (a dim-wide FieldEmbedding and LinearTerm's own one-column
    table): the same initialisation from the same seed (random numbers drawn in the same order), then the same
    losses and weights over 4 Adam steps with soft targets and weights, within 1e-6 relative (the fused Adam
    kernel rounds a tensor's scalar tail apart from its vectorised body, so a few weights differ in the last
    bits: 4.7e-10 seen; the losses came out bit-identical)."""
    from denoiserec.data.spec import FeatureSpec
    from denoiserec.nn.layers import FieldEmbedding, LinearTerm
    from denoiserec.train.loss import weighted_bce
    from denoiserec.train.trainer import make_adam

    attr, hp, seqs = FIRST_ORDER[name]
    spec = FeatureSpec(categorical=("user", "item", "artist"), cardinalities=(30, 40, 7), numeric=("x0", "x1"),
                       sequences=tuple((s, 5) for s in seqs))
    torch.manual_seed(0)
    model = build_model(name, spec, **hp)
    e, dim, lin = model.embed, model.embed.dim, getattr(model, attr)
    assert e.first_order and lin.fused and e.table.weight.shape == (77, dim + 1)
    # the two modules as built before (every model builds them first, the embedding then the linear term)
    torch.manual_seed(0)
    old_embed = FieldEmbedding(spec, dim, pool_sequences=e.pool_sequences, sequences=e.sequences)
    old_linear = LinearTerm(spec)
    old_next = torch.randn(4)
    torch.manual_seed(0)
    FieldEmbedding(spec, dim, pool_sequences=e.pool_sequences, sequences=e.sequences, first_order=True)
    LinearTerm(spec, fused=True)
    assert torch.equal(torch.randn(4), old_next)  # the modules built after them draw the same numbers
    assert torch.equal(e.table.weight[:, :dim], old_embed.table.weight) and torch.equal(e.numeric, old_embed.numeric)
    assert torch.equal(e.table.weight[:, dim:], old_linear.weight.weight) and not e.table.weight[:, dim].any()
    assert torch.equal(lin.numeric.weight, old_linear.numeric.weight)
    twin = copy.deepcopy(model)  # the same model with the separate tables
    twin.embed, old_linear.bias, old_linear.numeric = old_embed, lin.bias, lin.numeric
    setattr(twin, attr, copy.deepcopy(old_linear))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # random first-order weights (they start at 0, which would hide a swapped column)
        e.table.weight[:, dim].normal_(generator=g)
        getattr(twin, attr).weight.weight.copy_(e.table.weight[:, dim:])
    optims = make_adam(model, 1e-2), make_adam(twin, 1e-2)
    for _ in range(4):
        cat = torch.stack([torch.randint(0, c, (32,), generator=g) for c in spec.cardinalities], 1)
        batch = {"cat": cat, "num": torch.randn(32, 2, generator=g),
                 **{f"seq_{s}": torch.randint(0, 40, (32, 5), generator=g) for s in seqs}}
        y, w = torch.rand(32, generator=g), torch.rand(32, generator=g)
        losses = []
        for m, opt in zip((model, twin), optims, strict=True):
            loss = weighted_bce(m(batch), y, w)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        assert losses[0] == pytest.approx(losses[1], rel=1e-6, abs=0)
    for ours, theirs in ((e.table.weight[:, :dim], twin.embed.table.weight),
                         (e.table.weight[:, dim:], getattr(twin, attr).weight.weight)):
        torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-8)
