"""A practitioner's first day (issue 29), as evidence: three logs in layouts no adapter knows, each taken
prepare -> fit -> predict -> recommend -> export once from Python (:mod:`denoiserec.api`) and once from the
command line (``python -m denoiserec``), printing one line per step (rows, AUC, warnings). docs/serving.md
("First day") quotes its output.

    python scripts/first_day.py OUT_DIR

The logs (built from the simulator, with its truth columns dropped):

* ``listens.csv``: a listening log with its own column names and an ``is_listened`` column left empty on some
  rows (plays whose outcome the service lost): rules + ``unlabeled: empty``;
* ``ads.csv``: a header-less display-ad log (user, ad, time, slot, clk), its columns named by the mapping's
  ``names:``: Python reads it with polars and passes the frame, the command line reads the file itself;
* ``one_user.tsv``: one user's music history (600 plays) as TSV with a label and an active column.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import yaml

import denoiserec as dr

EPOCHS, BATCH = 3, 128


def build(out: Path) -> dict[str, dict]:
    """The three raw logs and their mappings: {name: {"file", "spec", "frame" (Python's input)}}."""
    out.mkdir(parents=True, exist_ok=True)
    sim = dr.simulate(users=300, items=400, sessions=3, seed=1)
    listens = sim.select(listener="user", song="item", played_at="timestamp", station="context",
                         is_listened=pl.col("active").cast(pl.Utf8),
                         flow=(~pl.col("active").cast(pl.Boolean) & (pl.col("label") == 1)).cast(pl.Int8),
                         liked=pl.col("label"))
    listens = listens.with_columns(is_listened=pl.when(pl.int_range(pl.len()) % 50 == 7).then(None)
                                   .otherwise(pl.col("is_listened")))
    listens.write_csv(out / "listens.csv")
    listens_spec = {"columns": {"user": "listener", "item": "song", "timestamp": "played_at", "context": "station"},
                    "feedback": {"rules": [{"if": ["is_listened == 1", "liked == 1"], "then": "click"},
                                           {"if": "is_listened == 1", "then": "skip"},
                                           {"if": "flow == 1", "then": "autoplay"}],
                                 "otherwise": "unplayed", "unlabeled": "empty"}}
    feed = dr.simulate(users=300, items=300, sessions=3, seed=2, mode="feed", emit_unplayed=False)
    ads = feed.select(user="user", ad="item", time="timestamp", slot="context", clk=pl.col("label").cast(pl.Int8))
    ads.write_csv(out / "ads.csv", include_header=False)
    header = ["user", "ad", "time", "slot", "clk"]
    ads_spec = {"names": header, "columns": {"user": "user", "item": "ad", "timestamp": "time", "context": "slot"},
                "feedback": {"rules": [{"if": "clk == 1", "then": "click"}], "otherwise": "unclick"}}
    one = dr.simulate(users=1, items=300, sessions=40, seed=3).head(600)
    one.select(uid="user", track="item", ts="timestamp", liked="label", acted="active").write_csv(
        out / "one_user.tsv", separator="\t")
    one_spec = {"format": "tsv", "columns": {"user": "uid", "item": "track", "timestamp": "ts"},
                "feedback": {"label": "liked", "active": "acted"}}
    ads_frame = pl.read_csv(out / "ads.csv", has_header=False, new_columns=header, schema_overrides={
        c: pl.Utf8 for c in header})
    logs = {"listens": {"file": out / "listens.csv", "spec": listens_spec, "frame": None},
            "ads": {"file": out / "ads.csv", "spec": ads_spec, "frame": ads_frame},
            "one_user": {"file": out / "one_user.tsv", "spec": one_spec, "frame": None}}
    for name, log in logs.items():
        log["spec_file"] = out / f"{name}.yaml"
        log["spec_file"].write_text(yaml.safe_dump(log["spec"], sort_keys=False))
    return logs


def candidates(log: pl.DataFrame, n: int = 30) -> pl.DataFrame:
    return log.select("user").unique().join(log.select("item").unique().sort("item").head(n), how="cross")


def python_route(name: str, log: dict, out: Path) -> None:
    src = log["frame"] if log["frame"] is not None else log["file"]
    events = dr.prepare(src, spec=log["spec"])
    unl = events["feedback"].null_count()
    bundle = dr.fit(events, model="din", method="lcd", epochs=EPOCHS, batch_size=BATCH, method_params={
        "start_step": 20}, progress=False, out=out / f"py_{name}")
    run = dr.Results(out / f"py_{name}").runs[0]
    scores = bundle.predict(events).scores
    recs = bundle.recommend(events, candidates(events), k=10).scores
    from denoiserec.export import example_inputs, export_onnx, parity

    export_onnx(bundle, out / f"py_{name}.onnx")
    gap = parity(bundle, out / f"py_{name}.onnx", example_inputs(bundle, 200, 1))
    print(f"python {name}: {events.height} rows ({unl} unlabelled), test AUC {run['test']['auc']:.3f}, "
          f"{scores.height} scores, {recs.height} recommendations for {recs['user'].n_unique()} users, ONNX "
          f"|diff| {gap:.2g}; warnings: {run['warnings'] or 'none'}")


def cli_route(name: str, log: dict, out: Path) -> None:
    def cli(*args: str) -> str:
        r = subprocess.run([sys.executable, "-m", "denoiserec", *map(str, args)], capture_output=True, text=True)
        if r.returncode:
            raise SystemExit(f"{name}: denoiserec {' '.join(map(str, args))} failed:\n{r.stderr}")
        return r.stdout + r.stderr

    data, res = out / f"cli_{name}_data", out / f"cli_{name}"
    cli("data", "prepare", "table", log["file"], "--spec", log["spec_file"], "-o", data)
    text = cli("train", "--data", data, "--model", "din", "--method", "lcd", "-p", "start_step=20", "--epochs",
               EPOCHS, "--batch-size", BATCH, "--no-progress", "-o", res)
    warnings = [line for line in text.splitlines() if line.startswith("warning:")]
    bundle = res / "bundles" / "din__lcd__seed0"
    cli("predict", bundle, "--data", log["file"], "--spec", log["spec_file"], "-o", out / f"cli_{name}_scores.csv")
    events = pl.read_parquet(data / "events.parquet")
    candidates(events).write_csv(out / f"cli_{name}_cand.csv")
    cli("recommend", bundle, "--history", data, "--candidates", out / f"cli_{name}_cand.csv", "--k", 10, "-o",
        out / f"cli_{name}_recs.csv")
    onnx = cli("export", bundle, "--onnx", out / f"cli_{name}.onnx", "--check", 200).strip()
    scores = pl.read_csv(out / f"cli_{name}_scores.csv")
    recs = pl.read_csv(out / f"cli_{name}_recs.csv")
    run = dr.Results(res).runs[0]
    print(f"cli {name}: test AUC {run['test']['auc']:.3f}, {scores.height} scores, {recs.height} recommendations; "
          f"export: {onnx.split(';')[-1].strip()}; {len(warnings)} warning line(s): {warnings or 'none'}")


def main() -> None:
    out = Path(sys.argv[1])
    logs = build(out)
    for name, log in logs.items():
        python_route(name, log, out)
        cli_route(name, log, out)


if __name__ == "__main__":
    main()
