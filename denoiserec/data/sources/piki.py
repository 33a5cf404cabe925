"""Piki music data set: one explicit reaction (liked 1 / disliked 0) per song shown to a user.

Expected file: ``piki_dataset.csv`` (or any ``*.csv``) with the columns id, liked, personalized, song_id,
spotify_popularity, timestamp (``YYYY-MM-DD HH:MM:SS``, UTC), user_id.

Mapping: liked = 1 -> ``like`` (e=1, y=1); liked = 0 -> ``dislike`` (e=1, y=0). Every row is an action, so
Piki has no passive feedback. Sessions: a user's reactions cut at pauses longer than ``gap`` seconds.
Side features: f_personalized (the song came from the recommender, 1, or at random, 0), f_popularity.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from denoiserec.data.sources._common import (
    DEFAULT_GAP,
    ROW,
    check_values,
    datetime_expr,
    derive_sessions,
    find,
    finish,
    hour_of,
    parse,
    read_text_table,
    with_kinds,
)

OPTIONS = {"gap": f"inactivity gap in seconds that ends a session (default {DEFAULT_GAP})"}
REQUIRED_COLS = ("liked", "song_id", "timestamp", "user_id")


def read(path: str | Path, gap: float = DEFAULT_GAP) -> pl.DataFrame:
    parts = []
    for i, file in enumerate(find(path, ["piki*.csv", "*.csv"], "Piki CSV")):
        df = read_text_table(file, required=REQUIRED_COLS, source="the Piki data set")
        df = parse(df, file, {"liked": pl.Int8, "user_id": pl.Utf8, "song_id": pl.Utf8,
                              "timestamp": datetime_expr("timestamp", "%Y-%m-%d %H:%M:%S")})
        check_values(df, file, "liked", [0, 1])
        side = [pl.col(c).cast(t, strict=False).alias(a) for c, a, t in
                (("personalized", "f_personalized", pl.Int8), ("spotify_popularity", "f_popularity", pl.Float32))
                if c in df.columns]
        parts.append(df.select(
            ROW, pl.lit(i).alias("_file"), *side, user=pl.col("user_id"), item=pl.col("song_id"), timestamp="timestamp",
            feedback=pl.when(pl.col("liked") == 1).then(pl.lit("like")).otherwise(pl.lit("dislike")),
        ))
    df = derive_sessions(pl.concat(parts, how="diagonal_relaxed"), float(gap), order=["_file", ROW])
    return finish(with_kinds(df).with_columns(hour=hour_of()))
