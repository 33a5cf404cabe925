"""Header lines told from data by content, the `table` mapping's `header`/`names` and value types, short quoted
rows, bad timestamps, a header-less log through the CLI, and a streamed log with unlabelled rows (issue 27 item 9,
item 8's mapping part; issue 29)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

import denoiserec as dr
from denoiserec.cli import app
from denoiserec.data.load import DataSpec
from denoiserec.data.log import write_log
from denoiserec.data.sources import read
from denoiserec.errors import ConfigError, DataError

FIXTURES = Path(__file__).parent / "fixtures"
LASTFM = ["user_000001\t2009-05-04T23:08:57Z\tm1\tArtist A\tt1\tSong 1",
          "user_000001\t2009-05-04T23:09:30Z\tm1\tArtist A\tt2\tSong 2",
          "user_000001\t2009-05-04T23:13:38Z\t\tArtist B\t\tSong 3",
          "user_000002\t2009-05-05T10:00:00Z\tm2\tArtist C\tt3\tSong 4"]


def lastfm(tmp_path: Path, first: str | None) -> pl.DataFrame:
    folder = tmp_path / ("h" if first else "n")
    folder.mkdir()
    lines = [first, *LASTFM] if first is not None else LASTFM
    (folder / "userid-timestamp-artid-artname-traid-traname.tsv").write_text("\n".join(lines) + "\n")
    return read("lastfm1k", folder)


@pytest.mark.parametrize("first", [
    "user\ttime\tartist_id\tartist\ttrack_id\ttrack",  # other names than the adapter's (as found in the wild)
    "user,time,artist_id,artist_name,track_id,track_name",  # one field: a comma-separated header in a TSV
    "#userid\ttimestamp\tartid\tartname\ttraid\ttraname",  # the adapter's own names
])
def test_lastfm_header_of_any_names_is_skipped(tmp_path, first):
    plain = lastfm(tmp_path, None)
    assert lastfm(tmp_path, first).equals(plain) and plain.height == 4


def test_lastfm_first_row_bad_where_the_next_parse_is_a_header_but_a_bad_later_row_is_an_error(tmp_path):
    (tmp_path / "log.tsv").write_text("\n".join([*LASTFM[:2], "user_000001\tyesterday\ta\tA\tt\tS", *LASTFM[2:]]))
    with pytest.raises(DataError) as e:
        read("lastfm1k", tmp_path / "log.tsv")
    assert (e.value.row, e.value.column) == (3, "timestamp")


def test_music30_header_line_is_skipped(tmp_path):
    shutil.copytree(FIXTURES / "music30", tmp_path / "m")
    sessions = tmp_path / "m" / "relations" / "sessions.idomaar"
    sessions.write_text("type\tid\ttimestamp\tproperties\tlinked\n" + sessions.read_text())
    assert read("music30", tmp_path / "m").equals(read("music30", FIXTURES / "music30"))


@pytest.mark.parametrize("source,name,text", [
    ("piki", "piki.csv", "0,1,1,5,50,2019-06-21 01:04:23,9\n1,0,1,6,50,2019-06-21 01:05:00,9\n"),
    ("taobao", "train.csv", "0,1494000000,1,2\n1,1494000100,1,3\n"),
    ("kuairand", "log.csv", "1,10,1649412000000,1,0,0,0\n1,11,1649412030000,0,0,0,0\n"),
    ("mssd", "log_0.csv", "s1,1,2,t1,False,False,False,True,radio,trackdone,3,2018-07-15\n"
                          "s1,2,2,t2,False,True,False,False,radio,trackdone,3,2018-07-15\n"),
])
def test_headerless_file_where_a_header_is_expected_says_so(tmp_path, source, name, text):
    (tmp_path / name).write_text(text)
    with pytest.raises(DataError, match="the first line looks like data, not a header: ") as e:
        read(source, tmp_path / name)
    assert e.value.row == 1 and "\n" not in str(e.value) and "expects a header line naming the columns" in str(e.value)


def test_a_wide_header_without_a_required_column_lists_few_names(tmp_path):
    names = [f"c{i}" for i in range(300)]
    (tmp_path / "piki.csv").write_text(",".join(names) + "\n" + ",".join("1" * 300) + "\n")
    with pytest.raises(DataError, match=r"missing column\(s\)") as e:
        read("piki", tmp_path / "piki.csv")
    assert "(300 in all)" in str(e.value) and "c299" not in str(e.value)


def test_taobao_behavior_log_without_header_keeps_its_first_row(tmp_path):
    (tmp_path / "raw_sample.csv").write_text(
        "user,time_stamp,adgroup_id,pid,nonclk,clk\n1,1494000000,7,430548_1007,1,0\n1,1494000100,8,430548_1007,0,1\n")
    rows = "1,1493990000,pv,5,3\n1,1493990100,buy,5,3\n"
    (tmp_path / "behavior_log.csv").write_text(rows)
    headless = read("taobao", tmp_path, behavior=1)
    (tmp_path / "behavior_log.csv").write_text("user,time_stamp,btag,cate,brand\n" + rows)
    assert headless.equals(read("taobao", tmp_path, behavior=1))
    assert headless.sort("timestamp")["feedback"].to_list() == ["view", "buy", "unclick", "click"]
    (tmp_path / "behavior_log.csv").write_text(rows.replace("buy", "steal"))
    with pytest.raises(DataError) as e:
        read("taobao", tmp_path, behavior=1)
    assert (e.value.row, e.value.column) == (2, "btag")  # no header line: the second row is line 2


# --- the table mapping: header, names ------------------------------------------------------------------------

ADS = ["u1,ad7,1494000000,slot1,0", "u1,ad8,1494000100,slot1,1", "u2,ad7,1494000200,slot2,1",
       "u2,ad9,1494000300,slot1,0"]
NAMES = ["uid", "ad", "ts", "slot", "clk"]
SPEC = {"columns": {"user": "uid", "item": "ad", "timestamp": "ts", "context": "slot"},
        "feedback": {"rules": [{"if": "clk == 1", "then": "click"}], "otherwise": "unclick"}}


def write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    (tmp_path / name).write_text("\n".join(lines) + "\n")
    return tmp_path / name


@pytest.mark.parametrize("header,first", [
    ("auto", None), ("auto", "user,ad,time,slot,clicked"), ("auto", ",".join(NAMES)), (True, "a,b,c,d,e"),
    (False, None),
])
def test_table_names_with_or_without_a_header_line(tmp_path, header, first):
    with_header = write(tmp_path, "h.csv", [",".join(NAMES), *ADS])
    expected = read("table", with_header, spec=SPEC)
    raw = write(tmp_path, "x.csv", [first, *ADS] if first else ADS)
    got = read("table", raw, spec={**SPEC, "header": header, "names": NAMES})
    assert got.drop("_row", strict=False).equals(expected) and got.height == 4


@pytest.mark.parametrize("header_line", [False, True])
def test_table_headerless_tsv_with_a_stray_quote_and_label_columns(tmp_path, header_line):
    rows = ["u1\t\"ad7\t1494000000\t1\t1", "u1\tad8\t1494000100\t0\t1", "u2\tad9\t1494000200\t1\t0"]
    raw = write(tmp_path, "log.tsv", ["who\twhat\twhen\tliked\tacted", *rows] if header_line else rows)
    spec = {"format": "tsv", "names": ["uid", "ad", "ts", "liked", "acted"],
            "columns": {"user": "uid", "item": "ad", "timestamp": "ts"},
            "feedback": {"label": "liked", "active": "acted"}}
    df = read("table", raw, spec=spec)
    assert df.sort("timestamp")["feedback"].to_list() == ["click", "skip", "autoplay"]
    assert df.sort("timestamp")["item"][0] == '"ad7'  # a TSV has no quoting


def test_one_mapping_with_names_reads_the_text_file_and_a_parquet_of_those_columns(tmp_path):
    spec = {**SPEC, "names": NAMES}
    text = read("table", write(tmp_path, "ads.csv", ADS), spec=spec)
    pl.read_csv(tmp_path / "ads.csv", has_header=False, new_columns=NAMES, infer_schema=False).write_parquet(
        tmp_path / "ads.parquet")
    assert read("table", tmp_path / "ads.parquet", spec={**spec, "header": False}).equals(text)
    with pytest.raises(ConfigError, match=r"names: \['when'\] are not columns of"):
        read("table", tmp_path / "ads.parquet", spec={**SPEC, "names": ["uid", "ad", "when", "slot", "clk"],
                                                     "columns": {**SPEC["columns"], "timestamp": "when"}})


def test_table_headerless_without_names_says_the_header_looks_missing(tmp_path):
    raw = write(tmp_path, "ads.csv", ADS)
    spec = tmp_path / "m.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    with pytest.raises(DataError, match="the first line looks like data, not a header") as e:
        read("table", raw, spec=spec)
    assert e.value.row == 1 and str(spec) in str(e.value) and "names: [...]" in str(e.value)


def test_table_header_false_with_a_header_line_is_an_error_at_line_1(tmp_path):
    raw = write(tmp_path, "h.csv", [",".join(NAMES), *ADS])
    with pytest.raises(DataError) as e:
        read("table", raw, spec={**SPEC, "header": False, "names": NAMES})
    assert (e.value.row, e.value.column) == (1, "ts")


@pytest.mark.parametrize("change,key", [
    ({"header": "maybe"}, "header"),
    ({"header": False}, "header"),  # no names
    ({"names": "uid,ad,ts"}, "names"),
    ({"names": ["uid", "ad", "ts", "ts", "clk"]}, "names"),
    ({"names": ["uid", "ad", "time", "slot", "clk"]}, "columns.timestamp"),
    ({"names": ["uid", "ad", "ts", "slot", ["clk"]]}, "names[4]"),
    ({"names": ["uid", "ad", "ts", "slot", "clk", "extra"]}, "names"),  # 6 names, 5 fields
])
def test_table_header_and_names_errors_name_the_mapping_and_key(tmp_path, change, key):
    raw = write(tmp_path, "ads.csv", ADS)
    spec = tmp_path / "m.yaml"
    spec.write_text(yaml.safe_dump({**SPEC, **change}))
    with pytest.raises(ConfigError) as e:
        read("table", raw, spec=spec)
    assert str(e.value).startswith(f"{spec}: {key}") and "\n" not in str(e.value)


# --- the table mapping: value types, checked before the data is read ----------------------------------------

@pytest.mark.parametrize("change,key", [
    ({"feedback": {"rules": [{"if": "clk == 1", "then": ["click"]}]}}, "feedback.rules[0].then"),
    ({"feedback": {"rules": [{"if": 5, "then": "click"}]}}, "feedback.rules[0].if"),
    ({"feedback": {"rules": [{"if": "clk == 1", "then": "click"}], "otherwise": ["skip"]}}, "feedback.otherwise"),
    ({"feedback": {"label": ["clk"], "active": "clk"}}, "feedback.label"),
    ({"feedback": {"label": "clk", "active": "clk", "kinds": ["like"]}}, "feedback.kinds"),
    ({"feedback": {"label": "clk", "active": "clk", "unlabeled": {"empty": 1}}}, "feedback.unlabeled"),
    ({"columns": {"user": ["uid"], "item": "ad", "timestamp": "ts"}}, "columns.user"),
    ({"columns": {"user": "uid", "item": {"a": 1}, "timestamp": "ts"}}, "columns.item"),
    ({"session_gap": "abc"}, "session_gap"),
    ({"session_gap": -5}, "session_gap"),
    ({"session_gap": 0}, "session_gap"),
    ({"session_gap": float("nan")}, "session_gap"),
    ({"side": "slot"}, "side"),
    ({"side": ["slot", ["clk"]]}, "side[1]"),
    ({"separator": ";;"}, "separator"),
    ({"separator": 1}, "separator"),
    ({"format": ["csv"]}, "format"),
    ({"timestamp": {"unit": ["s"]}}, "timestamp.unit"),
])
def test_mapping_value_types_are_one_line_config_errors_before_reading(tmp_path, change, key):
    spec = tmp_path / "m.yaml"
    spec.write_text(yaml.safe_dump({**SPEC, **change}))
    with pytest.raises(ConfigError) as e:  # the data path does not even exist: nothing is read
        read("table", tmp_path / "missing.csv", spec=spec)
    assert str(e.value).startswith(f"{spec}: {key}:") and "\n" not in str(e.value)
    data = {"source": "table", "path": str(tmp_path / "missing.csv"), "options": {"spec": str(spec)}}
    with pytest.raises(ConfigError, match=f"^{spec}: "):  # the config check reads the mapping too
        DataSpec.check(data)


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e30", "99999999999999999999"])
@pytest.mark.parametrize("unit", ["s", "ms"])
def test_non_finite_or_huge_timestamps_name_file_line_column(tmp_path, value, unit):
    raw = write(tmp_path, "ads.csv", [",".join(NAMES), *ADS[:2], f"u2,ad7,{value},slot2,1", *ADS[3:]])
    with pytest.raises(DataError) as e:
        read("table", raw, spec={**SPEC, "timestamp": {"unit": unit}})
    assert (e.value.path, e.value.row, e.value.column) == (str(raw), 4, "ts") and "\n" not in str(e.value)


@pytest.mark.parametrize("source,name,text,column", [
    ("taobao", "train.csv", "clk,time_stamp,userid,adgroup_id\n0,1494000000,1,2\n1,999999999999999999,1,3\n",
     "time_stamp"),
    ("kuairand", "log.csv", "user_id,video_id,time_ms,is_click,is_like,is_hate,is_forward\n"
     "1,10,1649412000000,1,0,0,0\n1,11,999999999999999999,0,0,0,0\n", "time_ms"),
])
def test_a_timestamp_beyond_year_9999_in_a_named_source(tmp_path, source, name, text, column):
    (tmp_path / name).write_text(text)
    with pytest.raises(DataError, match="out of range") as e:
        read(source, tmp_path / name)
    assert (e.value.row, e.value.column) == (3, column)


# --- short and long rows with quoted fields --------------------------------------------------------------------

@pytest.mark.parametrize("bad,what", [
    ('u2,"ad,7",1494000200,slot2', "short row: 4 field(s), expected 5"),
    ('u2,"ad7",1494000200', "short row: 3 field(s), expected 5"),
    ('u2,"ad7",1494000200,slot2,1,"x"', "long row: 6 field(s), expected 5"),
    ('u2,"ad\n7",1494000200,slot2', "short row: 4 field(s), expected 5"),  # a quoted line break
])
def test_a_short_row_with_a_quoted_field_is_never_padded(tmp_path, bad, what):
    raw = write(tmp_path, "ads.csv", [",".join(NAMES), *ADS[:2], bad, *ADS[3:]])
    with pytest.raises(DataError, match=re.escape(what)) as e:
        read("table", raw, spec=SPEC)
    assert e.value.row == 4


def test_quoted_fields_with_separators_and_line_breaks_read(tmp_path):
    raw = write(tmp_path, "ads.csv", [",".join(NAMES), '"u1","ad,7",1494000000,"slot\n1",0', *ADS[1:]])
    df = read("table", raw, spec=SPEC)
    assert df.height == 4 and "ad,7" in df["item"].to_list() and "slot\n1" in df["context"].to_list()


# --- issue 29: a header-less ad log from the CLI; streamed unlabelled rows ----------------------------------

def test_headerless_ad_log_through_the_cli(tmp_path):
    sim = dr.simulate(users=40, items=60, sessions=2)
    log = sim.select(pl.col("user"), pl.col("item"), pl.col("timestamp"), pl.col("context"), pl.col("label"))
    log.write_csv(tmp_path / "ads.csv", include_header=False)
    spec = tmp_path / "ads.yaml"
    spec.write_text(yaml.safe_dump({"names": ["uid", "ad", "time", "slot", "clk"],
                                    "columns": {"user": "uid", "item": "ad", "timestamp": "time", "context": "slot"},
                                    "feedback": {"rules": [{"if": "clk == 1", "then": "click"}],
                                                 "otherwise": "unclick"}}))
    run = CliRunner().invoke
    r = run(app, ["data", "prepare", "table", "--raw", str(tmp_path / "ads.csv"), "--spec", str(spec),
                  "-o", str(tmp_path / "prep")])
    assert r.exit_code == 0, r.output
    prepared = pl.read_parquet(tmp_path / "prep" / "events.parquet")
    assert prepared.height == log.height  # the first row is data, not a header
    r = run(app, ["train", "--data", str(tmp_path / "ads.csv"), "--spec", str(spec), "--epochs", "1",
                  "--batch-size", "64", "-o", str(tmp_path / "res"), "--no-progress"])
    assert r.exit_code == 0, r.output
    r = run(app, ["predict", str(tmp_path / "res" / "bundles" / "deepfm__none__seed0"), "--data",
                  str(tmp_path / "ads.csv"), "--spec", str(spec), "-o", str(tmp_path / "s.parquet")])
    assert r.exit_code == 0, r.output
    assert pl.read_parquet(tmp_path / "s.parquet").height == log.height


def test_a_streamed_log_leaves_unlabelled_rows_out_as_in_memory(tmp_path):
    from test_store import _same

    from denoiserec.data.encoder import fit_encode_splits
    from denoiserec.data.features import FeatureConfig
    from denoiserec.data.store import streamed_splits
    from denoiserec.tasks import check_config
    from denoiserec.tasks.ctr import load_data

    log = dr.simulate(users=30, items=50, sessions=2)
    unlabelled = pl.int_range(pl.len()) % 7 == 3
    log = log.with_columns(*[pl.when(unlabelled).then(None).otherwise(pl.col(c)).alias(c)
                             for c in ("feedback", "active", "label")])
    write_log(log, tmp_path / "d", "sim")
    n = log["feedback"].null_count()
    cfg = check_config({"data": {"path": str(tmp_path / "d"), "stream": True, "cache": str(tmp_path / "c")}})
    said_stream: list[str] = []
    _, streamed = streamed_splits(cfg.data, cfg.split, cfg.features, said_stream)
    said_memory: list[str] = []
    _, memory = fit_encode_splits(load_data(cfg, said_memory), FeatureConfig())
    assert said_stream == said_memory == [f"data: {n:,} unlabelled row(s) (no feedback) left out of training; "
                                          "they are for scoring"]
    assert sum(len(v) for v in streamed.values()) == log.height - n and n > 0
    _same(memory, streamed)
    again: list[str] = []
    streamed_splits(cfg.data, cfg.split, cfg.features, again)  # the cached copy is reused, and the warning said again
    assert again == said_stream and len(list((tmp_path / "c" / "labelled").iterdir())) == 1
