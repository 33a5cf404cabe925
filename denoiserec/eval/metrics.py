"""Evaluation metrics. All take NumPy arrays (or tensors) of scores and 0/1 labels.

* AUC: the Mann-Whitney statistic with average ranks for ties.
* GAUC: ``Σ_u n⁺_u·AUC_u / Σ_u n⁺_u`` over users having both classes, weighted by the user's positives
  n⁺_u (the definition the UAE paper states; DIN weights by impressions: ``weight="impressions"``).
* logloss: mean binary cross-entropy of probabilities clipped to [1e-7, 1 - 1e-7].
* RelaImpr (Yan et al., 2014): ``((AUC_model - 0.5) / (AUC_base - 0.5) - 1) · 100 %``.
* pairwise accuracy: the share of (positive, negative) pairs of the same group ranked correctly, ties count
  one half -- i.e. the group AUC weighted by ``n_pos·n_neg`` (the up-vs-down
  accuracy of Mei et al., "Negative Feedback for Music Personalization").
* MRR and recall@k of a target among candidates (sequential recommenders).
"""

from __future__ import annotations

import numpy as np
import torch


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy() if x.is_floating_point() else x.detach().cpu().numpy()
    return np.asarray(x)


def _group_auc_parts(scores, labels, groups) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per group: (U statistic, n_pos, n_neg, n) with average ranks for ties inside a group."""
    s, y, g = _np(scores).astype(np.float64), _np(labels).astype(np.float64) > 0.5, _np(groups)
    order = np.lexsort((s, g))
    s, y, g = s[order], y[order], g[order]
    n = len(s)
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = g[1:] != g[:-1]
    gid = np.cumsum(new_group) - 1
    group_start = np.flatnonzero(new_group)
    new_tie = new_group.copy()
    new_tie[1:] |= s[1:] != s[:-1]
    tid = np.cumsum(new_tie) - 1
    pos_in_group = np.arange(n) - group_start[gid] + 1.0  # 1-based ordinal rank inside the group
    tie_mean = np.bincount(tid, weights=pos_in_group) / np.bincount(tid)
    rank = tie_mean[tid]
    n_groups = gid[-1] + 1 if n else 0
    n_pos = np.bincount(gid, weights=y, minlength=n_groups)
    size = np.bincount(gid, minlength=n_groups).astype(np.float64)
    rank_sum = np.bincount(gid, weights=rank * y, minlength=n_groups)
    u = rank_sum - n_pos * (n_pos + 1) / 2
    return u, n_pos, size - n_pos, size


def auc(scores, labels) -> float:
    """Area under the ROC curve; NaN when only one class is present."""
    u, p, q, _ = _group_auc_parts(scores, labels, np.zeros(len(_np(labels)), dtype=np.int64))
    return float(u[0] / (p[0] * q[0])) if len(u) and p[0] * q[0] > 0 else float("nan")


def gauc(scores, labels, groups, weight: str = "positives") -> float:
    """Weighted mean of per-group AUC over groups with both classes; ``weight`` is ``"positives"`` (UAE's
    definition, the default), ``"impressions"`` (DIN's) or ``"groups"`` (every group counts the same)."""
    u, p, q, n = _group_auc_parts(scores, labels, groups)
    ok = p * q > 0
    w = {"positives": p, "impressions": n, "groups": np.ones_like(p)}[weight][ok]
    return float(np.sum(w * u[ok] / (p[ok] * q[ok])) / np.sum(w)) if ok.any() else float("nan")


def pairwise_accuracy(scores, labels, groups) -> float:
    """Share of same-group (positive, negative) pairs ordered correctly (ties = 1/2)."""
    u, p, q, _ = _group_auc_parts(scores, labels, groups)
    pairs = np.sum(p * q)
    return float(np.sum(u) / pairs) if pairs > 0 else float("nan")


def logloss(probs, labels, eps: float = 1e-7) -> float:
    p, y = np.clip(_np(probs).astype(np.float64), eps, 1 - eps), _np(labels).astype(np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))) if len(y) else float("nan")


def rela_impr(auc_model: float, auc_base: float) -> float:
    """RelaImpr in percent."""
    return ((auc_model - 0.5) / (auc_base - 0.5) - 1.0) * 100.0


def rank_of_target(scores, target_col: int = 0) -> np.ndarray:
    """1-based rank of column ``target_col`` among each row's candidates (ties count one half)."""
    s = _np(scores)
    t = s[:, target_col : target_col + 1]
    return 1.0 + (s > t).sum(1) + 0.5 * ((s == t).sum(1) - 1)


def mrr(scores, target_col: int = 0) -> float:
    return float(np.mean(1.0 / rank_of_target(scores, target_col)))


def recall_at_k(scores, k: int, target_col: int = 0) -> float:
    return float(np.mean(rank_of_target(scores, target_col) <= k))


def ctr_metrics(logits, labels, users) -> dict[str, float]:
    """AUC, GAUC and logloss of logits against labels."""
    logits = _np(logits).astype(np.float64)
    probs = 1.0 / (1.0 + np.exp(-logits))
    return {"auc": auc(logits, labels), "gauc": gauc(logits, labels, users), "logloss": logloss(probs, labels)}


def split_metrics(logits, tensors: dict) -> dict[str, float]:
    """All CTR metrics against the observed (noisy) label, and -- on simulated data -- against the hidden
    truth (``true_preference``): ``auc_true``, ``gauc_true``, ``logloss_true``, plus metrics restricted to
    active rows (``auc_active``), whose labels are the user's explicit choices."""
    y, users = _np(tensors["label"]), _np(tensors["user"])
    out = ctr_metrics(logits, y, users)
    active = _np(tensors["active"]) > 0.5
    if active.any() and (~active).any():
        out["auc_active"] = auc(_np(logits)[active], y[active])
    if "true_preference" in tensors:
        truth = _np(tensors["true_preference"])
        ok = ~np.isnan(truth)
        out.update({f"{k}_true": v for k, v in ctr_metrics(_np(logits)[ok], truth[ok], users[ok]).items()})
    return out


def user_pair_auc(scores, labels, users, groups) -> tuple[float, np.ndarray, np.ndarray]:
    """Per-user AUC over same-group (positive, negative) pairs, averaged over users with equal weight (ties = 1/2):
    ``AUC_u = Σ_g U_ug / Σ_g n⁺_ug·n⁻_ug`` over u's groups ``g`` (e.g. her stations). Returns the mean, the users
    having a pair, and their AUCs. With one group per user it is GAUC with ``weight="groups"``; pooling every
    pair instead is :func:`pairwise_accuracy`."""
    u, p, q, _ = _group_auc_parts(scores, labels, groups)
    g, first = np.unique(_np(groups), return_index=True)
    owner = _np(users)[first]
    if len(owner) == 0:
        return float("nan"), owner.astype(np.int64), np.zeros(0)
    ids, inv = np.unique(owner, return_inverse=True)
    num, den = np.bincount(inv, weights=u), np.bincount(inv, weights=p * q)
    ok = den > 0
    auc_u = num[ok] / den[ok]
    return (float(auc_u.mean()) if ok.any() else float("nan")), ids[ok], auc_u
