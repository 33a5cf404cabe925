"""Helpers shared by the source adapters: reading raw text files with line-exact errors, typed parsing,
sessions from an inactivity gap, positions inside sessions, and (active e, label y) from feedback kinds."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import polars as pl

from denoiserec.data.schema import FEEDBACK_KINDS
from denoiserec.errors import DataError

ROW = "_row"  #: 1-based line number in the source file, kept until the adapter drops it
DEFAULT_GAP = 1800  #: seconds of inactivity that end a derived session (30 minutes, the usual choice)


def find(path: str | Path, patterns: Iterable[str], what: str, required: bool = True) -> list[Path]:
    """Files matching ``patterns`` under ``path`` (a folder, searched recursively), or ``path`` itself."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.exists():
        raise DataError(path, "no such file or folder")
    for pattern in patterns:
        hits = sorted(p for p in path.rglob(pattern) if p.is_file())
        if hits:
            return hits
    if required:
        raise DataError(path, f"no {what} found here (looked for {', '.join(patterns)})")
    return []


def read_text_table(file: Path, columns: list[str] | None = None, separator: str = ",", header: bool = True,
                    required: Iterable[str] = (), comment: str | None = None) -> pl.DataFrame:
    """Read a delimited text file with every column as a string plus :data:`ROW` (its 1-based line).

    ``columns`` names the columns of a header-less file. Raises :class:`DataError` on an empty file, a
    missing required column or a ragged line.
    """
    if file.stat().st_size == 0:
        raise DataError(file, "the file is empty")
    try:
        df = pl.read_csv(file, separator=separator, has_header=header, new_columns=None if header else columns,
                         infer_schema=False, quote_char=None if separator == "\t" else '"', comment_prefix=comment,
                         truncate_ragged_lines=False)
    except pl.exceptions.PolarsError as e:
        raise DataError(file, f"cannot read as a '{separator}'-separated table: {str(e).splitlines()[0]}") from e
    if header:
        df = df.rename({c: c.strip().lstrip("#") for c in df.columns})
    if df.height == 0:
        raise DataError(file, "the file has no data rows")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(file, f"missing column(s) {missing}; found {df.columns}", row=1 if header else None,
                        column=missing[0])
    first = 2 if header else 1
    return df.with_row_index(ROW, offset=first).with_columns(pl.col(ROW).cast(pl.Int64))


def parse(df: pl.DataFrame, file: Path, casts: dict[str, pl.Expr | pl.DataType],
          optional: Iterable[str] = ()) -> pl.DataFrame:
    """Parse string columns: ``casts`` maps a column to a dtype or an expression over it.

    A value that is present but does not parse raises :class:`DataError` with its line and column; an
    absent (empty) value does too, unless the column is listed in ``optional``.
    """
    optional = set(optional)
    exprs = {}
    for c, how in casts.items():
        raw = pl.col(c).str.strip_chars()
        exprs[c] = (how if isinstance(how, pl.Expr) else raw.cast(how, strict=False)).alias(c)
    parsed = df.with_columns(**{f"_ok_{c}": e for c, e in exprs.items()})
    for c in casts:
        bad = pl.col(f"_ok_{c}").is_null()
        if c in optional:
            bad = bad & pl.col(c).is_not_null() & (pl.col(c).str.strip_chars() != "")
        hit = parsed.filter(bad)
        if hit.height:
            value = hit[c][0]
            what = "empty value" if value is None or not value.strip() else f"cannot parse {value!r}"
            raise DataError(file, f"{what} ({hit.height} bad row(s))", row=int(hit[ROW][0]), column=c)
    return parsed.drop(list(casts)).rename({f"_ok_{c}": c for c in casts})


def check_values(df: pl.DataFrame, file: Path, column: str, allowed: Iterable[object]) -> None:
    """Raise :class:`DataError` at the first row whose ``column`` is not in ``allowed``."""
    allowed = list(allowed)
    hit = df.filter(~pl.col(column).is_in(allowed) | pl.col(column).is_null())
    if hit.height:
        raise DataError(file, f"unexpected value {hit[column][0]!r}; expected one of {allowed}",
                        row=int(hit[ROW][0]) if ROW in hit.columns else None, column=column)


def bool_expr(column: str) -> pl.Expr:
    """'True'/'False'/'1'/'0' (any case) -> Boolean; anything else -> null."""
    v = pl.col(column).str.strip_chars().str.to_lowercase()
    return pl.when(v.is_in(["true", "1"])).then(True).when(v.is_in(["false", "0"])).then(False).otherwise(None)


def datetime_expr(column: str, fmt: str) -> pl.Expr:
    """A date-time string in ``fmt`` (UTC) -> seconds since the epoch (Int64); null when unparseable."""
    return (pl.col(column).str.strip_chars().str.strptime(pl.Datetime("us"), fmt, strict=False)
            .dt.epoch("s").cast(pl.Int64))


def derive_sessions(df: pl.DataFrame, gap: float = DEFAULT_GAP, order: Iterable[str] = ()) -> pl.DataFrame:
    """Cut each user's time-ordered events into sessions at every pause longer than ``gap`` seconds.

    Session ids are ``<user>:<k>`` (k = the user's 0-based session count); ``position`` is the 0-based
    rank inside the session. ``order`` breaks timestamp ties (e.g. the source line).
    """
    df = df.sort(["user", "timestamp", *order])
    new = (pl.col("timestamp").diff().over("user").fill_null(gap + 1) > gap).cast(pl.Int32)
    k = new.cum_sum().over("user") - 1
    df = df.with_columns(session=pl.col("user") + ":" + k.cast(pl.Utf8))
    return df.with_columns(position=pl.int_range(pl.len()).over("session").cast(pl.Int32))


def positions(df: pl.DataFrame, order: Iterable[str] = ("timestamp",)) -> pl.DataFrame:
    """0-based position inside each existing session, by ``order``."""
    df = df.sort(["session", *order])
    return df.with_columns(position=pl.int_range(pl.len()).over("session").cast(pl.Int32))


def with_kinds(df: pl.DataFrame) -> pl.DataFrame:
    """Fill ``active`` (e) and ``label`` (y) from the ``feedback`` kind (see schema.FEEDBACK_KINDS)."""
    kinds = list(FEEDBACK_KINDS)
    e = [FEEDBACK_KINDS[k][0] for k in kinds]
    y = [FEEDBACK_KINDS[k][1] for k in kinds]
    return df.with_columns(active=pl.col("feedback").replace_strict(kinds, e, return_dtype=pl.Int8),
                           label=pl.col("feedback").replace_strict(kinds, y, return_dtype=pl.Int8))


def hour_of(ts: str = "timestamp") -> pl.Expr:
    """Hour of day (UTC) of an epoch-seconds column."""
    return ((pl.col(ts) // 3600) % 24).cast(pl.Int8)


def finish(df: pl.DataFrame, order: Iterable[str] = ("user", "timestamp", "session", "position")) -> pl.DataFrame:
    """Drop helper columns and sort the log by user, time, session, position."""
    return df.drop([c for c in df.columns if c.startswith("_")]).sort(list(order))
