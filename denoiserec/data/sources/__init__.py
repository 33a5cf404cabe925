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
from denoiserec.errors import ConfigError, DataError
from denoiserec.validate import at_least, between, check_params, greater_than

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


#: ranges of the numeric options shared by several adapters
OPTION_RULES = {"gap": greater_than(0), "skip_seconds": at_least(0), "skip_ratio": between(0, 1)}


def check_options(name: object, options: object, where: str = "--opt") -> dict:
    """``options`` of source ``name`` checked against its ``read`` signature (names, types, ranges); string
    values (from the command line) are parsed to the option's type; the ``table`` source's mapping file is
    checked too (:class:`~denoiserec.data.sources.table.MappingError`, a ConfigError). Raises :class:`ConfigError`."""
    if name not in SOURCES:
        raise ConfigError(f"{where}: unknown source {name!r}; known: {', '.join(sorted(SOURCES))}")
    options = check_params(SOURCES[name].read, options, where, skip=("path",), rules=OPTION_RULES, text=True)
    if name == "table" and options.get("spec") is not None:
        table.load_spec(options["spec"])  # the mapping's keys and value types, before any data is read
    return options


def read(name: str, path: str | Path, **options: object) -> pl.DataFrame:
    """Read source ``name`` from ``path`` (a folder or a file) into a conformed canonical log.

    Unknown sources are a :class:`DataError`; unknown or bad options a :class:`ConfigError` naming the option;
    option values may be strings (from the CLI).
    """
    if name not in SOURCES:
        raise DataError(path, f"unknown source {name!r}; known: {sorted(SOURCES)}")
    module = SOURCES[name]
    allowed = [p for p in inspect.signature(module.read).parameters if p != "path"]
    unknown = [k for k in options if k not in allowed]
    if unknown:
        raise DataError(path, f"source {name!r} has no option(s) {unknown}; options: {allowed}")
    options = check_options(name, options, f"source {name} option")
    return conform(module.read(path, **options), str(path))
