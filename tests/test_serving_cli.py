"""End to end through the CLI: a log in a layout no adapter knows (Deezer's DSG17 listening log), described by a
mapping file, is prepared, trained on, saved, scored, used for recommendations and exported."""

from __future__ import annotations

import json

import polars as pl
import yaml
from test_table_source import deezer_csv, spec_file
from typer.testing import CliRunner

from denoiserec.cli import app


def test_prepare_train_predict_recommend_export(tmp_path):
    run = CliRunner().invoke
    raw = deezer_csv(tmp_path / "train.csv")
    spec = spec_file(tmp_path)
    prepared = tmp_path / "prepared"
    r = run(app, ["data", "prepare", "table", "--raw", str(raw), "--spec", str(spec), "-o", str(prepared)])
    assert r.exit_code == 0, r.output
    r = run(app, ["train", "--data", str(prepared), "--model", "deepfm", "--method", "lcd", "--epochs", "2",
                  "--batch-size", "256", "-o", str(tmp_path / "res"), "--no-progress"])
    assert r.exit_code == 0, r.output
    bundle = tmp_path / "res" / "bundles" / "deepfm__lcd__seed0"
    assert (bundle / "model.safetensors").exists()

    # score the raw file directly through the mapping, plus rows with ids never seen in training
    extra = tmp_path / "new.csv"
    text = raw.read_text().splitlines()
    extra.write_text("\n".join([text[0], *text[1:], text[1].replace(",500,", ",99999,")]) + "\n")
    r = run(app, ["predict", str(bundle), "--data", str(extra), "--spec", str(spec), "-o", str(tmp_path / "s.parquet")])
    assert r.exit_code == 0, r.output
    scores = pl.read_parquet(tmp_path / "s.parquet")
    assert scores.height == len(text) and scores["score"].is_between(0, 1).all()
    summary = json.loads(r.output[r.output.index("{"):])
    assert summary["oov"]["user"] >= 1 and summary["rows"] == len(text)

    cand = pl.DataFrame({"user": ["500"] * 6 + ["501"] * 6, "item": [str(1000 + i) for i in range(12)]})
    cand.write_csv(tmp_path / "cand.csv")
    r = run(app, ["recommend", str(bundle), "--history", str(prepared), "--candidates", str(tmp_path / "cand.csv"),
                  "--k", "3", "-o", str(tmp_path / "recs.parquet")])
    assert r.exit_code == 0, r.output
    recs = pl.read_parquet(tmp_path / "recs.parquet")
    assert recs.height == 6 and set(recs["user"]) == {"500", "501"}
    r = run(app, ["recommend", str(bundle), "--history", str(prepared), "-o", str(tmp_path / "x.parquet")])
    assert r.exit_code != 0 and "--candidates" in r.output

    # the negative-feedback transformer on the same prepared log
    cfg = {"name": "seq", "task": "seqrec", "data": {"path": str(prepared)}, "seeds": [0],
           "split": {"test_frac": 0.2, "valid_frac": 0.1}, "train": {"epochs": 2, "threads": 1},
           "models": {"default": {"dim": 8, "layers": 1, "max_len": 10}}}
    (tmp_path / "seq.yaml").write_text(yaml.safe_dump(cfg))
    r = run(app, ["run", str(tmp_path / "seq.yaml"), "-o", str(tmp_path / "seq"), "--no-progress"])
    assert r.exit_code == 0, r.output
    seq_bundle = tmp_path / "seq" / "bundles" / "seqrec__default__seed0"
    r = run(app, ["recommend", str(seq_bundle), "--history", str(prepared), "--users", "500,501", "--k", "5",
                  "--exclude-heard", "-o", str(tmp_path / "next.csv")])
    assert r.exit_code == 0, r.output
    nxt = pl.read_csv(tmp_path / "next.csv", schema_overrides={"user": pl.Utf8, "item": pl.Utf8})
    heard = pl.read_parquet(prepared / "events.parquet").filter(pl.col("user").is_in(["500", "501"]))
    assert nxt.height == 10 and nxt.join(heard.select("user", "item"), on=["user", "item"]).height == 0
    r = run(app, ["predict", str(seq_bundle), "--data", str(prepared), "-o", str(tmp_path / "seq_scores.parquet")])
    assert r.exit_code == 0, r.output
    seq_scores = pl.read_parquet(tmp_path / "seq_scores.parquet")  # one score per row (null: not up/skip/down)
    assert seq_scores.height == pl.read_parquet(prepared / "events.parquet").height
    assert seq_scores["score"].drop_nulls().len() > 0

    r = run(app, ["export", str(bundle), "--onnx", str(tmp_path / "m.onnx")])
    assert r.exit_code == 0, r.output
    assert float(r.output.rsplit(":", 1)[1]) <= 1e-5
    r = run(app, ["predict", str(tmp_path / "prepared"), "--data", str(prepared), "-o", str(tmp_path / "z.parquet")])
    assert r.exit_code == 2 and "not a model bundle" in r.output
    r = run(app, ["predict", str(bundle), "--data", str(prepared), "-o", str(prepared)])
    assert r.exit_code == 2 and "input" in r.output  # never written over the input


def test_file_outputs_replace_only_their_own_previous_file(tmp_path):
    """predict/recommend/export write single files: an existing file is replaced only when denoiserec wrote it
    as that kind of output (marked in its Parquet/ONNX metadata); a user's own file is refused and left as it
    was."""
    import pyarrow.parquet as pq

    from denoiserec.errors import OutputError
    from denoiserec.io import check_output, write_parquet_output

    mine = tmp_path / "scores.parquet"
    write_parquet_output(pl.DataFrame({"score": [0.5]}), mine, "scores")
    assert pq.read_metadata(mine).metadata[b"denoiserec"] == b"scores"
    assert check_output(mine, "scores", folder=False) == mine
    foreign = {"user.parquet": None, "notes.csv": "a,b\n1,2\n", "model.onnx": "not onnx"}
    for name, text in foreign.items():
        f = tmp_path / name
        if text is None:
            pl.DataFrame({"x": [1]}).write_parquet(f)
        else:
            f.write_text(text)
        before = f.read_bytes()
        try:
            check_output(f, "scores", folder=False)
        except OutputError as e:
            assert "not a scores file denoiserec wrote before" in str(e)
        else:
            raise AssertionError(f"{name} would have been replaced")
        assert f.read_bytes() == before
    try:
        check_output(mine, "recommendations", folder=False)  # ours, but another kind
    except OutputError:
        pass
    else:
        raise AssertionError("a scores file would have been replaced by recommendations")
