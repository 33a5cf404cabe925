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
