"""The transformer as a :class:`denoiserec.eval.seqrec.Scorer` of the seqrec evaluation protocol.

**Queries.** For every (user, station) of the scored period, the query is the user's last ``max_len - 1``
input-eligible history events (:func:`histories`) followed by a mask token at that station with type 'up'. Its
hidden state scores the period's items of that user and station.

**Non-personal checks** (:class:`ModelScorer` with ``state``): the trained model with every query's hidden
state replaced by the mean over the period's queries (``mean``) or by zero (``zero``: the item bias alone).
A model that scores no better than its own non-personal versions has learnt item effects, not taste.
"""

from __future__ import annotations

import numpy as np
import torch

from denoiserec.data.sequences import UP, Sequences
from denoiserec.seqrec.transformer import MASK_TOKEN, NegFeedbackTransformer


def histories(
    seq: Sequences, part: str, users: np.ndarray, length: int, feedback_inputs: bool
) -> dict[str, np.ndarray]:
    """Each user's last ``length`` input-eligible history events of ``part``, left-padded: tokens/fb/station
    ``[U, length]`` and ``length`` ``[U]``."""
    eligible = seq.history_mask(part) & (True if feedback_inputs else seq.fb == UP)
    idx = np.flatnonzero(eligible)
    starts = np.searchsorted(seq.user[idx], users, "left")
    ends = np.searchsorted(seq.user[idx], users, "right")
    lens = np.minimum(ends - starts, length)
    col = np.arange(length)[None, :]
    src = ends[:, None] - length + col
    ok = col >= length - lens[:, None]
    ev = idx[np.where(ok, src, 0)] if len(idx) else np.zeros(src.shape, dtype=np.int64)
    return {
        "tokens": np.where(ok, seq.item[ev] + 1, 0),
        "fb": np.where(ok, seq.fb[ev].astype(np.int64), 0),
        "station": np.where(ok, seq.station[ev], 0),
        "length": lens,
    }


class ModelScorer:
    """Scores of the transformer: one query state per (user, station), dotted with the items' embeddings;
    ``state``: ``query`` (the model), ``mean`` (every query's state replaced by the mean state of the queries
    scored together) or ``zero`` (the item bias alone) -- the non-personal checks (module docstring)."""

    STATES = ("query", "mean", "zero")

    def __init__(
        self,
        model: NegFeedbackTransformer,
        seq: Sequences,
        part: str = "test",
        batch_size: int = 1024,
        state: str = "query",
    ):
        if state not in self.STATES:
            raise ValueError(f"state must be one of {self.STATES}, got {state!r}")
        self.model, self.seq, self.part, self.batch_size, self.state = model, seq, part, batch_size, state
        self.h: torch.Tensor | None = None

    @torch.no_grad()
    def queries(self, users: np.ndarray, stations: np.ndarray) -> np.ndarray:
        """Hidden state of a mask token appended to each user's history, at the given station; returns each
        query's history length."""
        model = self.model.eval()
        device = next(model.parameters()).device
        hist = histories(self.seq, self.part, users, model.max_len - 1, model.feedback_inputs)
        tokens = np.concatenate([hist["tokens"], np.full((len(users), 1), MASK_TOKEN)], 1)
        fb = np.concatenate([hist["fb"], np.full((len(users), 1), UP)], 1)
        st = np.concatenate([hist["station"], stations[:, None]], 1)
        out = []
        for a in range(0, len(users), self.batch_size):
            part = [torch.as_tensor(x[a : a + self.batch_size], device=device) for x in (tokens, fb, st)]
            out.append(model(*part)[:, -1].float())
        self.h = torch.cat(out) if out else torch.zeros(0, model.song.embedding_dim, device=device)
        if self.state == "mean" and len(self.h):
            self.h = self.h.mean(0, keepdim=True).expand_as(self.h)
        elif self.state == "zero":
            self.h = torch.zeros_like(self.h)
        return hist["length"]

    @torch.no_grad()
    def __call__(self, q: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Scores ``[M, K]`` of ``items [M, K]`` for queries ``q [M]``."""
        device = self.h.device
        out = [
            self.model.score(
                self.h[torch.as_tensor(q[a : a + 4096], device=device)],
                torch.as_tensor(items[a : a + 4096], device=device),
            )
            .float()
            .cpu()
            .numpy()
            for a in range(0, len(q), 4096)
        ]
        return np.concatenate(out) if out else np.zeros(items.shape)
