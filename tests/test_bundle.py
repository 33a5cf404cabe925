"""Model bundles: saved weights + vocabularies score new rows exactly as the trainer did; unseen ids are counted;
the transformer's recommendations use the same query as its test protocol."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import torch
from conftest import make_log

import denoiserec
from denoiserec.bundle import save_ctr
from denoiserec.data.encoder import fit_encode_splits
from denoiserec.data.features import FeatureConfig
from denoiserec.data.log import write_log
from denoiserec.errors import DataError, OutputError
from denoiserec.eval.metrics import split_metrics
from denoiserec.experiment import check_config, run_experiment
from denoiserec.models import build_model
from denoiserec.train.trainer import TrainConfig, Trainer

FEATURES = {"sequences": {"hist": {"max_len": 5}, "unclick": {"max_len": 5}, "all": {"max_len": 5}}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A DIN (sequence features) trained on the small log, saved and loaded back."""
    torch.manual_seed(0)
    log = make_log(n_users=30, per_user=30)
    enc, parts = fit_encode_splits(log, FeatureConfig.from_dict(FEATURES))
    model = build_model("din", enc.spec, embed_dim=4)
    trainer = Trainer(TrainConfig(epochs=2, batch_size=128, lr=0.01, progress=False, device="cpu"))  # as bundles
    trainer.fit(model, parts["train"], parts["valid"])
    path = save_ctr(tmp_path_factory.mktemp("b") / "din", model, enc, "din", {"embed_dim": 4})
    return log, parts, trainer, model, denoiserec.load(path)


def test_bundle_scores_equal_the_trainers(trained):
    log, parts, trainer, model, bundle = trained
    pred = bundle.predict(log)
    assert pred.scores.height == log.height and pred.summary["oov"]["item"] == 0
    test_rows = np.flatnonzero(log["split"].to_numpy() == 2)
    got = torch.from_numpy(pred.scores["logit"].to_numpy()[test_rows])
    assert torch.equal(got, trainer.predict(model, parts["test"]))  # bit-identical, not just close
    assert np.allclose(pred.scores["score"].to_numpy(), 1 / (1 + np.exp(-pred.scores["logit"].to_numpy())),
                       atol=1e-6)
    shuffled = log.with_row_index("rid").sample(fraction=1.0, shuffle=True, seed=1)  # rows keep their history
    again = bundle.predict(shuffled).scores
    # same scores in any row order, up to float32 rounding: a row in another batch position may be summed in another
    # order by the BLAS kernel (seen on a 16-core machine; bit-identical on 2 cores)
    assert np.allclose(again["logit"].to_numpy(), pred.scores["logit"].to_numpy()[shuffled["rid"].to_numpy()],
                       rtol=0, atol=1e-6)


def test_unseen_ids_are_counted_not_fatal(trained):
    log, _, _, _, bundle = trained
    new = log.head(3).with_columns(user=pl.lit("new-user"), item=pl.Series(["new-1", "new-2", "0"]),
                                   timestamp=pl.col("timestamp") + 10**7)
    pred = bundle.predict(pl.concat([log, new]))
    assert pred.summary["oov"]["user"] == 3 and pred.summary["oov"]["item"] == 2
    assert pred.scores["logit"].is_finite().all()


def test_rows_without_feedback_never_enter_histories(trained):
    log, _, _, _, bundle = trained
    base = bundle.predict(log).scores["logit"].to_numpy()
    cand = log.filter(pl.col("split") == 0).head(40).with_columns(
        label=pl.lit(None, pl.Int8), feedback=pl.lit(None, pl.Utf8), active=pl.lit(None, pl.Int8),
        timestamp=pl.col("timestamp") - 1)  # candidates placed before real rows: still nobody's history
    both = bundle.predict(pl.concat([log, cand])).scores["logit"].to_numpy()
    assert np.array_equal(both[: log.height], base)
    no_labels = bundle.predict(log.drop("label", "active")).scores["logit"].to_numpy()  # y, e from the kind
    assert np.array_equal(no_labels, base)
    with pytest.raises(DataError, match="unknown feedback kind 'teleport'"):
        bundle.predict(log.with_columns(feedback=pl.lit("teleport")))


def test_ctr_recommend_ranks_candidates(trained):
    log, _, _, _, bundle = trained
    cand = pl.DataFrame({"user": ["0"] * 5 + ["1"] * 5, "item": [str(i) for i in range(10)]})
    recs = bundle.recommend(log, cand, k=3)
    assert recs.scores.group_by("user").len()["len"].to_list() == [3, 3]
    for _, g in recs.scores.group_by("user"):
        assert g["score"].to_list() == sorted(g["score"].to_list(), reverse=True) and g["rank"].to_list() == [1, 2, 3]
    assert set(recs.scores.filter(pl.col("user") == "0")["item"]) <= set(cand.head(5)["item"])
    assert recs.summary["oov"]["context"] == 0 and recs.summary["candidates"] == 10  # context: the user's last
    odd = bundle.recommend(log, pl.concat([cand, pl.DataFrame({"user": ["0"], "item": ["never-seen"]})]), k=3)
    assert odd.summary["oov"]["item"] == 1
    assert "warnings" not in recs.summary
    # a user asked for who gets no candidate: the Python result says so, as the CLI does (denoiserec.notices)
    none_for_2 = bundle.recommend(log, cand, k=3, users=["0", "2"])
    assert "1 of the 2 users" in none_for_2.summary["warnings"][0]
    empty = bundle.recommend(log, cand.head(0), k=3)
    assert empty.scores.height == 0 and "0 recommendations" in empty.summary["warnings"][0]


def test_experiment_writes_a_bundle_per_run(tmp_path):
    prepared = write_log(make_log(n_users=30, per_user=30), tmp_path / "log", source="test")
    cfg = check_config({"name": "t", "data": {"path": str(prepared)}, "seeds": [0], "features": FEATURES,
                        "train": {"epochs": 2, "batch_size": 128, "lr": 0.01, "device": "cpu"},
                        "models": {"deepfm": {"embed_dim": 4}}, "methods": {"lcd": {}}})
    out = run_experiment(cfg, tmp_path / "res", progress=False)
    folder = out / "bundles" / "deepfm__lcd__seed0"
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "bundle.json", "items.parquet", "model.safetensors", "vocabularies.parquet"]
    meta = json.loads((folder / "bundle.json").read_text())
    run = json.loads((out / "runs" / "deepfm__lcd__seed0.json").read_text())
    assert meta["versions"]["denoiserec"] == denoiserec.__version__ and meta["method"] == "lcd"
    best = max(run["history"], key=lambda r: r["valid_auc"])["epoch"]
    assert meta["selected_epoch"] == best and meta["test"] == run["test"]
    b = denoiserec.load(folder)
    log = pl.read_parquet(prepared / "events.parquet")
    test = log["split"].to_numpy() == 2
    enc, parts = fit_encode_splits(log, FeatureConfig.from_dict(FEATURES))
    logits = torch.from_numpy(b.predict(log).scores["logit"].to_numpy()[test])
    assert split_metrics(logits, parts["test"].tensors) == pytest.approx(run["test"], rel=0, abs=0)
    with pytest.raises(OutputError, match="not a bundle folder"):
        save_ctr(prepared, b.model, b.encoder, "deepfm", {})  # a foreign folder is never overwritten
    assert (prepared / "events.parquet").exists()
    # another config (settings are frozen: a changed copy is checked again): the run and its bundle are set aside
    cfg = check_config({**cfg.to_dict(), "train": {**cfg.given("train"), "lr": 0.02}})
    run_experiment(cfg, out, progress=False)
    stale = out / "stale" / "bundles" / "deepfm__lcd__seed0" / "bundle.json"
    assert json.loads(stale.read_text())["fingerprint"] == meta["fingerprint"] != json.loads(
        (folder / "bundle.json").read_text())["fingerprint"]
    save_ctr(folder, b.model, b.encoder, "deepfm", {})  # an earlier bundle is replaced


def seq_config(**over) -> dict:
    """A small `task: seqrec` config (one model label, 'default')."""
    return {"name": "s", "task": "seqrec", "split": {"test_frac": 0.25, "valid_frac": 0.2},
            "train": {"epochs": 2, "patience": 1, "batch_size": 32, "threads": 1, "progress": False},
            "eval": {"candidates": 10, "k": [5]}, "models": {"default": {"dim": 8, "layers": 1, "max_len": 10}},
            **over}


def test_transformer_bundle_recommends_with_the_test_query(tmp_path):
    from test_negfeedback import _log

    from denoiserec.seqrec.scorer import ModelScorer
    from denoiserec.seqrec.train import ModelConfig
    from denoiserec.tasks.seqrec import prepare, run_seed

    log = _log(n_users=8, per_user=30)
    cfg = seq_config()
    run_seed(cfg, 0, tmp_path, log=log)
    b = denoiserec.load(tmp_path / "bundles" / "seqrec__default__seed0")
    data = prepare(cfg, log)
    assert b.meta["sequences"]["up"] == list(data.seq.up_kinds) == ["like"]  # 'auto' resolved on the log
    history = log.filter(pl.col("timestamp") <= int(data.seq.timestamp[~data.seq.test].max()))
    n = len(b.items)
    recs = b.recommend(history, k=n, exclude_disliked=False, station="radio").scores
    users = np.arange(len(data.seq.users))
    scorer = ModelScorer(b.model, data.seq, "test")
    scorer.queries(users, np.full(len(users), data.seq.stations.index("radio") + 1))
    ref = b.model.score(scorer.h, torch.arange(1, n + 1)[None]).detach().numpy()
    for u, name in enumerate(data.seq.users):
        got = recs.filter(pl.col("user") == name)
        col = np.array([b.items.index(i) for i in got["item"]])
        assert len(col) == n and np.allclose(got["score"].to_numpy(), ref[u, col], atol=1e-5)
    assert ModelConfig(**{k: b.meta["model_params"][k] for k in ("dim", "layers", "max_len")}).dim == 8
    down = history.filter(pl.col("feedback") == "dislike")
    clean = b.recommend(history, k=n).scores  # disliked songs left out by default
    assert clean.join(down.select("user", "item"), on=["user", "item"]).height == 0
    heard = b.recommend(history, k=n, exclude_heard=True).scores
    assert heard.join(history.select("user", "item"), on=["user", "item"]).height == 0  # autoplays included
    only = b.recommend(history, k=n, station="mix", station_only=True, users=["0"]).scores
    mix = set(history.filter(pl.col("context") == "mix")["item"])
    assert set(only["user"]) == {"0"} and set(only["item"]) <= mix
    scored = b.predict(log).scores
    assert scored.height == log.height and scored["score"].drop_nulls().len() > 0


def test_stale_seqrec_runs_take_their_bundles(tmp_path):
    from test_negfeedback import _log

    from denoiserec.data.sources._common import with_kinds

    prepared = write_log(with_kinds(_log(n_users=6, per_user=20)), tmp_path / "log", source="test")
    cfg = seq_config(data={"path": str(prepared)}, seeds=[0])
    out = tmp_path / "res"
    for dim in (8, 4, 8):  # each change sets the previous run and its bundle aside
        cfg["models"]["default"]["dim"] = dim
        run_experiment(check_config(json.loads(json.dumps(cfg))), out, progress=False)
    assert denoiserec.load(out / "bundles" / "seqrec__default__seed0").meta["model_params"]["dim"] == 8
    stale = denoiserec.load(out / "stale" / "bundles" / "seqrec__default__seed0")
    assert stale.meta["model_params"]["dim"] == 4


@pytest.mark.parametrize("name", ["deepfm", "widedeep"])
def test_bundle_of_the_layout_before_the_fused_first_order_column_loads(tmp_path, name):
    """A bundle written before the first-order weights joined the table (``<embed>.table.weight`` [N, D] and the
    linear term's own ``weight.weight`` [N, 1]) loads and scores exactly as today's layout of the same weights."""
    from safetensors.torch import load_file, save_file

    from denoiserec.io import write_marker

    torch.manual_seed(0)
    log = make_log(n_users=20, per_user=20)
    enc, parts = fit_encode_splits(log, FeatureConfig.from_dict({"sequences": {"hist": {"max_len": 5}}}))
    model = build_model(name, enc.spec, embed_dim=4)
    with torch.no_grad():  # a non-zero first-order column, so a dropped or misplaced one shows
        model.embed.table.weight[:, -1].normal_()
    path = save_ctr(tmp_path / name, model, enc, name, {"embed_dim": 4})
    now = denoiserec.load(path).predict(log).scores["logit"].to_numpy()
    state = load_file(str(path / "model.safetensors"))
    linear = "wide" if name == "widedeep" else "linear"
    table = state.pop("embed.table.weight")
    state["embed.table.weight"], state[f"{linear}.weight.weight"] = table[:, :4].contiguous(), table[:, 4:].contiguous()
    save_file(state, str(path / "model.safetensors"))
    marker = json.loads((path / ".denoiserec.json").read_text())
    write_marker(path, "bundle", marker["files"], hashes=True)  # the old bundle's own manifest
    assert np.array_equal(denoiserec.load(path).predict(log).scores["logit"].to_numpy(), now)
    state[f"{linear}.weight.weight"] = state[f"{linear}.weight.weight"][:-1].contiguous()  # a truncated old table
    save_file(state, str(path / "model.safetensors"))
    write_marker(path, "bundle", marker["files"], hashes=True)
    with pytest.raises(DataError, match="write the bundle again"):
        denoiserec.load(path)
