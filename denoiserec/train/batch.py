"""The batch contract (``docs/design.md``, "Batches"): who receives which tensors of a training batch.

* A **model** receives only its inputs (:func:`model_inputs`): ``cat``, ``num`` and the history tensors
  ``seq_<name>``, ``kind_<name>``, ``sess_<name>`` -- no label, no metadata, no hidden truth.
* A **method** receives the ``label`` and the metadata it declares in ``Method.needs`` (:func:`method_inputs`,
  from :data:`METADATA`), and in ``Method.fit`` the training data without the hidden truth.
* The hidden ``true_*`` columns (:data:`~denoiserec.data.schema.TRUTH_PREFIX`) reach only the metrics: the
  trainer drops them from the training data before anything else sees it (:func:`without_truth`).
"""

from __future__ import annotations

import torch

from denoiserec.data.schema import TRUTH_PREFIX
from denoiserec.data.tensors import EncodedTensors

MODEL_KEYS = ("cat", "num")
MODEL_PREFIXES = ("seq_", "kind_", "sess_")
#: what a method may declare in ``needs``: row index (into the data given to ``fit``), user, session, position
#: in the session, active flag, feedback kind, timestamp
METADATA = ("index", "user", "session", "position", "active", "feedback", "timestamp")


def is_model_input(key: str) -> bool:
    return key in MODEL_KEYS or key.startswith(MODEL_PREFIXES)


def model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors a model may read."""
    return {k: v for k, v in batch.items() if is_model_input(k)}


def method_inputs(batch: dict[str, torch.Tensor], needs: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """The label and the metadata a method declared (those present in the batch)."""
    return {"label": batch["label"], **{k: batch[k] for k in needs if k in batch}}


def without_truth(data):
    """``data`` without its hidden ``true_*`` tensors: in-memory rows of the same class sharing the other tensors, or
    a streamed split's view without those columns (:meth:`denoiserec.data.store.StreamedData.without`)."""
    if not isinstance(data, EncodedTensors):
        return data.without(TRUTH_PREFIX)
    if not any(k.startswith(TRUTH_PREFIX) for k in data.tensors):
        return data
    return type(data)({k: v for k, v in data.tensors.items() if not k.startswith(TRUTH_PREFIX)})
