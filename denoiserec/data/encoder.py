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
from denoiserec.data.history import group_starts, history_gather, running_groups
from denoiserec.data.kinds import FEEDBACK_CODE
from denoiserec.data.schema import OPTIONAL, SIDE_PREFIX, TRUTH_PREFIX
from denoiserec.data.spec import FeatureSpec
from denoiserec.data.tensors import EncodedTensors
from denoiserec.errors import ConfigError


class Encoder:
    """Fits vocabularies and numeric statistics on training rows; turns a canonical log into tensors."""

    def __init__(self, config: FeatureConfig | None = None):
        self.config = config or FeatureConfig()
        self.vocabs: dict[str, pl.DataFrame] = {}
        self.num_stats: dict[str, tuple[float, float]] = {}
        self.spec: FeatureSpec | None = None

    def fit(self, train: pl.DataFrame | pl.LazyFrame) -> Encoder:
        """Fit on ``train``; a LazyFrame (e.g. the whole log filtered to its training split) is read one
        column at a time, never materialised whole."""
        cfg = self.config
        train = train.lazy()
        schema = train.collect_schema()
        cat = cfg.categorical or [
            c for c in schema
            if c in DEFAULT_CATEGORICAL or (c.startswith(SIDE_PREFIX) and schema[c] == pl.Utf8)
        ]
        num = cfg.numeric if cfg.numeric is not None else [
            c for c in schema
            if c.startswith(SIDE_PREFIX) and schema[c].is_numeric() and c not in OPTIONAL
        ]
        if cfg.sequences and "item" not in cat:
            cat = ["item", *cat]
        for key, cols in (("features.categorical", cat), ("features.numeric", num)):
            if missing := [c for c in cols if c not in schema]:
                raise ConfigError(f"{key}: no column {missing[0]!r} in the log (its columns: "
                                  f"{', '.join(list(schema)[:20])})")
        for c in cat:
            counts = (train.group_by(pl.col(c).cast(pl.Utf8).alias("value")).len()
                      .filter(pl.col("len") >= cfg.min_count)
                      .sort(["len", "value"], descending=[True, False], nulls_last=True)
                      .drop_nulls("value")).collect()
            self.vocabs[c] = counts.select("value", pl.int_range(1, counts.height + 1, dtype=pl.Int32).alias("id"))
        train = check_finite(train, num, cfg.impute)
        if num:
            stats = train.select(*(pl.col(c).cast(pl.Float64).mean().alias(f"m{i}") for i, c in enumerate(num)),
                                 *(pl.col(c).cast(pl.Float64).std().alias(f"s{i}") for i, c in enumerate(num))
                                 ).collect().row(0)
            for i, c in enumerate(num):
                mean, std = stats[i] or 0.0, stats[len(num) + i] or 1.0
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

        With ``parts`` (name → row numbers of ``df``) return one EncodedTensors per part. Every column is
        encoded in the input's row order and gathered once into each part; only the histories need the
        (user, time) order, which they read through one sort permutation (the frame itself is never sorted
        or copied)."""
        assert self.spec is not None, "call fit() first"
        n = df.height
        cols: dict[str, np.ndarray] = {}  # input row order
        ids = [df.select(pl.col(c).cast(pl.Utf8).alias("value"))
               .join(self.vocabs[c], on="value", how="left", maintain_order="left")["id"].fill_null(0).to_numpy()
               for c in self.spec.categorical]
        cols["cat"] = np.stack(ids, axis=1).astype(np.int32) if ids else np.zeros((n, 0), dtype=np.int32)
        if self.spec.numeric:
            df = check_finite(df, self.spec.numeric, self.config.impute)
            num = np.empty((n, len(self.num_stats)), dtype=np.float32)
            for j, (c, (m, s)) in enumerate(self.num_stats.items()):
                num[:, j] = ((df[c].cast(pl.Float64).fill_null(m) - m) / s).to_numpy()
            cols["num"] = num
        else:
            cols["num"] = np.zeros((n, 0), dtype=np.float32)
        feedback = df["feedback"].replace_strict(FEEDBACK_CODE, return_dtype=pl.Int64).fill_null(0).to_numpy()
        cols["label"] = df["label"].to_numpy().astype(np.float32)
        cols["active"] = df["active"].to_numpy().astype(np.float32)
        cols["user"] = df["user"].rank("dense").to_numpy().astype(np.int64) - 1
        cols["session"] = (df.select(pl.struct("user", "session").rank("dense")).to_series().to_numpy()
                           .astype(np.int64) - 1)
        cols["position"] = df["position"].to_numpy().astype(np.int64)
        cols["feedback"] = feedback
        cols["timestamp"] = df["timestamp"].to_numpy().astype(np.int64)
        for c in df.columns:
            if c.startswith(TRUTH_PREFIX):
                cols[c] = df[c].cast(pl.Float32).fill_null(float("nan")).to_numpy()
        whole = parts is None
        parts = {"all": np.arange(n)} if whole else parts
        seqs = self._histories(df, cols, feedback, parts) if self.spec.sequences else dict.fromkeys(parts, {})
        keys = ["cat", "num", *next(iter(seqs.values()), {}), *(k for k in cols if k not in ("cat", "num"))]
        result: dict[str, dict[str, torch.Tensor]] = {name: {} for name in parts}
        for k in keys:  # one key at a time, each full-size column freed once gathered: bounds peak memory
            full = cols.pop(k, None)
            for name, rows in parts.items():
                result[name][k] = torch.from_numpy(seqs[name].pop(k) if full is None else full[rows])
            del full
        encoded = {name: EncodedTensors(t) for name, t in result.items()}
        return encoded["all"] if whole else encoded

    def _histories(self, df: pl.DataFrame, cols: dict[str, np.ndarray], feedback: np.ndarray,
                   parts: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
        """``seq_/kind_/sess_<name>`` of every part's rows, built in (user, time) order through one permutation."""
        order = df.select(pl.arg_sort_by(["user", "timestamp", "session", "position"], maintain_order=True)
                          ).to_series().to_numpy()  # sorted position k holds input row order[k]
        at = np.empty(len(order), dtype=np.int64)
        at[order] = np.arange(len(order))  # input row r sits at sorted position at[r]
        user_start = group_starts(cols["user"][order])
        session_no = running_groups(cols["session"][order])
        items = cols["cat"][order, self.spec.item_field]
        kinds = feedback[order].astype(np.int32)
        labelled = df["label"].is_not_null().to_numpy()  # rows without feedback (candidates) are never history
        out: dict[str, dict[str, np.ndarray]] = {part: {} for part in parts}
        for name, s in self.config.sequences.items():
            mask = labelled.copy()
            if s.kinds is not None:
                mask &= df["feedback"].is_in(list(s.kinds)).fill_null(False).to_numpy()
            if s.label is not None:
                mask &= cols["label"] == s.label
            mask = mask[order]
            for part, rows in parts.items():
                sorted_rows = at[rows]
                seq, kind, event_session = history_gather([items, kinds, session_no], mask, user_start, s.max_len,
                                                          sorted_rows)
                # per-event session: how many sessions before the row's own each history event lies (DSIN)
                event_session = np.subtract(session_no[sorted_rows][:, None], event_session, out=event_session)
                event_session[seq == 0] = 0
                out[part].update({f"seq_{name}": seq, f"kind_{name}": kind, f"sess_{name}": event_session})
        return out


def check_finite(df: pl.DataFrame | pl.LazyFrame, columns, impute: str | None = None
                 ) -> pl.DataFrame | pl.LazyFrame:
    """NaN or +-inf in a numeric feature column is a :class:`DataError` naming the column and the count (one
    such value would turn the whole z-scored column, and the loss, into NaN), unless ``impute == "mean"``: then
    they become missing values, which the encoder fills with the training mean like empty ones. All columns
    are counted in one query."""
    from denoiserec.errors import DataError

    schema = df.collect_schema()
    floats = [c for c in columns if schema[c].is_float()]
    if not floats:
        return df
    counts = df.lazy().select((pl.col(c).is_not_null() & ~pl.col(c).is_finite()).sum() for c in floats
                              ).collect().row(0)
    bad = {c: n for c, n in zip(floats, counts, strict=True) if n}
    if not bad:
        return df
    if impute == "mean":
        return df.with_columns(pl.when(pl.col(c).is_finite()).then(pl.col(c)).alias(c) for c in bad)
    c, n = next(iter(bad.items()))
    height = df.lazy().select(pl.len()).collect().item()
    raise DataError("numeric features", f"{n} NaN/inf value(s) of {height} (set features.impute: mean to "
                    "treat them as missing)", column=c)


def encode_splits(df: pl.DataFrame, config: FeatureConfig | None = None,
                  split_column: str = "split") -> tuple[FeatureSpec, dict[str, EncodedTensors]]:
    """Fit on the rows with ``split == 0`` and encode train/valid/test (0/1/2) from the whole log."""
    enc, parts = fit_encode_splits(df, config, split_column)
    return enc.spec, parts


def fit_encode_splits(df: pl.DataFrame, config: FeatureConfig | None = None,
                      split_column: str = "split") -> tuple[Encoder, dict[str, EncodedTensors]]:
    """:func:`encode_splits` returning the fitted :class:`Encoder` (its vocabularies go into model bundles)."""
    enc = Encoder(config).fit(df.lazy().filter(pl.col(split_column) == 0))
    split = df[split_column].to_numpy()
    rows = {name: np.flatnonzero(split == code) for code, name in enumerate(("train", "valid", "test"))}
    return enc, enc.transform(df, rows)
