"""Headroom columns: the oracle (labels := hidden truth, by the runner), gap closed, the popularity row."""

import json
import math

import pytest
import torch
from conftest import make_log

from denoiserec.data.log import write_log
from denoiserec.data.target import oracle_labels
from denoiserec.errors import ConfigError
from denoiserec.eval.gap import add_gap_closed
from denoiserec.eval.popularity import popularity_scores
from denoiserec.experiment import check_config, run_experiment
from denoiserec.train.encoded import EncodedData


def _cfg(path, **kw):
    return check_config({"name": "h", "data": {"path": str(path)}, "seeds": [0, 1],
                         "train": {"epochs": 2, "batch_size": 256, "lr": 0.01},
                         "models": {"deepfm": {"embed_dim": 4}},
                         "methods": {"none": {}, "oracle": {"oracle": True}}, "baseline": "none", **kw})


def test_oracle_popularity_and_gap_in_report(tmp_path):
    log = write_log(make_log(), tmp_path / "log", source="test")
    out = tmp_path / "res"
    run_experiment(_cfg(log), out, progress=False)
    oracle = json.loads((out / "runs" / "deepfm__oracle__seed0.json").read_text())
    none = json.loads((out / "runs" / "deepfm__none__seed0.json").read_text())
    assert oracle["oracle"] is True and oracle["method_module"] == "none" and "oracle" not in none
    pop = json.loads((out / "popularity.json").read_text())
    assert pop["model"] == "popularity" and 0.0 <= pop["test"]["auc_true"] <= 1.0
    text = (out / "report.md").read_text()
    assert "gap_auc_true" in text and "| popularity | popularity |" in text
    row = next(line for line in text.splitlines() if line.startswith("| deepfm | oracle |"))
    if oracle["test"]["auc_true"] > none["test"]["auc_true"]:
        assert "+1.00" in row  # the oracle closes its own gap


def test_oracle_needs_truth_and_a_visible_label(tmp_path):
    with pytest.raises(ConfigError, match="must start with 'oracle'"):
        _cfg(tmp_path, methods={"none": {}, "clean": {"oracle": True}})
    log = write_log(make_log().drop("true_preference"), tmp_path / "log", source="test")
    with pytest.raises(ConfigError, match="true_preference"):
        run_experiment(_cfg(log), tmp_path / "res", progress=False)


def test_oracle_labels_substitute_truth_only():
    part = EncodedData({"label": torch.tensor([1.0, 1.0, 0.0]), "active": torch.tensor([0.0, 1.0, 0.0]),
                        "true_preference": torch.tensor([0.0, 1.0, 1.0])})
    o = oracle_labels(part)
    assert o["label"].tolist() == [0.0, 1.0, 1.0] and o["active"].tolist() == [0.0, 1.0, 0.0]
    assert part["label"].tolist() == [1.0, 1.0, 0.0]  # the original is untouched


def test_gap_closed_formula():
    rows = [{"model": "m", "method": "none", "auc": (0.50, 0)}, {"model": "m", "method": "oracle", "auc": (0.70, 0)},
            {"model": "m", "method": "x", "auc": (0.55, 0)}, {"model": "m", "method": "y", "auc": (0.45, 0)}]
    add_gap_closed(rows, "none", {("m", "oracle")}, ("auc",))
    gap = {r["method"]: r["gap_auc"] for r in rows}
    assert gap["x"] == pytest.approx(0.25) and gap["y"] == pytest.approx(-0.25)
    assert gap["none"] == 0.0 and gap["oracle"] == 1.0
    worse = [{"model": "m", "method": "none", "auc": (0.6, 0)}, {"model": "m", "method": "oracle", "auc": (0.5, 0)}]
    add_gap_closed(worse, "none", {("m", "oracle")}, ("auc",))
    assert math.isnan(worse[0]["gap_auc"])  # no gap to close


def test_popularity_scores_count_training_positives():
    class Spec:
        item_field = 0

    train = EncodedData({"cat": torch.tensor([[1], [1], [2], [3]]), "label": torch.tensor([1.0, 1.0, 1.0, 0.0])})
    test = EncodedData({"cat": torch.tensor([[1], [2], [3], [4]]), "label": torch.zeros(4)})
    s = popularity_scores(train, test, Spec())
    assert s.tolist() == pytest.approx([math.log(3), math.log(2), 0.0, 0.0])
