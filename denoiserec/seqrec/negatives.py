"""Negative sampling for the negative-feedback transformer (Mei et al., "Negative Feedback for Music
Personalization", UMAP '24, §3).

**Cascade.** For a positive ('up') event ``i`` of user u, its hard negative is drawn uniformly from the first
non-empty tier of

1. ``same_day_down``: u's 'down' events on the same day and the same station as ``i`` (earlier or later),
2. ``same_day_skip``: likewise for 'skip',
3. ``future_down``: u's 'down' events after ``i`` (any day, any station),
4. ``future_skip``: likewise for 'skip',
5. ``random``: a uniformly random item.

Only the events passed in (the training period) are candidates. A training position uses its hard negative
with probability ``p_hard`` (re-drawn every epoch), else a random item. A hard negative whose item equals the
positive falls back to a random item; random items are drawn uniformly from the catalogue *without* the
positive, so the positive itself is never its own negative.

**Hardest of k.** The alternative without explicit negatives: draw ``k`` random items (each ≠ the positive)
and keep the one the current model scores highest (:func:`hardest_of_k`).

All tiers are contiguous ranges of sorted index arrays, so building the cascade is a few ``searchsorted``
calls and sampling is vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from denoiserec.data.sequences import DOWN, SKIP, random_items

TIERS = ("same_day_down", "same_day_skip", "future_down", "future_skip", "random")
RANDOM_TIER = len(TIERS) - 1


@dataclass
class Cascade:
    """Per event: the tier its hard negative comes from, and the candidate range ``pool[start:start+count]``."""

    tier: np.ndarray  # int8, RANDOM_TIER when no explicit negative exists
    start: np.ndarray  # int64
    count: np.ndarray  # int64
    pool: np.ndarray  # int64 event indices, all tiers concatenated
    item: np.ndarray  # int64 item of every event (to map a drawn event to its item)

    def tier_shares(self, events: np.ndarray) -> dict[str, float]:
        """Share of ``events`` whose hard negative comes from each tier."""
        t = self.tier[events]
        return {name: float(np.mean(t == k)) if len(t) else 0.0 for k, name in enumerate(TIERS)}

    def tier_shares_by_position(self, windows: np.ndarray, is_up: np.ndarray) -> dict[str, list]:
        """The paper's Fig. 1: for each position of the left-padded training ``windows`` ``[W, L]`` (position
        L-1 = the most recent), the share of its 'up' events whose hard negative comes from each tier;
        ``{"n": [L counts], tier: [L shares]}``."""
        L = windows.shape[1]
        out: dict[str, list] = {"n": []}
        for name in TIERS:
            out[name] = []
        for p in range(L):
            ev = windows[:, p]
            ev = ev[ev >= 0]
            ev = ev[is_up[ev]]
            out["n"].append(int(len(ev)))
            for name, share in self.tier_shares(ev).items():
                out[name].append(share)
        return out


def _ranges(pool_key: np.ndarray, query_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted ``pool_key``: the [start, end) of each ``query_key``."""
    return np.searchsorted(pool_key, query_key, "left"), np.searchsorted(pool_key, query_key, "right")


def build_cascade(user: np.ndarray, fb: np.ndarray, day: np.ndarray, station: np.ndarray,
                  item: np.ndarray) -> Cascade:
    """The cascade for events sorted by (user, time) -- e.g. the training events of :class:`Sequences`."""
    n = len(user)
    idx = np.arange(n, dtype=np.int64)
    bounds = np.flatnonzero(np.r_[user[1:] != user[:-1], True]) + 1 if n else np.zeros(0, dtype=np.int64)
    user_end = np.repeat(bounds, np.diff(np.r_[0, bounds]))
    _, group = np.unique(np.stack([user, day, station]), axis=1, return_inverse=True) if n else (None, idx)
    group = group.reshape(-1).astype(np.int64)
    pools, starts, counts = [], [], []
    offset = 0
    for kind in (DOWN, SKIP):  # same day, same station
        ev = idx[fb == kind]
        ev = ev[np.lexsort((ev, group[ev]))]
        s, e = _ranges(group[ev], group)
        pools.append(ev)
        starts.append(s + offset)
        counts.append(e - s)
        offset += len(ev)
    for kind in (DOWN, SKIP):  # strictly later events of the same user
        ev = idx[fb == kind]  # already in (user, time) order
        s = np.searchsorted(ev, idx, "right")
        e = np.searchsorted(ev, user_end, "left")
        pools.append(ev)
        starts.append(s + offset)
        counts.append(np.maximum(e - s, 0))
        offset += len(ev)
    count = np.stack(counts)  # [4, n]
    has = count > 0
    tier = np.where(has.any(0), has.argmax(0), RANDOM_TIER).astype(np.int8)
    t = np.minimum(tier, RANDOM_TIER - 1)
    start = np.stack(starts)[t, idx]
    cnt = np.where(tier < RANDOM_TIER, count[t, idx], 0)
    return Cascade(tier=tier, start=start, count=cnt, pool=np.concatenate(pools) if pools else idx[:0],
                   item=np.asarray(item, dtype=np.int64))


def sample_negatives(cascade: Cascade, events: np.ndarray, pos_item: np.ndarray, p_hard: float, n_items: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One negative per positive event: ``(neg_item, neg_event)``; ``neg_event`` is -1 for random negatives."""
    neg_item = random_items(pos_item, n_items, rng)
    neg_event = np.full(len(events), -1, dtype=np.int64)
    if p_hard <= 0 or len(events) == 0:
        return neg_item, neg_event
    use = (rng.random(len(events)) < p_hard) & (cascade.tier[events] < RANDOM_TIER)
    pick = cascade.start[events[use]] + (rng.random(int(use.sum())) * cascade.count[events[use]]).astype(np.int64)
    ev = cascade.pool[pick]
    ok = cascade.item[ev] != pos_item[use]
    where = np.flatnonzero(use)[ok]
    neg_item[where] = cascade.item[ev[ok]]
    neg_event[where] = ev[ok]
    return neg_item, neg_event


@torch.no_grad()
def hardest_of_k(hidden: torch.Tensor, pos_item: np.ndarray | None, k: int, n_items: int,
                 rng: np.random.Generator | None, score_fn, cand: np.ndarray | None = None) -> np.ndarray:
    """For each row of ``hidden`` ``[M, E]``: of ``k`` random items (≠ the positive; or the given ``cand``
    ``[M, k]``, drawn the same way by the caller), the one with the highest ``score_fn(hidden, items [M, k])``."""
    if cand is None:
        cand = random_items(pos_item, n_items, rng, k=k)
    scores = score_fn(hidden, torch.as_tensor(cand, device=hidden.device))
    best = scores.argmax(1).cpu().numpy()
    return cand[np.arange(len(cand)), best]
