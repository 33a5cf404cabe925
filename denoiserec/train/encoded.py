"""The trainer's batcher for encoded rows in memory (``docs/design.md``, "Batches")."""

from __future__ import annotations

import torch

from denoiserec.data.tensors import EncodedTensors


class EncodedData(EncodedTensors):
    """:class:`~denoiserec.data.tensors.EncodedTensors` batched by slicing."""

    def batches(self, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None):
        """Yield dict batches. Shuffling permutes every tensor once per epoch (one gather), then slices views.
        Each batch carries ``index``: the rows' numbers in this data (what methods key precomputed weights by)."""
        t = self.tensors
        if "index" not in t:  # row numbers; a subset made for a DDP shard keeps the full data's numbers
            t = {**t, "index": torch.arange(len(self), device=t["label"].device)}
        if shuffle:
            perm = torch.randperm(len(self), generator=generator).to(t["label"].device)
            t = {k: v[perm] for k, v in t.items()}
        for start in range(0, len(self), batch_size):
            yield {k: v[start:start + batch_size] for k, v in t.items()}


def batchable(data):
    """``data`` as the trainer batches it: in-memory rows become :class:`EncodedData` (sharing their tensors);
    a streamed split (:class:`denoiserec.data.store.StreamedData`) batches itself."""
    if isinstance(data, EncodedTensors) and not isinstance(data, EncodedData):
        return EncodedData(data.tensors)
    return data
