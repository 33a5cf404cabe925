"""Streamed encoding (denoiserec/data/store.py) against the in-memory path: identical tensors, identical
first-epoch losses, seeded multi-buffer shuffling, DDP shards, the cache."""

import numpy as np
import polars as pl
import pytest
import torch

from denoiserec.data.encoder import encode_splits
from denoiserec.data.features import FeatureConfig
from denoiserec.data.simulate import SimConfig, simulate_to
from denoiserec.data.split import split
from denoiserec.data.store import build_store, cached_store, open_store, store_key
from denoiserec.errors import ConfigError
from denoiserec.models import build_model
from denoiserec.train.trainer import TrainConfig, Trainer

FEATURES = FeatureConfig.from_dict({"sequences": {"hist": {"max_len": 5}, "dislike": {"max_len": 3}}})


@pytest.fixture(scope="module")
def log_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "log"
    simulate_to(SimConfig(users=120, items=400, artists=60, sessions=6), out, progress=False)
    return out / "events.parquet"


def _same(memory, streamed):
    for name, part in memory.items():
        got = streamed[name].load().tensors
        order = torch.argsort(got["row"]) if "row" in got else slice(None)
        assert set(part.tensors) <= set(got)
        for k, v in part.tensors.items():
            assert torch.equal(v, got[k][order]), (name, k)


@pytest.mark.parametrize("how", ["temporal", "user", "user_temporal"])
def test_streamed_tensors_equal_in_memory(log_file, tmp_path, how):
    df = pl.read_parquet(log_file)
    spec, parts = encode_splits(split(df, how=how), FEATURES)
    build_store(log_file, tmp_path / "s", {"how": how}, FEATURES, chunk_rows=1500)  # many chunks
    spec2, streamed = open_store(tmp_path / "s")
    assert spec2 == spec
    assert all(len(streamed[p]) == len(parts[p]) for p in parts)
    _same(parts, streamed)
    from denoiserec.data.store import load_encoder

    enc = load_encoder(tmp_path / "s")  # what model bundles save: encodes the log as the in-memory encoder
    again = enc.transform(split(df, how=how))
    assert enc.spec == spec and enc.config == FEATURES
    assert torch.equal(again["cat"][split(df, how=how)["split"].to_numpy() == 0], parts["train"]["cat"])


def test_log_not_grouped_by_user_is_regrouped(log_file, tmp_path):
    df = pl.read_parquet(log_file).sample(fraction=1.0, shuffle=True, seed=3)
    df.write_parquet(tmp_path / "shuffled.parquet")
    spec, parts = encode_splits(split(df), FEATURES)
    build_store(tmp_path / "shuffled.parquet", tmp_path / "s", None, FEATURES, chunk_rows=1000)
    _, streamed = open_store(tmp_path / "s")
    _same(parts, streamed)  # equal once put back in input order (the store keeps each row's number in `row`)


def test_first_epoch_losses_and_metrics_equal(log_file, tmp_path):
    df = pl.read_parquet(log_file)
    spec, parts = encode_splits(split(df), FEATURES)
    build_store(log_file, tmp_path / "s", None, FEATURES, chunk_rows=2000)
    _, streamed = open_store(tmp_path / "s")
    results, threads = [], torch.get_num_threads()
    for data in (parts, streamed):
        torch.manual_seed(0)
        model = build_model("deepfm", spec, embed_dim=4)
        trainer = Trainer(TrainConfig(epochs=1, batch_size=1024, progress=False, threads=1))
        trainer.fit(model, data["train"], data["valid"])
        results.append((trainer.history[0]["train_loss"], trainer.split_metrics(model, data["test"])))
    torch.set_num_threads(threads)
    assert results[0][0] == results[1][0]
    assert results[0][1] == results[1][1]


def test_multi_buffer_shuffle_is_seeded_and_covers_every_row_once(log_file, tmp_path):
    build_store(log_file, tmp_path / "s", None, FEATURES)
    _, streamed = open_store(tmp_path / "s", chunk_rows=100, buffer_rows=700)
    train = streamed["train"]
    assert len(train) > 3 * 700

    def epoch(seed):
        batches = list(train.batches(64, shuffle=True, generator=torch.Generator().manual_seed(seed)))
        assert all(len(b["label"]) == 64 for b in batches[:-1])
        return torch.cat([b["index"] for b in batches]), batches

    a, batches = epoch(1)
    assert torch.equal(torch.sort(a).values, torch.arange(len(train)))
    assert torch.equal(a, epoch(1)[0]) and not torch.equal(a, epoch(2)[0])
    labels = train["label"]
    assert torch.equal(torch.cat([b["label"] for b in batches]), labels[a])  # rows travel with their index


def test_shards_and_subsets_read_the_right_rows(log_file, tmp_path):
    build_store(log_file, tmp_path / "s", None, FEATURES)
    _, streamed = open_store(tmp_path / "s", buffer_rows=512)
    train = streamed["train"]
    s0, s1 = train.shard(0, 2), train.shard(1, 2)
    i0 = torch.cat([b["index"] for b in s0.batches(100)])
    i1 = torch.cat([b["index"] for b in s1.batches(100)])
    assert len(i0) == len(i1) == len(train) // 2 and not set(i0.tolist()) & set(i1.tolist())
    sub = train.subset(torch.arange(1, len(train), 3))
    assert torch.equal(sub["cat"], train["cat"][1::3])
    assert torch.equal(torch.cat([b["seq_hist"] for b in sub.batches(50)]), train["seq_hist"][1::3])


def test_random_split_is_refused_and_cache_is_reused(log_file, tmp_path):
    with pytest.raises(ConfigError, match="split.how='random'"):
        build_store(log_file, tmp_path / "s", {"how": "random"}, FEATURES)
    assert not (tmp_path / "s").exists()  # nothing half-written
    first = cached_store(log_file, None, FEATURES, tmp_path)
    stamp = (first / "manifest.json").stat().st_mtime_ns
    assert cached_store(log_file, None, FEATURES, tmp_path) == first
    assert (first / "manifest.json").stat().st_mtime_ns == stamp
    assert store_key(log_file, {"how": "user"}, FEATURES) != first.name
    assert np.load(first / "train.label.npy", mmap_mode="r").shape[0] == len(open_store(first)[1]["train"])


def test_experiment_streams_when_asked(tmp_path):
    from denoiserec.experiment import check_config, run_experiment

    cfg = check_config({"name": "t", "data": {"simulate": {"users": 40, "items": 200, "sessions": 3},
                                              "stream": True, "cache": str(tmp_path / "cache")},
                        "train": {"epochs": 1, "batch_size": 512}, "seeds": [0], "models": {"lr": {}}})
    out = run_experiment(cfg, tmp_path / "run", progress=False)
    assert (out / "runs" / "lr__none__seed0.json").exists()
    assert len(list((tmp_path / "cache" / "encoded").iterdir())) == 1


@pytest.mark.parametrize("n,tie,far", [(10, 1, 0), (40, 3, 0), (30300, 1, 0), (1000, 7, 0), (9, 1, 1), (39, 3, 1)])
def test_temporal_cuts_match_split(tmp_path, n, tie, far):
    """Exact cuts, including ties and a histogram bucket holding many timestamps (``far``: one distant row)."""
    from denoiserec.data.store import _temporal_cuts

    ts = np.arange(n, dtype=np.int64) // tie
    df = pl.DataFrame({"timestamp": np.concatenate([ts, np.full(far, 1 << 40, dtype=np.int64)])})
    df.write_parquet(tmp_path / "t.parquet")
    ta, tab = _temporal_cuts(tmp_path / "t.parquet", (0.8, 0.9))
    s = split(df)["split"]
    assert (df["timestamp"] <= ta).sum() == (s == 0).sum()
    assert (df["timestamp"] <= tab).sum() == (s <= 1).sum()


def test_describe_streamed_equals_in_memory(log_file):
    from polars.testing import assert_frame_equal

    from denoiserec.data import describe

    df = pl.read_parquet(log_file)
    assert describe.stats(pl.scan_parquet(log_file)) == describe.stats(df)
    assert_frame_equal(describe.by_position_streamed(log_file, 8, chunk_rows=1000), describe.by_position(df, 8),
                       check_exact=False, rel_tol=1e-12)


@pytest.mark.slow
def test_torchrun_two_processes_stream_their_shards(tmp_path):
    """DDP on CPU (gloo) from a store: rank 0 encodes, rank 1 waits for it; each rank trains on its shard."""
    import json
    import os
    import subprocess
    import sys

    import yaml
    from conftest import make_log

    from denoiserec.data.log import write_log

    data = write_log(make_log(n_users=80), tmp_path / "log", source="test")
    cfg = {"name": "ddp", "data": {"path": str(data), "stream": True, "cache": str(tmp_path / "cache")},
           "train": {"epochs": 4, "batch_size": 64, "lr": 0.01, "device": "cpu"}, "seeds": [0],
           "models": {"deepfm": {"embed_dim": 8}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for launcher, out in (([sys.executable], "one"),
                          ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"],
                           "two")):
        r = subprocess.run([*launcher, "-m", "denoiserec", "run", str(tmp_path / "c.yaml"), "-o",
                            str(tmp_path / out), "--no-progress"], capture_output=True, text=True, timeout=300,
                           env=env)
        assert r.returncode == 0, r.stderr[-3000:]
    r1 = json.loads((tmp_path / "one/runs/deepfm__none__seed0.json").read_text())
    r2 = json.loads((tmp_path / "two/runs/deepfm__none__seed0.json").read_text())
    assert r2["rows"] == r1["rows"]
    assert abs(r1["valid"]["auc"] - r2["valid"]["auc"]) < 0.03, (r1["valid"], r2["valid"])
    assert len(list((tmp_path / "cache" / "encoded").iterdir())) == 1


def test_a_streamed_split_without_the_truth_keeps_it_out_of_every_view(log_file, tmp_path):
    """The trainer drops ``true_*`` before training (denoiserec.train.batch); on streamed data the views it takes
    afterwards (device, DDP shard, subset) and their batches stay without it."""
    from denoiserec.train.batch import without_truth

    build_store(log_file, tmp_path / "s", None, FEATURES, chunk_rows=1500)
    _, streamed = open_store(tmp_path / "s")
    train = streamed["train"]
    assert any(k.startswith("true_") for k in train.tensors)
    clean = without_truth(train)
    for view in (clean, clean.to("cpu"), clean.shard(1, 2), clean.subset(np.arange(10))):
        assert not any(k.startswith("true_") for k in view.tensors)
        batch = next(view.batches(8, shuffle=True, generator=torch.Generator().manual_seed(0)))
        assert not any(k.startswith("true_") for k in batch) and "label" in batch
    assert any(k.startswith("true_") for k in train.tensors)  # the split itself is unchanged
