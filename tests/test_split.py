"""Splits: shares, determinism, and no leakage across train / valid / test."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from denoiserec.data.split import parts, split


@pytest.fixture
def log() -> pl.DataFrame:
    rng = np.random.default_rng(1)
    n = 4000
    users = rng.integers(0, 200, n)
    ts = rng.integers(0, 30 * 86400, n) // 60 * 60  # minute resolution: many ties
    return pl.DataFrame({"user": users.astype(str), "item": rng.integers(0, 50, n).astype(str),
                         "timestamp": ts, "session": (users * 10 + ts // (3 * 86400)).astype(str),
                         "position": np.zeros(n, dtype=np.int32)})


@pytest.mark.parametrize("how", ["temporal", "random", "user", "user_temporal"])
def test_shares_dtype_order_and_seed(log, how):
    s = split(log, how, seed=3)
    assert s["split"].dtype == pl.Int8 and s.drop("split").equals(log)  # rows untouched, order kept
    share = s["split"].value_counts().sort("split")["count"].to_numpy() / log.height
    assert share == pytest.approx([0.8, 0.1, 0.1], abs=0.06)
    assert split(log, how, seed=3)["split"].equals(s["split"])


def test_random_seed_changes_assignment(log):
    assert not split(log, "random", seed=0)["split"].equals(split(log, "random", seed=1)["split"])


def test_temporal_is_leak_free(log):
    train, valid, test = parts(split(log, "temporal"))
    assert train["timestamp"].max() < valid["timestamp"].min() <= valid["timestamp"].max() < test["timestamp"].min()


def test_temporal_days(log):
    s = split(log, "temporal", test_days=3, valid_days=2)
    end = log["timestamp"].max()
    train, valid, test = parts(s)
    assert (test["timestamp"] > end - 3 * 86400).all() and (valid["timestamp"] > end - 5 * 86400).all()
    assert train["timestamp"].max() <= end - 5 * 86400


def test_user_split_disjoint_users(log):
    train, valid, test = parts(split(log, "user"))
    assert not set(train["user"]) & set(test["user"]) and not set(valid["user"]) & set(test["user"])


def test_random_by_session_keeps_sessions_whole(log):
    s = split(log, "random", unit="session")
    assert (s.group_by("session").agg(pl.col("split").n_unique())["split"] == 1).all()


def test_user_temporal_per_user_order(log):
    s = split(log, "user_temporal")
    per = s.group_by("user", "split").agg(lo=pl.col("timestamp").min(), hi=pl.col("timestamp").max())
    w = per.pivot(on="split", index="user", values=["lo", "hi"])
    both = w.drop_nulls(["hi_0", "lo_2"])
    assert both.height > 150 and (both["hi_0"] <= both["lo_2"]).all()
    assert set(s.filter(pl.col("split") == 0)["user"]) == set(log["user"])  # every user trains


def test_bad_arguments(log):
    with pytest.raises(ValueError, match="fractions"):
        split(log, "random", fractions=(0.8, 0.3, 0.1))
    with pytest.raises(ValueError, match="unknown split"):
        split(log, "by_moon")
