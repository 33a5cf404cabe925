"""The trainer's opt-in fast paths keep the plain step's maths: the CUDA-graph driver (static batch buffers, eager
warm-up and last partial batch; here with a stand-in capture that replays eagerly on the CPU -- the real capture
is tests/test_cuda.py), ``torch.compile``, the large-batch LR recipe; and the DDP backend follows the device."""

import dataclasses

import pytest
import torch
from conftest import make_log

from denoiserec.data.encoder import encode_splits
from denoiserec.data.features import FeatureConfig
from denoiserec.errors import ConfigError
from denoiserec.methods import build_method
from denoiserec.methods.base import Method
from denoiserec.models import build_model
from denoiserec.train import trainer as trainer_mod
from denoiserec.train.trainer import GraphStep, TrainConfig, Trainer, ddp_backend

CFG = dict(epochs=2, batch_size=100, lr=1e-2, progress=False, device="cpu", threads=1)


@pytest.fixture(scope="module")
def data():
    spec, parts = encode_splits(make_log(n_users=40), FeatureConfig())
    return spec, parts["train"]


#: method variants by test id: LCD correcting from the first epoch, and from step 6 (counted on the device)
METHODS = {"lcd": ("lcd", {"start_epoch": 1}), "lcd_start_step": ("lcd", {"start_step": 5})}


def _method(name):
    method, hp = METHODS.get(name, (name, {}))
    return build_method(method, **hp)


def _fit(spec, train, method="none", graph=False, capture=None, **cfg):
    """Train a fresh DeepFM; returns (model, trainer, per-step losses)."""
    torch.manual_seed(0)
    model = build_model("deepfm", spec, embed_dim=4, hidden=(16,))
    trainer = Trainer(TrainConfig(**{**CFG, **cfg}))
    if graph:  # on the CPU, Trainer refuses cuda_graph (no CUDA): switch it on after the checks
        trainer.config = dataclasses.replace(trainer.config, cuda_graph=True)
    losses, drivers = [], []

    class Recording(GraphStep):
        def __init__(self, step, **kw):
            super().__init__(step, **({"capture": capture} if capture else {}), **kw)
            drivers.append(self)

        def __call__(self, batch):
            loss = super().__call__(batch)
            losses.append(loss.clone())
            return loss

    original = trainer._step_fn
    graph = graph or trainer.config.cuda_graph

    def step_fn(*args):
        step = original(*args)
        if graph:
            return step

        def plain(batch):
            loss = step(batch)
            losses.append(loss.clone())
            return loss
        return plain

    trainer._step_fn = step_fn
    old = trainer_mod.GraphStep
    trainer_mod.GraphStep = Recording
    try:
        trainer.fit(model, train, None, _method(method))
    finally:
        trainer_mod.GraphStep = old
    return model, trainer, torch.stack(losses), drivers


def replay_eagerly(fn):
    """Stand-in for ``torch.cuda.graph`` capture: records nothing, and each replay re-runs the step over the
    static buffers -- what a CUDA graph's replay does."""
    return fn


@pytest.mark.parametrize("method", ["none", "lcd", "lcd_start_step"])
def test_graph_step_driver_trains_the_same_rows_as_the_plain_step(data, method):
    spec, train = data
    assert len(train) % CFG["batch_size"] != 0  # the last batch of each epoch is partial
    ref, _, ref_losses, _ = _fit(spec, train, method)
    got, _, losses, drivers = _fit(spec, train, method, graph=True, capture=replay_eagerly)
    n_batches = -(-len(train) // CFG["batch_size"])
    assert len(losses) == len(ref_losses) == 2 * n_batches
    assert len(drivers) == 2  # captured afresh each epoch
    for d in drivers:  # 3 eager warm-up steps, then replays, then the partial batch eagerly
        assert d.eager_steps == 4 and d.replays == n_batches - 4
    assert torch.equal(losses, ref_losses)
    for p, q in zip(ref.parameters(), got.parameters(), strict=True):
        assert torch.equal(p, q)


def test_graph_step_copies_each_batch_into_the_static_buffers():
    seen = []
    step = GraphStep(lambda b: seen.append(b["label"].clone()) or b["label"].sum(), warmup=1, capture=replay_eagerly)
    batches = [{"label": torch.full((4,), float(i))} for i in range(4)] + [{"label": torch.ones(2)}]
    out = [float(step(b)) for b in batches]
    assert out == [0.0, 4.0, 8.0, 12.0, 2.0]
    assert step.static["label"].tolist() == [3.0] * 4  # the partial batch did not touch the static buffers
    assert (step.eager_steps, step.replays) == (2, 3)


class _NotGraphSafe(Method):
    def weights_and_targets(self, batch, logits, losses):
        return torch.ones_like(logits), batch["label"]


def test_cuda_graph_settings_are_checked(data):
    spec, train = data
    with pytest.raises(ConfigError, match="cuda_graph"):
        Trainer(TrainConfig(**{**CFG, "cuda_graph": True}))
    with pytest.raises(ConfigError, match="exclusive"):
        TrainConfig(cuda_graph=True, compile=True)
    with pytest.raises(ConfigError, match="compile_mode"):
        TrainConfig(compile_mode="fast")
    trainer = Trainer(TrainConfig(**CFG))
    trainer.config = dataclasses.replace(trainer.config, cuda_graph=True)
    with pytest.raises(ConfigError, match="not graph-safe"):
        trainer.fit(build_model("deepfm", spec, embed_dim=4, hidden=(16,)), train, None, _NotGraphSafe())
    assert build_method("uae").graph_safe and build_method("lcd").graph_safe and Method.graph_safe is False


def test_default_precision_is_fp32():
    cfg = TrainConfig()
    assert not cfg.amp and not cfg.amp_cpu and not cfg.tf32


def test_ddp_backend_follows_the_device():
    assert ddp_backend("cpu") == "gloo" and ddp_backend(torch.device("cpu")) == "gloo"
    assert ddp_backend("cuda") == "nccl" and ddp_backend(torch.device("cuda", 1)) == "nccl"
    assert Trainer(TrainConfig(device="cpu")).backend == "gloo"


def test_large_batch_recipe_scales_and_warms_up_the_learning_rate(data, monkeypatch):
    cfg = TrainConfig(lr=1e-3, batch_size=4096, lr_ref_batch=1024, warmup_steps=4)
    assert cfg.scaled_lr() == pytest.approx(4e-3)
    assert [cfg.lr_at(i) for i in range(6)] == pytest.approx([1e-3, 2e-3, 3e-3, 4e-3, 4e-3, 4e-3])
    assert TrainConfig(lr=1e-3).lr_at(0) == 1e-3
    with pytest.raises(ConfigError, match="lr_ref_batch"):
        TrainConfig(lr_ref_batch=0)
    # the trainer applies it: the optimiser's learning rate before each of the first steps, then the peak
    spec, train = data
    seen = []
    orig = trainer_mod._set_lr
    monkeypatch.setattr(trainer_mod, "_set_lr", lambda opt, lr: (orig(opt, lr), seen.append(lr)))
    _, trainer, losses, _ = _fit(spec, train, lr=1e-2, lr_ref_batch=50, warmup_steps=3, epochs=1)
    assert seen == pytest.approx([0.02 / 3, 0.04 / 3, 0.02, 0.02])
    plain = _fit(spec, train, epochs=1)[2]
    assert torch.equal(losses[:1], plain[:1]) and not torch.equal(losses[1:], plain[1:])


def test_compile_matches_the_plain_step(data):
    spec, train = data
    small = train.subset(torch.arange(400))
    _, _, ref, _ = _fit(spec, small, epochs=1)
    _, _, got, _ = _fit(spec, small, epochs=1, compile=True)
    assert len(got) == len(ref) == 4
    assert torch.allclose(got, ref, rtol=1e-5, atol=1e-6), (got, ref)


def test_sqrt_lr_scaling_and_bad_recipe_values():
    linear = TrainConfig(lr=1e-3, batch_size=4096, lr_ref_batch=256)
    sqrt = dataclasses.replace(linear, lr_scaling="sqrt")
    assert linear.scaled_lr() == pytest.approx(1.6e-2)  # × 16
    assert sqrt.scaled_lr() == pytest.approx(4e-3)  # × √16
    assert dataclasses.replace(sqrt, lr_ref_batch=None).scaled_lr() == 1e-3
    assert TrainConfig().lr_scaling == "linear" and TrainConfig().embedding_lr_scale == 1.0
    with pytest.raises(ConfigError, match="lr_scaling"):
        TrainConfig(lr_scaling="cubic")
    with pytest.raises(ConfigError, match="embedding_lr_scale"):
        TrainConfig(embedding_lr_scale=0.0)


def test_embedding_lr_scale_gives_the_tables_their_own_learning_rate(data):
    spec, train = data
    torch.manual_seed(0)
    model = build_model("deepfm", spec, embed_dim=4, hidden=(16,))
    tables = {id(p) for p in trainer_mod.embedding_parameters(model)}
    assert tables and len(tables) < len(list(model.parameters()))
    assert len(trainer_mod.make_adam(model, 1e-3).param_groups) == 1  # scale 1: today's single group
    optim = trainer_mod.make_adam(model, 1e-3, embedding_lr_scale=4.0)
    by_lr = {g["lr"]: {id(p) for p in g["params"]} for g in optim.param_groups}
    assert by_lr == {4e-3: tables, 1e-3: {id(p) for p in model.parameters()} - tables}
    trainer_mod._set_lr(optim, 2e-3)  # warm-up keeps the ratio
    assert {g["lr"]: {id(p) for p in g["params"]} for g in optim.param_groups} == {8e-3: tables,
                                                                                    2e-3: by_lr[1e-3]}
    # through the trainer: Adam's first step moves each parameter by ~lr (update = lr·g/(|g|+eps))
    one = train.subset(torch.arange(100))
    for scale in (1.0, 4.0):
        torch.manual_seed(0)
        before = build_model("deepfm", spec, embed_dim=4, hidden=(16,))
        after, *_ = _fit(spec, one, epochs=1, embedding_lr_scale=scale)
        moved = {id(q): (p - q).abs().max().item() for p, q in zip(before.parameters(), after.parameters(),
                                                                    strict=True)}
        emb = {id(p) for p in trainer_mod.embedding_parameters(after)}
        assert max(v for k, v in moved.items() if k in emb) == pytest.approx(1e-2 * scale, rel=1e-3)
        assert max(v for k, v in moved.items() if k not in emb) == pytest.approx(1e-2, rel=1e-3)


def test_recipe_defaults_train_bit_identically_to_one_adam_group(data, monkeypatch):
    spec, train = data
    ref = _fit(spec, train, epochs=1)[2]
    assert torch.equal(_fit(spec, train, epochs=1, lr_scaling="sqrt", embedding_lr_scale=1.0)[2], ref)
    assert not torch.equal(_fit(spec, train, epochs=1, embedding_lr_scale=2.0)[2][1:], ref[1:])
    monkeypatch.setattr(trainer_mod, "make_adam", lambda model, lr, wd=0.0, **kw: torch.optim.Adam(
        [p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=wd, fused=True))
    assert torch.equal(_fit(spec, train, epochs=1)[2], ref)  # the pre-recipe optimiser: one group, fused
