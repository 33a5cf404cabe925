"""The Python API (:mod:`denoiserec.api`): the README's block runs as written, ``fit`` is the CLI's ``train``
(same config), every sequence model runs through ``run`` without a ``features`` section."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

import denoiserec as dr
from denoiserec.api import train_config
from denoiserec.cli import app
from denoiserec.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
TINY = {"users": 40, "items": 150, "sessions": 3}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DENOISEREC_CACHE", str(tmp_path / "cache"))


def readme_block() -> str:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- python-api:[^>]*-->\n```python\n(.*?)```", text, re.S)
    assert m, "README: the Python API block is gone"
    return m.group(1)


def test_readme_python_block_runs_as_written(tmp_path, monkeypatch, capsys):
    block = readme_block()
    assert len(block.strip().splitlines()) <= 15
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "dien" in out and "lcd" in out and "popularity" in out
    assert (tmp_path / "runs/py_din/bundles/din__lcd__seed0/bundle.json").is_file()


def test_fit_is_the_cli_train(tmp_path):
    """The CLI's ``train`` and ``fit`` write the same config (one code path), ``--set``/``--split`` included."""
    log = dr.simulate(**TINY)
    data = tmp_path / "data"
    dr.prepare(log, out=data)
    res = CliRunner().invoke(app, ["train", "--data", str(data), "--model", "dsin", "--method", "lcd", "--epochs",
                                   "1", "--batch-size", "128", "-p", "a=5", "--split", "random", "--set",
                                   "train.patience=1", "--no-progress", "-o", str(tmp_path / "cli")])
    assert res.exit_code == 0, res.output
    b = dr.fit(data, model="dsin", method="lcd", epochs=1, batch_size=128, method_params={"a": 5},
               split={"how": "random"}, patience=1, progress=False, out=tmp_path / "py")
    cli_cfg = yaml.safe_load((tmp_path / "cli/config.yaml").read_text())
    py_cfg = yaml.safe_load((tmp_path / "py/config.yaml").read_text())
    assert cli_cfg == py_cfg
    assert cli_cfg["split"] == {"how": "random"} and cli_cfg["train"]["patience"] == 1
    assert cli_cfg["features"]["sequences"] == {"click": {"max_len": 20}}  # DSIN's default sequence
    cli_run = dr.Results(tmp_path / "cli").runs[0]
    py_run = dr.Results(tmp_path / "py").runs[0]
    assert cli_run["fingerprint"] == py_run["fingerprint"]
    assert cli_run["test"]["auc"] == pytest.approx(py_run["test"]["auc"], abs=1e-6)
    assert b.meta["model"] == "dsin" and len(b.predict(log.head(20)).scores) == 20


def test_fit_accepts_frames_and_checks_settings(tmp_path):
    log = dr.simulate(**TINY)
    with pytest.raises(ConfigError, match="unknown setting"):
        dr.fit(log, model="din", epoch=1)
    with pytest.raises(ConfigError, match="train.epochs"):
        dr.fit(log, model="din", epochs=0, out=tmp_path / "r")
    cfg = train_config(log, "din", "none", batch_size=64, target="click")
    assert cfg["train"]["batch_size"] == 64 and cfg["target"] == "click"
    assert cfg["features"]["sequences"] == {"hist": {"max_len": 20}}
    # the same rows -> the same cached folder; other rows -> another
    assert train_config(log, "din")["data"] == cfg["data"]
    assert train_config(log.head(100), "din")["data"] != cfg["data"]
    renamed = log.rename({"user": "listener", "item": "song"}).select("listener", "song", "timestamp", "label",
                                                                      "active")
    spec = {"columns": {"user": "listener", "item": "song", "timestamp": "timestamp"},
            "feedback": {"label": "label", "active": "active"}}
    got = dr.prepare(renamed, spec=spec)
    assert got.height == log.height
    assert sorted(got["user"].to_list()) == sorted(log["user"].cast(pl.Utf8).to_list())
    assert got["label"].sum() == log["label"].sum()


def test_every_sequence_model_runs_through_run_without_features(tmp_path):
    models = {m: {} for m in ("din", "dien", "dsin", "dmt", "dfn", "dumn")}
    models["din_click"] = {"model": "din", "sequences": ["click"]}
    res = dr.run({"data": {"simulate": TINY}, "models": models, "seeds": [0], "train": {"epochs": 1}},
                 out=tmp_path / "r", progress=False)
    assert res.config["features"]["sequences"].keys() == {"hist", "click", "unclick", "like", "dislike"}
    assert sorted(r["model"] for r in res.runs if r["model"] != "popularity") == sorted(models)
    assert res.bundle("dumn").meta["model"] == "dumn"
    with pytest.raises(ConfigError, match="no bundle"):
        res.bundle("deepfm")
