"""KuaiRand (Kuaishou short-video feed, 2022): KuaiRand-27K / -1K / -Pure.

Expected files: the ``log_standard_*.csv`` logs (and ``log_random_*.csv`` with ``logs=random|all``) with the
columns user_id, video_id, date, hourmin, time_ms, is_click, is_like, is_follow, is_comment, is_forward, is_hate,
long_view, play_time_ms, duration_ms, ..., is_rand, tab; optionally ``video_features_basic_*.csv`` (author_id ->
artist, first tag -> category, video_type -> f_video_type). The like/hate re-export (a TSV whose ``label`` is
1 = like, 0 = hate, without is_like/is_hate) is read too.

Mapping, first match wins: is_hate -> ``dislike`` (e=1, y=0); is_like -> ``like`` (1, 1); is_forward -> ``share``
(1, 1); is_click -> ``click`` (1, 1); otherwise ``unclick`` (0, 0). played_ratio = play_time_ms / duration_ms
(null when the duration is unknown). Sessions: a user's rows cut at pauses longer than ``gap`` seconds.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from denoiserec.data.sources._common import (
    DEFAULT_GAP,
    EPOCH_RANGE,
    ROW,
    check_range,
    check_values,
    derive_sessions,
    find,
    finish,
    parse,
    read_text_table,
    with_kinds,
)
from denoiserec.errors import DataError

OPTIONS = {
    "gap": f"inactivity gap in seconds that ends a session (default {DEFAULT_GAP})",
    "logs": "which logs to read from a folder: standard (default), random (the randomly exposed videos) or all",
}
FLAGS = ("is_click", "is_like", "is_hate", "is_forward")


def read(path: str | Path, gap: float = DEFAULT_GAP, logs: str = "standard") -> pl.DataFrame:
    patterns = {"standard": ["log_standard*.csv"], "random": ["log_random*.csv"], "all": ["log_*.csv"]}
    if logs not in patterns:
        raise DataError(path, f"option logs={logs!r}: expected one of {list(patterns)}")
    path = Path(path)
    files = find(path, patterns[logs], f"KuaiRand {logs} log", required=False) if path.is_dir() else []
    files = files or find(path, ["*.tsv", "*.csv"], "KuaiRand log")
    parts = [_log(f, i) for i, f in enumerate(files) if not f.name.startswith(("user_features", "video_features"))]
    if not parts:
        raise DataError(path, "no KuaiRand log here (log_standard_*.csv)")
    df = derive_sessions(pl.concat(parts, how="diagonal_relaxed"), float(gap), order=["_file", ROW])
    df = with_kinds(df)
    video = find(path, ["video_features_basic*.csv"], "video features", required=False) if path.is_dir() else []
    if video:
        v = read_text_table(video[0], required=("video_id",), source="KuaiRand's video features").drop(ROW)
        cols = [pl.col("video_id").alias("item")]
        cols += [pl.col("author_id").alias("artist")] if "author_id" in v.columns else []
        cols += [pl.col("tag").str.split(",").list.first().alias("category")] if "tag" in v.columns else []
        cols += [pl.col("video_type").alias("f_video_type")] if "video_type" in v.columns else []
        df = df.join(v.select(cols).unique("item", keep="first"), on="item", how="left")
    return finish(df)


def _log(file: Path, i: int) -> pl.DataFrame:
    sep = "\t" if file.suffix == ".tsv" else ","
    df = read_text_table(file, separator=sep, required=("user_id", "video_id", "time_ms"), source="a KuaiRand log")
    processed = "label" in df.columns and "is_like" not in df.columns
    if processed:  # the like/hate re-export: label 1 = like, 0 = hate
        df = parse(df, file, {"label": pl.Int8})
        check_values(df, file, "label", [0, 1])
        df = df.with_columns(is_like=pl.col("label"), is_hate=1 - pl.col("label")).drop("label")
    missing = [c for c in FLAGS if c not in df.columns]
    if missing:
        raise DataError(file, f"missing column(s) {missing}", row=1, column=missing[0])
    casts = {"time_ms": pl.Int64, **{c: pl.Int8 for c in FLAGS if not (processed and c in ("is_like", "is_hate"))}}
    casts |= {c: pl.Float64 for c in ("play_time_ms", "duration_ms") if c in df.columns}
    df = parse(df, file, casts, optional=("play_time_ms", "duration_ms"))
    for c in FLAGS:
        check_values(df, file, c, [0, 1])
    check_range(df, file, "time_ms", lo=0, hi=EPOCH_RANGE[1] * 1000)
    for c in ("play_time_ms", "duration_ms"):
        if c in df.columns:
            check_range(df, file, c, lo=0)
    for c in ("user_id", "video_id"):
        hit = df.filter(pl.col(c).is_null())
        if hit.height:
            raise DataError(file, "empty value", row=int(hit[ROW][0]), column=c)
    feedback = (pl.when(pl.col("is_hate") == 1).then(pl.lit("dislike"))
                .when(pl.col("is_like") == 1).then(pl.lit("like"))
                .when(pl.col("is_forward") == 1).then(pl.lit("share"))
                .when(pl.col("is_click") == 1).then(pl.lit("click"))
                .otherwise(pl.lit("unclick")))
    extra = []
    if "play_time_ms" in df.columns and "duration_ms" in df.columns:
        extra.append(pl.when(pl.col("duration_ms") > 0).then(pl.col("play_time_ms") / pl.col("duration_ms"))
                     .otherwise(None).cast(pl.Float32).alias("played_ratio"))
    if "hourmin" in df.columns:
        extra.append((pl.col("hourmin").cast(pl.Int32, strict=False) // 100).cast(pl.Int8).alias("hour"))
    if "tab" in df.columns:
        extra.append(pl.col("tab").alias("context"))
    if "is_rand" in df.columns:
        extra.append(pl.col("is_rand").cast(pl.Int8, strict=False).alias("f_is_rand"))
    return df.select(ROW, pl.lit(i).alias("_file"), *extra, user=pl.col("user_id"), item=pl.col("video_id"),
                     timestamp=pl.col("time_ms") // 1000, feedback=feedback)
