"""Unlabelled rows (no feedback): the table mapping's ``unlabeled:`` condition, an empty cell never read as a
kind, training leaves them out, and the CLI's ``predict`` scores a Parquet/CSV file with them as Python does."""

from __future__ import annotations

import polars as pl
import pytest
from test_table_source import DEEZER_SPEC, deezer_csv
from typer.testing import CliRunner

import denoiserec as dr
from denoiserec.cli import app
from denoiserec.data.load import load_log
from denoiserec.data.log import write_log
from denoiserec.data.sources import read
from denoiserec.errors import DataError


def blank(path, lines: list[int], column: str):
    """Empty ``column`` on the given (1-based, header = 1) lines of a CSV."""
    rows = path.read_text().splitlines()
    j = rows[0].split(",").index(column)
    for n in lines:
        cells = rows[n - 1].split(",")
        cells[j] = ""
        rows[n - 1] = ",".join(cells)
    path.write_text("\n".join(rows) + "\n")
    return path


def test_an_empty_cell_never_falls_to_otherwise(tmp_path):
    raw = blank(deezer_csv(tmp_path / "train.csv", users=4, per_user=10), [5, 9], "is_listened")
    with pytest.raises(DataError, match="unlabeled: empty") as e:
        read("table", raw, spec=DEEZER_SPEC)
    assert e.value.row == 5 and e.value.column == "is_listened"
    spec = {**DEEZER_SPEC, "feedback": {**DEEZER_SPEC["feedback"], "unlabeled": "empty"}}
    df = read("table", raw, spec=spec)
    full = read("table", deezer_csv(tmp_path / "full.csv", users=4, per_user=10), spec=DEEZER_SPEC)
    assert df.height == full.height == 40
    assert df["feedback"].null_count() == df["label"].null_count() == df["active"].null_count() == 2
    same = df.filter(pl.col("feedback").is_not_null())
    assert same.select("user", "item", "feedback").equals(
        full.join(same.select("user", "timestamp"), on=["user", "timestamp"]).select("user", "item", "feedback"))
    # a condition instead of `empty`: only the rows it names
    cond = {**DEEZER_SPEC, "feedback": {**DEEZER_SPEC["feedback"], "unlabeled": "listen_type == 1"}}
    got = read("table", deezer_csv(tmp_path / "c.csv", users=4, per_user=10), spec=cond)
    src = pl.read_csv(tmp_path / "c.csv")
    assert got["feedback"].null_count() == int((src["listen_type"] == 1).sum()) > 0


def test_label_mode_and_training_leaves_them_out(tmp_path):
    sim = dr.simulate(users=20, items=80, sessions=2)
    table = sim.select(uid="user", song="item", ts="timestamp", liked="label", acted="active").with_columns(
        pl.col("liked").cast(pl.Utf8), pl.col("acted").cast(pl.Utf8))
    table = table.with_columns(pl.when(pl.int_range(pl.len()) % 10 == 3).then(None).otherwise(pl.col("liked"))
                               .alias("liked"))
    table.write_csv(tmp_path / "log.csv")
    spec = {"columns": {"user": "uid", "item": "song", "timestamp": "ts"},
            "feedback": {"label": "liked", "active": "acted"}}
    with pytest.raises(DataError, match="unlabeled: empty") as e:
        read("table", tmp_path / "log.csv", spec=spec)
    assert e.value.row == 5 and e.value.column == "liked"  # data row 4 = line 5
    spec["feedback"]["unlabeled"] = "empty"
    df = read("table", tmp_path / "log.csv", spec=spec)
    n = table["liked"].null_count()
    assert df["label"].null_count() == n > 0
    write_log(df, tmp_path / "prepared", "table")
    said: list[str] = []
    assert load_log({"path": str(tmp_path / "prepared")}, said).height == df.height - n
    assert said == [f"data: {n:,} unlabelled row(s) (no feedback) left out of training; they are for scoring"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    home = tmp_path_factory.mktemp("b")
    log = dr.simulate(users=30, items=100, sessions=2)
    return dr.fit(log, model="deepfm", epochs=1, batch_size=128, progress=False, out=home / "r"), log


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_cli_predict_scores_unlabelled_rows_as_python(tmp_path, bundle, suffix):
    b, log = bundle
    rows = log.head(300).drop([c for c in log.columns if c.startswith("true_")]).with_columns(
        [pl.when(pl.int_range(pl.len()) >= 250).then(None).otherwise(pl.col(c)).alias(c)
         for c in ("feedback", "label", "active")])
    f = tmp_path / f"rows{suffix}"
    rows.write_parquet(f) if suffix == ".parquet" else rows.write_csv(f)
    res = CliRunner().invoke(app, ["predict", str(b.path), "--data", str(f), "-o", str(tmp_path / "s.parquet")])
    assert res.exit_code == 0, res.output
    cli = pl.read_parquet(tmp_path / "s.parquet")
    py = b.predict(rows).scores
    assert cli.height == 300 and cli["score"].to_list() == pytest.approx(py["score"].to_list(), abs=1e-6)


def test_parquet_error_lines_count_the_header(tmp_path, bundle):
    b, log = bundle
    rows = log.head(10).with_columns(pl.when(pl.int_range(pl.len()) == 6).then(None).otherwise(pl.col("user"))
                                     .alias("user"))
    rows.write_parquet(tmp_path / "bad.parquet")
    res = CliRunner().invoke(app, ["predict", str(b.path), "--data", str(tmp_path / "bad.parquet"), "-o",
                                   str(tmp_path / "s.parquet")])
    assert res.exit_code == 2 and "line 8" in res.output and "'user'" in res.output  # row 7 of data = line 8
