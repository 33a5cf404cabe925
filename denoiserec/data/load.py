"""The canonical log named by an experiment config's ``data`` section -- the one loader that every task
(:mod:`denoiserec.tasks`: CTR and sequential recommendation) and :mod:`denoiserec.experiment` import."""

from __future__ import annotations

import polars as pl

from denoiserec.errors import ConfigError


def load_log(data: dict, warnings: list | None = None) -> pl.DataFrame:
    """The canonical log named by a config's ``data`` section: ``simulate``, ``source`` + ``path`` (raw files) or
    ``path`` (a prepared folder); its unlabelled rows (null ``feedback``, :mod:`denoiserec.data.schema`) are
    dropped, with a warning (appended to ``warnings`` when given): nothing trains on them."""
    df = _load(data)
    n = df["feedback"].null_count()
    if n:
        from denoiserec.notices import warn

        warn(f"data: {n:,} unlabelled row(s) (no feedback) left out of training; they are for scoring", warnings)
        df = df.filter(pl.col("feedback").is_not_null())
    return df


def _load(data: dict) -> pl.DataFrame:
    if "simulate" in data:
        from denoiserec.data.simulate import SimConfig, simulate

        return simulate(SimConfig.from_dict(data["simulate"]))
    if "source" in data:
        from denoiserec.data.sources import read

        return read(data["source"], data["path"], **(data.get("options") or {}))
    if "path" in data:
        from denoiserec.data.log import read_log

        return read_log(data["path"])
    raise ConfigError("data: give one of 'simulate', 'source' + 'path', or 'path'")
