"""Helpers shared by the source adapters: reading raw text files with line-exact errors, typed parsing,
sessions from an inactivity gap, positions inside sessions, and (active e, label y) from feedback kinds."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from denoiserec.data.kinds import FEEDBACK_KINDS
from denoiserec.errors import DataError

ROW = "_row"  #: 1-based line number in the source file, kept until the adapter drops it
DEFAULT_GAP = 1800  #: seconds of inactivity that end a derived session (30 minutes, the usual choice)
#: the range of a timestamp, in epoch seconds: years 1 to 9999 (what a date-time can hold)
EPOCH_RANGE = (-62_135_596_800, 253_402_300_799)


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


#: records sampled from a file's head to tell a header line from data (:func:`header_by_content`)
PROBE_ROWS = 20


def read_text_table(file: Path, columns: list[str] | None = None, separator: str = ",", header: bool | str = True,
                    required: Iterable[str] = (), comment: str | None = None,
                    probe: dict[str, pl.Expr | pl.DataType] | None = None, source: str = "this source",
                    hint: str = "") -> pl.DataFrame:
    """Read a delimited text file with every column as a string plus :data:`ROW` (its 1-based line).

    ``header``: True -- the first record names the columns (if it misses a ``required`` column and looks like
    data, the error says the header line looks missing, ``hint`` appended); False -- no header, ``columns``
    names them; ``"skip"`` -- a header line, skipped, ``columns`` names them; ``"auto"``
    -- ``columns`` names them and the first record is skipped when it is a header by content
    (:func:`header_by_content` with the typed columns of ``probe``, parsed as :func:`parse` would) or names
    ``columns`` (``#``, case and spaces ignored). Raises :class:`DataError` with the line (and column) on an
    empty file, non-UTF-8 bytes, a row with fewer or more fields than the header (quoted fields counted as
    one), or a missing required column. Line numbers are physical lines, also after blank lines and quoted
    fields spanning lines.
    """
    if file.stat().st_size == 0:
        raise DataError(file, "the file is empty")
    quote = None if separator == "\t" else '"'
    lines = raw_lines(file)
    starts = record_starts(lines, quote, comment)
    if not starts.len():
        raise DataError(file, "the file has no data rows")
    sample = sample_records(lines, starts, separator, quote)
    first = int(starts[0])
    skip = 0
    if header == "auto":
        named = [f.strip().lstrip("#").strip().lower() for f in sample[0]] == [c.lower() for c in columns or []]
        skip = int(named or header_by_content(sample, columns or [], probe or {}))
    elif header == "skip":
        skip = 1
    elif header is True:
        missing = [c for c in required if c not in [f.strip().lstrip("#") for f in sample[0]]]
        if missing and looks_like_data(sample):
            raise DataError(file, f"the first line looks like data, not a header: {_preview(sample[0])}; "
                            f"{source} expects a header line naming the columns {list(required)}{hint}", row=first)
    has_header = header is True
    expected = len(sample[0]) if has_header else len(columns) if columns else None
    check_field_counts(file, lines, starts[skip:], separator, quote, expected)
    try:
        df = pl.read_csv(file, separator=separator, has_header=has_header, new_columns=None if has_header else columns,
                         infer_schema=False, quote_char=quote, comment_prefix=comment,
                         truncate_ragged_lines=False, skip_rows=first - 1 + skip if skip else 0)
    except pl.exceptions.PolarsError as e:
        raise DataError(file, f"cannot read as a '{separator}'-separated table: {str(e).splitlines()[0]}") from e
    if has_header:
        df = df.rename({c: c.strip().lstrip("#") for c in df.columns})
    if df.height == 0:
        raise DataError(file, "the file has no data rows")
    missing = [c for c in required if c not in df.columns]
    if missing:
        found = df.columns if len(df.columns) <= 12 else [*df.columns[:12], f"... ({len(df.columns)} in all)"]
        raise DataError(file, f"missing column(s) {missing}; found {found}", row=first if has_header else None,
                        column=missing[0])
    records = starts[skip + (1 if has_header else 0):]
    if records.len() == df.height:
        return df.with_columns(pl.Series(ROW, records, dtype=pl.Int64))
    return df.with_row_index(ROW, offset=first + 1 if has_header or skip else first).with_columns(
        pl.col(ROW).cast(pl.Int64))


def sample_records(lines: pl.Series, starts: pl.Series, separator: str, quote: str | None,
                   n: int = PROBE_ROWS) -> list[list[str]]:
    """The fields of the first ``n`` records (quoted fields read as the CSV reader reads them)."""
    s = starts.head(n + 1).to_list()
    out = []
    for k in range(min(n, len(s))):
        end = s[k + 1] - 1 if k + 1 < len(s) else min(len(lines), s[k] + 50)
        text = "\n".join(x or "" for x in lines.slice(s[k] - 1, end - s[k] + 1).to_list())
        rows = csv.reader(io.StringIO(text), delimiter=separator, quotechar=quote or '"',
                          quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE)
        out.append(next(rows, []))
    return out


def head_sample(file: Path, separator: str = ",", n: int = PROBE_ROWS) -> list[list[str]]:
    """The fields of a file's first ``n`` non-blank lines, read without loading the file (a huge log)."""
    quoting = csv.QUOTE_NONE if separator == "\t" else csv.QUOTE_MINIMAL  # as read_text_table reads them
    with open(file, newline="", encoding="utf-8", errors="replace") as f:
        rows = (r for r in csv.reader(f, delimiter=separator, quoting=quoting) if r)
        return [r for _, r in zip(range(n), rows, strict=False)]


def header_by_content(sample: list[list[str]], columns: list[str], probe: dict[str, pl.Expr | pl.DataType]
                      ) -> bool:
    """Whether the first sampled record is a header line: one of the typed columns of ``probe`` (a column name:
    a dtype or an expression over it, as in :func:`parse`) fails to parse on it (or it has no such field) while
    it parses on every following sampled record. A file of one record has no header."""
    if len(sample) < 2:
        return False
    frame = pl.DataFrame([[row[j] if j < len(row) else None for row in sample] for j in range(len(columns))],
                         schema=dict.fromkeys(columns, pl.Utf8), orient="col")
    for c, how in probe.items():
        raw = pl.col(c).str.strip_chars()
        ok = frame.select((how if isinstance(how, pl.Expr) else raw.cast(how, strict=False)).is_not_null())
        ok = ok.to_series().to_list()
        if not ok[0] and all(ok[1:]):
            return True
    return False


def _number(text: str | None) -> bool:
    try:
        return text is not None and math.isfinite(float(text.strip()))
    except ValueError:
        return False


def looks_like_data(sample: list[list[str]]) -> bool:
    """Whether the first sampled record looks like data rather than a header: in some column it holds a number
    as every following record does, and in no column does it fail to be one where every following record is."""
    if len(sample) < 2:
        return False
    width = min(len(r) for r in sample)
    data = header = False
    for j in range(width):
        if all(_number(r[j]) for r in sample[1:]):
            if _number(sample[0][j]):
                data = True
            else:
                header = True
    return data and not header


def _preview(fields: list[str], n: int = 80) -> str:
    text = ",".join(fields)
    return repr(text if len(text) <= n else text[:n] + "...")


#: leading bytes of files that are not delimited text (compressed archives, columnar formats)
BINARY_MAGIC = {b"\x1f\x8b": "gzip", b"PK\x03\x04": "zip", b"BZh": "bzip2", b"\x28\xb5\x2f\xfd": "zstd",
                b"\xfd7zXZ\x00": "xz", b"PAR1": "Parquet"}
COMPRESSED = ("gzip", "zip", "bzip2", "zstd", "xz")


def raw_lines(file: Path) -> pl.Series:
    """The file's physical lines (null for an empty line); non-UTF-8 bytes are a :class:`DataError` at their
    line."""
    with open(file, "rb") as f:
        head = f.read(8)
    for magic, kind in BINARY_MAGIC.items():
        if head.startswith(magic):
            raise DataError(file, f"is a {kind} file, not delimited text"
                            + (" (decompress it first)" if kind in COMPRESSED else ""))
    opts = dict(has_header=False, separator="\x1f", quote_char=None, infer_schema=False, new_columns=["line"])
    try:
        return pl.read_csv(file, **opts)["line"]
    except (pl.exceptions.PolarsError, OSError) as e:
        if "utf" not in str(e).lower():
            raise DataError(file, f"cannot read as text: {str(e).splitlines()[0]}") from e
    try:
        lossy = pl.read_csv(file, encoding="utf8-lossy", **opts)["line"]
    except (pl.exceptions.PolarsError, OSError) as e:  # bytes that are not text at all
        raise DataError(file, "not a text file (binary content); give the delimited text file") from e
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
    """Raise :class:`DataError` at the first record with fewer or more fields than ``expected`` (a short row
    would otherwise be padded with nulls and shift meanings silently). A quoted field counts as one field, also
    when it holds the separator or spans lines."""
    if expected is None or starts.len() == 0:
        return
    text = lines.fill_null("")
    rec = pl.DataFrame({"line": starts, "text": text.gather(starts - 1)})
    if quote:
        q = re.escape(quote)
        odd = rec["text"].str.count_matches(quote, literal=True) % 2 == 1
        if odd.any():  # a record spanning lines (a quoted line break): its lines up to the next record, joined
            nxt = pl.concat([starts.slice(1), pl.Series([len(text) + 1], dtype=starts.dtype)])
            all_lines, texts = text.to_list(), rec["text"].to_list()
            for k, a, b in zip(odd.arg_true().to_list(), starts.filter(odd).to_list(), nxt.filter(odd).to_list(),
                               strict=True):
                texts[k] = "\n".join(all_lines[a - 1:b - 1])
            rec = rec.with_columns(text=pl.Series(texts, dtype=pl.Utf8))
    count = pl.col("text").str.count_matches(separator, literal=True) + 1
    if quote:  # only records with a quote: quoted fields dropped before counting separators
        quoted = rec["text"].str.contains(quote, literal=True)
        plain = rec.filter(~quoted).with_columns(n=count)
        rec = pl.concat([plain, rec.filter(quoted).with_columns(pl.col("text").str.replace_all(f"{q}[^{q}]*{q}", ""))
                         .with_columns(n=count)]).sort("line")
    else:
        rec = rec.with_columns(n=count)
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
