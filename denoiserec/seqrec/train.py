"""Training and evaluation of the negative-feedback transformer (issue 6).

**Training** (cloze task, SASRec loss). Every user's training history is cut into windows ending with an 'up'
(:func:`denoiserec.data.sequences.training_windows`). Each epoch, in each window, every 'up' position is masked
with probability ``p_mask`` and the last position always is; a masked position keeps its station and type
'up' and has its song replaced by the mask token. Its negative comes from
:func:`denoiserec.seqrec.negatives.sample_negatives` (hard with probability ``p_hard``) or, with
``hardest_of_k > 1``, is the best-scored of k random items. Skips/downs used as negatives are removed from
that window's input. Loss over the M masked positions::

    L = 1/M Σ_m [ -log σ(s(h_m, pos_m)) - log(1 - σ(s(h_m, neg_m))) ]

Without ``feedback_inputs`` the input holds 'up' events only and no type embedding (the paper's baseline).

**Evaluation** (final time period). For every (user, station) of the test period, the query is the user's
last ``max_len - 1`` training events (the ones the variant may see) followed by a mask token at that station
with type 'up'; its hidden state scores the test events' items. Reported:

* ``acc_down`` / ``acc_skip``: pairwise accuracy of up vs down (skip) items of the same user and station
  (:func:`metrics.pairwise_accuracy`, all pairs pooled), and ``user_auc_down`` / ``user_auc_skip``: the
  per-(user, station) AUC averaged with equal weight;
* ``acc_true`` (simulator): the same pairwise accuracy against the hidden ``true_preference``;
* ``mrr_up``, ``recall@k_up`` (higher is better) and ``mrr_down``, ``recall@k_down`` (lower is better): rank
  of each test up (down) item among itself and ``candidates`` random items (:func:`metrics.mrr`,
  :func:`metrics.recall_at_k`);
* ``coverage``: share of test users whose input history is not empty (skip-only users have none without
  feedback inputs); ``train_seconds``; ``cos_*`` between the learned type embeddings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from denoiserec import metrics
from denoiserec.data.sequences import DOWN, SKIP, UP, Sequences, subset, training_windows
from denoiserec.errors import ConfigError
from denoiserec.seqrec.negatives import Cascade, build_cascade, hardest_of_k, random_items, sample_negatives
from denoiserec.seqrec.transformer import MASK_TOKEN, NegFeedbackTransformer


@dataclass
class ModelConfig:
    dim: int = 64
    layers: int = 2
    heads: int = 2
    dropout: float = 0.1
    max_len: int = 50
    positional: bool = True
    feedback_inputs: bool = True


@dataclass
class SeqTrainConfig:
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    p_mask: float = 0.15
    p_hard: float = 0.0
    hardest_of_k: int = 0  # > 1: the negative (when not hard) is the best-scored of k random items
    device: str = "auto"
    progress: bool = True
    threads: int | None = None
    eval_every: int = 0  # > 0: also evaluate every n epochs into the history (training-time curves)


@dataclass
class EvalConfig:
    candidates: int = 100  # random items each up/down test item is ranked against
    k: list[int] = field(default_factory=lambda: [10])
    batch_size: int = 1024


def _from(cls, d: dict, what: str):
    known = {f.name for f in fields(cls)}
    bad = set(d) - known
    if bad:
        raise ConfigError(f"unknown {what} option(s) {sorted(bad)}; known: {sorted(known)}")
    return cls(**d)


def resolve_configs(config: dict, override: dict | None = None) -> tuple[ModelConfig, SeqTrainConfig, EvalConfig]:
    """The config's ``model``/``train``/``eval`` sections with a variant's flat ``override`` keys applied to
    whichever section has them."""
    parts = {"model": dict(config.get("model") or {}), "train": dict(config.get("train") or {}),
             "eval": dict(config.get("eval") or {})}
    classes = {"model": ModelConfig, "train": SeqTrainConfig, "eval": EvalConfig}
    for key, value in (override or {}).items():
        home = [p for p, c in classes.items() if key in {f.name for f in fields(c)}]
        if not home:
            raise ConfigError(f"unknown variant option {key!r}")
        parts[home[0]][key] = value
    return tuple(_from(classes[p], parts[p], p) for p in ("model", "train", "eval"))  # type: ignore[return-value]


class SeqData:
    """The sequences, their training part and the hard-negative cascade over it (built once per data set)."""

    def __init__(self, seq: Sequences):
        self.seq = seq
        self.train_idx = np.flatnonzero(~seq.test)
        self.train = subset(seq, ~seq.test)
        t = self.train
        self.cascade: Cascade = build_cascade(t.user, t.fb, t.day, t.station, t.item)

    def windows(self, max_len: int, feedback_inputs: bool) -> np.ndarray:
        t = self.train
        eligible = np.ones(len(t), bool) if feedback_inputs else t.fb == UP
        return training_windows(t.user, eligible, t.fb == UP, max_len)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def make_batch(data: SeqData, win: np.ndarray, cfg: SeqTrainConfig, rng: np.random.Generator) -> dict:
    """Mask, draw negatives, drop used negatives from the input and left-pad again: NumPy arrays ``[B, L']``."""
    t, n = data.train, len(data.train)
    B, L = win.shape
    valid = win >= 0
    ev = np.where(valid, win, 0)
    item, fb, st = t.item[ev], t.fb[ev].astype(np.int64), t.station[ev]
    masked = valid & (fb == UP) & (rng.random(win.shape) < cfg.p_mask)
    masked[:, -1] = True  # windows end with an 'up': always a prediction task
    rows, cols = np.nonzero(masked)
    pos = item[rows, cols]
    neg, neg_ev = sample_negatives(data.cascade, win[rows, cols], pos, cfg.p_hard, t.n_items, rng)
    keep = valid.copy()
    hit = neg_ev >= 0
    if hit.any():  # a hard negative inside its own window leaves the input
        flat = (np.arange(B)[:, None] * (n + 1) + win + 1).ravel()  # ascending: rows in order, events in time
        query = rows[hit] * (n + 1) + neg_ev[hit] + 1
        at = np.minimum(np.searchsorted(flat, query), flat.size - 1)
        keep.flat[at[flat[at] == query]] = False
    tokens = np.where(masked, MASK_TOKEN, item + 1) * keep
    fb_in = np.where(masked, UP, fb) * keep
    pos_item, neg_item, neg_rand = np.zeros_like(item), np.zeros_like(item), np.zeros(win.shape, bool)
    pos_item[rows, cols], neg_item[rows, cols], neg_rand[rows, cols] = pos, neg, ~hit
    negev = np.full(win.shape, -1, dtype=np.int64)
    negev[rows, cols] = neg_ev
    order = np.argsort(keep, axis=1, kind="stable")  # padding first, kept events in time order
    width = int(keep.sum(1).max())
    take = order[:, L - width:]
    g = lambda a: np.take_along_axis(a, take, 1)  # noqa: E731
    return {"tokens": g(tokens), "fb": g(fb_in), "station": g(st * keep), "masked": g(masked & keep),
            "pos": g(pos_item), "neg": g(neg_item), "neg_random": g(neg_rand),
            "event": np.where(g(keep), g(win), -1), "neg_event": g(negev)}  # the last two: diagnostics only


def train_model(data: SeqData, mcfg: ModelConfig, tcfg: SeqTrainConfig, ecfg: EvalConfig | None = None,
                seed: int = 0, model: NegFeedbackTransformer | None = None) -> tuple[NegFeedbackTransformer, list]:
    """Train (a new model unless ``model`` is given); returns the model and the per-epoch history."""
    from denoiserec.train.trainer import seed_everything

    seed_everything(seed)
    rng = np.random.default_rng(seed)
    device = resolve_device(tcfg.device)
    if tcfg.threads:
        torch.set_num_threads(tcfg.threads)
    if data.train.n_items < 2:
        raise ConfigError("the training period has fewer than two items")
    model = model or NegFeedbackTransformer(data.train.n_items, data.train.n_stations, **vars(mcfg))
    model.to(device)
    optim = torch.optim.Adam(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    windows = data.windows(mcfg.max_len, mcfg.feedback_inputs)
    history, elapsed = [], 0.0
    n_batches = (len(windows) + tcfg.batch_size - 1) // tcfg.batch_size
    for epoch in range(tcfg.epochs):
        t0 = time.perf_counter()
        model.train()
        perm = rng.permutation(len(windows))
        total, count, tiers = 0.0, 0, 0
        bar = tqdm(range(n_batches), desc=f"epoch {epoch + 1}/{tcfg.epochs}", disable=not tcfg.progress,
                   leave=False)
        for b in bar:
            nb = make_batch(data, windows[perm[b * tcfg.batch_size:(b + 1) * tcfg.batch_size]], tcfg, rng)
            tb = {k: torch.as_tensor(v, device=device) for k, v in nb.items() if k not in ("event", "neg_event")}
            h = model(tb["tokens"], tb["fb"], tb["station"])[tb["masked"]]
            pos, neg = tb["pos"][tb["masked"]], tb["neg"][tb["masked"]]
            if tcfg.hardest_of_k > 1:
                rand = tb["neg_random"][tb["masked"]]
                if rand.any():
                    best = hardest_of_k(h[rand].detach(), pos[rand].cpu().numpy(), tcfg.hardest_of_k,
                                        data.train.n_items, rng, model.score)
                    neg = neg.clone()
                    neg[rand] = torch.as_tensor(best, device=device)
            s = model.score(h, torch.stack([pos, neg], 1))
            loss = (F.softplus(-s[:, 0]) + F.softplus(s[:, 1])).mean()
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            total += float(loss.detach()) * len(pos)
            count += len(pos)
            tiers += int((~tb["neg_random"][tb["masked"]]).sum())
        elapsed += time.perf_counter() - t0
        record = {"epoch": epoch + 1, "train_loss": total / max(count, 1), "seconds": elapsed,
                  "hard_share": tiers / max(count, 1)}
        if ecfg is not None and tcfg.eval_every and (epoch + 1) % tcfg.eval_every == 0:
            record.update(evaluate(model, data, mcfg, ecfg, seed=seed))
            model.train()
        history.append(record)
        if tcfg.progress:
            tqdm.write(f"epoch {epoch + 1}: " + ", ".join(f"{k}={v:.4g}" for k, v in record.items()
                                                          if k in ("train_loss", "acc_down", "hard_share")))
    return model, history


def _histories(data: SeqData, users: np.ndarray, length: int, feedback_inputs: bool) -> dict[str, np.ndarray]:
    """Each user's last ``length`` input-eligible training events, left-padded: tokens/fb/station ``[U, length]``."""
    t = data.train
    eligible = np.ones(len(t), bool) if feedback_inputs else t.fb == UP
    idx = np.flatnonzero(eligible)
    starts = np.searchsorted(t.user[idx], users, "left")
    ends = np.searchsorted(t.user[idx], users, "right")
    lens = np.minimum(ends - starts, length)
    col = np.arange(length)[None, :]
    src = ends[:, None] - length + col
    ok = col >= length - lens[:, None]
    ev = idx[np.where(ok, src, 0)] if len(idx) else np.zeros(src.shape, dtype=np.int64)
    return {"tokens": np.where(ok, t.item[ev] + 1, 0), "fb": np.where(ok, t.fb[ev].astype(np.int64), 0),
            "station": np.where(ok, t.station[ev], 0), "length": lens}


@torch.no_grad()
def query_states(model: NegFeedbackTransformer, data: SeqData, users: np.ndarray, stations: np.ndarray,
                 batch_size: int = 1024) -> tuple[torch.Tensor, np.ndarray]:
    """Hidden state of a mask token appended to each user's history, at the given station: ``[Q, E]``, and
    each query's history length."""
    model.eval()
    device = next(model.parameters()).device
    hist = _histories(data, users, model.max_len - 1, model.feedback_inputs)
    tokens = np.concatenate([hist["tokens"], np.full((len(users), 1), MASK_TOKEN)], 1)
    fb = np.concatenate([hist["fb"], np.full((len(users), 1), UP)], 1)
    st = np.concatenate([hist["station"], stations[:, None]], 1)
    out = []
    for a in range(0, len(users), batch_size):
        part = [torch.as_tensor(x[a:a + batch_size], device=device) for x in (tokens, fb, st)]
        out.append(model(*part)[:, -1].float())
    return (torch.cat(out) if out else torch.zeros(0, model.song.embedding_dim, device=device)), hist["length"]


@torch.no_grad()
def evaluate(model: NegFeedbackTransformer, data: SeqData, mcfg: ModelConfig, ecfg: EvalConfig,
             seed: int = 0) -> dict[str, float]:
    """The issue's test protocol on the final time period (see the module docstring)."""
    seq = data.seq
    te = np.flatnonzero(seq.test & (seq.item > 0))
    key = seq.user[te] * (seq.n_stations + 1) + seq.station[te]
    qkey, qid = np.unique(key, return_inverse=True)
    q_user, q_station = qkey // (seq.n_stations + 1), qkey % (seq.n_stations + 1)
    hq, hist_len = query_states(model, data, q_user, q_station, ecfg.batch_size)
    device = hq.device
    items = torch.as_tensor(seq.item[te], device=device)
    qid_t = torch.as_tensor(qid, device=device)
    s = np.zeros(len(te))
    for a in range(0, len(te), 65536):
        h = hq[qid_t[a:a + 65536]]
        s[a:a + 65536] = model.score(h, items[a:a + 65536, None]).squeeze(-1).float().cpu().numpy()
    fb = seq.fb[te]
    out: dict[str, float] = {}
    for name, neg in (("down", DOWN), ("skip", SKIP)):
        sel = (fb == UP) | (fb == neg)
        out[f"acc_{name}"] = metrics.pairwise_accuracy(s[sel], fb[sel] == UP, qid[sel])
        out[f"user_auc_{name}"] = metrics.gauc(s[sel], fb[sel] == UP, qid[sel], weight="groups")
        out[f"n_pairs_{name}"] = float(_n_pairs(fb[sel] == UP, qid[sel]))
    if seq.truth is not None:
        truth = seq.truth[te]
        ok = ~np.isnan(truth)
        out["acc_true"] = metrics.pairwise_accuracy(s[ok], truth[ok] > 0.5, qid[ok])
    rng = np.random.default_rng(seed + 7919)
    for name, kind in (("up", UP), ("down", DOWN)):
        sel = np.flatnonzero(fb == kind)
        if len(sel) == 0 or seq.n_items < 2:
            continue
        target = seq.item[te[sel]]
        cand = np.concatenate([target[:, None], random_items(target, seq.n_items, rng, k=ecfg.candidates)], 1)
        h = hq[qid_t[torch.as_tensor(sel, device=device)]]
        sc = np.concatenate([model.score(h[a:a + 4096], torch.as_tensor(cand[a:a + 4096], device=device))
                             .float().cpu().numpy() for a in range(0, len(sel), 4096)])
        out[f"mrr_{name}"] = metrics.mrr(sc)
        for k in ecfg.k:
            out[f"recall@{k}_{name}"] = metrics.recall_at_k(sc, k)
    test_users = np.unique(q_user)
    has_hist = np.zeros(len(seq.users), bool)
    has_hist[q_user[hist_len > 0]] = True
    out["coverage"] = float(has_hist[test_users].mean()) if len(test_users) else float("nan")
    out["n_test_users"] = float(len(test_users))
    if mcfg.feedback_inputs:
        out.update(model.feedback_similarity())
    return out


def _n_pairs(y: np.ndarray, group: np.ndarray) -> int:
    if len(y) == 0:
        return 0
    n_pos = np.bincount(group, weights=y.astype(float))
    n_all = np.bincount(group)
    return int(np.sum(n_pos * (n_all - n_pos)))
