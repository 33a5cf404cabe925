"""Headroom of denoising on simulated data, as evaluation: the popularity scorer and the share of the gap closed.

* **Oracle.** A method entry with ``oracle: true`` trains the same model on the simulator's hidden
  ``true_preference`` (:func:`denoiserec.data.target.oracle_labels`); its row is the top of the gap.
* **Popularity.** :func:`popularity_result`: every test row scored by its item's count of positive labels in
  the training data -- what a model that learned nothing personal would reach.
* **Gap closed.** :func:`add_gap_closed`: for each method, ``(method − none) / (oracle − none)`` of a metric,
  the share of the noise gap between the baseline and the oracle that the method closes (1 = as good as
  training on the truth, 0 = no better than the baseline, < 0 = worse).
"""

from __future__ import annotations

import math

import torch

from denoiserec.data.spec import FeatureSpec
from denoiserec.data.tensors import EncodedTensors
from denoiserec.metrics import split_metrics


def popularity_scores(train: EncodedTensors, test: EncodedTensors, spec: FeatureSpec) -> torch.Tensor:
    """``log(1 + positives of the item in train)`` for every test row."""
    f = spec.item_field
    items_train = train["cat"][:, f].long()
    n = int(max(items_train.max().item() if len(items_train) else 0, test["cat"][:, f].max().item())) + 1
    positives = torch.bincount(items_train, weights=train["label"].double(), minlength=n)
    return torch.log1p(positives[test["cat"][:, f].long()]).float()


def popularity_result(parts: dict[str, EncodedTensors], spec: FeatureSpec) -> dict:
    """A result record (like a run's) of the popularity scorer on the valid and test parts."""
    return {"model": "popularity", "method": "popularity", "seed": 0,
            "test": split_metrics(popularity_scores(parts["train"], parts["test"], spec), parts["test"].tensors),
            "valid": split_metrics(popularity_scores(parts["train"], parts["valid"], spec), parts["valid"].tensors)}


def add_gap_closed(rows: list[dict], baseline: str | None, oracle: set[tuple[str, str]],
                   metrics: tuple[str, ...]) -> None:
    """Add ``gap_<metric>`` = (row − baseline) / (oracle − baseline) of the same model to every row (in place),
    where the model has an oracle row and the oracle is above the baseline."""
    by_key = {(r["model"], r["method"]): r for r in rows}
    for r in rows:
        o = next((by_key[k] for k in oracle if k[0] == r["model"] and k in by_key), None)
        b = by_key.get((r["model"], baseline))
        if o is None or b is None:
            continue
        for m in metrics:
            if m in r and m in o and m in b:
                denom = o[m][0] - b[m][0]
                r[f"gap_{m}"] = (r[m][0] - b[m][0]) / denom if denom > 0 else math.nan
