"""30Music (Turrin et al., RecSys 2015 poster): Last.fm listening sessions in the Idomaar format.

Expected files (the ``ThirtyMusic`` folder as downloaded): ``relations/sessions.idomaar`` and, optionally,
``relations/love.idomaar`` and ``entities/tracks.idomaar``. Every Idomaar line holds five tab-separated fields:
type, id, timestamp (epoch seconds), a JSON object of properties and a JSON object of linked entities, e.g.::

    event.session  7  1390231051  {"numtracks":2,"playtime":400}  {"subjects":[{"type":"user","id":4}],
        "objects":[{"type":"track","id":21,"playstart":0,"playtime":190,"playratio":1.0,"action":"play"}, ...]}
    preference.love  0  1390231300  {"value":"love"}  {"subjects":[{"type":"user","id":4}],
        "objects":[{"type":"track","id":21}]}
    track  21  -1  {"duration":188,"playcount":9,"MBID":null,"name":"..."}  {"artists":[{"type":"person","id":3}]}

Mapping: one row per track object of a session (position = its order, timestamp = session start + playstart).
A play whose latest love by that user for that track falls at or after it (the love is attached to the last
play of the track at or before the love's time) -> ``like`` (e=1, y=1); else playratio < ``skip_ratio``
(default 0.5) -> ``skip`` (e=1, y=0); else (ratio at least skip_ratio, or unknown) -> ``complete`` (e=0, y=1).
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from denoiserec.data.sources._common import ROW, find, finish, hour_of, parse, read_text_table, with_kinds
from denoiserec.errors import DataError

OPTIONS = {"skip_ratio": "a play with playratio below this is a skip (default 0.5)",
           "loves": "1 (default) to mark loved plays as like, 0 to ignore love.idomaar"}
FIELDS = ["type", "id", "timestamp", "properties", "linked"]
REF = pl.Struct({"type": pl.Utf8, "id": pl.Int64})
PLAY = pl.Struct({"type": pl.Utf8, "id": pl.Int64, "playstart": pl.Float64, "playtime": pl.Float64,
                  "playratio": pl.Float64, "action": pl.Utf8})


def read(path: str | Path, skip_ratio: float = 0.5, loves: int | str = 1) -> pl.DataFrame:
    skip_ratio = float(skip_ratio)
    files = find(path, ["sessions*.idomaar"], "30Music sessions.idomaar")
    parts = [_sessions(f) for f in files]
    df = pl.concat(parts)
    df = df.with_columns(feedback=pl.when(pl.col("_ratio") < skip_ratio).then(pl.lit("skip"))
                         .otherwise(pl.lit("complete")))
    root = Path(path) if Path(path).is_dir() else files[0].parent
    love_files = find(root.parent if root.name == "relations" else root, ["love*.idomaar"], "love.idomaar",
                      required=False) if str(loves).lower() not in ("0", "false", "no") else []
    if love_files:
        lv = pl.concat([_loves(f) for f in love_files]).sort("timestamp")
        plays = df.select("user", "item", "timestamp", "_order").sort("timestamp")
        hit = lv.join_asof(plays, on="timestamp", by=["user", "item"], strategy="backward",
                           check_sortedness=False).drop_nulls("_order")
        df = df.with_columns(feedback=pl.when(pl.col("_order").is_in(hit["_order"].implode()))
                             .then(pl.lit("like")).otherwise(pl.col("feedback")))
    tracks = find(root.parent if root.name == "relations" else root, ["tracks*.idomaar"], "tracks.idomaar",
                  required=False)
    if tracks:
        df = df.join(_tracks(tracks[0]), on="item", how="left")
    return finish(with_kinds(df).with_columns(hour=hour_of()))


def _idomaar(file: Path, kind: str) -> pl.DataFrame:
    df = read_text_table(file, FIELDS, separator="\t", header="auto", probe={"timestamp": pl.Int64})
    if df.width != len(FIELDS) + 1:
        raise DataError(file, f"expected {len(FIELDS)} tab-separated fields {FIELDS}, found {df.width - 1}", row=1)
    df = parse(df, file, {"timestamp": pl.Int64})
    bad = df.filter(~pl.col("type").str.starts_with(kind))
    if bad.height:
        raise DataError(file, f"expected {kind!r} lines, found {bad['type'][0]!r}", row=int(bad[ROW][0]),
                        column="type")
    return df


def _decode(df: pl.DataFrame, file: Path, column: str, dtype: pl.DataType) -> pl.Series:
    try:
        return df[column].str.json_decode(dtype)
    except pl.exceptions.PolarsError:
        for row, text in zip(df[ROW], df[column], strict=True):
            try:
                json.loads(text)
            except (TypeError, json.JSONDecodeError) as e:
                raise DataError(file, f"invalid JSON: {e}", row=int(row), column=column) from None
            try:  # valid JSON: a value of the wrong type for the expected fields
                pl.Series([text]).str.json_decode(dtype)
            except pl.exceptions.PolarsError as e:
                raise DataError(file, f"a value of the wrong type: {str(e).splitlines()[0][:160]}", row=int(row),
                                column=column) from None
        raise


def _users(df: pl.DataFrame, file: Path) -> pl.Expr:
    user = pl.col("_linked").struct.field("subjects").list.first().struct.field("id")
    hit = df.filter(user.is_null())
    if hit.height:
        raise DataError(file, "no user in 'subjects'", row=int(hit[ROW][0]), column="linked")
    return user.cast(pl.Utf8)


def _sessions(file: Path) -> pl.DataFrame:
    df = _idomaar(file, "event.session")
    df = df.with_columns(_linked=_decode(df, file, "linked", pl.Struct({"subjects": pl.List(REF),
                                                                         "objects": pl.List(PLAY)})))
    df = df.select(ROW, "timestamp", session=pl.col("id"), user=_users(df, file),
                   obj=pl.col("_linked").struct.field("objects"))
    df = df.with_columns(pos=pl.int_ranges(pl.col("obj").list.len())).explode(["obj", "pos"], empty_as_null=False)
    hit = df.filter(pl.col("obj").struct.field("id").is_null())
    if hit.height:
        raise DataError(file, "a session with no track objects, or a track without an id",
                        row=int(hit[ROW][0]), column="linked")
    o = pl.col("obj").struct
    ratio = o.field("playratio")
    return df.select(
        "user", item=o.field("id").cast(pl.Utf8),
        timestamp=pl.col("timestamp") + o.field("playstart").fill_null(0).cast(pl.Int64),
        session="session", position=pl.col("pos").cast(pl.Int32),
        _ratio=pl.when(ratio >= 0).then(ratio), played_ratio=pl.when(ratio >= 0).then(ratio).cast(pl.Float32),
    ).with_row_index("_order")


def _loves(file: Path) -> pl.DataFrame:
    df = _idomaar(file, "preference.love")
    df = df.with_columns(_linked=_decode(df, file, "linked", pl.Struct({"subjects": pl.List(REF),
                                                                         "objects": pl.List(REF)})))
    return df.select(user=_users(df, file), item=pl.col("_linked").struct.field("objects").list.first()
                     .struct.field("id").cast(pl.Utf8), timestamp="timestamp").drop_nulls()


def _tracks(file: Path) -> pl.DataFrame:
    df = _idomaar(file, "track")
    df = df.with_columns(_linked=_decode(df, file, "linked", pl.Struct({"artists": pl.List(REF)})))
    return df.select(item=pl.col("id"), artist=pl.col("_linked").struct.field("artists").list.first()
                     .struct.field("id").cast(pl.Utf8)).unique("item", keep="first")
