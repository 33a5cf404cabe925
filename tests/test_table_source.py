"""The generic `table` source: a log in a layout no named adapter reads (Deezer's DSG17 listening log, as
written out in docs/data.md), described by a YAML mapping."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
import yaml
from test_sources import check_log

from denoiserec.data.sources import read
from denoiserec.errors import DataError

DEEZER_SPEC = {
    "format": "csv",
    "columns": {"user": "user_id", "item": "media_id", "timestamp": "ts_listen", "context": "context_type",
                "artist": "artist_id", "category": "genre_id"},
    "timestamp": {"unit": "s"},
    "session_gap": 1800,
    "side": ["platform_name", "user_age"],
    "feedback": {"rules": [{"if": "is_listened == 0", "then": "skip"},
                           {"if": "listen_type == 1", "then": "autoplay"}],
                 "otherwise": "click"},
}
HEADER = ("genre_id,ts_listen,media_id,album_id,context_type,release_date,platform_name,platform_family,"
          "media_duration,listen_type,user_gender,user_id,artist_id,user_age,is_listened")


def deezer_csv(path, users: int = 30, per_user: int = 30, items: int = 60, seed: int = 0):
    """A log in the DSG17 train.csv layout with a learnable signal (users like items of their parity)."""
    rng = np.random.default_rng(seed)
    lines = [HEADER]
    for u in range(users):
        t = 1_480_000_000 + u * 7
        for _ in range(per_user):
            i = int(rng.integers(items))
            t += int(rng.choice([200, 4000], p=[0.8, 0.2]))
            flow = int(rng.random() < 0.5)
            listened = int((i % 2 == u % 2) if rng.random() < 0.85 else rng.random() < 0.5)
            lines.append(f"{i % 7},{t},{1000 + i},{i // 3},{int(rng.integers(3))},20100101,{int(rng.integers(3))},0,"
                         f"200,{flow},0,{500 + u},{i % 11},{20 + u % 30},{listened}")
    path.write_text("\n".join(lines) + "\n")
    return path


def spec_file(tmp_path, spec=DEEZER_SPEC, name="deezer.yaml"):
    f = tmp_path / name
    f.write_text(yaml.safe_dump(spec))
    return f


def test_deezer_layout_rules(tmp_path):
    raw = deezer_csv(tmp_path / "train.csv", users=5, per_user=20)
    df = read("table", raw, spec=spec_file(tmp_path))
    check_log(df)
    src = pl.read_csv(raw)
    assert df.height == src.height and df["user"].n_unique() == 5
    assert (df["feedback"] == "skip").sum() == (src["is_listened"] == 0).sum()
    assert (df["feedback"] == "autoplay").sum() == ((src["is_listened"] == 1) & (src["listen_type"] == 1)).sum()
    assert (df["feedback"] == "click").sum() == ((src["is_listened"] == 1) & (src["listen_type"] == 0)).sum()
    assert {"f_platform_name", "f_user_age", "context", "artist", "category", "hour"} <= set(df.columns)
    first = df.sort("user", "timestamp").row(0, named=True)
    assert first["item"] == str(src.sort("user_id", "ts_listen")["media_id"][0])
    starts = df.sort("user", "timestamp").with_columns(g=pl.col("timestamp").diff().over("user"))
    assert (starts.filter(pl.col("position") == 0)["g"].drop_nulls() > 1800).all()  # sessions cut at the gap


def test_rule_order_first_match_wins(tmp_path):
    raw = deezer_csv(tmp_path / "train.csv", users=3, per_user=10)
    spec = {**DEEZER_SPEC, "feedback": {"rules": [{"if": "listen_type == 1", "then": "autoplay"},
                                                  {"if": "is_listened == 0", "then": "skip"}], "otherwise": "click"}}
    df = read("table", raw, spec=spec)
    src = pl.read_csv(raw)
    assert (df["feedback"] == "autoplay").sum() == (src["listen_type"] == 1).sum()


def test_label_active_iso_session_and_parquet(tmp_path):
    ts = [datetime(2024, 1, 1, 10, m, tzinfo=UTC) for m in range(6)]
    table = pl.DataFrame({"uid": ["a", "a", "a", "b", "b", "b"], "song": ["x", "y", "z", "x", "y", "z"],
                          "when": ts, "sid": ["s1", "s1", "s2", "s1", "s1", "s1"], "liked": [1, 0, 1, 0, 1, 0],
                          "acted": [1, 1, 0, 0, 1, 1], "station": ["r", "r", "p", "r", "r", "r"],
                          "pos": [1, 2, 1, 1, 2, 3]})
    table.write_parquet(tmp_path / "log.parquet")
    spec = {"columns": {"user": "uid", "item": "song", "timestamp": "when", "session": "sid", "context": "station",
                        "position": "pos"},
            "feedback": {"label": "liked", "active": "acted", "kinds": {"active_negative": "dislike"}}}
    df = read("table", tmp_path / "log.parquet", spec=spec).sort("user", "timestamp")
    check_log(df)
    assert df["feedback"].to_list() == ["click", "dislike", "autoplay", "unplayed", "click", "dislike"]
    assert df["timestamp"][0] == int(ts[0].timestamp()) and df["session"].n_unique() == 3
    assert df["position"].to_list() == [0, 1, 0, 0, 1, 2]  # 1-based in the file, 0-based in the log
    iso = table.with_columns(pl.col("when").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    iso.write_csv(tmp_path / "log.csv")
    (tmp_path / "log.parquet").unlink()
    again = read("table", tmp_path / "log.csv", spec={**spec, "timestamp": {"unit": "iso"}}).sort("user", "timestamp")
    assert again["timestamp"].to_list() == df["timestamp"].to_list()
    ms = table.with_columns(pl.col("when").dt.epoch("ms"))
    ms.write_csv(tmp_path / "log.csv")
    again = read("table", tmp_path / "log.csv", spec={**spec, "timestamp": {"unit": "ms"}}).sort("user", "timestamp")
    assert again["timestamp"].to_list() == df["timestamp"].to_list()


def test_errors_name_file_line_column_or_key(tmp_path):
    raw = deezer_csv(tmp_path / "train.csv", users=2, per_user=5)
    lines = raw.read_text().splitlines()
    lines[3] = lines[3].replace(lines[3].split(",")[1], "yesterday", 1)
    raw.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as e:
        read("table", raw, spec=spec_file(tmp_path))
    assert (e.value.path, e.value.row, e.value.column) == (str(raw), 4, "ts_listen")
    deezer_csv(raw, users=2, per_user=5)
    spec = {**DEEZER_SPEC, "feedback": {"rules": [{"if": "is_listened == 0", "then": "skip"}]}}
    with pytest.raises(DataError, match="no feedback rule matches") as e:
        read("table", raw, spec=spec)
    assert e.value.row is not None and e.value.row >= 2
    bad = spec_file(tmp_path, {**DEEZER_SPEC, "colums": {}}, "bad.yaml")
    with pytest.raises(DataError, match=r"bad.yaml: unknown key\(s\) \['colums'\]"):
        read("table", raw, spec=bad)
    with pytest.raises(DataError, match=r"feedback.rules\[0\].then: unknown feedback kind 'thumbs'"):
        read("table", raw, spec={**DEEZER_SPEC, "feedback": {"rules": [{"if": "is_listened == 0", "then": "thumbs"}]}})
    with pytest.raises(DataError, match="COLUMN OP VALUE"):
        read("table", raw, spec={**DEEZER_SPEC, "feedback": {"rules": [{"if": "is_listened", "then": "skip"}]}})
    with pytest.raises(DataError, match="missing column") as e:
        read("table", raw, spec={**DEEZER_SPEC, "columns": {**DEEZER_SPEC["columns"], "user": "uid"}})
    assert e.value.row == 1 and e.value.column == "uid"
    with pytest.raises(DataError, match="--spec"):
        read("table", raw)


def test_a_mapping_reproduces_a_named_adapter(shared_data):
    """The Piki sample read through a mapping equals the `piki` adapter's log (same rows, kinds, sessions)."""
    spec = {"columns": {"user": "user_id", "item": "song_id", "timestamp": "timestamp"},
            "timestamp": {"unit": "iso", "format": "%Y-%m-%d %H:%M:%S"},
            "side": {"f_personalized": "personalized", "f_popularity": "spotify_popularity"},
            "feedback": {"rules": [{"if": "liked == 1", "then": "like"}, {"if": "liked == 0", "then": "dislike"}]}}
    ours = read("table", shared_data / "piki", spec=spec)
    theirs = read("piki", shared_data / "piki")
    cols = ["user", "item", "timestamp", "session", "position", "feedback", "active", "label", "hour"]
    assert ours.select(cols).equals(theirs.select(cols))
    assert (ours["f_popularity"].cast(pl.Float32) == theirs["f_popularity"]).all()
