"""Spotify Music Streaming Sessions Dataset (MSSD), training-log format.

Expected files: ``training_set/log_*.csv`` (or any ``*.csv`` / one CSV given directly) with the columns
session_id, session_position, track_id_clean, skip_1, skip_2, skip_3, not_skipped, context_type,
hist_user_behavior_reason_start, hour_of_day, date, ...; optionally ``track_features/tf_*.csv``.

Mapping (one row = one play; MSSD has no user ids, so the session is the user):

* skipped (``skip`` column, default ``skip_2``, the challenge target) -> ``skip`` (e=1, y=0)
* not skipped, started by the user (reason_start in :data:`USER_STARTS`)   -> ``click`` (e=1, y=1)
* not skipped otherwise (track done, forward/back button, app load ...)    -> ``autoplay`` (e=0, y=1)

``timestamp`` = the log date at ``hour_of_day`` (UTC); ``position`` = session_position - 1.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from denoiserec.data.sources._common import (
    ROW,
    bool_expr,
    check_range,
    find,
    finish,
    parse,
    read_text_table,
    with_kinds,
)
from denoiserec.errors import DataError

OPTIONS = {
    "skip": "which flag marks a skip: skip_1, skip_2 (default), skip_3, or not_skipped (skip = not it)",
    "track_features": "path of the tf_*.csv track-features file(s) to join as f_* columns (default: look "
                      "for track_features/ next to the logs; 'none' to skip)",
}

#: reason_start values meaning the user picked this very track.
USER_STARTS = ("clickrow", "clickside", "uriopen", "popup", "playbtn")
REQUIRED_COLS = ("session_id", "session_position", "track_id_clean", "skip_1", "skip_2", "skip_3", "not_skipped",
                 "context_type", "hist_user_behavior_reason_start", "hour_of_day", "date")
SIDE = {"premium": "f_premium", "hist_user_behavior_is_shuffle": "f_shuffle", "context_switch": "f_context_switch",
        "long_pause_before_play": "f_long_pause"}


def _date(column: str) -> pl.Expr:
    # the original files write 2018-07-15; some public re-exports write 15-07-18 (dd-mm-yy)
    s = pl.col(column).str.strip_chars()
    return pl.coalesce(s.str.strptime(pl.Date, "%Y-%m-%d", strict=False),
                       s.str.strptime(pl.Date, "%d-%m-%y", strict=False))


def read(path: str | Path, skip: str = "skip_2", track_features: str | None = None) -> pl.DataFrame:
    files = find(path, ["log_*.csv", "*.csv"], "MSSD log CSV")
    files = [f for f in files if not f.name.startswith("tf_")]
    if skip not in ("skip_1", "skip_2", "skip_3", "not_skipped"):
        raise DataError(path, f"option skip={skip!r}: expected skip_1, skip_2, skip_3 or not_skipped")
    parts = []
    for file in files:
        df = read_text_table(file, required=REQUIRED_COLS, source="an MSSD log")
        df = parse(df, file, {
            "session_position": pl.Int32, "hour_of_day": pl.Int64, "date": _date("date"),
            **{c: bool_expr(c) for c in ("skip_1", "skip_2", "skip_3", "not_skipped")},
        })
        check_range(df, file, "session_position", lo=1)
        check_range(df, file, "hour_of_day", lo=0, hi=23)
        empty = df.filter(pl.col("track_id_clean").is_null() | pl.col("session_id").is_null())
        if empty.height:
            col = "session_id" if empty["session_id"][0] is None else "track_id_clean"
            raise DataError(file, "empty value", row=int(empty[ROW][0]), column=col)
        skipped = ~pl.col("not_skipped") if skip == "not_skipped" else pl.col(skip)
        start = pl.col("hist_user_behavior_reason_start").fill_null("").str.strip_chars()
        feedback = (pl.when(skipped).then(pl.lit("skip"))
                    .when(start.is_in(list(USER_STARTS))).then(pl.lit("click"))
                    .otherwise(pl.lit("autoplay")))
        side = [(bool_expr(c) if c != "context_switch" else pl.col(c)).cast(pl.Int8, strict=False).alias(a)
                for c, a in SIDE.items() if c in df.columns]
        parts.append(df.select(
            *side, user=pl.col("session_id"), item=pl.col("track_id_clean"),
            timestamp=pl.col("date").cast(pl.Datetime("us")).dt.epoch("s") + pl.col("hour_of_day") * 3600,
            session=pl.col("session_id"), position=pl.col("session_position") - 1, feedback=feedback,
            context=pl.col("context_type"), hour=pl.col("hour_of_day").cast(pl.Int8),
        ))
    df = with_kinds(pl.concat(parts, how="diagonal_relaxed"))
    tf = _track_features(path, files, track_features)
    if tf is not None:
        df = df.join(tf, on="item", how="left")
    return finish(df)


def _track_features(path: str | Path, logs: list[Path], option: str | None) -> pl.DataFrame | None:
    if option == "none":
        return None
    if option:
        files = find(option, ["tf_*.csv", "*.csv"], "track-features CSV")
    else:
        root = Path(path) if Path(path).is_dir() else logs[0].parent
        files = [f for d in {root, root.parent} for f in d.rglob("tf_*.csv")] if root.exists() else []
        files = sorted(set(files))
        if not files:
            return None
    frames = []
    for file in files:
        tf = read_text_table(file, required=("track_id",), source="an MSSD track-features file")
        empty = tf.filter(pl.col("track_id").is_null() | (pl.col("track_id").str.strip_chars() == ""))
        if empty.height:
            raise DataError(file, f"empty value ({empty.height} row(s))", row=int(empty[ROW][0]), column="track_id")
        tf = tf.drop(ROW)
        num = [c for c in tf.columns if c not in ("track_id", "mode")]
        tf = tf.with_columns([pl.col(c).cast(pl.Float32, strict=False) for c in num])
        frames.append(tf.rename({c: f"f_{c}" for c in tf.columns if c != "track_id"}).rename({"track_id": "item"}))
    return pl.concat(frames, how="diagonal_relaxed").unique("item", keep="first")
