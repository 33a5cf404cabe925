"""Reading and writing a prepared data set: a folder with ``events.parquet`` (the canonical log,
see :mod:`denoiserec.data.schema`) and ``meta.json`` (source, options, row count)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from denoiserec.data.schema import conform
from denoiserec.errors import DataError
from denoiserec.io import output_dir

EVENTS = "events.parquet"
META = "meta.json"


def write_log(df: pl.DataFrame, out_dir: str | Path, source: str, inputs: tuple = (), **meta: object) -> Path:
    """Conform ``df`` to the canonical schema and write ``out_dir`` atomically (all or nothing); only a previous
    denoiserec data folder is replaced (:func:`denoiserec.io.output_dir`; ``inputs`` may not be touched)."""
    df = conform(df, source)
    out_dir = Path(out_dir)
    with output_dir(out_dir, "data", inputs) as tmp:
        df.write_parquet(tmp / EVENTS, compression="zstd", row_group_size=1 << 20)
        info = {"source": source, "rows": df.height, "columns": df.columns, **meta}
        (tmp / META).write_text(json.dumps(info, indent=2, default=str) + "\n")
    return out_dir


def read_log(path: str | Path, lazy: bool = False) -> pl.DataFrame | pl.LazyFrame:
    """Read a prepared data set folder (or an ``events.parquet`` file directly)."""
    path = Path(path)
    file = path / EVENTS if path.is_dir() else path
    if not file.exists():
        raise DataError(path, f"no {EVENTS} here: run `denoiserec data prepare` or `denoiserec simulate` first")
    if lazy:
        return pl.scan_parquet(file)
    try:
        df = pl.read_parquet(file)
    except (pl.exceptions.PolarsError, OSError) as e:
        raise DataError(file, f"cannot read as Parquet (truncated or not a Parquet file): "
                        f"{str(e).splitlines()[0][:160]}") from None
    return conform(df, str(file))  # a hand-made or foreign file: checked against the canonical schema


def read_meta(path: str | Path) -> dict:
    meta = Path(path) / META
    return json.loads(meta.read_text()) if meta.exists() else {}
