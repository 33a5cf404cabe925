"""``denoiserec.notices``: a run that did nothing says so in one line (also with --no-progress) and in its record;
--no-progress keeps the per-epoch metric lines, --quiet prints nothing but errors."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from denoiserec import notices
from denoiserec.cli import app


def test_steps_warning_rule():
    w = notices.steps_warning(400, 4096)  # the case: one step per epoch
    assert "1 optimiser step" in w and "--batch-size 32" in w
    assert notices.steps_warning(900, 100) is not None  # 9 steps
    assert notices.steps_warning(1000, 100) is None  # 10 steps: the threshold
    assert notices.steps_warning(100_000, 4096) is None


def test_part_warnings_small_or_one_sided():
    def part(n, pos):
        return {"label": torch.tensor([1.0] * pos + [0.0] * (n - pos))}

    assert notices.part_warnings({"valid": part(1000, 500), "test": part(1000, 500)}) == []
    got = notices.part_warnings({"valid": part(150, 75), "test": part(1000, 10)})
    assert len(got) == 2 and got[0].startswith("valid: 150 rows") and got[1].startswith("test: 1,000 rows")
    assert notices.part_warnings({"test": part(200, 20)}) == []  # both thresholds met exactly
    assert notices.part_warnings({"test": part(199, 100)}) != []


def test_method_and_validation_warnings():
    assert notices.method_warnings("lcd", {"corrected_steps": 0, "start_epoch": 20, "start_step": None})
    assert not notices.method_warnings("lcd", {"corrected_steps": 3, "start_epoch": 1})
    assert notices.method_warnings("uae", {"passive": "positive"}, torch.ones(5))
    assert not notices.method_warnings("uae", {"passive": "positive"}, torch.tensor([1.0, 0.5]))
    nan = float("nan")
    assert notices.validation_warning([{"valid_auc": nan}, {"valid_auc": nan}], "auc")
    assert notices.validation_warning([{"epoch": 0}], "auc")
    assert notices.validation_warning([{"valid_auc": nan}, {"valid_auc": 0.6}], "auc") is None


def test_recommendation_warning():
    import polars as pl

    assert notices.recommendation_warning(pl.DataFrame({"user": [], "item": []}), None, 10)
    recs = pl.DataFrame({"user": ["a"], "item": ["x"]})
    assert notices.recommendation_warning(recs, None, 10) is None
    assert "1 of the 2 users" in notices.recommendation_warning(recs, ["a", "b"], 10)


@pytest.fixture
def data(tmp_path_factory):
    import denoiserec as dr

    out = tmp_path_factory.mktemp("d") / "sim"
    dr.simulate(out=out, users=40, items=150, sessions=3)
    return out


def test_cli_warns_without_progress_and_records(tmp_path, data):
    """LCD with its default start (epoch 20) in a 1-epoch run never corrects; batch 4096 on ~2k rows is one step."""
    res = CliRunner().invoke(app, ["train", "--data", str(data), "--method", "lcd", "--epochs", "1",
                                   "--no-progress", "-o", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "warning: method lcd: never corrected a label" in out
    assert "warning: train:" in out and "optimiser step(s) per epoch" in out
    assert "epoch 1/1:" in out and "valid_auc" in out  # --no-progress keeps the metric line
    record = json.loads(next((tmp_path / "r/runs").glob("*.json")).read_text())
    assert any(w.startswith("method lcd: never corrected") for w in record["warnings"])
    res = CliRunner().invoke(app, ["train", "--data", str(data), "--method", "lcd", "--epochs", "1",
                                   "--batch-size", "64", "-p", "start_step=1", "--quiet", "-o", str(tmp_path / "q")])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == ""
    record = json.loads(next((tmp_path / "q/runs").glob("*.json")).read_text())
    assert record["method_state"]["corrected_steps"] > 0
    assert not any(w.startswith(("method", "train:")) for w in record["warnings"])


@pytest.fixture(autouse=True)
def _not_quiet():
    yield
    notices.QUIET = False


def test_cpu_bf16_warning_only_where_bf16_is_emulated(monkeypatch):
    import torch

    from denoiserec.train import precision

    cpu = torch.device("cpu")
    monkeypatch.setattr(precision, "native_cpu_bf16", lambda: False)
    assert "amp_cpu" in precision.cpu_bf16_warning(cpu, True)
    assert precision.cpu_bf16_warning(cpu, False) is None  # float32: nothing to say
    assert precision.cpu_bf16_warning(torch.device("cuda"), True) is None  # amp_cpu is the CPU's setting only
    monkeypatch.setattr(precision, "native_cpu_bf16", lambda: True)
    assert precision.cpu_bf16_warning(cpu, True) is None  # AMX / AVX512-BF16: bf16 pays, no warning
