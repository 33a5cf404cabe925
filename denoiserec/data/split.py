"""Train / validation / test splits of a canonical log, all seeded and leak-free.

``split(df, how)`` adds an Int8 ``split`` column: 0 = train, 1 = valid, 2 = test. With fractions (a, b, c):

* ``temporal`` (default): global time cut. A row goes to train if its timestamp lies before the a-quantile
  of all timestamps, to valid before the (a+b)-quantile, else to test; rows with equal timestamps always share a
  split, so every valid/test row is at or after every train row. ``test_days``/``valid_days`` instead give the
  test set the last days of the log and valid the days before them.
* ``random``: a seeded permutation of rows (or of whole sessions with ``unit="session"``), cut at a and a+b.
* ``user``: a seeded permutation of users; each user's rows all go to one split (cold-start evaluation).
* ``user_temporal``: per user, the earliest a share of the user's rows (by timestamp, session, position) is
  train, the next b valid, the last c test (leave-last-out style; every user is in train).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np
import polars as pl

from denoiserec.settings import NonNeg

How = Literal["temporal", "random", "user", "user_temporal"]
HOWS = get_args(How)
TRAIN, VALID, TEST = 0, 1, 2
DAY = 86400


def _check(fractions: Sequence[float]) -> tuple[float, float]:
    f = [float(x) for x in fractions]
    if len(f) != 3 or min(f) < 0 or abs(sum(f) - 1) > 1e-6:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {tuple(fractions)}")
    return f[0], f[0] + f[1]


def _cut(u: pl.Expr, a: float, ab: float) -> pl.Expr:
    """Map a value u in [0, 1) to 0 / 1 / 2 at the cut points a and a+b."""
    return pl.when(u < a).then(TRAIN).when(u < ab).then(VALID).otherwise(TEST).cast(pl.Int8)


def _seeded_units(df: pl.DataFrame, key: str, seed: int) -> pl.DataFrame:
    """Each distinct value of ``key`` with u in [0, 1): its rank in a seeded permutation / count."""
    keys = df.select(pl.col(key).unique().sort())
    perm = np.random.default_rng(seed).permutation(keys.height)
    return keys.with_columns(_u=pl.Series(perm / max(keys.height, 1)))


def split(df: pl.DataFrame, how: How = "temporal", seed: int = 0, fractions: Sequence[float] = (0.8, 0.1, 0.1),
          unit: Literal["row", "session"] = "row", test_days: NonNeg | None = None,
          valid_days: NonNeg | None = None) -> pl.DataFrame:
    """Return ``df`` with an Int8 ``split`` column (0 train, 1 valid, 2 test); row order is kept."""
    if how not in HOWS:
        raise ValueError(f"unknown split {how!r}; choose one of {HOWS}")
    a, ab = _check(fractions)
    df = df.drop("split", strict=False)
    if how == "temporal":
        if test_days is not None:
            end = df["timestamp"].max()
            t_test = end - float(test_days) * DAY
            t_valid = t_test - float(valid_days or 0) * DAY
            s = (pl.when(pl.col("timestamp") > t_test).then(TEST).when(pl.col("timestamp") > t_valid).then(VALID)
                 .otherwise(TRAIN).cast(pl.Int8))
            return df.with_columns(split=s)
        # rank with ties sharing the lowest rank: equal timestamps never straddle a cut
        u = (pl.col("timestamp").rank("min") - 1) / pl.len()
        return df.with_columns(split=_cut(u, a, ab))
    if how == "user_temporal":
        order = [c for c in ("timestamp", "session", "position") if c in df.columns]
        df = df.with_row_index("_i")
        ranked = df.sort(["user", *order]).with_columns(
            _u=((pl.int_range(pl.len()).over("user") + 1) / pl.len().over("user")))
        # the k-th of n rows goes by k/n <= a (train), <= a+b (valid): a user's last row is test once n >= 1/c
        s = pl.when(pl.col("_u") <= a + 1e-9).then(TRAIN).when(pl.col("_u") <= ab + 1e-9).then(VALID).otherwise(TEST)
        return ranked.with_columns(split=s.cast(pl.Int8)).sort("_i").drop("_i", "_u")
    if how == "user" or (how == "random" and unit == "session"):
        key = "user" if how == "user" else "session"
        units = _seeded_units(df, key, seed)
        return df.join(units, on=key, how="left", maintain_order="left").with_columns(
            split=_cut(pl.col("_u"), a, ab)).drop("_u")
    if unit != "row":
        raise ValueError(f"unit must be 'row' or 'session', got {unit!r}")
    perm = np.random.default_rng(seed).permutation(df.height)
    return df.with_columns(split=_cut(pl.Series(perm / max(df.height, 1)), a, ab))


def parts(df: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(train, valid, test) of a log that has a ``split`` column."""
    return tuple(df.filter(pl.col("split") == k).drop("split") for k in (TRAIN, VALID, TEST))  # type: ignore[return-value]
