"""Leak-free history building (``docs/design.md``, "Encoded data"): for every row, the same group's (user's)
earlier rows, strictly before it in time, left-padded; vectorised over rows.
"""

from __future__ import annotations

import numpy as np
import polars as pl


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


def session_numbers(df: pl.DataFrame) -> np.ndarray:
    """For rows sorted by (user, time): a running session number that grows by one at every new (user, session)."""
    key = df.select(pl.struct("user", "session").rank("dense")).to_series().to_numpy()
    return (np.cumsum(_new_group(key)) - 1).astype(np.int32)


def history(items: np.ndarray, kinds: np.ndarray, mask: np.ndarray, group_start: np.ndarray,
            max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Left-padded last ``max_len`` earlier rows of the same group among rows where ``mask`` holds.

    Rows must be sorted by (group, time). Row i sees the masked rows j < i with j >= group_start[i]: never
    itself and never the future. Vectorised over rows; loops only over the ``max_len`` lags.
    """
    n = len(items)
    picked = np.flatnonzero(mask)
    before = np.searchsorted(picked, np.arange(n), side="left")  # masked rows strictly before i
    first = np.searchsorted(picked, group_start, side="left")  # first masked row of i's group
    seq_items = np.zeros((n, max_len), dtype=np.int32)
    seq_kinds = np.zeros((n, max_len), dtype=np.int32)
    for lag in range(1, max_len + 1):
        j = before - lag
        ok = j >= first
        if not ok.any():
            break
        src = picked[j[ok]]
        seq_items[ok, max_len - lag] = items[src]
        seq_kinds[ok, max_len - lag] = kinds[src]
    return seq_items, seq_kinds
