"""docs/extending.md's three recipes: a toy method, model and data source registered through the registries
only (as their files would be) and run in one experiment; and every file the recipes name exists."""

import json
import re
import sys
import types
from pathlib import Path

import polars as pl
import pytest
import torch
from torch import nn

from denoiserec import methods, models
from denoiserec.data import sources
from denoiserec.data.simulate import SimConfig, simulate
from denoiserec.errors import ConfigError
from denoiserec.experiment import check_config, run_experiment
from denoiserec.methods.base import Method
from denoiserec.nn.layers import LinearTerm

ROOT = Path(__file__).parent.parent
DOC = ROOT / "docs" / "extending.md"


class ToyMethod(Method):
    """Halves the weight of passive rows; its "attention" estimate is the row's ``active`` flag."""

    name = "toy"
    needs = ("active",)

    def __init__(self, passive_weight: float = 0.5):
        if not 0 <= passive_weight <= 1:
            raise ValueError(f"passive_weight must be in [0, 1], got {passive_weight}")
        self.passive_weight = passive_weight
        self.steps = 0

    def fit(self, train, spec, device="cpu"):
        self.attention = train["active"].float().clone()

    def weights_and_targets(self, batch, logits, losses):
        self.steps += 1
        return torch.where(batch["active"] > 0, 1.0, self.passive_weight), batch["label"]

    def state(self):
        return {"steps": self.steps}


class ToyModel(nn.Module):
    default_sequences = ()

    def __init__(self, spec, scale: float = 1.0):
        super().__init__()
        self.linear, self.scale = LinearTerm(spec), scale

    def forward(self, batch):
        return self.linear(batch) * self.scale


def _register(monkeypatch, package, name, **attrs):
    module = types.ModuleType(f"{package.__name__}.{name}")
    module.__dict__.update(attrs)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(package, name, module, raising=False)
    return module


def test_a_toy_method_model_and_source_run_through_the_registries(tmp_path, monkeypatch):
    _register(monkeypatch, methods, "toy", METHOD=ToyMethod)
    monkeypatch.setattr(methods, "METHODS", (*methods.METHODS, "toy"))
    _register(monkeypatch, models, "toy", MODEL=ToyModel)
    monkeypatch.setattr(models, "MODELS", (*models.MODELS, "toy"))

    def read(path, drop_context: bool = False):
        df = pl.read_parquet(Path(path) / "log.parquet")
        return df.drop("context") if drop_context else df

    source = _register(monkeypatch, sources, "toysrc", read=read, OPTIONS={"drop_context": "drop the station"},
                       __doc__="A toy source: a canonical log as Parquet.")
    monkeypatch.setitem(sources.SOURCES, "toysrc", source)
    (tmp_path / "raw").mkdir()
    log = simulate(SimConfig(users=40, items=60, artists=10, sessions=3, seed=0))
    log.write_parquet(tmp_path / "raw" / "log.parquet")

    assert models.default_sequences("toy") == () and models.default_sequences("deepfm") == ("hist",)
    cfg = check_config({"name": "toy", "data": {"source": "toysrc", "path": str(tmp_path / "raw"),
                                                "options": {"drop_context": "true"}},
                        "train": {"epochs": 1, "batch_size": 256, "threads": 1, "progress": False},
                        "seeds": [0], "models": {"toy": {"scale": 2.0}},
                        "methods": {"none": {}, "toy": {"passive_weight": 0.25}}})
    assert cfg["data"]["options"] == {"drop_context": True}
    out = run_experiment(cfg, tmp_path / "out", progress=False)
    run = json.loads((out / "runs" / "toy__toy__seed0.json").read_text())
    assert run["method_state"]["steps"] > 0 and run["model_params"] == {"scale": 2.0}
    assert 0 <= run["method_state"]["att_auc"] <= 1  # a declared attention is scored against the hidden truth
    plain = json.loads((out / "runs" / "toy__none__seed0.json").read_text())
    assert not any(k.startswith("att_") for k in plain["method_state"])
    assert 0 <= run["test"]["auc"] <= 1 and (out / "report.md").is_file()
    with pytest.raises(ConfigError, match=r"methods.toy"):  # the constructor's range check, read by the check
        check_config({**cfg, "methods": {"toy": {"passive_weight": 2.0}}})


def test_every_file_the_recipes_name_exists():
    paths = set(re.findall(r"`((?:denoiserec|tests|docs)/[^`<>]+)`", DOC.read_text()))
    assert len(paths) > 10
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert not missing, missing
