"""The fast paths keep the maths: the CPU table lookup and fused Adam against the reference PyTorch ops, and the
benchmark's shared helpers (40-field widening, rank AUC)."""

import numpy as np
import pytest
import torch
from torch import nn

from denoiserec.eval.metrics import auc as denoiserec_auc
from denoiserec.nn.layers import lookup
from denoiserec.train.trainer import make_adam


def test_lookup_matches_embedding_values_and_gradient():
    torch.manual_seed(0)
    table = nn.Embedding(50, 4)
    ref = nn.Embedding(50, 4)
    ref.weight.data.copy_(table.weight.data)
    idx = torch.randint(0, 50, (32, 7))
    idx[0, :3] = 5  # repeated rows must accumulate
    g = torch.randn(32, 7, 4)
    out = lookup(table, idx)
    assert torch.equal(out, ref(idx))
    out.backward(g)
    ref(idx).backward(g)
    assert torch.allclose(table.weight.grad, ref.weight.grad, atol=1e-6)
    assert table.weight.grad[5].abs().sum() > 0 and table.weight.grad.shape == (50, 4)


def test_lookup_of_leading_columns_matches_the_sliced_embedding():
    """``lookup(table, idx, cols)`` (a first-order table's embedding columns, FieldEmbedding.rows): the values and
    gradient of ``nn.Embedding``'s rows sliced to ``cols``, the other columns' gradient zero; also under vmap
    over stacked tables (stacked seeds) and without grad."""
    torch.manual_seed(0)
    table, ref = nn.Embedding(50, 5), nn.Embedding(50, 5)
    ref.weight.data.copy_(table.weight.data)
    idx = torch.randint(0, 50, (32, 7))
    idx[0, :3] = 5
    g = torch.randn(32, 7, 4)
    out = lookup(table, idx, 4)
    assert out.shape == (32, 7, 4) and torch.equal(out, ref(idx)[..., :4])
    out.backward(g)
    ref(idx)[..., :4].backward(g)
    torch.testing.assert_close(table.weight.grad, ref.weight.grad, atol=1e-6, rtol=0)
    assert not table.weight.grad[:, 4].any() and table.weight.grad[5, :4].abs().sum() > 0
    with torch.no_grad():
        assert torch.equal(lookup(table, idx, 4), ref(idx)[..., :4])
    stacked = torch.randn(3, 50, 5, requires_grad=True)  # vmap over 3 tables, each with its own ids
    ids = torch.randint(0, 50, (3, 32, 7))

    class Rows(nn.Module):
        def __init__(self):
            super().__init__()
            self.t = nn.Embedding(50, 5)

        def forward(self, i):
            return lookup(self.t, i, 4)

    rows = Rows()
    got = torch.func.vmap(lambda w, i: torch.func.functional_call(rows, {"t.weight": w}, (i,)))(stacked, ids)
    want = torch.stack([stacked[k][ids[k]][..., :4] for k in range(3)])
    assert torch.equal(got, want)
    (grad,) = torch.autograd.grad((got * torch.arange(4.0)).sum(), stacked)
    (grad_ref,) = torch.autograd.grad((want * torch.arange(4.0)).sum(), stacked)
    torch.testing.assert_close(grad, grad_ref, atol=1e-6, rtol=0)


def test_lookup_falls_back_without_grad_and_for_padding_tables():
    table = nn.Embedding(10, 3, padding_idx=0)
    idx = torch.tensor([[0, 1, 2]])
    assert torch.equal(lookup(table, idx), table(idx))
    plain = nn.Embedding(10, 3)
    with torch.no_grad():
        out = lookup(plain, idx)
    assert out.grad_fn is None and torch.equal(out, plain(idx).detach())


def test_fused_adam_follows_the_reference_update():
    torch.manual_seed(0)
    a = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 1))
    b = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 1))
    b.load_state_dict(a.state_dict())
    fast, ref = make_adam(a, 1e-2, 1e-4), torch.optim.Adam(b.parameters(), lr=1e-2, weight_decay=1e-4, foreach=False)
    for _ in range(5):
        x = torch.randn(16, 6)
        for m, opt in ((a, fast), (b, ref)):
            opt.zero_grad()
            m(x).pow(2).mean().backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-5)


def test_benchmark_auc_and_fields():
    from benchmarks.data import FIELDS, widen
    from benchmarks.run import auc
    from denoiserec.data.simulate import SimConfig, simulate

    rng = np.random.default_rng(0)
    y = (rng.random(500) < 0.3).astype(np.float32)
    s = y + rng.normal(size=500)
    s[:50] = 0.0  # ties
    assert abs(auc(y, s) - denoiserec_auc(torch.from_numpy(s), torch.from_numpy(y))) < 1e-9
    df = widen(simulate(SimConfig(users=20, items=100, artists=20, sessions=2)))
    assert len(FIELDS) == 40 and all(c in df.columns for c in FIELDS)
    assert df["item_x_context"].max() < 1 << 16


def test_gpu_check_script_parses_and_its_tables_render():
    """benchmarks/gpu_check.sh is valid bash and the GPU benchmark's tables render results, failures and skips
    (the script itself runs end to end with ``--cpu-dry-run``: docs/performance.md)."""
    import subprocess
    from pathlib import Path

    from benchmarks import gpu

    root = Path(__file__).resolve().parents[1]
    for script in ("gpu_check.sh", "gpu_wheels.sh"):
        subprocess.run(["bash", "-n", str(root / "benchmarks" / script)], check=True)
    ok = {"model": "deepfm", "lib": "denoiserec", "batch_size": 4096, "samples_per_s": 2e6,
          "steady_samples_per_s": 4e6, "test_auc": 0.92}
    fuxi = {**ok, "lib": "fuxictr", "samples_per_s": 1e5, "test_auc": 0.921}
    fuxi.pop("steady_samples_per_s")
    text = gpu.table([ok, fuxi, {"model": "deepfm", "lib": "deepctr", "error": ["boom"]}], ["x (budget)"])
    assert "| deepfm | denoiserec | 4096 | 2,000,000 | 4,000,000 | 40.0 | 0.9200 | -0.0010 |" in text
    assert "failed: boom" in text and "x (budget)" in text
    prof = {"model": "deepfm", "flags": ["--cuda-graph"], "ms_per_step": 0.5, "samples_per_s": 8.2e6,
            "kernels_per_step": 300, "kernel_us_per_step": 450, "classes": {"gemm": {"us_per_step": 100}},
            "fraction_of_peak_flops": 0.05, "fraction_of_peak_bandwidth_adam_only": 0.04}
    assert "| deepfm | --cuda-graph | 0.500 | 8,200,000 | 300 | 450 | 100 / 0 / 0 / 0 / 0 / 0 | 5.0 | 4.0 |" in \
        gpu.profile_table([prof])


def test_fused_benchmark_runs_and_its_before_is_the_same_model(capsys):
    """``benchmarks/fused.py`` (before → after of the fused inputs and loss): one tiny round of every variant, and
    its *before* model (separate tables) gives the library model's logits."""
    from benchmarks import fused
    from denoiserec.models import build_model

    fused.main(["--rounds", "1", "--steps", "1", "--batch-size", "64"])
    out = capsys.readouterr().out
    assert out.count("| deepfm |") == 3 and out.count("| dcnv2 |") == 3
    spec, batches = fused.make_spec_and_batches(1, 64)
    model = build_model("deepfm", spec, hidden=(8,))
    with torch.no_grad():
        model.embed.table.weight[:, -1].normal_()
        before = fused.unfused(model)
        torch.testing.assert_close(before(batches[0]), model(batches[0]), rtol=1e-6, atol=1e-6)
    assert not before.embed.first_order and not before.linear.fused


def test_large_batch_benchmark_runs_each_recipe(tmp_path, capsys):
    """``benchmarks/large_batch.py`` (the CPU proxy of the GPU's large batch): each recipe's settings, one tiny run."""
    import argparse

    from benchmarks import large_batch
    from denoiserec.train.trainer import TrainConfig

    args = argparse.Namespace(small=64, large=1024, warmup_steps=5, emb_scale=4.0)
    got = {r: TrainConfig(lr=1e-3, **large_batch.settings(r, args)) for r in large_batch.RECIPES}
    assert got["none"].scaled_lr() == 1e-3 and got["linear"].scaled_lr() == pytest.approx(1.6e-2)
    assert got["sqrt"].scaled_lr() == got["sqrt+emb"].scaled_lr() == pytest.approx(4e-3)
    assert [r for r, c in got.items() if c.warmup_steps == 5] == ["linear+warmup", "sqrt+warmup", "sqrt+warmup+emb"]
    assert [r for r, c in got.items() if c.embedding_lr_scale == 4.0] == ["sqrt+emb", "sqrt+warmup+emb"]
    large_batch.main(["--data", str(tmp_path / "d.npz"), "--rows", "3000", "--small", "64", "--large", "256",
                      "--epochs", "1", "--warmup-steps", "5", "--recipes", "none,sqrt+warmup+emb",
                      "--out", str(tmp_path / "r.json")])
    out = capsys.readouterr().out.splitlines()
    rows = [line for line in out if line.startswith("| small |") or line.startswith("| none |")
            or line.startswith("| sqrt+warmup5+emb4 | 256 | 0.002 | 1 |")]
    assert len(rows) == 3, out
    large_batch.main(["--merge", str(tmp_path / "r.json"), str(tmp_path / "r.json")])  # a seed's run kept once
    assert capsys.readouterr().out.splitlines()[2:] == out[-3:]
