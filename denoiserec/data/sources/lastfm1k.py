"""Last.fm-1K listening log (Celma, 2010).

Expected files: ``userid-timestamp-artid-artname-traid-traname.tsv`` (tab-separated: user id, ISO-8601 UTC
timestamp, artist MBID, artist name, track MBID, track name; a first line whose timestamp does not parse where
the next lines' do is a header, whatever its names, and is skipped) and, optionally, ``userid-profile.tsv``
(header ``#id gender age country registered``) joined as f_gender, f_age, f_country.

Last.fm logs scrobbles only, so there are no explicit actions. Rules (documented in docs/data.md):

* sessions: a user's plays cut at every pause longer than ``gap`` seconds (default 1800);
* a play followed, in the same session, by the next play less than ``skip_seconds`` later (default 60) was
  cut short -> ``skip`` (e=1, y=0); any other play -> ``complete`` (e=0, y=1), the last of a session included.

The item is the track MBID, or ``artist name␟track name`` where the MBID is missing.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from denoiserec.data.sources._common import (
    DEFAULT_GAP,
    ROW,
    datetime_expr,
    derive_sessions,
    find,
    finish,
    hour_of,
    parse,
    read_text_table,
    with_kinds,
)
from denoiserec.errors import DataError

OPTIONS = {
    "gap": f"inactivity gap in seconds that ends a session (default {DEFAULT_GAP})",
    "skip_seconds": "a play followed by the next one sooner than this many seconds is a skip (default 60)",
    "profile": "path of userid-profile.tsv (default: look next to the log; 'none' to skip)",
}
COLUMNS = ["userid", "timestamp", "artid", "artname", "traid", "traname"]
TIME = datetime_expr("timestamp", "%Y-%m-%dT%H:%M:%SZ")


def read(path: str | Path, gap: float = DEFAULT_GAP, skip_seconds: float = 60,
         profile: str | None = None) -> pl.DataFrame:
    gap, skip_seconds = float(gap), float(skip_seconds)
    files = find(path, ["userid-timestamp-artid-artname-traid-traname*.tsv", "*.tsv"], "Last.fm-1K log TSV")
    files = [f for f in files if "profile" not in f.name]
    if not files:
        raise DataError(path, "no Last.fm-1K log TSV here (userid-timestamp-artid-artname-traid-traname.tsv)")
    parts = []
    for file in files:
        df = read_text_table(file, COLUMNS, separator="\t", header="auto", probe={"timestamp": TIME})
        if df.width != len(COLUMNS) + 1:
            raise DataError(file, f"expected {len(COLUMNS)} tab-separated columns {COLUMNS}, found {df.width - 1}",
                            row=1)
        df = parse(df, file, {"timestamp": TIME})
        for c in ("userid", "traname"):
            hit = df.filter(pl.col(c).is_null())
            if hit.height:
                raise DataError(file, "empty value", row=int(hit[ROW][0]), column=c)
        name = pl.col("artname").fill_null("") + "\u241f" + pl.col("traname")
        parts.append(df.select(
            ROW, user=pl.col("userid"), item=pl.coalesce(pl.col("traid"), name), timestamp="timestamp",
            artist=pl.coalesce(pl.col("artid"), pl.col("artname")),
        ).with_columns(pl.lit(len(parts)).alias("_file")))
    df = derive_sessions(pl.concat(parts), gap, order=["_file", ROW])
    nxt = pl.col("timestamp").shift(-1).over("session") - pl.col("timestamp")
    df = df.with_columns(feedback=pl.when(nxt < skip_seconds).then(pl.lit("skip")).otherwise(pl.lit("complete")),
                         hour=hour_of())
    df = with_kinds(df)
    prof = _profile(path, files, profile)
    if prof is not None:
        df = df.join(prof, on="user", how="left")
    return finish(df)


def _profile(path: str | Path, logs: list[Path], option: str | None) -> pl.DataFrame | None:
    if option == "none":
        return None
    if option:
        file = Path(option)
    else:
        file = logs[0].parent / "userid-profile.tsv"
        if not file.exists():
            return None
    df = read_text_table(file, separator="\t", required=("id",), source="Last.fm-1K's userid-profile.tsv")
    keep = {"gender": "f_gender", "age": "f_age", "country": "f_country"}
    df = df.with_columns(pl.col("age").cast(pl.Int32, strict=False)) if "age" in df.columns else df
    return df.select(pl.col("id").alias("user"), *[pl.col(c).alias(a) for c, a in keep.items() if c in df.columns])
