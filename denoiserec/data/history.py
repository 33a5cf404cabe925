"""Leak-free history building (``docs/design.md``, "Encoded data"): for every row, the same group's (user's)
earlier rows, strictly before it in time, left-padded; vectorised over rows.
"""

from __future__ import annotations

import numpy as np

#: rows per block when gathering histories: bounds the [rows, max_len] index temporaries (a few MiB each)
BLOCK = 1 << 16


def _new_group(keys: np.ndarray) -> np.ndarray:
    """For rows sorted by ``keys``: True where a row starts a new group."""
    new = np.ones(len(keys), dtype=bool)
    new[1:] = keys[1:] != keys[:-1]
    return new


def group_starts(keys: np.ndarray) -> np.ndarray:
    """For rows sorted by ``keys``: the index of the first row of each row's group."""
    new = _new_group(keys)
    starts = np.flatnonzero(new)
    return starts[np.cumsum(new) - 1]


def running_groups(keys: np.ndarray) -> np.ndarray:
    """For rows sorted by (user, time) with ``keys`` a (user, session) id: a running session number that grows
    by one at every new key."""
    return (np.cumsum(_new_group(keys)) - 1).astype(np.int32)


def history_gather(values: list[np.ndarray], mask: np.ndarray, group_start: np.ndarray, max_len: int,
                   rows: np.ndarray | None = None) -> list[np.ndarray]:
    """For each of ``rows`` (default: all), each of ``values`` at the group's last ``max_len`` earlier rows
    where ``mask`` holds, left-padded with 0: one int32 ``[len(rows), max_len]`` array per value array.

    Rows must be sorted by (group, time). Row i sees the masked rows j < i with j >= group_start[i]: never
    itself and never the future. One index computation serves every value array; vectorised over rows in
    blocks of :data:`BLOCK`.
    """
    n = len(mask)
    rows = np.arange(n) if rows is None else np.asarray(rows)
    picked = np.flatnonzero(mask).astype(np.int64)
    # position n of each extended value array is the padding 0; index len(picked) of picked_ext points there
    picked_ext = np.append(picked, n)
    ext = [np.append(np.asarray(v).astype(np.int32, copy=False), np.int32(0)) for v in values]
    out = [np.empty((len(rows), max_len), dtype=np.int32) for _ in values]
    lags = np.arange(max_len, 0, -1, dtype=np.int64)  # left to right: oldest to newest
    for lo in range(0, len(rows), BLOCK):
        r = rows[lo:lo + BLOCK]
        before = np.searchsorted(picked, r, side="left")  # masked rows strictly before each row
        first = np.searchsorted(picked, group_start[r], side="left")  # first masked row of its group
        j = before[:, None] - lags
        j[j < first[:, None]] = len(picked)
        src = picked_ext[j]
        for o, v in zip(out, ext, strict=True):
            np.take(v, src, out=o[lo:lo + BLOCK])
    return out


def history(items: np.ndarray, kinds: np.ndarray, mask: np.ndarray, group_start: np.ndarray,
            max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Left-padded last ``max_len`` earlier rows of the same group among rows where ``mask`` holds: the items
    and kinds of :func:`history_gather` for every row."""
    seq_items, seq_kinds = history_gather([items, kinds], mask, group_start, max_len)
    return seq_items, seq_kinds
