"""GPU-only checks (``@pytest.mark.cuda``: skipped without CUDA; run on a GPU machine by
``benchmarks/gpu_check.sh``): the CUDA-graph step and ``torch.compile(mode="reduce-overhead")`` against the plain
step, resume from a checkpoint on CUDA (the generator's RNG state must come back as a CPU ByteTensor), bf16
autocast, and the denoising methods' per-step work on the device."""

import pytest
import torch
from conftest import make_log
from test_fast_paths import _fit

from denoiserec.data.encoder import encode_splits
from denoiserec.data.features import FeatureConfig
from denoiserec.methods import build_method
from denoiserec.models import build_model
from denoiserec.train.encoded import batchable
from denoiserec.train.trainer import TrainConfig, Trainer

pytestmark = pytest.mark.cuda
GPU = dict(device="cuda", threads=None)


@pytest.fixture(scope="module")
def data():
    spec, parts = encode_splits(make_log(n_users=40), FeatureConfig())
    return spec, parts


@pytest.mark.parametrize("method", ["none", "lcd", "lcd_start_step", "bootstrap"])
def test_cuda_graph_step_matches_the_plain_step(data, method):
    """Same losses step by step within 1e-4 relative (the embedding gradient's atomic adds make CUDA runs
    nondeterministic in the last bits), same rows trained, the graph actually replayed."""
    spec, parts = data
    ref_model, _, ref, _ = _fit(spec, parts["train"], method, **GPU)
    model, trainer, got, drivers = _fit(spec, parts["train"], method, cuda_graph=True, **GPU)
    assert len(got) == len(ref) and all(d.replays > 0 for d in drivers)
    assert torch.allclose(got.cpu(), ref.cpu(), rtol=1e-4, atol=1e-5), (got, ref)
    for p, q in zip(ref_model.parameters(), model.parameters(), strict=True):
        assert torch.allclose(p, q, rtol=1e-3, atol=1e-4)


def test_lcd_counters_count_replayed_steps(data):
    spec, parts = data
    method = build_method("lcd", start_epoch=1)
    model = build_model("deepfm", spec, embed_dim=4, hidden=(16,))
    Trainer(TrainConfig(epochs=2, batch_size=100, progress=False, device="cuda", cuda_graph=True)).fit(
        model, parts["train"], None, method)
    assert method.state()["corrected_steps"] == 2 * -(-len(parts["train"]) // 100)
    by_step = build_method("lcd", start_step=7)  # the step count lives on the device: replays count too
    Trainer(TrainConfig(epochs=2, batch_size=100, progress=False, device="cuda", cuda_graph=True)).fit(
        build_model("deepfm", spec, embed_dim=4, hidden=(16,)), parts["train"], None, by_step)
    assert by_step.state()["corrected_steps"] == 2 * -(-len(parts["train"]) // 100) - 7


def test_compile_reduce_overhead_matches_the_plain_step(data):
    spec, parts = data
    _, _, ref, _ = _fit(spec, parts["train"], epochs=1, **GPU)
    _, _, got, _ = _fit(spec, parts["train"], epochs=1, compile=True, compile_mode="reduce-overhead", **GPU)
    assert torch.allclose(got.cpu(), ref.cpu(), rtol=1e-4, atol=1e-5), (got, ref)


def test_checkpoint_resume_on_cuda_matches_uninterrupted_run(data, tmp_path):
    """Loading a checkpoint onto CUDA must restore the shuffling generator's state on the CPU."""
    spec, parts = data
    cfg = dict(batch_size=64, lr=1e-2, progress=False, patience=10, device="cuda")
    torch.manual_seed(0)
    ref = build_model("deepfm", spec, embed_dim=8)
    Trainer(TrainConfig(epochs=3, **cfg)).fit(ref, parts["train"], parts["valid"])
    ckpt = tmp_path / "ck.pt"
    torch.manual_seed(0)
    first = build_model("deepfm", spec, embed_dim=8)
    Trainer(TrainConfig(epochs=2, checkpoint=str(ckpt), **cfg)).fit(first, parts["train"], parts["valid"])
    second = build_model("deepfm", spec, embed_dim=8)
    t = Trainer(TrainConfig(epochs=3, checkpoint=str(ckpt), **cfg))
    t.fit(second, parts["train"], parts["valid"])
    assert len(t.history) == 3
    assert torch.allclose(t.predict(ref, parts["test"]), t.predict(second, parts["test"]), atol=1e-4)


def test_bf16_autocast_trains_on_cuda(data):
    spec, parts = data
    model = build_model("deepfm", spec, embed_dim=8)
    trainer = Trainer(TrainConfig(epochs=6, batch_size=64, lr=1e-2, progress=False, patience=10, device="cuda",
                                  amp=True))
    trainer.fit(model, parts["train"], parts["valid"])
    assert trainer.split_metrics(model, parts["test"])["auc_true"] > 0.9


@pytest.mark.parametrize("name", ["lcd", "uae"])
def test_methods_run_on_the_device(data, name):
    spec, parts = data
    method = build_method(name, **({"epochs": 1, "hidden": 8, "embed_dim": 4} if name == "uae" else {"start_epoch": 1}))
    model = build_model("deepfm", spec, embed_dim=4, hidden=(16,))
    trainer = Trainer(TrainConfig(epochs=1, batch_size=128, progress=False, device="cuda"))
    trainer.fit(model, parts["train"], None, method, spec)
    batch = next(batchable(parts["train"].to("cuda")).batches(32))
    w, y = method.weights_and_targets(batch, torch.zeros(32, device="cuda"), torch.rand(32, device="cuda"))
    assert w.is_cuda and y.is_cuda


def test_saving_a_bundle_leaves_the_model_on_the_gpu(data, tmp_path):
    """A bundle is written from a CPU copy: the caller's model stays on the GPU, and the bundle's CPU scores match
    the GPU trainer's within float32 rounding (CPU and GPU kernels differ in the last bits)."""
    import denoiserec
    from denoiserec.bundle import save_ctr
    from denoiserec.data.encoder import fit_encode_splits

    log = make_log(n_users=30, per_user=30)
    enc, parts = fit_encode_splits(log, FeatureConfig())
    torch.manual_seed(0)
    model = build_model("deepfm", enc.spec, embed_dim=4)
    trainer = Trainer(TrainConfig(epochs=1, batch_size=128, lr=0.01, progress=False, **GPU))
    trainer.fit(model, parts["train"], parts["valid"])
    path = save_ctr(tmp_path / "b", model, enc, "deepfm", {"embed_dim": 4})
    assert next(model.parameters()).device.type == "cuda"
    test = log["split"].to_numpy() == 2
    got = torch.from_numpy(denoiserec.load(path).predict(log).scores["logit"].to_numpy()[test])
    assert torch.allclose(got.float(), trainer.predict(model, parts["test"]).cpu().float(), atol=1e-5)


def test_seqrec_resume_on_cuda_continues_where_training_stopped(tmp_path):
    """The seqrec checkpoint keeps the CUDA generator too (dropout draws there): a resumed run's losses equal an
    uninterrupted one's."""
    from test_negfeedback import test_checkpoint_resume_continues_where_training_stopped as resume

    resume(tmp_path)  # on a GPU machine the trainer's "auto" device is CUDA
