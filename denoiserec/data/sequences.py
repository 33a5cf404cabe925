"""Canonical log -> per-user chronological feedback sequences for sequential next-item models (issue 6).

Every kept event gets a feedback *type*:

======  =============================================================================================
type    canonical kinds (default mapping; override with ``SequenceConfig.up/skip/down``)
======  =============================================================================================
up      every kind whose label is 1 (autoplay, complete, like, share, download, click, view, cart, fav, buy)
skip    ``skip``
down    ``dislike`` (thumb-down / hate)
(drop)  ``unplayed`` and ``unclick``: the item was never heard or seen, so it says nothing either way
======  =============================================================================================

Events are ordered by (user, timestamp, session, position). The *day* of an event is
``timestamp // day_seconds`` (UTC calendar days by default) and its *station* is the ``station`` column
(``context`` by default; 0 = unknown when the column is absent or null) -- together they define the
"same-day, same-station" tiers of the hard-negative cascade (:mod:`denoiserec.seqrec.negatives`).

Split: a global time cut at the ``1 - test_frac`` quantile of the timestamps; each user's events before it
are training history, the rest ("the final time period") are test events. Item and station vocabularies are
fitted on the training events only; test items never seen in training get id 0 (out of vocabulary).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import polars as pl

from denoiserec.data.schema import FEEDBACK_KINDS
from denoiserec.errors import ConfigError, DataError

PAD, UP, SKIP, DOWN = 0, 1, 2, 3
TYPE_NAMES = {UP: "up", SKIP: "skip", DOWN: "down"}

DEFAULT_UP = tuple(k for k, (_, y) in FEEDBACK_KINDS.items() if y == 1)
DEFAULT_SKIP = ("skip",)
DEFAULT_DOWN = ("dislike",)


@dataclass
class SequenceConfig:
    up: tuple[str, ...] = DEFAULT_UP
    skip: tuple[str, ...] = DEFAULT_SKIP
    down: tuple[str, ...] = DEFAULT_DOWN
    station: str | None = "context"  # column naming the station / context; None: unknown everywhere
    test_frac: float = 0.2  # share of the time span (by event quantile) held out as the final test period
    day_seconds: int = 86400

    @classmethod
    def from_dict(cls, d: dict | None) -> SequenceConfig:
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        if set(d) - known:
            raise ConfigError(f"unknown sequence option(s) {sorted(set(d) - known)}; known: {sorted(known)}")
        for k in ("up", "skip", "down"):
            if k in d:
                d[k] = tuple(d[k])
        cfg = cls(**d)
        every = cfg.up + cfg.skip + cfg.down
        if len(set(every)) != len(every):
            raise ConfigError("a feedback kind is mapped to more than one of up/skip/down")
        if not 0.0 < cfg.test_frac < 1.0:
            raise ConfigError(f"test_frac must be in (0, 1), got {cfg.test_frac}")
        return cfg


@dataclass
class Sequences:
    """All kept events as flat arrays sorted by (user, time); ``offsets[u]:offsets[u+1]`` are user u's."""

    user: np.ndarray  # int64 user index
    item: np.ndarray  # int64 item id 1..n_items, 0 = out of vocabulary
    fb: np.ndarray  # int8 UP / SKIP / DOWN
    station: np.ndarray  # int64 station id 1..n_stations, 0 = unknown
    day: np.ndarray  # int64 day number
    timestamp: np.ndarray  # int64
    test: np.ndarray  # bool: in the final (test) time period
    truth: np.ndarray | None  # float32 hidden true_preference (simulator only; never an input)
    users: list[str]
    items: list[str]
    stations: list[str]

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_stations(self) -> int:
        return len(self.stations)

    def __len__(self) -> int:
        return len(self.user)

    def user_end(self) -> np.ndarray:
        """For every event, the index one past its user's last event (of this object)."""
        bounds = np.flatnonzero(np.r_[self.user[1:] != self.user[:-1], True]) + 1
        return np.repeat(bounds, np.diff(np.r_[0, bounds]))


def _vocab(values: pl.Series) -> list[str]:
    return sorted(v for v in values.unique().to_list() if v is not None)


def build_sequences(df: pl.DataFrame, cfg: SequenceConfig | None = None, source: str = "log") -> Sequences:
    """Map feedback kinds to up/skip/down, order every user's events in time and split off the final period."""
    cfg = cfg or SequenceConfig()
    kind_type = {**{k: UP for k in cfg.up}, **{k: SKIP for k in cfg.skip}, **{k: DOWN for k in cfg.down}}
    for col in ("user", "item", "timestamp", "feedback"):
        if col not in df.columns:
            raise DataError(source, column=col, message="missing required column")
    order = [c for c in ("user", "timestamp", "session", "position") if c in df.columns]
    station_col = cfg.station if cfg.station and cfg.station in df.columns else None
    d = (df.lazy().filter(pl.col("feedback").is_in(list(kind_type)))
         .with_columns(pl.col("feedback").replace_strict(kind_type, return_dtype=pl.Int8).alias("_fb"),
                       pl.col("user").cast(pl.Utf8), pl.col("item").cast(pl.Utf8))
         .sort(order).collect())
    if d.height == 0:
        raise DataError(source, column="feedback", message=f"no event has a kind mapped to up/skip/down "
                        f"({sorted(kind_type)})")
    ts = d["timestamp"].to_numpy().astype(np.int64)
    cut = np.quantile(ts, 1.0 - cfg.test_frac, method="higher")
    test = ts >= cut
    if test.all():
        test = ts > cut  # degenerate: one timestamp for most rows
    users = _vocab(d["user"])
    train = d.filter(pl.Series(~test))
    items = _vocab(train["item"])
    stations = _vocab(train[station_col]) if station_col else []

    def ids(col: str, vocab: list[str]) -> np.ndarray:
        mapping = {v: i + 1 for i, v in enumerate(vocab)}
        return d[col].cast(pl.Utf8).replace_strict(mapping, default=0, return_dtype=pl.Int64).to_numpy()

    truth = d["true_preference"].to_numpy().astype(np.float32) if "true_preference" in d.columns else None
    return Sequences(
        user=ids("user", users) - 1, item=ids("item", items), fb=d["_fb"].to_numpy().astype(np.int8),
        station=ids(station_col, stations) if station_col else np.zeros(d.height, dtype=np.int64),
        day=ts // cfg.day_seconds, timestamp=ts, test=test, truth=truth, users=users, items=items,
        stations=stations)


def subset(seq: Sequences, keep: np.ndarray) -> Sequences:
    """The events where ``keep`` is true (order and vocabularies unchanged)."""
    return Sequences(user=seq.user[keep], item=seq.item[keep], fb=seq.fb[keep], station=seq.station[keep],
                     day=seq.day[keep], timestamp=seq.timestamp[keep], test=seq.test[keep],
                     truth=None if seq.truth is None else seq.truth[keep], users=seq.users, items=seq.items,
                     stations=seq.stations)


def training_windows(user: np.ndarray, eligible: np.ndarray, is_up: np.ndarray, max_len: int) -> np.ndarray:
    """Cut every user's input-eligible events into non-overlapping windows of at most ``max_len`` events that
    each end with an 'up' (the final position is always a prediction task), walking back from the user's last
    'up'. Returns ``[W, max_len]`` event indices, left-padded with -1; events after a user's last 'up' are in
    no window (they can still be future negatives)."""
    idx = np.flatnonzero(eligible)
    rows: list[np.ndarray] = []
    if len(idx) == 0:
        return np.full((0, max_len), -1, dtype=np.int64)
    bounds = np.flatnonzero(np.r_[True, user[idx][1:] != user[idx][:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        ev = idx[a:b]
        ups = np.flatnonzero(is_up[ev])
        end = ups[-1] + 1 if len(ups) else 0
        while end > 0:
            start = max(0, end - max_len)
            rows.append(ev[start:end])
            ups_before = ups[ups < start]
            end = ups_before[-1] + 1 if len(ups_before) else 0
    out = np.full((len(rows), max_len), -1, dtype=np.int64)
    for r, ev in enumerate(rows):
        out[r, max_len - len(ev):] = ev
    return out
