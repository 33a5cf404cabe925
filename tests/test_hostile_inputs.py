"""Hostile and careless inputs (docs/reliability.md): every case is exit code 2 with one line naming the file and
line/column or the config key, and no file outside the output is touched (directory snapshots compared)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import polars as pl
import pytest
import torch
import yaml
from conftest import make_log
from typer.testing import CliRunner

from denoiserec.cli import app
from denoiserec.data.log import write_log
from denoiserec.data.sources import read
from denoiserec.errors import CheckpointError, DataError
from denoiserec.io import MARKER

PIKI = ("id,liked,personalized,song_id,spotify_popularity,timestamp,user_id\n"
        + "".join(f"{i},{i % 2},1,{i % 7},{40 + i},2019-06-21 01:{i:02d}:00,{i % 3}\n" for i in range(30)))
MSSD_HEADER = ("session_id,session_position,session_length,track_id_clean,skip_1,skip_2,skip_3,not_skipped,"
               "context_type,hist_user_behavior_reason_start,hour_of_day,date\n")
MSSD_ROW = "s{0},{1},5,t{1},False,False,False,True,editorial_playlist,clickrow,16,2018-07-15\n"
TAOBAO_HEADER = ("clk,time_stamp,userid,adgroup_id,pid,cate_id,campaign_id,customer,brand,price,cms_segid,"
                 "cms_group_id,final_gender_code,age_level,pvalue_level,shopping_level,occupation,"
                 "new_user_class_level,click_sequence\n")
TAOBAO_ROW = "{0},2017-05-06 00:00:{1:02d},87425{1},17229{1},430548_1007,5443,160194,864,339907,3.9,0,3,2,3,,3,0,,1^2\n"
TINY_SIM = {"users": 20, "items": 40, "sessions": 2, "min_len": 5, "max_len": 8}


def snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple[int, str]]:
    """Every file and folder under ``root`` (except ``skip``) with its size and content hash."""
    out = {}
    for p in sorted(root.rglob("*")):
        if skip is not None and (p == skip or skip in p.parents):
            continue
        if p.is_symlink():
            out[str(p.relative_to(root))] = (0, os.readlink(p))
        elif p.is_file():
            out[str(p.relative_to(root))] = (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
        else:
            out[str(p.relative_to(root))] = (-1, "dir")
    return out


def invoke(args: list[str]):
    return CliRunner().invoke(app, [str(a) for a in args])


def refused(result, *needles: str) -> str:
    """Exit 2, one line (no traceback) containing every needle; ``warning:`` lines before it (denoiserec.notices:
    a tiny test log) are not part of the error."""
    text = "\n".join(line for line in result.output.strip().splitlines() if not line.startswith("warning: "))
    assert result.exit_code == 2, text
    assert "Traceback" not in text and len(text.splitlines()) == 1, text
    for n in needles:
        assert n in text, (n, text)
    return text


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A working directory holding a raw Piki file, a foreign folder and a foreign file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "piki.csv").write_text(PIKI)
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "thesis.txt").write_text("years of work")
    (tmp_path / "notes.txt").write_text("keep me")
    return tmp_path


# --- output folders -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("out, needle", [
    ("foreign", "not written by denoiserec"), ("raw", "is the input"), (".", "current directory"),
    ("", "empty"), ("..", "current directory"), ("notes.txt", "is a file"), ("raw/sub", "inside the input"),
])
def test_prepare_refuses_unsafe_outputs(home, out, needle):
    before = snapshot(home)
    refused(invoke(["data", "prepare", "piki", "raw", "--out", out]), needle)
    assert snapshot(home) == before


@pytest.mark.parametrize("out, needle", [(".", "current directory"), ("foreign", "not written by denoiserec"),
                                         ("", "empty"), ("notes.txt", "is a file")])
def test_simulate_refuses_unsafe_outputs(home, out, needle):
    before = snapshot(home)
    refused(invoke(["simulate", "--out", out, "--users", "5", "--quiet"]), needle)
    assert snapshot(home) == before


@pytest.mark.parametrize("plot, needle", [(".", "current directory"), ("foreign/thesis.txt", "not a PNG"),
                                          ("foreign", "is a folder")])
def test_describe_plot_refuses_unsafe_outputs(home, plot, needle):
    assert invoke(["data", "prepare", "piki", "raw", "--out", "prep"]).exit_code == 0
    before = snapshot(home)
    refused(invoke(["data", "describe", "prep", "--plot", plot]), needle)
    assert snapshot(home) == before


def test_symlink_and_readonly_outputs_refused(home):
    (home / "link").symlink_to(home / "foreign")
    before = snapshot(home)
    refused(invoke(["simulate", "--out", "link", "--users", "5", "--quiet"]), "symbolic link")
    refused(invoke(["run", "cfg.yaml", "--out", "link"]), "no such config")  # config first, nothing written
    if os.geteuid() != 0:  # root may write anywhere
        (home / "ro").mkdir()
        (home / "ro").chmod(0o555)
        refused(invoke(["simulate", "--out", "ro/x", "--users", "5", "--quiet"]), "cannot write")
        (home / "ro").chmod(0o755)
        (home / "ro").rmdir()
    assert snapshot(home) == before


def test_own_output_is_replaced_and_stale_temporaries_cleaned(home):
    assert invoke(["data", "prepare", "piki", "raw", "--out", "prep"]).exit_code == 0
    assert (home / "prep" / MARKER).is_file()
    dead = home / ".prep.denoiserec-tmp-999999999-abc"  # left by a killed run (no such process)
    dead.mkdir()
    (dead / ".owner").write_text("999999999")
    lookalike = home / ".prep.denoiserec-tmp-999999999-xyz"  # not ours: no owner mark
    lookalike.mkdir()
    before = snapshot(home, skip=home / "prep")
    r = invoke(["data", "prepare", "piki", "raw", "--out", "prep", "--opt", "gap=60"])
    assert r.exit_code == 0, r.output
    assert not dead.exists() and lookalike.exists()
    after = snapshot(home, skip=home / "prep")
    assert {k: v for k, v in before.items() if not k.startswith(dead.name)} == after
    assert [p.name for p in home.iterdir() if p.name.startswith(".prep")] == [lookalike.name]
    # a results folder is not a data folder: refused, not replaced
    (home / "res").mkdir()
    (home / "res" / MARKER).write_text('{"written_by": "denoiserec", "kind": "results"}')
    refused(invoke(["data", "prepare", "piki", "raw", "--out", "res"]), "results folder, not a data folder")


def test_run_refuses_foreign_results_folder(home):
    (home / "cfg.yaml").write_text(yaml.safe_dump({"data": {"simulate": TINY_SIM}, "train": {"epochs": 1}}))
    before = snapshot(home)
    refused(invoke(["run", "cfg.yaml", "--out", "foreign"]), "not written by denoiserec")
    refused(invoke(["run", "cfg.yaml", "--out", "."]), "current directory")
    refused(invoke(["report", "foreign"]), "not a results folder")
    assert snapshot(home) == before


def test_refused_run_leaves_no_new_results_folder(home):
    """A run refused after its results folder was claimed (missing data, an unreadable log) removes the folder
    it created and nothing else; an existing results folder is kept (hostile-input pass: `refused but wrote`)."""
    cfg = {"data": {"path": "nowhere"}, "seeds": [0], "train": {"epochs": 1, "batch_size": 64},
           "models": {"deepfm": {"embed_dim": 4}}, "methods": {"none": {}}}
    (home / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    before = snapshot(home)
    refused(invoke(["run", "cfg.yaml", "--out", "res"]), "nowhere")
    assert snapshot(home) == before
    (home / "bad").mkdir()
    (home / "bad" / "events.parquet").write_bytes(b"garbage")  # read (and refused) after the folder is claimed
    cfg["data"]["path"] = "bad"
    (home / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    before = snapshot(home)
    refused(invoke(["run", "cfg.yaml", "--out", "res"]), "events.parquet")
    assert snapshot(home) == before
    (home / "res").mkdir()  # an existing (empty) folder is the user's choice: claimed, kept after the refusal
    refused(invoke(["run", "cfg.yaml", "--out", "res"]), "events.parquet")
    assert (home / "res" / MARKER).is_file()


# --- config checked up front, before any data is read ---------------------------------------------------------

BAD_CONFIGS = [
    ({"train": {"epochs": 0}}, "train.epochs: must be >= 1"),
    ({"train": {"epochs": -1}}, "train.epochs"),
    ({"train": {"epochs": "five"}}, "train.epochs: expected int"),
    ({"train": {"batch_size": 0}}, "train.batch_size"),
    ({"train": {"batch_size": -7}}, "train.batch_size"),
    ({"train": {"monitor": "acc"}}, "train.monitor: must be one of"),
    ({"train": {"reduction": "sum"}}, "train.reduction: must be one of"),
    ({"train": {"lr": "fast"}}, "train.lr: expected float"),
    ({"train": {"lr": -1}}, "train.lr: must be > 0"),
    ({"train": {"device": "tpu"}}, "train.device"),
    ({"train": {"epoch": 3}}, "train.epoch: unknown key"),
    ({"seeds": "0,1"}, "seeds: expected"),
    ({"seeds": []}, "seeds"),
    ({"methods": None}, "methods: expected a non-empty mapping"),
    ({"methods": {"lcd": {"a": "abc"}}}, "methods.lcd.a: expected float"),
    ({"methods": {"lcd": {"a": -1}}}, "methods.lcd"),
    ({"methods": {"edm": {"decay": 2}}}, "methods.edm.decay: must be in (0, 1]"),
    ({"methods": {"lcd": {"c": 1}}}, "methods.lcd.c: unknown parameter"),
    ({"methods": {"nosuch": {}}}, "methods.nosuch: unknown method"),
    ({"models": {"deepfm": {"embed_dim": "big"}}}, "models.deepfm.embed_dim"),
    ({"models": {"deepfm": {"width": 3}}}, "models.deepfm.width: unknown parameter"),
    ({"models": {"../../x": {"model": "deepfm"}}}, "models.../../x"),
    ({"methods": {"../../x": {"method": "none"}}}, "cannot be used as a file name"),
    ({"name": "../../x"}, "name: '../../x' cannot be used as a file name"),
    ({"split": {"how": "sideways"}}, "split.how: must be one of"),
    ({"split": {"fractions": [0.5, 0.6, 0.1]}}, "split.fractions"),
    ({"split": {"fractions": [0.9, 0.0, 0.1]}}, "split.fractions: the valid and test shares"),
    ({"split": {"colour": 1}}, "split.colour: unknown parameter"),
    ({"features": {"foo": 1}}, "features.foo: unknown key"),
    ({"features": {"sequences": {"hist": {"maxlen": 5}}}}, "features.sequences.hist.maxlen: unknown key"),
    ({"features": {"sequences": {"hist": {"max_len": 0}}}}, "features.sequences.hist.max_len"),
    ({"features": {"impute": "median"}}, "features.impute"),
    ({"baseline": "lcd"}, "baseline"),
    ({"colour": "red"}, "colour: unknown key"),
    ({"data": {"source": "piki"}}, "data.path: required"),
    ({"data": {"source": "piki", "path": "raw", "options": {"gap": -5}}}, "data.options.gap: must be > 0"),
    ({"data": {"source": "piki", "path": "raw", "options": {"gap": "abc"}}}, "data.options.gap: expected float"),
    ({"data": {"simulate": {"users": "many"}}}, "data.simulate.users"),
    ({"data": {"simulate": {"slip": 2}}}, "data.simulate"),
]


@pytest.mark.parametrize("override, needle", BAD_CONFIGS, ids=[n for _, n in BAD_CONFIGS])
def test_bad_config_is_one_line_before_data_is_read(home, override, needle):
    cfg = {"data": {"path": "no/such/data"}, "seeds": [0], **override}
    (home / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    before = snapshot(home)
    refused(invoke(["run", "cfg.yaml", "--out", "res"]), needle)
    assert snapshot(home) == before  # nothing written, not even the results folder


@pytest.mark.parametrize("args, needle", [
    (["--seeds", "0,x"], "--seeds"), (["--epochs", "0"], "train.epochs"), (["--batch-size", "-7"], "train.batch_size"),
    (["--lr", "-1"], "train.lr"), (["--device", "tpu"], "train.device"), (["-p", "a=abc", "--method", "lcd"], "a"),
    (["-p", "decay=2", "--method", "edm"], "decay"),
])
def test_train_command_options_checked(home, args, needle):
    before = snapshot(home)
    refused(invoke(["train", "--data", "no/such/data", "--out", "res", *args]), needle)
    assert snapshot(home) == before


@pytest.mark.parametrize("opt, needle", [("gap=-5", "gap: must be > 0"), ("gap=abc", "gap: expected float"),
                                         ("colour=red", "--opt colour: unknown parameter")])
def test_source_options_checked(home, opt, needle):
    before = snapshot(home)
    refused(invoke(["data", "prepare", "piki", "raw", "--out", "prep", "--opt", opt]), needle)
    assert snapshot(home) == before


# --- data: adapters and encoder -------------------------------------------------------------------------------


def _prepare(home: Path, source: str, text: str | bytes, name: str, *needles: str) -> None:
    folder = home / f"raw_{source}"
    folder.mkdir(exist_ok=True)
    f = folder / name
    f.write_bytes(text if isinstance(text, bytes) else text.encode())
    before = snapshot(home)
    refused(invoke(["data", "prepare", source, str(folder), "--out", "out"]), *needles)
    assert snapshot(home) == before


def test_mssd_short_row_is_an_error_not_padded(home):
    rows = [MSSD_ROW.format(0, p) for p in range(1, 6)]
    rows[2] = rows[2].rsplit(",", 1)[0] + "\n"  # line 4 lost its last field
    _prepare(home, "mssd", MSSD_HEADER + "".join(rows), "log_0.csv", "line 4", "short row")


def test_long_row_names_its_line(home):
    rows = [MSSD_ROW.format(0, p) for p in range(1, 6)]
    rows[3] = rows[3].rstrip("\n") + ",extra\n"
    _prepare(home, "mssd", MSSD_HEADER + "".join(rows), "log_0.csv", "line 5", "long row")


@pytest.mark.parametrize("column, old, new, needle", [
    ("hour_of_day", ",16,", ",99,", "hour_of_day"), ("session_position", "s0,3,", "s0,-3,", "session_position"),
])
def test_mssd_out_of_range_values(home, column, old, new, needle):
    rows = [MSSD_ROW.format(0, p) for p in range(1, 6)]
    rows[2] = rows[2].replace(old, new, 1)
    _prepare(home, "mssd", MSSD_HEADER + "".join(rows), "log_0.csv", "line 4", needle, "out of range")


def test_mssd_track_features_with_empty_track_id(home):
    folder = home / "raw_mssd"
    folder.mkdir()
    (folder / "log_0.csv").write_text(MSSD_HEADER + "".join(MSSD_ROW.format(0, p) for p in range(1, 4)))
    (folder / "tf_0.csv").write_text("track_id,duration,energy\nt1,200,0.5\n,180,0.3\n")
    before = snapshot(home)
    refused(invoke(["data", "prepare", "mssd", "raw_mssd", "--out", "out"]), "tf_0.csv", "line 3", "track_id")
    assert snapshot(home) == before


def test_non_utf8_names_its_line(home):
    text = PIKI.encode()
    lines = text.split(b"\n")
    lines[4] = lines[4].replace(b"01:03", b"01:\xff3")
    _prepare(home, "piki", b"\n".join(lines), "piki.csv", "line 5", "UTF-8")


def test_quoted_multiline_field_keeps_line_numbers(home):
    lines = PIKI.splitlines(keepends=True)
    lines[2] = '"1\nsecond line",' + lines[2].split(",", 1)[1]  # record 2 spans lines 3-4
    lines[5] = lines[5].replace("2019-06-21", "yesterday")  # physical line 7
    _prepare(home, "piki", "".join(lines), "piki.csv", "line 7", "timestamp")
    lines[5] = PIKI.splitlines(keepends=True)[5]
    lines[2] = lines[2].replace("2019-06-21", "yesterday")  # the record starting on line 3
    _prepare(home, "piki", "".join(lines), "piki.csv", "line 3", "timestamp")


def test_taobao_truncated_last_line(home):
    text = TAOBAO_HEADER + "".join(TAOBAO_ROW.format(i % 2, i) for i in range(4))
    _prepare(home, "taobao", text[:-40], "joined_train_sample.csv", "line 5", "short row")


def test_kuairand_negative_time(home):
    header = "user_id\tvideo_id\ttime_ms\tis_click\tis_like\tis_follow\tis_comment\tis_forward\tis_hate\n"
    rows = "".join(f"1\t{i}\t{1649581149287 + i}\t1\t0\t0\t0\t0\t0\n" for i in range(4)).replace("1649581149289", "-5")
    _prepare(home, "kuairand", header + rows, "log_standard_4_08_to_4_21_27k_part1.tsv", "line 4", "time_ms")


def test_lastfm_header_line_reads_the_same(tmp_path):
    rows = "".join(f"user_{u:06d}\t2009-05-04T23:{m:02d}:57Z\tart{m}\tArtist {m}\ttr{m}\tTrack {m}\n"
                   for u in range(2) for m in range(5))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "userid-timestamp-artid-artname-traid-traname.tsv").write_text(rows)
    (tmp_path / "b" / "userid-timestamp-artid-artname-traid-traname.tsv").write_text(
        "#userid\ttimestamp\tartid\tartname\ttraid\ttraname\n" + rows)
    a, b = read("lastfm1k", tmp_path / "a"), read("lastfm1k", tmp_path / "b")
    assert a.height == 10 and a.equals(b)


def test_nan_feature_is_an_error_unless_imputed(home):
    lines = PIKI.splitlines(keepends=True)
    fields = lines[6].split(",")
    fields[4] = "nan"
    lines[6] = ",".join(fields)
    (home / "raw" / "piki.csv").write_text("".join(lines))
    cfg = {"data": {"source": "piki", "path": "raw"}, "seeds": [0], "train": {"epochs": 1},
           "split": {"how": "random"}}
    (home / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    before = snapshot(home, skip=home / "res")
    refused(invoke(["run", "cfg.yaml", "--out", "res", "--no-progress"]), "f_popularity", "NaN")
    assert snapshot(home, skip=home / "res") == before
    assert not list((home / "res" / "runs").glob("*.json"))
    from denoiserec.data.encoder import check_finite

    df = pl.DataFrame({"f_x": [1.0, float("nan"), float("inf"), None]})
    with pytest.raises(DataError, match="'f_x': 2 NaN/inf"):
        check_finite(df, ["f_x"])
    assert check_finite(df, ["f_x"], impute="mean")["f_x"].null_count() == 3


def test_empty_split_part_and_single_class_labels(home):
    data = write_log(make_log(n_users=10, per_user=20), home / "log", source="test")
    before = snapshot(home, skip=home / "res")
    (home / "cfg.yaml").write_text(yaml.safe_dump({"data": {"path": str(data)}, "seeds": [0],
                                                   "split": {"how": "temporal", "test_days": 0}}))
    # the prepared log carries its own split column; a log without one is split by the config
    df = pl.read_parquet(data / "events.parquet").drop("split")
    write_log(df, home / "log", source="test")
    before = snapshot(home, skip=home / "res")
    refused(invoke(["run", "cfg.yaml", "--out", "res", "--no-progress"]), "valid part is empty")
    write_log(df.with_columns(label=pl.lit(1, pl.Int8), feedback=pl.lit("like"), active=pl.lit(1, pl.Int8)),
              home / "log", source="test")
    (home / "cfg.yaml").write_text(yaml.safe_dump({"data": {"path": str(data)}, "seeds": [0]}))
    before = snapshot(home, skip=home / "res")
    refused(invoke(["run", "cfg.yaml", "--out", "res", "--no-progress"]), "every label of the train part is 1")
    assert snapshot(home, skip=home / "res") == before


@pytest.mark.parametrize("content", [b"", b"garbage", b"PK\x03\x04truncated"])
def test_bad_parquet_given_to_train(home, content):
    (home / "events.parquet").write_bytes(content)
    before = snapshot(home, skip=home / "res")
    refused(invoke(["train", "--data", "events.parquet", "--out", "res", "--no-progress"]), "events.parquet")
    assert snapshot(home, skip=home / "res") == before


def test_non_canonical_parquet_given_to_train(home):
    pl.DataFrame({"a": [1, 2]}).write_parquet(home / "x.parquet")
    refused(invoke(["train", "--data", "x.parquet", "--out", "res", "--no-progress"]), "x.parquet",
            "missing required column")


# --- checkpoints and runs keyed by content ----------------------------------------------------------------------


@pytest.fixture
def tiny_log(home) -> Path:
    return write_log(make_log(n_users=12, per_user=20), home / "log", source="test")


@pytest.mark.parametrize("content", [b"", b"garbage", b"PK\x03\x04\x14\x00\x00\x00truncated"])
def test_corrupt_checkpoint_is_one_line(home, tiny_log, content):
    ckpt = home / "res" / "checkpoints" / "deepfm__none__seed0.pt"
    ckpt.parent.mkdir(parents=True)
    (home / "res" / MARKER).write_text('{"written_by": "denoiserec", "kind": "results"}')
    ckpt.write_bytes(content)
    refused(invoke(["train", "--data", "log", "--out", "res", "--epochs", "1", "--no-progress"]),
            str(Path("res") / "checkpoints" / "deepfm__none__seed0.pt"), "delete the file to restart")
    assert ckpt.read_bytes() == content


def test_checkpoint_with_code_is_not_executed(home, tiny_log):
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {home / 'pwned'}",))

    ckpt = home / "res" / "checkpoints" / "deepfm__none__seed0.pt"
    ckpt.parent.mkdir(parents=True)
    (home / "res" / MARKER).write_text('{"written_by": "denoiserec", "kind": "results"}')
    torch.save({"model": Payload(), "optim": {}, "epoch": 0, "rng": {}}, ckpt)
    refused(invoke(["train", "--data", "log", "--out", "res", "--epochs", "1", "--no-progress"]), "checkpoint")
    assert not (home / "pwned").exists()


def test_changed_config_recomputes(home, tiny_log):
    args = ["train", "--data", "log", "--out", "res", "--epochs", "1", "--batch-size", "64", "--no-progress"]
    assert invoke(args).exit_code == 0
    run = home / "res" / "runs" / "deepfm__none__seed0.json"
    first = yaml.safe_load(run.read_text())
    r = invoke([*args[:-1], "--lr", "0.01", "--no-progress"])
    assert r.exit_code == 0 and "written for another config or data" in r.output
    second = yaml.safe_load(run.read_text())
    assert first["fingerprint"] != second["fingerprint"]
    assert (home / "res" / "stale" / run.name).exists()
    r = invoke([*args[:-1], "--lr", "0.01", "--no-progress"])  # same config again: reused, nothing recomputed
    assert "another config" not in r.output and yaml.safe_load(run.read_text()) == second


def test_checkpoint_of_another_config_is_not_resumed_and_method_state_is(tmp_path):
    from denoiserec.data.encoder import encode_splits
    from denoiserec.data.features import FeatureConfig
    from denoiserec.methods import build_method
    from denoiserec.models import build_model
    from denoiserec.train.trainer import TrainConfig, Trainer, load_checkpoint

    spec, parts = encode_splits(make_log(n_users=12, per_user=20), FeatureConfig())
    ckpt = tmp_path / "c.pt"

    def fit(epochs, fingerprint, checkpoint=True):
        trainer = Trainer(TrainConfig(epochs=epochs, batch_size=32, progress=False, patience=10,
                                      checkpoint=str(ckpt) if checkpoint else None))
        torch.manual_seed(0)
        model, method = build_model("fm", spec), build_method("lcd", a=1, b=1, start_epoch=1)
        trainer.fit(model, parts["train"], parts["valid"], method, spec, fingerprint=fingerprint)
        return trainer, method

    full, m_full = fit(2, "A", checkpoint=False)
    fit(1, "A")
    state = load_checkpoint(ckpt, "A")
    assert state["rng"]["generator"].device.type == "cpu" and state["rng"]["generator"].dtype == torch.uint8
    resumed, m_resumed = fit(2, "A")  # resumes at epoch 2, with LCD's counters
    assert [h["epoch"] for h in resumed.history] == [0, 1]
    assert m_resumed.state()["corrected_steps"] == m_full.state()["corrected_steps"]
    assert m_resumed.state()["mean_w"] == pytest.approx(m_full.state()["mean_w"], rel=1e-5)
    assert resumed.history[1]["train_loss"] == pytest.approx(full.history[1]["train_loss"], rel=1e-5)
    assert load_checkpoint(ckpt, "B") is None  # another config: not resumed
    restarted, _ = fit(1, "B")
    assert [h["epoch"] for h in restarted.history] == [0]
    ckpt.write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="delete the file"):
        load_checkpoint(ckpt, "B")


def test_rng_states_restored_as_cpu_byte_tensors():
    from denoiserec.train.trainer import rng_states, set_rng_states

    g = torch.Generator().manual_seed(3)
    saved = rng_states(g)
    a = torch.rand(3, generator=g), torch.rand(3)
    moved = {**saved, "generator": saved["generator"].to(torch.int64), "torch": saved["torch"].to(torch.int64)}
    set_rng_states(g, moved)  # any device/dtype the checkpoint held comes back as a CPU ByteTensor
    assert torch.equal(torch.rand(3, generator=g), a[0]) and torch.equal(torch.rand(3), a[1])


def test_data_error_type_is_dataerror():
    assert issubclass(DataError, ValueError)


def test_user_folder_with_config_and_png_is_not_a_results_folder(home):
    """Issue 27, item 5: a folder of the user's holding config.yaml and a PNG is refused as `run -o`, not filled."""
    user = home / "holiday"
    user.mkdir()
    (user / "config.yaml").write_text("my: settings")
    (user / "beach.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    (home / "cfg.yaml").write_text(yaml.safe_dump({"data": {"simulate": TINY_SIM}, "train": {"epochs": 1}}))
    before = snapshot(home)
    refused(invoke(["run", "cfg.yaml", "--out", "holiday"]), "not written by denoiserec")
    assert snapshot(home) == before


def test_own_output_with_a_user_file_in_it_is_refused_not_replaced(home):
    """Issue 27, item 5: a user's notes.txt inside an earlier simulate output survives a rewrite (refused, named)."""
    sim = ["simulate", "--out", "sim", "--quiet", *sum(([f"--{k.replace('_', '-')}", v] for k, v in TINY_SIM.items()),
                                                      [])]
    assert invoke(sim).exit_code == 0
    (home / "sim" / "notes.txt").write_text("my notes")
    (home / "sim" / "more").mkdir()
    before = snapshot(home)
    refused(invoke([*sim, "--seed", "1"]), "sim", "did not write", "notes.txt", "more")
    assert snapshot(home) == before
    (home / "sim" / "notes.txt").unlink()
    (home / "sim" / "more").rmdir()
    assert invoke([*sim, "--seed", "1"]).exit_code == 0  # only what it wrote: replaced
    # a marker from before markers recorded their files stands for its kind's layout, nothing else
    (home / "sim" / MARKER).write_text('{"written_by": "denoiserec", "kind": "data"}')
    assert invoke(sim).exit_code == 0
    (home / "sim" / MARKER).write_text('{"written_by": "denoiserec", "kind": "data"}')
    (home / "sim" / "notes.txt").write_text("my notes")
    refused(invoke(sim), "notes.txt")
    assert (home / "sim" / "notes.txt").read_text() == "my notes"


def test_describe_plot_replaces_only_its_own_png(home):
    """Issue 27, item 5: `describe --plot holiday.png` never replaces a user's PNG; its own plot it does."""
    from denoiserec.io import pyplot

    assert invoke(["data", "prepare", "piki", "raw", "--out", "prep"]).exit_code == 0
    fig = pyplot().figure()
    fig.savefig(home / "holiday.png", format="png")  # a real PNG, not written by denoiserec
    before = snapshot(home)
    refused(invoke(["data", "describe", "prep", "--plot", "holiday.png"]), "holiday.png", "not a PNG image")
    assert snapshot(home) == before
    assert invoke(["data", "describe", "prep", "--plot", "mine.png"]).exit_code == 0
    first = (home / "mine.png").read_bytes()
    assert invoke(["data", "describe", "prep", "--plot", "mine.png"]).exit_code == 0  # its own: replaced
    assert (home / "mine.png").read_bytes()[:8] == first[:8]


@pytest.mark.parametrize("case", ["simulate", "run", "predict"])
def test_kill_at_every_rename_leaves_old_or_new_output(tmp_path, case):
    """Issue 27, item 6: the new command killed (``os._exit``) before each of its renames, then rerun: the output
    is the old or the new one after the kill (a run record only with its bundle), and the new one after the rerun,
    with no temporary sibling left (tests/killpoints.py)."""
    import json
    import subprocess
    import sys

    here = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here.parent), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(here / "killpoints.py"), str(tmp_path), case], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["renames"] >= (2 if case != "predict" else 1)
    for point in report["points"]:
        assert point["killed"] and point["consistent"], point
        assert point["rerun_code"] == 0 and point["after_rerun_new"] and not point["leftovers"], point
    if case == "simulate":  # the replace of a folder: killed between its two renames, the new copy is put back
        assert [p["after_kill"] for p in report["points"]] == ["old", "new"]


# --- results and caches keyed by content (issue 27, items 1 and 2) ---------------------------------------------


def _service_log(home: Path, rows_per_user: int = 20) -> None:
    """A service's CSV (user_id, track, ts, liked, acted) and its mapping m.yaml (label: liked, active: acted)."""
    log = make_log(n_users=12, per_user=rows_per_user)
    log.select(user_id="user", track="item", ts="timestamp", liked="label", acted="active").write_csv(home / "log.csv")
    (home / "m.yaml").write_text(yaml.safe_dump({"columns": {"user": "user_id", "item": "track", "timestamp": "ts"},
                                                "timestamp": {"unit": "s"},
                                                "feedback": {"label": "liked", "active": "acted"}}))


def _table_config(home: Path, **data) -> Path:
    cfg = {"data": {"source": "table", "path": "log.csv", "options": {"spec": "m.yaml"}, **data}, "seeds": [0],
           "train": {"epochs": 1, "batch_size": 64}, "models": {"deepfm": {"embed_dim": 4}}, "methods": {"none": {}}}
    (home / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    return home / "cfg.yaml"


def test_edited_mapping_recomputes_the_run(home):
    """Item 1: the mapping file edited so that every label changes (label and active swapped) is other data."""
    _service_log(home)
    _table_config(home)
    args = ["run", "cfg.yaml", "--out", "res", "--no-progress"]
    assert invoke(args).exit_code == 0
    run = home / "res" / "runs" / "deepfm__none__seed0.json"
    first = run.read_bytes()
    spec = yaml.safe_load((home / "m.yaml").read_text())
    spec["feedback"] = {"label": "acted", "active": "liked"}
    (home / "m.yaml").write_text(yaml.safe_dump(spec))
    r = invoke(args)
    assert r.exit_code == 0 and "written for another config or data" in r.output, r.output
    assert run.read_bytes() != first
    fresh = invoke(["run", "cfg.yaml", "--out", "fresh", "--no-progress"])
    assert fresh.exit_code == 0
    assert (yaml.safe_load(run.read_text())["test"]
            == yaml.safe_load((home / "fresh" / "runs" / run.name).read_text())["test"])


def test_cut_source_file_rebuilds_the_stream_cache(home):
    """Item 2: with ``stream: true``, the source CSV cut to fewer rows is encoded again, not read from the cache."""
    _service_log(home)
    _table_config(home, stream=True, cache=str(home / "cache"))
    args = ["run", "cfg.yaml", "--out", "res", "--no-progress"]
    assert invoke(args).exit_code == 0, invoke(args).output
    run = home / "res" / "runs" / "deepfm__none__seed0.json"
    rows = yaml.safe_load(run.read_text())["rows"]
    lines = (home / "log.csv").read_text().splitlines(keepends=True)
    (home / "log.csv").write_text("".join(lines[: 1 + (len(lines) - 1) // 2]))
    r = invoke(args)
    assert r.exit_code == 0 and "written for another config or data" in r.output, r.output
    again = yaml.safe_load(run.read_text())["rows"]
    assert sum(again.values()) < sum(rows.values()), (rows, again)


def test_content_hash_short_cut_needs_a_stored_hash(tmp_path, monkeypatch):
    """Size + mtime reuse a stored content hash only for a large file hashed well after its last change."""
    from denoiserec.data import content as fingerprint

    monkeypatch.setenv("DENOISEREC_CACHE", str(tmp_path / "cache"))
    big = tmp_path / "big.bin"
    big.write_bytes(b"a" * (fingerprint.BLOCK + 5))
    old = big.stat().st_mtime_ns - 5 * 10**9
    os.utime(big, ns=(old, old))
    records: dict = {}
    first = fingerprint.content_hash(big, records)
    assert first == hashlib.sha256(big.read_bytes()).hexdigest() and str(big.resolve()) in records
    records[str(big.resolve())]["sha256"] = "stored"  # the stored hash is what an unchanged file gets
    assert fingerprint.content_hash(big, records) == "stored"
    big.write_bytes(b"b" * (fingerprint.BLOCK + 5))  # changed (new mtime): read again
    assert fingerprint.content_hash(big, records) == hashlib.sha256(big.read_bytes()).hexdigest()
    racy = dict(records)  # hashed within a second of its last change: not trusted, read again
    racy[str(big.resolve())]["sha256"] = "stored"
    assert fingerprint.content_hash(big, racy) != "stored"
    small = tmp_path / "m.yaml"  # small files are always read
    small.write_text("x: 1")
    assert fingerprint.content_hash(small, records) == hashlib.sha256(b"x: 1").hexdigest()
    assert str(small.resolve()) not in records


# --- bundles: a manifest with a content hash per file (issue 27, item 4) -----------------------------------------


def test_corrupt_bundles_are_one_line_naming_the_file(home, tiny_log):
    """Every corruption of a bundle file is exit 2 naming that file, before anything is parsed or allocated."""
    import json
    import shutil

    base = ["train", "--data", "log", "--epochs", "1", "--batch-size", "64", "--no-progress"]
    assert invoke([*base, "--out", "res"]).exit_code == 0
    write_log(make_log(n_users=10, per_user=20, seed=3), home / "log2", source="test")  # other ids: other vocabulary
    assert invoke([*base[:2], "log2", *base[3:], "--out", "res2", "--seeds", "1"]).exit_code == 0
    good = home / "res" / "bundles" / "deepfm__none__seed0"
    other = home / "res2" / "bundles" / "deepfm__none__seed1"

    def forge_size(b: Path) -> None:
        meta = json.loads((b / "bundle.json").read_text())
        meta["spec"]["cardinalities"] = [10**12 for _ in meta["spec"]["cardinalities"]]
        (b / "bundle.json").write_text(json.dumps(meta))

    def shuffle_vocab(b: Path) -> None:
        v = pl.read_parquet(b / "vocabularies.parquet")
        v.with_columns(pl.col("value").shuffle(seed=1).over("field")).write_parquet(b / "vocabularies.parquet")

    cases = {
        "missing vocabularies": ("vocabularies.parquet", lambda b: (b / "vocabularies.parquet").unlink()),
        "truncated weights": ("model.safetensors", lambda b: (b / "model.safetensors").write_bytes(
            (b / "model.safetensors").read_bytes()[:100])),
        "bad JSON": ("bundle.json", lambda b: (b / "bundle.json").write_text("{not json")),
        "forged table size": ("bundle.json", forge_size),
        "shuffled vocabulary": ("vocabularies.parquet", shuffle_vocab),
        "another run's vocabulary": ("vocabularies.parquet", lambda b: shutil.copy(other / "vocabularies.parquet",
                                                                                  b / "vocabularies.parquet")),
        "another run's weights": ("model.safetensors", lambda b: shutil.copy(other / "model.safetensors",
                                                                             b / "model.safetensors")),
        "manifest removed": (MARKER, lambda b: (b / MARKER).unlink()),
        "manifest garbage": (MARKER, lambda b: (b / MARKER).write_text("garbage")),
    }
    for what, (name, corrupt) in cases.items():
        b = home / "case"
        shutil.rmtree(b, ignore_errors=True)
        shutil.copytree(good, b)
        corrupt(b)
        r = invoke(["predict", "case", "--data", "log", "-o", "scores.parquet"])
        assert r.exit_code == 2, (what, r.output)
        refused(r, name)
    assert invoke(["predict", str(good), "--data", "log", "-o", "ok.parquet"]).exit_code == 0


# --- CTR recommend: each candidate's own item attributes (issue 27, item 3) ---------------------------------------


def test_ctr_recommend_uses_each_candidates_own_attributes(home):
    """A model that sees items only through their artist (liked iff artist a0): candidates take the artist of
    the item from the bundle's item table, not the user's last event, so the top 5 are all a0 songs; a candidate
    file with its own artist keeps it; an item outside the table is counted; --all-items ranks the catalogue."""
    import json

    import numpy as np

    from denoiserec.bundle import load

    rng = np.random.default_rng(0)
    n_users, per_user = 30, 40
    users = np.repeat(np.arange(n_users), per_user)
    items = rng.integers(0, 40, len(users))
    artist = np.array([f"a{i % 4}" for i in items])
    label = ((items % 4 == 0) ^ (rng.random(len(users)) < 0.05)).astype(np.int8)
    pos = np.tile(np.arange(per_user), n_users)
    log = pl.DataFrame({"user": users.astype(str), "item": [f"i{i:02d}" for i in items], "artist": artist,
                        "timestamp": (pos * 60 + 10**9).astype(np.int64), "session": users.astype(str),
                        "position": pos.astype(np.int32), "active": np.ones(len(users), np.int8), "label": label,
                        "feedback": np.where(label == 1, "like", "skip")})
    write_log(log, home / "log", source="test")
    cfg = {"data": {"path": "log"}, "seeds": [0], "train": {"epochs": 3, "batch_size": 64, "lr": 0.01},
           "features": {"categorical": ["user", "artist"], "sequences": {}},
           "models": {"lr": {}}, "methods": {"none": {}}}
    (home / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert invoke(["run", "cfg.yaml", "-o", "res", "--no-progress"]).exit_code == 0
    b = load(home / "res" / "bundles" / "lr__none__seed0")
    assert b.items is not None and set(b.items.columns) == {"item", "artist"}
    history = log.filter(pl.col("user").is_in(["0", "1"]))
    cand = pl.DataFrame({"user": ["0"] * 41, "item": [f"i{i:02d}" for i in range(40)] + ["unseen"]})
    recs = b.recommend(history, cand, k=5)
    top = recs.scores.join(b.items, on="item", how="left")
    assert top["artist"].to_list() == ["a0"] * 5, top
    assert recs.summary["unknown_items"] == 1
    own = cand.head(40).with_columns(artist=pl.when(pl.col("item") == "i01").then(pl.lit("a0")).otherwise(pl.lit("a1")))
    assert b.recommend(history, own, k=1).scores["item"].to_list() == ["i01"]  # its own artist kept
    r = invoke(["recommend", "res/bundles/lr__none__seed0", "--history", "log", "--all-items", "--k", "3",
                "--users", "0", "--exclude-heard", "-o", "all.parquet"])
    assert r.exit_code == 0, r.output
    got = pl.read_parquet(home / "all.parquet").join(b.items, on="item")
    heard = set(log.filter(pl.col("user") == "0")["item"].to_list())
    assert got.height == min(3, 40 - len(heard)) and not set(got["item"]) & heard
    assert set(got["artist"]) <= {"a0"} or len(heard) > 30
    assert json.loads(json.dumps(recs.summary))["candidates"] == 41


def test_results_folder_of_another_task_is_refused(home):
    """A CTR config run into a transformer's results folder (or the reverse) is refused before its config.yaml
    and report are replaced (hostile-input pass: `run -o` a seqrec folder changed its config and report)."""
    write_log(make_log(n_users=12, per_user=20), home / "log", source="test")
    ctr = {"data": {"path": "log"}, "seeds": [0], "train": {"epochs": 1, "batch_size": 64},
           "models": {"deepfm": {"embed_dim": 4}}, "methods": {"none": {}}}
    (home / "ctr.yaml").write_text(yaml.safe_dump(ctr))
    assert invoke(["run", "ctr.yaml", "--out", "res", "--no-progress"]).exit_code == 0
    seq = {"task": "seqrec", "data": {"path": "log"}, "seeds": [0], "train": {"epochs": 1, "batch_size": 32},
           "eval": {"candidates": 20, "k": [5]}, "models": {"both": {"dim": 8, "layers": 1, "heads": 1}}}
    (home / "seq.yaml").write_text(yaml.safe_dump(seq))
    before = snapshot(home)
    refused(invoke(["run", "seq.yaml", "--out", "res", "--no-progress"]), "res", "task: ctr run, not seqrec")
    assert snapshot(home) == before


def test_forged_size_with_a_rehashed_manifest_is_not_allocated(home, tiny_log):
    """A table size forged in bundle.json whose manifest hash was rewritten to match passes the content check; the
    shapes of the model it describes are compared with the weights file (built on the meta device) before anything
    is allocated."""
    import json
    import shutil

    from denoiserec.io import sha256_file

    base = ["train", "--data", "log", "--epochs", "1", "--batch-size", "64", "--no-progress"]
    assert invoke([*base, "--out", "res"]).exit_code == 0
    b = home / "b"
    shutil.copytree(home / "res" / "bundles" / "deepfm__none__seed0", b)
    meta = json.loads((b / "bundle.json").read_text())
    meta["spec"]["cardinalities"] = [10**12 for _ in meta["spec"]["cardinalities"]]
    (b / "bundle.json").write_text(json.dumps(meta))
    marker = json.loads((b / MARKER).read_text())
    marker["sha256"]["bundle.json"] = sha256_file(b / "bundle.json")
    (b / MARKER).write_text(json.dumps(marker))
    before = snapshot(home)
    refused(invoke(["predict", "b", "--data", "log", "-o", "s.parquet"]), "bundle.json", "model.safetensors holds")
    assert snapshot(home) == before


@pytest.mark.parametrize("damage", ["truncated", "emptied", "garbage JSON", "removed"])
def test_damaged_stream_cache_is_rebuilt(home, damage):
    """A stream cache (prepared log, encoded store) whose files were truncated, emptied, garbled or removed is
    rebuilt, not read: the run gives the metrics of the undamaged cache (before: a Parquet/NumPy/JSON traceback)."""
    from denoiserec.data.store import _log_ok, store_ok

    _service_log(home)
    _table_config(home, stream=True, cache=str(home / "cache"))
    assert invoke(["run", "cfg.yaml", "--out", "res", "--no-progress"]).exit_code == 0
    stores = [p.parent for p in (home / "cache").rglob("manifest.json")]
    logs = [p.parent for p in (home / "cache" / "prepared").rglob("events.parquet")]
    assert stores and logs and all(map(store_ok, stores)) and all(map(_log_ok, logs))
    for f in [p for p in (home / "cache").rglob("*") if p.is_file() and p.name != "content-hashes.json"]:
        if damage == "truncated" and f.suffix in (".parquet", ".npy"):
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
        elif damage == "emptied":
            f.write_bytes(b"")
        elif damage == "garbage JSON" and f.suffix == ".json":
            f.write_text("{garbage")
        elif damage == "removed":
            f.unlink()
    r = invoke(["run", "cfg.yaml", "--out", "again", "--no-progress"])
    assert r.exit_code == 0, r.output
    run = Path("runs") / "deepfm__none__seed0.json"
    again, first = (yaml.safe_load((home / d / run).read_text())["test"] for d in ("again", "res"))
    assert again == first


def test_scores_file_needs_a_parquet_or_csv_name(home, tiny_log):
    """predict/recommend write Parquet, or CSV for a .csv name: any other name is refused before the bundle is
    read (before: `-o scores.xlsx` wrote a Parquet file under that name)."""
    before = snapshot(home)
    for name in ("scores.xlsx", "scores", "scores.CSV"):
        refused(invoke(["predict", "nob", "--data", "log", "-o", name]), name, ".parquet or .csv")
        refused(invoke(["recommend", "nob", "--history", "log", "-o", name]), name, ".parquet or .csv")
    assert snapshot(home) == before


def test_negative_counts_of_describe_and_export_are_one_line(home, tiny_log):
    """`describe --positions -1` printed nothing and exited 0; `export --check -1` was a NumPy traceback after the
    export: both are refused before any work."""
    before = snapshot(home)
    refused(invoke(["data", "describe", "log", "--positions", "-1"]), "--positions: must be >= 0")
    refused(invoke(["export", "nob", "--onnx", "m.onnx", "--check", "-3"]), "--check: must be >= 0")
    assert snapshot(home) == before


def test_recommend_predict_and_report_inputs_of_no_use_are_one_line(home, tiny_log):
    """The hostile-input pass's CLI cases no item owned: `--users ' , '`, an empty or column-less candidate file,
    a history or scores file without a required column (named as 'history'/'log', not the file), an unknown
    `--station`, `report --baseline` unknown (exit 0 before), `run --set seeds.x=1` (a traceback)."""
    import polars as pl

    ctr = {"data": {"path": "log"}, "seeds": [0], "train": {"epochs": 1, "batch_size": 64},
           "models": {"deepfm": {"embed_dim": 4}}, "methods": {"none": {}}}
    (home / "ctr.yaml").write_text(yaml.safe_dump(ctr))
    assert invoke(["run", "ctr.yaml", "--out", "res", "--no-progress"]).exit_code == 0
    seq = {"task": "seqrec", "data": {"path": "log"}, "seeds": [0], "split": {"test_frac": 0.2, "valid_frac": 0.1},
           "features": {"up": "auto", "station": "context"},
           "train": {"epochs": 1, "batch_size": 32, "min_epochs": 1}, "eval": {"candidates": 20, "k": [5]},
           "models": {"both": {"dim": 8, "layers": 1, "heads": 1}}}
    (home / "seq.yaml").write_text(yaml.safe_dump(seq))
    assert invoke(["run", "seq.yaml", "--out", "sres", "--no-progress"]).exit_code == 0
    ctr_b, seq_b = home / "res" / "bundles" / "deepfm__none__seed0", next((home / "sres" / "bundles").iterdir())
    log = pl.read_parquet(next((home / "log").glob("*.parquet")))
    log.select("user", "item").head(0).write_csv(home / "empty.csv")
    log.select("user").head(5).write_csv(home / "users_only.csv")
    log.drop("item").write_csv(home / "no_item.csv")
    log.select("user", "item").head(20).write_csv(home / "cand.csv")
    before = snapshot(home)
    refused(invoke(["recommend", ctr_b, "--history", "log", "--candidates", "cand.csv", "--users", " , ",
                    "-o", "r.csv"]), "--users", "no user id")
    refused(invoke(["recommend", ctr_b, "--history", "log", "--candidates", "empty.csv", "-o", "r.csv"]),
            "empty.csv", "no candidate rows")
    refused(invoke(["recommend", ctr_b, "--history", "log", "--candidates", "users_only.csv", "-o", "r.csv"]),
            "users_only.csv", "'item'")
    refused(invoke(["recommend", ctr_b, "--history", "no_item.csv", "--candidates", "cand.csv", "-o", "r.csv"]),
            "no_item.csv", "item")
    refused(invoke(["predict", ctr_b, "--data", "no_item.csv", "-o", "s.csv"]), "no_item.csv", "item")
    refused(invoke(["recommend", seq_b, "--history", "log", "--station", "nowhere", "-o", "r.csv"]),
            "--station", "nowhere")
    refused(invoke(["report", "res", "--baseline", "nonesuch"]), "--baseline", "nonesuch")
    refused(invoke(["run", "ctr.yaml", "--out", "res3", "--set", "seeds.x=1"]), "--set", "seeds.x")
    assert snapshot(home) == before


@pytest.mark.parametrize("content, needle", [
    (bytes(range(256)) * 8, "not a text file"),
    (b"\x1f\x8b\x08\x00\x00\x00\x00\x00garbage", "is a gzip file"),
    (b"PK\x03\x04\x14\x00\x00\x00", "is a zip file"),
])
def test_binary_or_compressed_text_file_is_one_line(home, content, needle):
    """Bytes that are not delimited text (hostile pass: a Polars traceback, or `corrupt deflate stream` when
    Polars decompressed a gzip under a .csv name) are refused naming the file."""
    _prepare(home, "piki", content, "piki.csv", "piki.csv", needle)


@pytest.mark.parametrize("mapping, needle", [
    ({"columns": {"user": "u", "item": "u", "timestamp": "t"}}, "user and item both read column 'u'"),
    ({"columns": {"user": "u", "item": "i", "timestamp": "t"}, "timestamp": {"unit": "s", "format": "%Y"}},
     "timestamp.format"),
])
def test_mapping_contradictions_are_one_line(home, mapping, needle):
    (home / "log.csv").write_text("u,i,t,y\na,b,1700000000,1\n")
    (home / "m.yaml").write_text(yaml.safe_dump({**mapping, "feedback": {"label": "y", "active": "y"}}))
    refused(invoke(["data", "prepare", "table", "log.csv", "--spec", "m.yaml", "--out", "out"]), "m.yaml", needle)
    (home / "bin.yaml").write_bytes(b"columns: \x80\x81\xfe\n")
    refused(invoke(["data", "prepare", "table", "log.csv", "--spec", "bin.yaml", "--out", "out"]), "bin.yaml",
            "not a text")
    (home / "n.yaml").write_text(yaml.safe_dump({"columns": {"user": 5, "item": "i", "timestamp": "t"},
                                                 "feedback": {"label": "y", "active": "y"}}))
    refused(invoke(["data", "prepare", "table", "log.csv", "--spec", "n.yaml", "--out", "out"]), "n.yaml", "'5'")


def test_config_shapes_seeds_and_unknown_feature_columns_are_one_line(home, tiny_log):
    """A config that is a list, a negative seed and a categorical column the log lacks (tracebacks before), and
    a negative `perm_seed` (accepted before)."""
    (home / "list.yaml").write_text("- a\n- b\n")
    refused(invoke(["run", "list.yaml", "--out", "r1"]), "list.yaml", "mapping of sections")
    cfg = {"data": {"path": "log"}, "seeds": [0], "train": {"epochs": 1, "batch_size": 64},
           "models": {"deepfm": {"embed_dim": 4}}, "methods": {"none": {}}}
    (home / "c.yaml").write_text(yaml.safe_dump(cfg))
    refused(invoke(["run", "c.yaml", "--out", "r2", "--set", "seeds=[-1]"]), "seeds", "-1")
    refused(invoke(["run", "c.yaml", "--out", "r3", "--set", "methods.lcd_permuted.perm_seed=-1"]), "perm_seed")
    refused(invoke(["run", "c.yaml", "--out", "r4", "--set", "features.categorical=[user, nope]"]),
            "features.categorical", "'nope'")
    assert not any((home / r).exists() for r in ("r1", "r2", "r3", "r4"))


def test_text_timestamp_to_predict_and_a_string_history_in_a_checkpoint(home, tiny_log):
    from denoiserec.train.checkpoint import load_checkpoint

    assert invoke(["train", "--data", "log", "--out", "res", "--epochs", "1", "--batch-size", "64",
                   "--no-progress"]).exit_code == 0
    rows = pl.read_parquet(next((home / "log").glob("*.parquet"))).select("user", "item", "timestamp").head(5)
    rows.with_columns(pl.lit("yesterday").alias("timestamp")).write_csv(home / "d.csv")
    refused(invoke(["predict", "res/bundles/deepfm__none__seed0", "--data", "d.csv", "-o", "s.csv"]),
            "d.csv", "line 2", "'timestamp'", "'yesterday'")
    ckpt = home / "c.pt"
    torch.save({"model": {}, "optim": {}, "epoch": 0, "rng": {}, "history": "oops"}, ckpt)
    with pytest.raises(CheckpointError, match="history is a str"):
        load_checkpoint(ckpt)
