"""``target: dislike`` (DUMN §4.5 / Table 7): a CTR experiment that predicts explicit negative feedback."""

import json

import polars as pl
import pytest
from conftest import make_log

from denoiserec.data.log import write_log
from denoiserec.data.target import relabel
from denoiserec.errors import ConfigError
from denoiserec.experiment import check_config, load_data, run_experiment
from denoiserec.fingerprint import run_fingerprint


def _log_with_dislikes() -> pl.DataFrame:
    """make_log, with half of its skips (those of even items) turned into dislikes."""
    df = make_log()
    even = pl.col("item").cast(pl.Int64) % 2 == 0
    return df.with_columns(feedback=pl.when((pl.col("feedback") == "skip") & even).then(pl.lit("dislike"))
                           .otherwise(pl.col("feedback")))


def _cfg(path, **kw):
    return check_config({"name": "t", "data": {"path": str(path)}, "seeds": [0],
                         "train": {"epochs": 1, "batch_size": 256, "lr": 0.01},
                         "models": {"deepfm": {"embed_dim": 4}}, "methods": {"none": {}}, **kw})


def test_dislike_target_labels_exactly_the_dislikes():
    df = _log_with_dislikes()
    out = relabel(df, "dislike")
    assert out["label"].to_list() == (df["feedback"] == "dislike").cast(pl.Int8).to_list()
    assert out["label"].sum() > 0 and (df["label"] == 1).sum() > 0  # likes/autoplays became 0, dislikes 1
    assert out.filter(pl.col("feedback") == "skip")["label"].sum() == 0  # a skip is implicit, never a dislike
    assert not [c for c in out.columns if c.startswith("true_")]  # the hidden truth describes another target
    assert relabel(df, "click").equals(df)


def test_dislike_target_end_to_end(tmp_path):
    path = write_log(_log_with_dislikes(), tmp_path / "log", source="test")
    cfg = _cfg(path, target="dislike")
    df = load_data(cfg)
    assert df["label"].to_list() == (df["feedback"] == "dislike").cast(pl.Int8).to_list()
    assert run_fingerprint(cfg, "deepfm", "none", 0, "d") != run_fingerprint(_cfg(path), "deepfm", "none", 0, "d")
    run_experiment(cfg, tmp_path / "res", progress=False)
    result = json.loads((tmp_path / "res" / "runs" / "deepfm__none__seed0.json").read_text())
    assert "auc" in result["test"] and "auc_true" not in result["test"]


def test_bad_target_is_one_line_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"target: must be one of \['click', 'dislike'\], got 'hate'"):
        _cfg(tmp_path, target="hate")
    with pytest.raises(ConfigError, match="target: 'dislike' .* data.stream: false"):
        check_config({"data": {"path": str(tmp_path), "stream": True}, "target": "dislike"})
