"""Adapters for public data sets: each reads the original downloaded files and returns the canonical log
(:mod:`denoiserec.data.schema`). ``SOURCES`` maps a name to its module; every module has ``read(path, **options)``,
an ``OPTIONS`` dict (option -> help) and a docstring with its files and feedback mapping (see docs/data.md).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from types import ModuleType

import polars as pl

from denoiserec.data.schema import conform
from denoiserec.data.sources import kuairand, lastfm1k, mssd, music30, piki, table, taobao
from denoiserec.errors import DataError

SOURCES: dict[str, ModuleType] = {
    "mssd": mssd,
    "lastfm1k": lastfm1k,
    "music30": music30,
    "piki": piki,
    "taobao": taobao,
    "kuairand": kuairand,
    "table": table,
}


def summary(name: str) -> str:
    """First line of a source's docstring."""
    return (SOURCES[name].__doc__ or "").strip().splitlines()[0]


def read(name: str, path: str | Path, **options: object) -> pl.DataFrame:
    """Read source ``name`` from ``path`` (a folder or a file) into a conformed canonical log.

    Unknown sources or options raise :class:`DataError`; option values may be strings (from the CLI).
    """
    if name not in SOURCES:
        raise DataError(path, f"unknown source {name!r}; known: {sorted(SOURCES)}")
    module = SOURCES[name]
    allowed = [p for p in inspect.signature(module.read).parameters if p != "path"]
    unknown = [k for k in options if k not in allowed]
    if unknown:
        raise DataError(path, f"source {name!r} has no option(s) {unknown}; options: {allowed}")
    return conform(module.read(path, **options), str(path))
