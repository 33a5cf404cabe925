"""Canonical log -> contiguous tensors (:class:`~denoiserec.data.tensors.EncodedTensors`).

Vocabularies are fitted on the training split only: a value seen fewer than ``min_count`` times there, or
never, maps to the out-of-vocabulary id 0. Sequence features hold, for every row, the user's previous events
(strictly earlier in (timestamp, session, position) order, so no future leaks in), optionally filtered by
feedback kind or label, left-padded with 0 to ``max_len``; ``sess_<name>`` gives, per history event, how many
sessions before the row's own it lies (0 = the same session; DSIN's session division).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import torch

from denoiserec.data.features import DEFAULT_CATEGORICAL, FeatureConfig
from denoiserec.data.history import group_starts, history, session_numbers
from denoiserec.data.kinds import FEEDBACK_CODE
from denoiserec.data.schema import OPTIONAL, SIDE_PREFIX, TRUTH_PREFIX
from denoiserec.data.spec import FeatureSpec
from denoiserec.data.tensors import EncodedTensors


class Encoder:
    """Fits vocabularies and numeric statistics on training rows; turns a canonical log into tensors."""

    def __init__(self, config: FeatureConfig | None = None):
        self.config = config or FeatureConfig()
        self.vocabs: dict[str, pl.DataFrame] = {}
        self.num_stats: dict[str, tuple[float, float]] = {}
        self.spec: FeatureSpec | None = None

    def fit(self, train: pl.DataFrame) -> Encoder:
        cfg = self.config
        cat = cfg.categorical or [
            c for c in train.columns
            if c in DEFAULT_CATEGORICAL or (c.startswith(SIDE_PREFIX) and train.schema[c] == pl.Utf8)
        ]
        num = cfg.numeric if cfg.numeric is not None else [
            c for c in train.columns
            if c.startswith(SIDE_PREFIX) and train.schema[c].is_numeric() and c not in OPTIONAL
        ]
        if cfg.sequences and "item" not in cat:
            cat = ["item", *cat]
        for c in cat:
            counts = (train.group_by(pl.col(c).cast(pl.Utf8).alias("value")).len()
                      .filter(pl.col("len") >= cfg.min_count)
                      .sort(["len", "value"], descending=[True, False], nulls_last=True)
                      .drop_nulls("value"))
            self.vocabs[c] = counts.select("value", pl.int_range(1, counts.height + 1, dtype=pl.Int32).alias("id"))
        train = check_finite(train, num, cfg.impute)
        for c in num:
            col = train[c].cast(pl.Float64)
            mean, std = col.mean() or 0.0, col.std() or 1.0
            self.num_stats[c] = (float(mean), float(std) if std > 0 else 1.0)
        self.spec = FeatureSpec(
            categorical=tuple(cat),
            cardinalities=tuple(self.vocabs[c].height + 1 for c in cat),
            numeric=tuple(num),
            sequences=tuple((n, s.max_len) for n, s in cfg.sequences.items()),
        )
        return self

    def transform(self, df: pl.DataFrame, parts: dict[str, np.ndarray] | None = None
                  ) -> EncodedTensors | dict[str, EncodedTensors]:
        """Encode every row of ``df``. Histories are built from ``df`` itself, so pass the whole log (all
        splits) and select rows afterwards: a test row's history then holds the events before it.

        With ``parts`` (name → row numbers of ``df``) return one EncodedTensors per part, each gathered once
        straight from the encoded tensors (no full-size intermediate copy)."""
        assert self.spec is not None, "call fit() first"
        df = df.with_row_index("_row").sort(["user", "timestamp", "session", "position"])
        out: dict[str, torch.Tensor] = {}
        ids = []
        for c in self.spec.categorical:
            v = self.vocabs[c]
            ids.append(df.select(pl.col(c).cast(pl.Utf8).alias("value")).join(v, on="value", how="left",
                                                                          maintain_order="left")["id"]
                       .fill_null(0).to_numpy())
        out["cat"] = torch.from_numpy(np.stack(ids, axis=1).astype(np.int32)) if ids else torch.zeros(df.height, 0)
        if self.spec.numeric:
            df = check_finite(df, self.spec.numeric, self.config.impute)
            cols = [((df[c].cast(pl.Float64).fill_null(m) - m) / s).to_numpy() for c, (m, s) in self.num_stats.items()]
            out["num"] = torch.from_numpy(np.stack(cols, axis=1).astype(np.float32))
        else:
            out["num"] = torch.zeros(df.height, 0)
        if self.spec.sequences:
            user_start = group_starts(df["user"].to_numpy())
            items = out["cat"][:, self.spec.item_field].numpy()
            kinds = df["feedback"].replace_strict(FEEDBACK_CODE, return_dtype=pl.Int32).fill_null(0).to_numpy()
            labels = df["label"].to_numpy()
            session_no = session_numbers(df)
            for name, s in self.config.sequences.items():
                mask = df["label"].is_not_null().to_numpy()  # rows without feedback (candidates) are never history
                if s.kinds is not None:
                    mask &= df["feedback"].is_in(list(s.kinds)).fill_null(False).to_numpy()
                if s.label is not None:
                    mask &= labels == s.label
                seq_items, seq_kinds = history(items, kinds, mask, user_start, s.max_len)
                out[f"seq_{name}"], out[f"kind_{name}"] = torch.from_numpy(seq_items), torch.from_numpy(seq_kinds)
                # per-event session: how many sessions before the row's own each history event lies (DSIN)
                _, event_session = history(items, session_no, mask, user_start, s.max_len)
                ago = np.where(seq_items > 0, session_no[:, None] - event_session, 0).astype(np.int32)
                out[f"sess_{name}"] = torch.from_numpy(ago)
        out["label"] = torch.from_numpy(df["label"].to_numpy().astype(np.float32))
        out["active"] = torch.from_numpy(df["active"].to_numpy().astype(np.float32))
        out["user"] = torch.from_numpy(df["user"].rank("dense").to_numpy().astype(np.int64) - 1)
        out["session"] = torch.from_numpy(
            df.select(pl.struct("user", "session").rank("dense")).to_series().to_numpy().astype(np.int64) - 1)
        out["position"] = torch.from_numpy(df["position"].to_numpy().astype(np.int64))
        out["feedback"] = torch.from_numpy(df["feedback"].replace_strict(FEEDBACK_CODE, return_dtype=pl.Int64)
                                           .fill_null(0).to_numpy(writable=True))
        out["timestamp"] = torch.from_numpy(df["timestamp"].to_numpy().astype(np.int64))
        for c in df.columns:
            if c.startswith(TRUTH_PREFIX):
                out[c] = torch.from_numpy(df[c].cast(pl.Float32).fill_null(float("nan")).to_numpy(writable=True))
        # back to the input's row order
        position = np.argsort(df["_row"].to_numpy(), kind="stable")  # input row r sits at position[r]
        if parts is None:
            order = torch.from_numpy(position)
            return EncodedTensors({k: v[order].contiguous() for k, v in out.items()})
        result = {}
        for name, rows in parts.items():
            idx = torch.from_numpy(position[rows])
            result[name] = EncodedTensors({k: v[idx].contiguous() for k, v in out.items()})
        return result


def check_finite(df: pl.DataFrame, columns, impute: str | None = None) -> pl.DataFrame:
    """NaN or +-inf in a numeric feature column is a :class:`DataError` naming the column and the count (one
    such value would turn the whole z-scored column, and the loss, into NaN), unless ``impute == "mean"``: then
    they become missing values, which the encoder fills with the training mean like empty ones."""
    from denoiserec.errors import DataError

    bad = {}
    for c in columns:
        if df.schema[c].is_float():
            n = df.select((pl.col(c).is_not_null() & ~pl.col(c).is_finite()).sum()).item()
            if n:
                bad[c] = n
    if not bad:
        return df
    if impute == "mean":
        return df.with_columns(pl.when(pl.col(c).is_finite()).then(pl.col(c)).alias(c) for c in bad)
    c, n = next(iter(bad.items()))
    raise DataError("numeric features", f"{n} NaN/inf value(s) of {df.height} (set features.impute: mean to "
                    "treat them as missing)", column=c)


def encode_splits(df: pl.DataFrame, config: FeatureConfig | None = None,
                  split_column: str = "split") -> tuple[FeatureSpec, dict[str, EncodedTensors]]:
    """Fit on the rows with ``split == 0`` and encode train/valid/test (0/1/2) from the whole log."""
    enc, parts = fit_encode_splits(df, config, split_column)
    return enc.spec, parts


def fit_encode_splits(df: pl.DataFrame, config: FeatureConfig | None = None,
                      split_column: str = "split") -> tuple[Encoder, dict[str, EncodedTensors]]:
    """:func:`encode_splits` returning the fitted :class:`Encoder` (its vocabularies go into model bundles)."""
    enc = Encoder(config).fit(df.filter(pl.col(split_column) == 0))
    split = df[split_column].to_numpy()
    rows = {name: np.flatnonzero(split == code) for code, name in enumerate(("train", "valid", "test"))}
    return enc, enc.transform(df, rows)
