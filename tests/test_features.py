import numpy as np
import polars as pl
import torch
from conftest import make_log

from denoiserec.data.encoder import Encoder, encode_splits
from denoiserec.data.features import FeatureConfig
from denoiserec.data.history import history


def test_history_is_strictly_past_same_user():
    items = np.array([1, 2, 3, 4, 5, 6])
    kinds = np.array([1, 1, 1, 1, 1, 1])
    mask = np.array([True, False, True, True, True, True])
    starts = np.array([0, 0, 0, 0, 4, 4])  # user A rows 0-3, user B rows 4-5
    seq, _ = history(items, kinds, mask, starts, max_len=2)
    assert seq.tolist() == [[0, 0], [0, 1], [0, 1], [1, 3], [0, 0], [0, 5]]


def test_vocab_fitted_on_train_only_and_oov():
    df = make_log()
    train = df.filter(pl.col("split") == 0)
    unseen = df.with_columns(pl.when(pl.col("split") == 2).then(pl.lit("new")).otherwise("item").alias("item"))
    enc = Encoder(FeatureConfig(categorical=["user", "item"])).fit(train)
    out = enc.transform(unseen)
    split = unseen["split"].to_numpy()
    assert (out["cat"][split == 2, 1] == 0).all() and (out["cat"][split == 0, 1] > 0).all()
    assert enc.spec.cardinalities[1] == train["item"].n_unique() + 1


def test_encode_splits_keeps_rows_and_labels_aligned():
    df = make_log()
    spec, parts = encode_splits(df, FeatureConfig.from_dict({"sequences": {"hist": {"max_len": 5}}}))
    assert sum(len(p) for p in parts.values()) == df.height
    test = df.filter(pl.col("split") == 2)
    assert torch.equal(parts["test"]["label"], torch.tensor(test["label"].to_numpy(), dtype=torch.float32))
    assert parts["train"]["seq_hist"].shape[1] == 5 and spec.sequences == (("hist", 5),)
    # a user's earliest row has an empty history; histories only hold positives (preset 'hist': label 1)
    t = parts["train"]
    earliest = t["timestamp"] == t["timestamp"].min()
    assert (t["seq_hist"][earliest] == 0).all()
    assert (t["kind_hist"][t["kind_hist"] > 0] != 0).all()


def test_encoding_is_independent_of_row_order_and_parts_equal_whole():
    """Histories are built through one sort permutation: shuffling the input rows permutes every output row
    and nothing else, and the per-part gathers equal the whole encoding's rows."""
    df = make_log()
    cfg = FeatureConfig.from_dict({"sequences": {"hist": {"max_len": 4}, "all": {"max_len": 3}}})
    enc = Encoder(cfg).fit(df.filter(pl.col("split") == 0))
    whole = enc.transform(df)
    perm = np.random.default_rng(0).permutation(df.height)
    shuffled = enc.transform(df[perm])
    rows = {"a": np.flatnonzero(df["split"].to_numpy() == 0), "b": np.array([5, 1, 3])}
    parts = enc.transform(df, rows)
    assert list(parts["a"].tensors) == list(whole.tensors)
    for k, v in whole.tensors.items():
        assert torch.equal(shuffled[k], v[perm]), k
        for name, r in rows.items():
            assert torch.equal(parts[name][k], v[r]), (name, k)
    assert (whole["seq_hist"] > 0).any() and (whole["sess_all"] > 0).any()
    assert (whole["sess_all"][whole["seq_all"] == 0] == 0).all()  # padding lies 0 sessions ago
