"""Canonical log -> per-user chronological feedback sequences for sequential next-item models, split as in
Mei et al., "Negative Feedback for Music Personalization" (UMAP '24), §2.

Every kept event gets a feedback *type* (``features`` section of a ``task: seqrec`` config):

======  =============================================================================================
type    canonical kinds
======  =============================================================================================
up      ``up: auto`` (default): the explicit positives (``like``, ``share``, ``download``, ``fav`` ...,
        :data:`denoiserec.data.kinds.POSITIVE_EXPLICIT`) where the log has any -- Piki and KuaiRand
        'like', the simulator's like/share/download; else every played-to-the-end kind (label 1:
        ``autoplay``, ``complete``, ``click`` -- the MSSD "play" of the paper's Spotify variant).
        Or an explicit list of kinds.
skip    ``skip``
down    ``dislike`` (thumb-down / hate)
(drop)  every other kind: ``unplayed``/``unclick`` (never heard or seen) and, where explicit positives
        exist, passive plays such as ``autoplay`` (the paper's 'up' is a thumb-up, not a play)
======  =============================================================================================

Events are ordered by (user, timestamp, session, position). The *day* of an event is
``timestamp // day_seconds`` (UTC calendar days by default) and its *station* is the ``station`` column
(``context`` by default; 0 = unknown when the column is absent or null) -- together they define the
"same-day, same-station" tiers of the hard-negative cascade (:mod:`denoiserec.seqrec.negatives`).

**Split** (``split`` section, :class:`SeqSplitConfig`; paper §2: "randomly split at the user level, with the
final month of data time-separated for the test set, and 90 % of the remainder used for training and 10 % used
for validation"):

* *test*: every event in the final ``test_days`` (default 30, "the final month") before the last timestamp
  (or, with ``test_frac``, after the ``1 - test_frac`` quantile of the timestamps: for logs with a sparse
  tail, such as the simulator's); every user with test events is a test user, her earlier events her history;
* the remaining users are split at random (``seed``) into training users (``1 - valid_frac``) and validation
  users (``valid_frac``, default 0.1). Training uses the training users' pre-test events only;
* *validation*: a validation user's events in the ``valid_days`` before the test period, with her earlier
  events as history -- the same task as the test, on users never trained on, for early stopping. Default
  ``valid_days``: ``test_days``; with ``test_frac``, the final ``test_frac`` share of the pre-test events (by
  time), so that the validation window is to the pre-test period what the test window is to the whole log (the
  test span of a sparse-tailed log can be longer than everything before it, which left every validation user
  without history);
* *cold users*: a scored user (validation or test) without any input-eligible history event is scored by the
  item bias alone; when more than ``max_cold_share`` (default 0.5) of a period's scored users are cold the
  split is an error (a :class:`~denoiserec.errors.DataError` naming the counts): early stopping or the test
  would measure cold-start scoring, not the sequence model.

The paper does not say how the validation users are scored; the second time cut is this library's reading.
Item and station vocabularies are fitted on the training events only; other items get id 0 (out of
vocabulary: scored as unknown, never used as an input).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import numpy as np
import polars as pl

from denoiserec.data.kinds import FEEDBACK_KINDS, POSITIVE_EXPLICIT
from denoiserec.errors import ConfigError, DataError
from denoiserec.settings import Count, Positive, Range, Rate, Share

Inside = Annotated[float, Range(gt=0, lt=1)]  #: a share strictly between 0 and 1

PAD, UP, SKIP, DOWN = 0, 1, 2, 3
TYPE_NAMES = {UP: "up", SKIP: "skip", DOWN: "down"}

#: 'up' kinds when the log has no explicit positive: every kind whose label is 1 (a play to the end).
PLAYED_UP = tuple(k for k, (_, y) in FEEDBACK_KINDS.items() if y == 1)
DEFAULT_SKIP = ("skip",)
DEFAULT_DOWN = ("dislike",)


def _from_dict(cls, d: dict | None, section: str):
    """``cls`` built from the mapping ``d``, checked against its declared types and ranges
    (:mod:`denoiserec.settings`)."""
    from denoiserec.validate import check_fields

    return cls(**check_fields(cls, d, section))


@dataclass
class SequenceConfig:
    """The ``features`` section: which canonical kinds are up / skip / down, the station column, the day."""

    up: str | tuple[str, ...] = "auto"
    skip: tuple[str, ...] = DEFAULT_SKIP
    down: tuple[str, ...] = DEFAULT_DOWN
    station: str | None = "context"  # column naming the station / context; None: unknown everywhere
    day_seconds: Count = 86400

    @classmethod
    def from_dict(cls, d: dict | None) -> SequenceConfig:
        cfg = _from_dict(cls, d, "features")
        if cfg.up != "auto":
            if isinstance(cfg.up, str):
                raise ConfigError(f"features.up: 'auto' or a list of feedback kinds, got {cfg.up!r}")
            cfg.up = tuple(cfg.up)
        cfg.skip, cfg.down = tuple(cfg.skip), tuple(cfg.down)
        every = (() if cfg.up == "auto" else cfg.up) + cfg.skip + cfg.down
        if len(set(every)) != len(every):
            raise ConfigError("features: a feedback kind is mapped to more than one of up/skip/down")
        bad = sorted(set(every) - set(FEEDBACK_KINDS))
        if bad:
            raise ConfigError(f"features: unknown feedback kind(s) {bad}; known: {sorted(FEEDBACK_KINDS)}")
        return cfg

    def up_kinds(self, present: set[str]) -> tuple[str, ...]:
        """The 'up' kinds for a log whose feedback kinds are ``present`` (resolves ``auto``)."""
        if self.up != "auto":
            return tuple(self.up)
        explicit = tuple(k for k in POSITIVE_EXPLICIT if k in present)
        return explicit or tuple(k for k in PLAYED_UP if k not in self.skip + self.down)


@dataclass
class SeqSplitConfig:
    """The ``split`` section: the final ``test_days`` as test, the other users 90/10 train/validation."""

    test_days: Positive = 30.0
    test_frac: Inside | None = None  # instead of test_days: the final share of events (by time) as test
    valid_frac: Rate = 0.1
    valid_days: Positive | None = None  # validation period of the validation users (default: module docstring)
    max_cold_share: Share = 0.5  # most scored users of a period allowed without any history (else an error)
    seed: int = 0  # of the random user split (fixed across training seeds: one split per data set)

    @classmethod
    def from_dict(cls, d: dict | None) -> SeqSplitConfig:
        return _from_dict(cls, d, "split")


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
    valid: np.ndarray  # bool: a validation user's event in the validation period (validation target)
    valid_user: np.ndarray  # bool: the event's user is a validation user (never trained on)
    truth: np.ndarray | None  # float32 hidden true_preference (simulator only; never an input)
    users: list[str]
    items: list[str]
    stations: list[str]
    up_kinds: tuple[str, ...] = ()  # the canonical kinds mapped to 'up' (``up: auto`` resolved for this log)
    truth_prob: np.ndarray | None = None  # float32 hidden preference probability π (simulator; never an input)

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

    @property
    def train_mask(self) -> np.ndarray:
        """Training events: the training users' events before the test period."""
        return ~self.test & ~self.valid_user

    def history_mask(self, part: str) -> np.ndarray:
        """Events a query of ``part`` ("test" or "valid") may see as its input history (in vocabulary)."""
        if part == "test":
            return ~self.test & (self.item > 0)
        if part == "valid":
            return self.valid_user & ~self.test & ~self.valid & (self.item > 0)
        raise ValueError(f"unknown part {part!r}")

    def target_mask(self, part: str) -> np.ndarray:
        """Events scored by the evaluation of ``part`` ("test" or "valid")."""
        return (self.test if part == "test" else self.valid) & (self.item > 0)

    def cold_users(self, part: str) -> tuple[int, int]:
        """(scored users of ``part`` without any history event, scored users of ``part``)."""
        users = np.unique(self.user[self.target_mask(part)])
        n_hist = np.bincount(self.user[self.history_mask(part)], minlength=len(self.users))
        return int((n_hist[users] == 0).sum()), len(users)


def _vocab(values: pl.Series) -> list[str]:
    return sorted(v for v in values.unique().to_list() if v is not None)


def build_sequences(df: pl.DataFrame, cfg: SequenceConfig | None = None, split: SeqSplitConfig | None = None,
                    source: str = "log") -> Sequences:
    """Map feedback kinds to up/skip/down, order every user's events in time and split (module docstring)."""
    cfg = cfg or SequenceConfig()
    split = split or SeqSplitConfig()
    for col in ("user", "item", "timestamp", "feedback"):
        if col not in df.columns:
            raise DataError(source, column=col, message="missing required column")
    up = cfg.up_kinds(set(df["feedback"].unique().to_list()))
    kind_type = {**{k: UP for k in up}, **{k: SKIP for k in cfg.skip}, **{k: DOWN for k in cfg.down}}
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
    if split.test_frac is not None:
        cut = int(np.quantile(ts, 1.0 - split.test_frac, method="lower"))
        test_days = (ts.max() - cut) / 86400
    else:
        cut, test_days = ts.max() - int(split.test_days * 86400), split.test_days
    test = ts > cut
    if test.all() or not test.any():
        raise DataError(source, column="timestamp", message=f"the split ({split}) leaves "
                        f"{'no training' if test.any() else 'no test'} period (the log spans "
                        f"{(ts.max() - ts.min()) / 86400:.1f} days)")
    users = _vocab(d["user"])
    uid = d["user"].replace_strict({v: i for i, v in enumerate(users)}, return_dtype=pl.Int64).to_numpy()
    rng = np.random.default_rng(split.seed)
    valid_users = rng.random(len(users)) < split.valid_frac
    valid_user = valid_users[uid]
    if split.valid_days is None and split.test_frac is not None:
        vcut = int(np.quantile(ts[~test], 1.0 - split.test_frac, method="lower"))
    else:
        vcut = cut - int((split.valid_days or test_days) * 86400)
    valid = valid_user & ~test & (ts > vcut)
    train = d.filter(pl.Series(~test & ~valid_user))
    if train.height == 0:
        raise DataError(source, column="timestamp", message="no training events (every pre-test event belongs "
                        "to a validation user)")
    items = _vocab(train["item"])
    stations = _vocab(train[station_col]) if station_col else []

    def ids(col: str, vocab: list[str]) -> np.ndarray:
        mapping = {v: i + 1 for i, v in enumerate(vocab)}
        return d[col].cast(pl.Utf8).replace_strict(mapping, default=0, return_dtype=pl.Int64).to_numpy()

    truth = d["true_preference"].to_numpy().astype(np.float32) if "true_preference" in d.columns else None
    prob = d["true_pref_prob"].to_numpy().astype(np.float32) if "true_pref_prob" in d.columns else None
    seq = Sequences(
        user=uid, item=ids("item", items), fb=d["_fb"].to_numpy().astype(np.int8),
        station=ids(station_col, stations) if station_col else np.zeros(d.height, dtype=np.int64),
        day=ts // cfg.day_seconds, timestamp=ts, test=test, valid=valid, valid_user=valid_user, truth=truth,
        users=users, items=items, stations=stations, up_kinds=tuple(up), truth_prob=prob)
    for part in ("valid", "test"):
        cold, n = seq.cold_users(part)
        if n and cold > split.max_cold_share * n:
            raise DataError(source, column="timestamp", message=f"{cold} of the {n} {part} users have no history "
                            f"event before their {part} period (split.max_cold_share {split.max_cold_share}): "
                            f"shorten split.valid_days / test_days (or raise max_cold_share to accept cold users)")
    return seq


def subset(seq: Sequences, keep: np.ndarray) -> Sequences:
    """The events where ``keep`` is true (order and vocabularies unchanged)."""
    return Sequences(user=seq.user[keep], item=seq.item[keep], fb=seq.fb[keep], station=seq.station[keep],
                     day=seq.day[keep], timestamp=seq.timestamp[keep], test=seq.test[keep],
                     valid=seq.valid[keep], valid_user=seq.valid_user[keep],
                     truth=None if seq.truth is None else seq.truth[keep], users=seq.users, items=seq.items,
                     stations=seq.stations, up_kinds=seq.up_kinds,
                     truth_prob=None if seq.truth_prob is None else seq.truth_prob[keep])


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


def random_items(pos_item: np.ndarray, n_items: int, rng: np.random.Generator, k: int | None = None) -> np.ndarray:
    """Uniform items in 1..n_items other than ``pos_item`` (shape ``[M]``, or ``[M, k]``): the training negatives'
    random tier (:mod:`denoiserec.seqrec.negatives`) and the rank metrics' candidates
    (:mod:`denoiserec.eval.seqrec`)."""
    if n_items < 2:
        raise ValueError("random negatives need at least two items")
    shape = pos_item.shape if k is None else (*pos_item.shape, k)
    r = rng.integers(1, n_items, size=shape)  # 1..n_items-1, then skip over the positive
    pos = pos_item if k is None else pos_item[..., None]
    return r + (r >= pos)
