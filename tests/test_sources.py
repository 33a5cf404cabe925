"""Source adapters: real samples (skipped when ../shared/data is absent), a 30Music fixture, bad input."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from denoiserec.cli import app
from denoiserec.data.kinds import FEEDBACK_KINDS
from denoiserec.data.log import read_log, write_log
from denoiserec.data.schema import REQUIRED
from denoiserec.data.sources import SOURCES, read
from denoiserec.errors import DataError

FIXTURES = Path(__file__).parent / "fixtures"


def check_log(df: pl.DataFrame) -> None:
    """Invariants every adapter output must hold."""
    assert list(df.columns[: len(REQUIRED)]) == list(REQUIRED)
    for kind, (e, y) in FEEDBACK_KINDS.items():
        sub = df.filter(pl.col("feedback") == kind)
        assert (sub["active"] == e).all() and (sub["label"] == y).all()
    pos = df.group_by("session").agg(n=pl.len(), lo=pl.col("position").min(), hi=pl.col("position").max(),
                                     users=pl.col("user").n_unique())
    assert (pos["lo"] == 0).all() and (pos["hi"] == pos["n"] - 1).all()  # 0..n-1, no gaps or duplicates
    assert (pos["users"] == 1).all()
    ordered = df.sort("session", "position").with_columns(d=pl.col("timestamp").diff().over("session"))
    assert (ordered["d"].drop_nulls() >= 0).all()


def test_registry_lists_every_source_with_options():
    assert set(SOURCES) == {"mssd", "lastfm1k", "music30", "piki", "taobao", "kuairand", "table"}
    for module in SOURCES.values():
        assert callable(module.read) and isinstance(module.OPTIONS, dict)


def test_mssd_sample(shared_data):
    raw = pl.read_csv(shared_data / "mssd" / "log_sample.csv")
    df = read("mssd", shared_data / "mssd")
    check_log(df)
    assert df.height == raw.height and df["session"].n_unique() == raw["session_id"].n_unique()
    assert (df["feedback"] == "skip").sum() == raw["skip_2"].sum()
    not_skipped = raw.filter(~pl.col("skip_2"))
    clicks = not_skipped["hist_user_behavior_reason_start"].is_in(["clickrow", "clickside", "uriopen", "popup",
                                                                   "playbtn"]).sum()
    assert (df["feedback"] == "click").sum() == clicks
    assert set(df["context"].unique()) == set(raw["context_type"].unique())
    strict = read("mssd", shared_data / "mssd", skip="skip_1")
    assert (strict["feedback"] == "skip").sum() == raw["skip_1"].sum()


def test_lastfm1k_sample(shared_data):
    df = read("lastfm1k", shared_data / "lastfm1k", gap=1800, skip_seconds=60)
    check_log(df)
    raw = pl.read_csv(shared_data / "lastfm1k" / "userid-timestamp-artid-artname-traid-traname.sample.tsv",
                      separator="\t", has_header=False, quote_char=None, new_columns=["u", "t", "a", "b", "c", "d"])
    assert df.height == raw.height and df["user"].n_unique() == raw["u"].n_unique()
    assert df.filter(pl.col("user") == "user_000001")["f_country"][0] == "Japan"  # profile joined
    nxt = df.sort("session", "position").with_columns(
        gap_next=pl.col("timestamp").shift(-1).over("session") - pl.col("timestamp"))
    assert ((nxt["gap_next"] < 60) == (nxt["feedback"] == "skip")).fill_null(False).sum() == df.height - \
        nxt["gap_next"].null_count()
    assert (nxt.filter(pl.col("gap_next").is_null())["feedback"] == "complete").all()
    starts = df.sort("user", "timestamp").with_columns(g=pl.col("timestamp").diff().over("user"))
    starts = starts.filter(pl.col("position") == 0)
    assert (starts["g"].drop_nulls() > 1800).all()  # every session start follows a pause longer than the gap
    assert read("lastfm1k", shared_data / "lastfm1k", gap=600)["session"].n_unique() > df["session"].n_unique()


def test_piki_sample(shared_data):
    raw = pl.read_csv(shared_data / "piki" / "piki_sample.csv")
    df = read("piki", shared_data / "piki")
    check_log(df)
    assert df.height == raw.height and (df["feedback"] == "like").sum() == raw["liked"].sum()
    assert (df["active"] == 1).all()


def test_taobao_joined_sample(shared_data):
    file = shared_data / "taobao" / "joined_train_sample.csv"
    raw = pl.read_csv(file)
    df = read("taobao", file)
    check_log(df)
    assert df.height == raw.height and (df["label"] == 1).sum() == raw["clk"].sum()
    assert set(df["feedback"].unique()) <= {"click", "unclick"} and "f_brand" in df.columns
    both = read("taobao", shared_data / "taobao", file_split=1)
    assert both.group_by("split").len().sort("split").rows() == [(0, raw.height), (2, 100)]


def test_kuairand_sample(shared_data):
    file = shared_data / "kuairand" / "kuairand27k_like_hate.tsv"
    raw = pl.read_csv(file, separator="\t")
    df = read("kuairand", file)
    check_log(df)
    assert df.height == raw.height and (df["feedback"] == "like").sum() == raw["label"].sum()
    assert (df["feedback"] == "dislike").sum() == (raw["label"] == 0).sum()


def test_music30_fixture():
    df = read("music30", FIXTURES / "music30")
    check_log(df)
    got = df.sort("session", "position").select("session", "item", "feedback", "artist").rows()
    assert got == [("0", "21", "complete", "3"), ("0", "22", "skip", "3"), ("0", "23", "like", "7"),
                   ("1", "21", "complete", "3"), ("1", "24", "complete", None), ("2", "23", "skip", "7")]
    assert df.filter(pl.col("item") == "22")["timestamp"][0] == 1390231051 + 190
    no_love = read("music30", FIXTURES / "music30", loves=0)
    assert "like" not in no_love["feedback"].to_list()


def test_kuairand_original_layout(tmp_path):
    header = ("user_id,video_id,date,hourmin,time_ms,is_click,is_like,is_follow,is_comment,is_forward,is_hate,"
              "long_view,play_time_ms,duration_ms,profile_stay_time,comment_stay_time,is_profile_enter,is_rand,tab")
    rows = ["1,10,20220408,1000,1649412000000,1,0,0,0,0,0,1,9000,10000,0,0,0,0,1",
            "1,11,20220408,1000,1649412030000,0,0,0,0,0,0,0,0,8000,0,0,0,0,1",
            "1,12,20220408,1000,1649412060000,1,1,0,0,0,0,1,8000,8000,0,0,0,0,1",
            "1,13,20220408,1000,1649412090000,1,0,0,0,1,0,0,1000,8000,0,0,0,1,1",
            "2,12,20220408,1100,1649415600000,1,0,0,0,0,1,0,500,8000,0,0,0,0,2"]
    (tmp_path / "log_standard_4_08_to_4_21_1k.csv").write_text("\n".join([header, *rows]) + "\n")
    df = read("kuairand", tmp_path)
    check_log(df)
    assert df.sort("user", "timestamp")["feedback"].to_list() == ["click", "unclick", "like", "share", "dislike"]
    assert df.filter(pl.col("item") == "10")["played_ratio"][0] == pytest.approx(0.9)


def test_taobao_original_layout(tmp_path):
    (tmp_path / "raw_sample.csv").write_text(
        "user,time_stamp,adgroup_id,pid,nonclk,clk\n1,1494000000,7,430548_1007,1,0\n1,1494000100,8,430548_1007,0,1\n")
    (tmp_path / "ad_feature.csv").write_text("adgroup_id,cate_id,campaign_id,customer,brand,price\n7,5,1,2,3,9.5\n")
    (tmp_path / "user_profile.csv").write_text("userid,cms_segid,cms_group_id,final_gender_code,age_level,"
                                               "pvalue_level,shopping_level,occupation,new_user_class_level \n"
                                               "1,0,3,2,3,,3,0,\n")
    (tmp_path / "behavior_log.csv").write_text("user,time_stamp,btag,cate,brand\n1,1493990000,pv,5,3\n"
                                               "1,1493990100,buy,5,3\n")
    df = read("taobao", tmp_path)
    check_log(df)
    assert df.sort("timestamp")["feedback"].to_list() == ["unclick", "click"]
    assert df.filter(pl.col("item") == "7")["category"][0] == "5" and "f_new_user_class_level" in df.columns
    both = read("taobao", tmp_path, behavior=1)
    assert both.sort("timestamp")["feedback"].to_list() == ["view", "buy", "unclick", "click"]
    (tmp_path / "behavior_log.csv").write_text("user,time_stamp,btag,cate,brand\n1,1493990000,pv,5,3\n"
                                               "1,1493990100,steal,5,3\n")
    with pytest.raises(DataError) as e:
        read("taobao", tmp_path, behavior=1)
    assert (e.value.row, e.value.column) == (3, "btag")


# --- bad input: the error names file, line and column --------------------------------------------------------

LASTFM = "user_000001\t2009-05-04T23:08:57Z\ta\tArtist\tt1\tSong\n"
PIKI = "id,liked,personalized,song_id,spotify_popularity,timestamp,user_id\n0,1,1,5,50,2019-06-21 01:04:23,9\n"
MSSD_HEADER = ("session_id,session_position,session_length,track_id_clean,skip_1,skip_2,skip_3,not_skipped,"
               "context_type,hist_user_behavior_reason_start,hour_of_day,date\n")


@pytest.mark.parametrize("source,name,text,row,column", [
    ("lastfm1k", "log.tsv", LASTFM + "user_000001\t2009-13-45 nonsense\ta\tArtist\tt2\tSong\n", 2, "timestamp"),
    ("piki", "piki.csv", PIKI + "1,7,1,6,50,2019-06-21 01:05:00,9\n", 3, "liked"),
    ("piki", "piki.csv", PIKI + "1,1,1,6,50,,9\n", 3, "timestamp"),
    ("piki", "piki.csv", "id,personalized,song_id,timestamp,user_id\n0,1,5,2019-06-21 01:04:23,9\n", 1, "liked"),
    ("mssd", "log_0.csv", MSSD_HEADER + "s1,1,2,t1,False,False,False,True,radio,trackdone,3,2018-07-15\n"
     "s1,2,2,t2,False,maybe,False,True,radio,trackdone,3,2018-07-15\n", 3, "skip_2"),
    ("taobao", "train.csv", "clk,time_stamp,userid,adgroup_id\n0,2017-05-06 00:00:00,1,2\n,1494000000,1,3\n",
     3, "clk"),
    ("kuairand", "x.tsv", "user_id\tvideo_id\ttime_ms\tis_click\tis_forward\tlabel\n1\t2\tsoon\t1\t0\t1\n",
     2, "time_ms"),
    ("music30", "sessions.idomaar", "event.session\t0\t1390231051\t{}\t{\"subjects\":[{\"type\":\"user\"\n",
     1, "linked"),
])
def test_bad_row_names_file_line_column(tmp_path, source, name, text, row, column):
    file = tmp_path / name
    file.write_text(text)
    with pytest.raises(DataError) as e:
        read(source, tmp_path)
    assert (e.value.path, e.value.row, e.value.column) == (str(file), row, column)
    assert str(file) in str(e.value) and f"line {row}" in str(e.value)


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_empty_file_and_missing_folder(tmp_path, source):
    ext = {"lastfm1k": "tsv", "music30": "idomaar"}.get(source, "csv")
    name = {"music30": "sessions", "mssd": "log_0", "taobao": "sample"}.get(source, "data")
    file = tmp_path / f"{name}.{ext}"
    file.write_text("")
    options = {"spec": {"columns": {"user": "u", "item": "i", "timestamp": "t"},
                        "feedback": {"label": "y", "active": "e"}}} if source == "table" else {}
    with pytest.raises(DataError, match="empty"):
        read(source, tmp_path, **options)
    with pytest.raises(DataError, match="no such file"):
        read(source, tmp_path / "absent", **options)


def test_unknown_source_and_option(tmp_path):
    with pytest.raises(DataError, match="unknown source"):
        read("napster", tmp_path)
    with pytest.raises(DataError, match="no option"):
        read("piki", tmp_path, colour="blue")


def test_failed_write_leaves_nothing(tmp_path):
    df = pl.DataFrame({"user": ["u"], "item": ["i"], "timestamp": [1], "session": ["s"], "position": [0],
                       "feedback": ["teleport"], "active": [1], "label": [1]})
    with pytest.raises(DataError, match="feedback"):
        write_log(df, tmp_path / "out", "test")
    assert list(tmp_path.iterdir()) == []


def test_cli_prepare_describe_and_failure(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "piki.csv").write_text(PIKI + "1,0,1,6,50,2019-06-21 01:05:00,9\n")
    runner = CliRunner()
    out = tmp_path / "prepared"
    r = runner.invoke(app, ["data", "prepare", "piki", str(tmp_path / "raw"), "-o", str(out), "--opt", "gap=60"])
    assert r.exit_code == 0, r.output
    assert read_log(out).height == 2
    r = runner.invoke(app, ["data", "describe", str(out), "--positions", "2", "--plot", str(tmp_path / "p.png")])
    assert r.exit_code == 0 and "label share" in r.output and (tmp_path / "p.png").stat().st_size > 0
    (tmp_path / "raw" / "piki.csv").write_text(PIKI + "1,0,1,6,50,yesterday,9\n")
    r = runner.invoke(app, ["data", "prepare", "piki", "--raw", str(tmp_path / "raw"), "-o", str(tmp_path / "bad")])
    assert r.exit_code == 2 and "line 3" in r.output
    assert not (tmp_path / "bad").exists() and not list(tmp_path.glob(".bad*"))
    assert runner.invoke(app, ["data", "sources"]).exit_code == 0
