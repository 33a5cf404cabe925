"""The canonical feedback log: one schema every source maps onto and every method reads.

One row is one exposure of an item to a user (a play, an impression). Columns:

=================  =========  ==========================================================================
column             type       meaning
=================  =========  ==========================================================================
user               str        user id as in the source
item               str        item (song, ad, video) id as in the source
timestamp          int64      seconds since the Unix epoch, UTC
session            str        session id (the source's, or derived from an inactivity gap)
position           int32      0-based position of the row inside its session
feedback           str        raw feedback kind, one of :data:`~denoiserec.data.kinds.FEEDBACK_KINDS`
active             int8       e: 1 = the user acted (like, skip, click ...), 0 = passive (auto-play)
label              int8       y: 1 = positive, 0 = negative (the *noisy* training label)
=================  =========  ==========================================================================

Optional columns every source may fill: ``context`` (station / context type, str), ``played_ratio``
(float32), ``hour`` (int8), ``artist`` (str), ``category`` (str), ``split`` (int8: 0 train, 1 valid, 2 test,
when the source ships its own split). An *unlabelled* row (a candidate to score, a play whose feedback the
log does not know) has ``feedback``, ``active`` and ``label`` all null: it is scored and never enters a
history (docs/serving.md), and training drops it (:func:`denoiserec.data.load.load_log`, saying how many).
Further side features are kept with
the prefix ``f_`` (str or numeric). Hidden ground truth from the simulator is kept with the prefix
``true_`` (``true_attention``, ``true_preference``): training code never reads those columns, only
evaluation does.
"""

from __future__ import annotations

import polars as pl

from denoiserec.data.kinds import FEEDBACK_KINDS

REQUIRED: dict[str, pl.DataType] = {
    "user": pl.Utf8,
    "item": pl.Utf8,
    "timestamp": pl.Int64,
    "session": pl.Utf8,
    "position": pl.Int32,
    "feedback": pl.Utf8,
    "active": pl.Int8,
    "label": pl.Int8,
}

OPTIONAL: dict[str, pl.DataType] = {
    "context": pl.Utf8,
    "played_ratio": pl.Float32,
    "hour": pl.Int8,
    "artist": pl.Utf8,
    "category": pl.Utf8,
    "split": pl.Int8,
}

SIDE_PREFIX = "f_"
TRUTH_PREFIX = "true_"


def truth_columns(columns: list[str]) -> list[str]:
    """Hidden ground-truth columns (simulator only) -- never features."""
    return [c for c in columns if c.startswith(TRUTH_PREFIX)]


def conform(df: pl.DataFrame, source: str) -> pl.DataFrame:
    """Cast ``df`` to the canonical schema, check it, and order its columns.

    Raises :class:`denoiserec.errors.DataError` naming ``source`` on a missing required column,
    an unknown feedback kind or an inconsistent ``active``/``label`` value; its line is the row's in a file
    with a header line (the first row is line 2, as the sources count). A null ``feedback`` makes the row
    unlabelled (``active``/``label`` null too, see above).
    """
    from denoiserec.errors import DataError

    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise DataError(source, column=missing[0], message=f"missing required column(s) {missing}")
    unknown = [
        c for c in df.columns
        if c not in REQUIRED and c not in OPTIONAL and not c.startswith((SIDE_PREFIX, TRUTH_PREFIX))
    ]
    if unknown:
        raise DataError(source, column=unknown[0], message=f"column(s) {unknown} are not in the schema; "
                        f"prefix side features with '{SIDE_PREFIX}'")
    casts = {c: t for c, t in {**REQUIRED, **OPTIONAL}.items() if c in df.columns}
    df = df.with_columns([pl.col(c).cast(t, strict=False) for c, t in casts.items()])
    labelled = pl.col("feedback").is_not_null()
    for c in REQUIRED:
        bad_rows = pl.col(c).is_null() & (labelled if c in ("active", "label") else pl.lit(True))
        n_null = df.select(bad_rows.sum()).item() if c != "feedback" else 0
        if n_null:
            row = int(df.with_row_index("_r").filter(bad_rows)["_r"][0]) + 2  # header = line 1
            raise DataError(source, row=row, column=c, message=f"{n_null} null or unparseable value(s)")
    if df["feedback"].null_count():  # unlabelled rows: no label, no activity
        df = df.with_columns([pl.when(labelled).then(pl.col(c)).alias(c) for c in ("active", "label")])
    bad = df.filter(labelled & ~pl.col("feedback").is_in(list(FEEDBACK_KINDS)))
    if bad.height:
        raise DataError(source, column="feedback",
                        message=f"unknown feedback kind {bad['feedback'][0]!r}; known: {list(FEEDBACK_KINDS)}")
    for c in ("active", "label"):
        out = df.filter(labelled & ~pl.col(c).is_in([0, 1]))
        if out.height:
            raise DataError(source, column=c, message=f"values must be 0 or 1, found {out[c][0]}")
    ordered = [c for c in REQUIRED] + [c for c in OPTIONAL if c in df.columns]
    ordered += sorted(c for c in df.columns if c.startswith(SIDE_PREFIX))
    ordered += sorted(c for c in df.columns if c.startswith(TRUTH_PREFIX))
    return df.select(ordered)
