"""The popularity baselines: items scored by how often they were a positive, one count for every task.

:func:`item_positives` is the one count (positives per item id); what each task scores with it:

* **CTR** (:func:`popularity_scores`, :func:`popularity_result`): every test row scored by
  ``log(1 + positives of its item in the training data)`` -- what a model that learned nothing personal would
  reach; its record (``popularity.json``) is the report's ``popularity`` row.
* **A log** (:func:`popularity_auc_true`): every row scored by its item's positives in the rest of the log
  (leave-one-out), against the simulator's hidden ``true_preference`` -- how much of the truth popularity explains.
* **seqrec** (:func:`baseline_scorers`): ``pop_up`` ranks items by how often they were an 'up' in training;
  ``fewest_neg`` by how few skips and downs they got in training; ``up_share`` by their training share of 'up'
  among their up/skip/down events, ``(ups + r) / (n + 1)`` with r the overall 'up' share (one pseudo-event: an
  unseen item scores r). None is personal; a model that does not beat them has learnt nothing the item counts do
  not already say.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import torch

from denoiserec.data.sequences import UP, Sequences
from denoiserec.data.spec import FeatureSpec
from denoiserec.data.tensors import EncodedTensors
from denoiserec.eval.metrics import _np, auc, split_metrics
from denoiserec.eval.seqrec import ItemTableScorer


def item_positives(items, positive, n: int) -> np.ndarray:
    """Per item id ``0..n-1``: the number of rows of that item whose ``positive`` is 1 (float64)."""
    return np.bincount(_np(items).astype(np.int64), weights=_np(positive).astype(np.float64), minlength=n)


def popularity_scores(train: EncodedTensors, test: EncodedTensors, spec: FeatureSpec) -> torch.Tensor:
    """``log(1 + positives of the item in train)`` for every test row."""
    f = spec.item_field
    items_train = train["cat"][:, f].long()
    n = int(max(items_train.max().item() if len(items_train) else 0, test["cat"][:, f].max().item())) + 1
    positives = torch.from_numpy(item_positives(items_train, train["label"], n))
    return torch.log1p(positives[test["cat"][:, f].long()]).float()


def popularity_result(parts: dict[str, EncodedTensors], spec: FeatureSpec) -> dict:
    """A result record (like a run's) of the popularity scorer on the valid and test parts."""
    return {
        "model": "popularity",
        "method": "popularity",
        "seed": 0,
        "test": split_metrics(popularity_scores(parts["train"], parts["test"], spec), parts["test"].tensors),
        "valid": split_metrics(popularity_scores(parts["train"], parts["valid"], spec), parts["valid"].tensors),
    }


def popularity_auc_true(df: pl.DataFrame) -> float:
    """AUC against the hidden ``true_preference`` of a log whose rows are scored by their item's
    count of positive labels in the rest of the log (leave-one-out, so a row's own label never scores it). Near
    0.5: the truth is personal; high: what users like is what is popular."""
    _, item = np.unique(df["item"].to_numpy(), return_inverse=True)
    label = df["label"].to_numpy().astype(np.float64)
    score = item_positives(item, label, int(item.max()) + 1 if len(item) else 0)[item] - label
    return float(auc(score, df["true_preference"].to_numpy()))


def log_stats(df: pl.DataFrame | pl.LazyFrame) -> dict:
    """What a log's statistics (``denoiserec data describe``) add on a simulated log held in memory:
    ``popularity_auc_true`` (needs every row's score)."""
    if isinstance(df, pl.DataFrame) and df.height and "true_preference" in df.columns:
        return {"popularity_auc_true": popularity_auc_true(df)}
    return {}


def baseline_scorers(train: Sequences) -> dict[str, ItemTableScorer]:
    """``pop_up``: training 'up' count per item; ``fewest_neg``: minus the training skip + down count;
    ``up_share``: the item's smoothed training share of 'up' (module docstring)."""
    n = train.n_items + 1
    ups = item_positives(train.item, train.fb == UP, n)
    negs = item_positives(train.item, train.fb != UP, n)
    r = float(np.mean(train.fb == UP)) if len(train) else 0.5
    return {
        "pop_up": ItemTableScorer(ups),
        "fewest_neg": ItemTableScorer(-negs),
        "up_share": ItemTableScorer((ups + r) / (ups + negs + 1.0)),
    }
