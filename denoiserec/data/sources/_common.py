"""Helpers shared by the source adapters: reading raw text files with line-exact errors, typed parsing,
sessions from an inactivity gap, positions inside sessions, and (active e, label y) from feedback kinds."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import polars as pl

from denoiserec.data.kinds import FEEDBACK_KINDS
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
                    required: Iterable[str] = (), comment: str | None = None,
                    optional_header: bool = False) -> pl.DataFrame:
    """Read a delimited text file with every column as a string plus :data:`ROW` (its 1-based line).

    ``columns`` names the columns of a header-less file; with ``optional_header`` a first line naming those
    columns (``#``, case and spaces ignored) is skipped, so files with and without it read the same. Raises
    :class:`DataError` with the line (and column) on an empty file, non-UTF-8 bytes, a row with fewer or more
    fields than the header, or a missing required column. Line numbers are physical lines, also after blank
    lines and quoted fields spanning lines.
    """
    if file.stat().st_size == 0:
        raise DataError(file, "the file is empty")
    quote = None if separator == "\t" else '"'
    lines = raw_lines(file)
    starts = record_starts(lines, quote, comment)
    skip = 0
    if not header and optional_header and columns and starts.len():
        first = lines[int(starts[0]) - 1].split(separator)
        if [f.strip().lstrip("#").strip().lower() for f in first] == [c.lower() for c in columns]:
            skip = 1
    expected = len(columns) if columns and not header else None
    if header and starts.len():
        expected = lines[int(starts[0]) - 1].count(separator) + 1
    check_field_counts(file, lines, starts[skip:], separator, quote, expected)
    try:
        df = pl.read_csv(file, separator=separator, has_header=header, new_columns=None if header else columns,
                         infer_schema=False, quote_char=quote, comment_prefix=comment,
                         truncate_ragged_lines=False, skip_rows=skip)
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
    records = starts[skip + (1 if header else 0):]
    if records.len() == df.height:
        return df.with_columns(pl.Series(ROW, records, dtype=pl.Int64))
    first = 2 if header else 1 + skip
    return df.with_row_index(ROW, offset=first).with_columns(pl.col(ROW).cast(pl.Int64))


def raw_lines(file: Path) -> pl.Series:
    """The file's physical lines (null for an empty line); non-UTF-8 bytes are a :class:`DataError` at their
    line."""
    opts = dict(has_header=False, separator="\x1f", quote_char=None, infer_schema=False, new_columns=["line"])
    try:
        return pl.read_csv(file, **opts)["line"]
    except pl.exceptions.PolarsError as e:
        if "utf" not in str(e).lower():
            raise DataError(file, f"cannot read: {str(e).splitlines()[0]}") from e
    lossy = pl.read_csv(file, encoding="utf8-lossy", **opts)["line"]
    bad = lossy.str.contains("\ufffd", literal=True).arg_true()
    raise DataError(file, "not valid UTF-8 text (save the file as UTF-8)", row=int(bad[0]) + 1 if bad.len() else None)


def record_starts(lines: pl.Series, quote: str | None, comment: str | None = None) -> pl.Series:
    """1-based physical line numbers where a record (or the header) starts: not blank, not a comment, not
    inside a quoted field that began on an earlier line."""
    text = lines.fill_null("")
    odd = (text.str.count_matches(quote, literal=True) % 2) if quote else pl.zeros(len(text), eager=True)
    inside = (odd.cum_sum() - odd) % 2  # quotes left open by the lines before
    ok = (text.str.strip_chars() != "") & (inside == 0)
    if comment:
        ok = ok & ~text.str.starts_with(comment)
    return (pl.int_range(1, len(text) + 1, eager=True).filter(ok)).cast(pl.Int64)


def check_field_counts(file: Path, lines: pl.Series, starts: pl.Series, separator: str, quote: str | None,
                       expected: int | None) -> None:
    """Raise :class:`DataError` at the first unquoted record line with fewer or more fields than
    ``expected`` (a short row would otherwise be padded with nulls and shift meanings silently)."""
    if expected is None or starts.len() == 0:
        return
    rec = pl.DataFrame({"line": starts, "text": lines.gather(starts - 1)})
    if quote:
        rec = rec.filter(~pl.col("text").str.contains(quote, literal=True))
    rec = rec.with_columns(n=pl.col("text").str.count_matches(separator, literal=True) + 1)
    bad = rec.filter(pl.col("n") != expected)
    if bad.height:
        n = int(bad["n"][0])
        raise DataError(file, f"{'short' if n < expected else 'long'} row: {n} field(s), expected {expected} "
                        f"({bad.height} such row(s))", row=int(bad["line"][0]))


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


def check_range(df: pl.DataFrame, file: Path, column: str, lo: float | None = None,
                hi: float | None = None) -> None:
    """Raise :class:`DataError` at the first row whose ``column`` lies outside ``[lo, hi]`` (nulls pass)."""
    v = pl.col(column)
    bad = (v < lo if lo is not None else pl.lit(False)) | (v > hi if hi is not None else pl.lit(False))
    hit = df.filter(bad.fill_null(False))
    if hit.height:
        want = f">= {lo}" if hi is None else f"<= {hi}" if lo is None else f"in [{lo}, {hi}]"
        raise DataError(file, f"value {hit[column][0]!r} out of range: must be {want} ({hit.height} bad row(s))",
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
    """Fill ``active`` (e) and ``label`` (y) from the ``feedback`` kind (see kinds.FEEDBACK_KINDS)."""
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
