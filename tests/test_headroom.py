"""Headroom columns (denoiserec.eval.gap, denoiserec.eval.popularity): the oracle (labels := hidden truth, by the
runner), gap closed, the popularity baselines of every task."""

import json
import math

import pytest
import torch
from conftest import make_log

from denoiserec.data.log import write_log
from denoiserec.data.target import oracle_labels
from denoiserec.errors import ConfigError
from denoiserec.eval.gap import add_gap_closed, gap_closed
from denoiserec.eval.popularity import item_positives, popularity_auc_true, popularity_scores
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


def test_item_positives_counts_each_items_positive_rows():
    assert item_positives([2, 0, 2, 1, 2], [1, 1, 0, 0, 1], 4).tolist() == [1.0, 0.0, 2.0, 0.0]


def test_popularity_auc_true_leaves_each_rows_own_label_out():
    import polars as pl

    # every item once, label = truth: with its own label counted the score would be the truth (AUC 1); left out,
    # every row scores 0 (AUC 0.5)
    once = pl.DataFrame({"item": ["a", "b", "c", "d"], "label": [1, 0, 1, 0], "true_preference": [1.0, 0.0, 1.0, 0.0]})
    assert popularity_auc_true(once) == 0.5
    # item a: two positives, b: none; a's rows then score 1 (the other one's label), b's 0
    twice = pl.DataFrame({"item": ["a", "a", "b", "b"], "label": [1, 1, 0, 0],
                          "true_preference": [1.0, 0.0, 0.0, 1.0]})
    assert popularity_auc_true(twice) == 0.5
    liked = twice.with_columns(true_preference=pl.Series([1.0, 1.0, 0.0, 0.0]))
    assert popularity_auc_true(liked) == 1.0 and popularity_auc_true(liked.with_columns(
        true_preference=1.0 - pl.col("true_preference"))) == 0.0


def test_seqrec_gap_closed_per_seed():
    x, floor, ceiling = {0: 0.65, 1: 0.55, 2: 0.7}, {0: 0.5, 1: 0.5, 2: math.nan}, {0: 0.7, 1: 0.6, 2: 0.8}
    assert sorted(gap_closed(x, floor, ceiling)) == pytest.approx([0.5, 0.75])  # seed 2: no floor, left out
    assert gap_closed({0: 0.45}, {0: 0.5}, {0: 0.7}) == pytest.approx([-0.25])  # below the floor: negative
    assert gap_closed({0: 0.6}, {0: 0.5}, {0: 0.5}) == []  # no gap to close
