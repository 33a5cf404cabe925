"""The per-user evaluation protocol of Mei et al., "Negative Feedback for Music Personalization" (UMAP '24), §4,
of the ``seqrec`` task, and the ceilings every table reports beside the transformer.

**Queries.** For every (user, station) of the scored period (test: the final period; valid: the validation
users' validation period, :mod:`denoiserec.data.sequences`), a :class:`Scorer` scores the period's items of that
user and station (the transformer's scorer, :class:`denoiserec.seqrec.scorer.ModelScorer`: a mask token after the
user's history).

**Metrics** (``down``: up vs down, ``skip``: up vs skip):

* ``user_auc_down`` -- *the headline*, the paper's "average area, of all users, under the ROC": per user, the
  share of her (up, down) pairs from the same station ranked correctly (ties 1/2), averaged over users with
  equal weight (:func:`denoiserec.eval.metrics.user_pair_auc`);
* ``pair_acc_down`` -- the same pairs pooled over all users (:func:`denoiserec.eval.metrics.pairwise_accuracy`):
  weights users by their number of pairs, shown beside the headline;
* ``user_auc_down_skip_only`` -- the headline over *skip-only* users (no 'up' in their history: never in a
  training window, covered only through feedback inputs; paper §2 and §5.3);
* ``user_auc_true`` / ``pair_acc_true`` (simulator): against the hidden ``true_preference`` (evaluation only);
* ``mrr_up``, ``recall@k_up`` (higher is better) and ``mrr_down``, ``recall@k_down`` (lower is better): rank
  of each test up (down) item among itself and ``candidates`` random items;
* ``coverage``: share of test users whose input history is not empty (model scorers only).

**Baselines** (:func:`denoiserec.eval.popularity.baseline_scorers`: item tables, :class:`ItemTableScorer`,
scored by the same code): ``pop_up``, ``fewest_neg`` and ``up_share``, from the training events' item counts.

**Ceilings** (simulator only, :func:`ceiling_scorers`; evaluation only, never an input; no rank metrics: they
score events, not items): ``oracle`` scores each test event by its realised hidden ``true_preference`` (a
Bernoulli draw no model can learn, hence near 1 where feedback follows it); ``oracle_pi`` by its preference
*probability* π (``true_pref_prob``), the reachable ceiling; ``item_mean_pi`` by the item's mean π over the
log's scored-kind events, the best a non-personal scorer can do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import numpy as np

from denoiserec.data.sequences import DOWN, SKIP, UP, Sequences, random_items
from denoiserec.eval import metrics
from denoiserec.settings import Count


@dataclass
class EvalConfig:
    candidates: Count = 100  # random items each up/down test item is ranked against
    k: list[Count] = field(default_factory=lambda: [10])
    batch_size: Count = 1024


class Scorer(Protocol):
    """What :func:`period_metrics` scores a part with. ``queries(users, stations)`` prepares one query per
    (user, station) of the part and returns each query's history length (None for a non-personal scorer);
    ``scorer(q, items)`` returns the scores ``[M, K]`` of ``items [M, K]`` for the queries ``q [M]``. A scorer
    with ``per_event = True`` scores the part's events themselves instead (``event_scores(events) -> [E]``: the
    oracle) and is left out of the sampled-candidate metrics."""

    per_event: ClassVar[bool]

    def queries(self, users: np.ndarray, stations: np.ndarray) -> np.ndarray | None: ...

    def __call__(self, q: np.ndarray, items: np.ndarray) -> np.ndarray: ...


class ItemTableScorer:
    """A non-personal baseline: one score per item (index 0 = out of vocabulary)."""

    def __init__(self, table: np.ndarray):
        self.table = np.asarray(table, dtype=np.float64)

    def queries(self, users: np.ndarray, stations: np.ndarray) -> None:
        return None

    def __call__(self, q: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.table[items]


class OracleScorer:
    """The simulator's hidden preference of each scored event (never a training input)."""

    per_event = True

    def __init__(self, truth: np.ndarray):
        self.truth = truth

    def queries(self, users: np.ndarray, stations: np.ndarray) -> None:
        return None

    def event_scores(self, events: np.ndarray) -> np.ndarray:
        return np.nan_to_num(self.truth[events].astype(np.float64), nan=0.5)


def ceiling_scorers(seq: Sequences) -> dict:
    """The simulator's ceilings of the module docstring (empty for a log without hidden truth)."""
    out: dict = {}
    if seq.truth is not None:
        out["oracle"] = OracleScorer(seq.truth)
    if seq.truth_prob is not None:
        out["oracle_pi"] = OracleScorer(seq.truth_prob)
        ok = (seq.item > 0) & ~np.isnan(seq.truth_prob)
        n = np.bincount(seq.item[ok], minlength=seq.n_items + 1)
        total = np.bincount(seq.item[ok], weights=seq.truth_prob[ok].astype(np.float64), minlength=seq.n_items + 1)
        out["item_mean_pi"] = ItemTableScorer(np.where(n > 0, total / np.maximum(n, 1), 0.5))
    return out


def period_metrics(scorer: Scorer, seq: Sequences, ecfg: EvalConfig, part: str = "test", seed: int = 0,
             per_user: dict | None = None) -> dict[str, float]:
    """The metrics of the module docstring for ``part``; fills ``per_user`` (when given) with each evaluated
    user's AUC and share of 'up' in her history: ``{"down": {"user", "auc", "up_share"}, "skip": ...}``."""
    te = np.flatnonzero(seq.target_mask(part))
    key = seq.user[te] * (seq.n_stations + 1) + seq.station[te]
    qkey, qid = np.unique(key, return_inverse=True)
    q_user, q_station = qkey // (seq.n_stations + 1), qkey % (seq.n_stations + 1)
    hist_len = scorer.queries(q_user, q_station)
    per_event = getattr(scorer, "per_event", False)
    if per_event:
        s = scorer.event_scores(te)
    else:
        s = scorer(qid, seq.item[te][:, None])[:, 0] if len(te) else np.zeros(0)
    fb, user = seq.fb[te], seq.user[te]
    hist = seq.history_mask(part)
    n_hist = np.bincount(seq.user[hist], minlength=len(seq.users))
    n_hist_up = np.bincount(seq.user[hist & (seq.fb == UP)], minlength=len(seq.users))
    skip_only = (n_hist > 0) & (n_hist_up == 0)
    out: dict[str, float] = {}
    for name, neg in (("down", DOWN), ("skip", SKIP)):
        sel = (fb == UP) | (fb == neg)
        out[f"pair_acc_{name}"] = metrics.pairwise_accuracy(s[sel], fb[sel] == UP, qid[sel])
        mean, users, aucs = metrics.user_pair_auc(s[sel], fb[sel] == UP, user[sel], qid[sel])
        out[f"user_auc_{name}"] = mean
        out[f"n_users_{name}"] = float(len(users))
        out[f"n_pairs_{name}"] = float(_n_pairs(fb[sel] == UP, qid[sel]))
        so = skip_only[users]
        out[f"user_auc_{name}_skip_only"] = float(aucs[so].mean()) if so.any() else float("nan")
        out[f"n_users_{name}_skip_only"] = float(so.sum())
        if per_user is not None:
            share = np.where(n_hist[users] > 0, n_hist_up[users] / np.maximum(n_hist[users], 1), np.nan)
            per_user[name] = {"user": users.tolist(), "auc": aucs.tolist(), "up_share": share.tolist()}
    if seq.truth is not None:
        truth = seq.truth[te]
        ok = ~np.isnan(truth)
        out["pair_acc_true"] = metrics.pairwise_accuracy(s[ok], truth[ok] > 0.5, qid[ok])
        out["user_auc_true"] = metrics.user_pair_auc(s[ok], truth[ok] > 0.5, user[ok], qid[ok])[0]
    if part == "test" and not per_event:
        rng = np.random.default_rng(seed + 7919)
        for name, kind in (("up", UP), ("down", DOWN)):
            sel = np.flatnonzero(fb == kind)
            if len(sel) == 0 or seq.n_items < 2:
                continue
            target = seq.item[te[sel]]
            cand = np.concatenate([target[:, None], random_items(target, seq.n_items, rng, k=ecfg.candidates)], 1)
            sc = scorer(qid[sel], cand)
            out[f"mrr_{name}"] = metrics.mrr(sc)
            for k in ecfg.k:
                out[f"recall@{k}_{name}"] = metrics.recall_at_k(sc, k)
    test_users = np.unique(q_user)
    if hist_len is not None:
        has_hist = np.zeros(len(seq.users), bool)
        has_hist[q_user[hist_len > 0]] = True
        out["coverage"] = float(has_hist[test_users].mean()) if len(test_users) else float("nan")
    out["n_eval_users"] = float(len(test_users))
    return out


def _n_pairs(y: np.ndarray, group: np.ndarray) -> int:
    if len(y) == 0:
        return 0
    n_pos = np.bincount(group, weights=y.astype(float))
    n_all = np.bincount(group)
    return int(np.sum(n_pos * (n_all - n_pos)))
