"""The evaluation protocol of Mei et al., "Negative Feedback for Music Personalization" (UMAP '24), §4, and the
baselines every table reports beside the transformer.

**Queries.** For every (user, station) of the scored period (test: the final period; valid: the validation
users' validation period, :mod:`denoiserec.data.sequences`), the query is the user's last ``max_len - 1``
input-eligible history events followed by a mask token at that station with type 'up'. Its hidden state scores
the period's items of that user and station.

**Metrics** (``down``: up vs down, ``skip``: up vs skip):

* ``user_auc_down`` -- *the headline*, the paper's "average area, of all users, under the ROC": per user, the
  share of her (up, down) pairs from the same station ranked correctly (ties 1/2), averaged over users with
  equal weight (:func:`denoiserec.metrics.user_pair_auc`);
* ``pair_acc_down`` -- the same pairs pooled over all users (:func:`denoiserec.metrics.pairwise_accuracy`):
  weights users by their number of pairs, shown beside the headline;
* ``user_auc_down_skip_only`` -- the headline over *skip-only* users (no 'up' in their history: never in a
  training window, covered only through feedback inputs; paper §2 and §5.3);
* ``user_auc_true`` / ``pair_acc_true`` (simulator): against the hidden ``true_preference`` (evaluation only);
* ``mrr_up``, ``recall@k_up`` (higher is better) and ``mrr_down``, ``recall@k_down`` (lower is better): rank
  of each test up (down) item among itself and ``candidates`` random items;
* ``coverage``: share of test users whose input history is not empty (model scorers only).

**Baselines** (:func:`baseline_scorers`, scored by the same code): ``pop_up`` ranks items by how often they
were an 'up' in training; ``fewest_neg`` ranks them by how few skips and downs they got in training;
``up_share`` by their training share of 'up' among their up/skip/down events, ``(ups + r) / (n + 1)`` with r
the overall 'up' share (one pseudo-event: an unseen item scores r). None is personal; a model that does not
beat them has learnt nothing the item counts do not already say.

**Ceilings** (simulator only, :func:`ceiling_scorers`; evaluation only, never an input; no rank metrics: they
score events, not items): ``oracle`` scores each test event by its realised hidden ``true_preference`` (a
Bernoulli draw no model can learn, hence near 1 where feedback follows it); ``oracle_pi`` by its preference
*probability* π (``true_pref_prob``), the reachable ceiling; ``item_mean_pi`` by the item's mean π over the
log's scored-kind events, the best a non-personal scorer can do.

**Non-personal checks** (:class:`ModelScorer` with ``state``): the trained model with every query's hidden
state replaced by the mean over the period's queries (``mean``) or by zero (``zero``: the item bias alone).
A model that scores no better than its own non-personal versions has learnt item effects, not taste.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import numpy as np
import torch

from denoiserec import metrics
from denoiserec.data.sequences import DOWN, SKIP, UP, Sequences
from denoiserec.seqrec.negatives import random_items
from denoiserec.seqrec.transformer import MASK_TOKEN, NegFeedbackTransformer
from denoiserec.settings import Count


@dataclass
class EvalConfig:
    candidates: Count = 100  # random items each up/down test item is ranked against
    k: list[Count] = field(default_factory=lambda: [10])
    batch_size: Count = 1024


def histories(seq: Sequences, part: str, users: np.ndarray, length: int, feedback_inputs: bool
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
    return {"tokens": np.where(ok, seq.item[ev] + 1, 0), "fb": np.where(ok, seq.fb[ev].astype(np.int64), 0),
            "station": np.where(ok, seq.station[ev], 0), "length": lens}


class Scorer(Protocol):
    """What :func:`period_metrics` scores a part with. ``queries(users, stations)`` prepares one query per
    (user, station) of the part and returns each query's history length (None for a non-personal scorer);
    ``scorer(q, items)`` returns the scores ``[M, K]`` of ``items [M, K]`` for the queries ``q [M]``. A scorer
    with ``per_event = True`` scores the part's events themselves instead (``event_scores(events) -> [E]``: the
    oracle) and is left out of the sampled-candidate metrics."""

    per_event: ClassVar[bool]

    def queries(self, users: np.ndarray, stations: np.ndarray) -> np.ndarray | None: ...

    def __call__(self, q: np.ndarray, items: np.ndarray) -> np.ndarray: ...


class ModelScorer:
    """Scores of the transformer: one query state per (user, station), dotted with the items' embeddings;
    ``state``: ``query`` (the model), ``mean`` (every query's state replaced by the mean state of the queries
    scored together) or ``zero`` (the item bias alone) -- the non-personal checks of the module docstring."""

    STATES = ("query", "mean", "zero")

    def __init__(self, model: NegFeedbackTransformer, seq: Sequences, part: str = "test", batch_size: int = 1024,
                 state: str = "query"):
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
            part = [torch.as_tensor(x[a:a + self.batch_size], device=device) for x in (tokens, fb, st)]
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
        out = [self.model.score(self.h[torch.as_tensor(q[a:a + 4096], device=device)],
                                torch.as_tensor(items[a:a + 4096], device=device)).float().cpu().numpy()
               for a in range(0, len(q), 4096)]
        return np.concatenate(out) if out else np.zeros(items.shape)


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


def baseline_scorers(train: Sequences) -> dict[str, ItemTableScorer]:
    """``pop_up``: training 'up' count per item; ``fewest_neg``: minus the training skip + down count;
    ``up_share``: the item's smoothed training share of 'up' (module docstring)."""
    n = train.n_items + 1
    ups = np.bincount(train.item[train.fb == UP], minlength=n)
    negs = np.bincount(train.item[train.fb != UP], minlength=n)
    r = float(np.mean(train.fb == UP)) if len(train) else 0.5
    return {"pop_up": ItemTableScorer(ups), "fewest_neg": ItemTableScorer(-negs),
            "up_share": ItemTableScorer((ups + r) / (ups + negs + 1.0))}


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
