"""Shared machinery of UAE and its attention baselines (EDM, NDB, PN, SAR).

Every such method estimates an attention score ``α ∈ [0, 1]`` for each training play, once, before the CTR
model is trained, and then weights each *passive* play by ``w = 1 - (α + 1)^(-γ)`` (UAE Eqs. 18-19; other
plays keep ``w = 1``, targets are the labels as given).

The passive set (``passive``): by default ``"positive"``, the paper's passive feedback -- auto-play, ``e = 0``
and label ``y = 1`` (Table I: "Auto-play, 0 (Passive), ? (Unknown), 1 (Positive ?)"); other passive rows such as
the simulator's ``unplayed`` (recommended, never reached, label 0) keep ``w = 1``. ``"all"`` re-weights every
``e = 0`` row (the behaviour before this was aligned with Table I). The estimators are trained on every play of
a session either way (a session's sequence is not cut). ``state()["mean_weight_by_kind"]`` records the mean
``w`` per feedback kind, so a run shows which plays were re-weighted.

Sessions are read from the training tensors (``session``, ``position``, ``active``, ``cat``, ``num``) and
batched as right-padded ``[B, T]`` row-index matrices of sessions of similar length, so a GRU runs over a
whole batch in one cuDNN call; a GRU is causal, so right padding never changes the outputs at real
positions and no packing is needed.

The methods never read the simulator's hidden ``true_*`` columns: they expose their per-row attention
(``self.attention``) and the experiment runner scores it against the truth (:func:`attention_metrics`).
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from denoiserec.data.features import EncodedData, FeatureSpec
from denoiserec.data.schema import FEEDBACK_CODE
from denoiserec.errors import ConfigError
from denoiserec.methods.base import Method
from denoiserec.metrics import auc
from denoiserec.models.layers import MLP, FieldEmbedding

# ------------------------------------------------------------------------------------------------------------
# risks and weights


def pu_risk(logits: torch.Tensor, e: torch.Tensor, c: torch.Tensor, mask: torch.Tensor | None = None,
            non_negative: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Unbiased PU risk of a scorer ``q = σ(logits)`` with labelled positives ``e`` seen with propensity ``c``:

    ``R = mean[(e/c)·l⁺(q) + (1 - e/c)·l⁻(q)]``, ``l⁺ = -log q``, ``l⁻ = -log(1 - q)``

    (UAE Eqs. 7 and 9: ``R_att(g | p)`` with ``c = p``, ``R_pro(h | α)`` with ``c = α``), averaged over the
    positions where ``mask`` holds. Returns ``(risk, objective)``. With ``non_negative`` (Kiryo et al., 2017,
    β = 0, γ = 1) the negative part ``R⁻ = mean[(1 - e/c)·l⁻(q)]``, which can dip below zero when the model
    overfits, is clipped at zero in ``risk``, and ``objective`` (what to minimise) is ``-R⁻`` whenever
    ``R⁻ < 0`` (a gradient step pushing it back up), else ``R⁺ + R⁻``. ``c`` is used as given: clip it
    away from 0 and detach it before calling.
    """
    m = torch.ones_like(e) if mask is None else mask.to(e.dtype)
    n = m.sum().clamp_min(1.0)
    ratio = e / c
    pos = (m * ratio * F.softplus(-logits)).sum() / n
    neg = (m * (1.0 - ratio) * F.softplus(logits)).sum() / n
    if not non_negative:
        return pos + neg, pos + neg
    risk = pos + neg.clamp_min(0.0)
    objective = torch.where(neg < 0, -neg, pos + neg)
    return risk, objective


PASSIVE_SETS = ("positive", "all")


def reweighted_rows(active: torch.Tensor, label: torch.Tensor, passive: str = "positive") -> torch.Tensor:
    """The rows UAE's weight acts on: passive positives (``e = 0, y = 1``: auto-play, Table I) for
    ``passive="positive"``, every passive row (``e = 0``) for ``passive="all"``."""
    if passive not in PASSIVE_SETS:
        raise ConfigError(f"passive must be one of {PASSIVE_SETS}, got {passive!r}")
    rows = active < 0.5
    return rows & (label > 0.5) if passive == "positive" else rows


def passive_weight(attention: torch.Tensor, reweight: torch.Tensor, gamma: float) -> torch.Tensor:
    """UAE's downstream weight (Eq. 19): ``w = 1 - (α + 1)^(-γ)`` where ``reweight`` holds, ``1`` elsewhere."""
    w = 1.0 - (attention.float() + 1.0).pow(-gamma)
    return torch.where(reweight.to(w.device), w, torch.ones_like(w))


def mean_weight_by_kind(weights: torch.Tensor, feedback: torch.Tensor) -> dict[str, float]:
    """Mean weight per feedback kind present (``feedback`` holds :data:`FEEDBACK_CODE` codes)."""
    w, f = weights.detach().float().cpu(), feedback.cpu()
    return {kind: float(w[f == code].mean()) for kind, code in FEEDBACK_CODE.items() if bool((f == code).any())}


def calibration(pred: torch.Tensor, truth: torch.Tensor, bins: int = 10) -> list[list[float]]:
    """Reliability diagram: for ``bins`` equal-width bins of ``pred`` in [0, 1], ``[mean pred, observed rate of
    truth, rows]`` of every non-empty bin."""
    idx = (pred.clamp(0, 1) * bins).long().clamp(max=bins - 1)
    n = torch.bincount(idx, minlength=bins).double()
    p = torch.bincount(idx, weights=pred.double(), minlength=bins)
    t = torch.bincount(idx, weights=truth.double(), minlength=bins)
    return [[float(p[b] / n[b]), float(t[b] / n[b]), int(n[b])] for b in range(bins) if n[b] > 0]


def attention_metrics(attention: torch.Tensor, tensors: dict[str, torch.Tensor]) -> dict[str, float]:
    """AUC of estimated attention against the simulator's hidden ``true_attention`` (empty on real data).

    ``att_auc_passive``: among passive plays, the ones the weights act on (the main number);
    ``att_auc_passive_played``: the same without ``unplayed`` rows (never heard, truth 0 by construction);
    ``att_auc``: all rows, active plays counted as attended (α := 1, since an action proves attention);
    ``att_auc_raw``: all rows, the estimator's own α;
    ``att_calibration_passive``: the reliability diagram on passive plays (see :func:`calibration`).
    """
    if "true_attention" not in tensors:
        return {}
    a = attention.detach().float().cpu()
    truth = tensors["true_attention"].float().cpu()
    active = tensors["active"].cpu() > 0.5
    known = ~torch.isnan(truth)
    passive = known & ~active
    played = tensors["feedback"].cpu() != FEEDBACK_CODE["unplayed"]
    post = torch.where(active, torch.ones_like(a), a)
    return {
        "att_calibration_passive": calibration(a[passive], truth[passive]),
        "att_auc_passive": auc(a[passive], truth[passive]),
        "att_auc_passive_played": auc(a[passive & played], truth[passive & played]),
        "att_auc": auc(post[known], truth[known]),
        "att_auc_raw": auc(a[known], truth[known]),
    }


# ------------------------------------------------------------------------------------------------------------
# sessions as padded batches


class Sessions:
    """The rows of ``data`` grouped into sessions (ordered by ``position``) and cut into batches of sessions
    of similar length: ``index[b]`` is a ``[B, T]`` int64 matrix of row indices, right-padded with -1, holding
    at most ``batch_rows`` cells (at least one session)."""

    def __init__(self, data: EncodedData, batch_rows: int = 1024, seed: int = 0):
        sess, pos = data["session"].cpu().numpy(), data["position"].cpu().numpy()
        n = len(sess)
        order = np.lexsort((pos, sess))
        s = sess[order]
        new = np.ones(n, dtype=bool)
        new[1:] = s[1:] != s[:-1]
        starts = np.flatnonzero(new)
        lengths = np.diff(np.append(starts, n))
        # longest first, random order among equal lengths
        tie = np.random.default_rng(seed).random(len(starts))
        by_len = np.lexsort((tie, -lengths))
        self.index: list[torch.Tensor] = []
        k = 0
        while k < len(by_len):
            t_max = int(lengths[by_len[k]])
            sel = by_len[k:k + max(1, batch_rows // t_max)]
            k += len(sel)
            lens = lengths[sel]
            seg = np.repeat(np.arange(len(sel)), lens)
            col = np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens)
            idx = np.full((len(sel), t_max), -1, dtype=np.int64)
            idx[seg, col] = order[np.repeat(starts[sel], lens) + col]
            self.index.append(torch.from_numpy(idx))
        self.n_rows, self.n_sessions = n, len(starts)

    def __len__(self) -> int:
        return len(self.index)


class SessionTensors:
    """The per-row inputs of the estimators, kept on ``device``, gathered per padded batch."""

    def __init__(self, data: EncodedData, device: torch.device | str):
        self.cat = data["cat"].to(device)
        self.num = data["num"].to(device)
        self.active = data["active"].float().to(device)
        self.device = device

    def batch(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        idx = index.to(self.device, non_blocking=True)
        mask = idx >= 0
        j = idx.clamp_min(0)
        return {"index": idx, "mask": mask, "cat": self.cat[j], "num": self.num[j],
                "e": self.active[j] * mask}


def passive_run(e: torch.Tensor) -> torch.Tensor:
    """For ``e [B, T]``: the number of consecutive passive plays right before each position (the plays since
    the last active one, or since the session start)."""
    t = torch.arange(e.shape[1], device=e.device).expand_as(e)
    last = torch.where(e > 0.5, t, torch.full_like(t, -1)).cummax(dim=1).values
    prev = F.pad(last[:, :-1], (1, 0), value=-1)
    return t - 1 - prev


# ------------------------------------------------------------------------------------------------------------
# networks


class PlayFeatures(nn.Module):
    """``x_t``: the play's categorical and numeric fields embedded and concatenated, ``[B, T, F·E]``."""

    def __init__(self, spec: FeatureSpec, embed_dim: int):
        super().__init__()
        self.embed = FieldEmbedding(spec, embed_dim, pool_sequences=False)
        self.out_dim = self.embed.n_fields * embed_dim

    def forward(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
        B, T = b["mask"].shape
        e = self.embed({"cat": b["cat"].reshape(B * T, -1), "num": b["num"].reshape(B * T, -1)})
        return e.reshape(B, T, -1)


def previous_feedback(e: torch.Tensor) -> torch.Tensor:
    """``[B, T, 2]``: ``e_{t-1}`` (0 at the session start) and a session-start flag."""
    prev = F.pad(e[:, :-1], (1, 0))
    first = torch.zeros_like(prev)
    first[:, 0] = 1.0
    return torch.stack([prev, first], dim=-1)


class AttentionNet(nn.Module):
    """g: ``z_1(x_t), h_t = GRU_1(x_t, h_{t-1})``, ``α_t = σ(MLP_1(z_1(x_t)))`` (UAE §IV-B, Eq. 2); returns logits
    ``[B, T]``. ``summary`` gives ``z_1`` ``[B, T, hidden]``, the GRU_1 summary of ``x_1..x_t`` that the
    propensity network h also reads. With ``feedback_input`` (not in the paper) GRU_1 also reads ``e_{t-1}``
    at step t, so g can see when the user last acted."""

    def __init__(self, spec: FeatureSpec, embed_dim: int = 8, hidden: int = 64,
                 mlp: tuple[int, ...] = (256, 128, 64), feedback_input: bool = False):
        super().__init__()
        self.x = PlayFeatures(spec, embed_dim)
        self.feedback_input = feedback_input
        self.hidden = hidden
        self.gru = nn.GRU(self.x.out_dim + (2 if feedback_input else 0), hidden, batch_first=True)
        self.mlp = MLP(hidden, tuple(mlp), out_dim=1)

    def summary(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
        x = self.x(b)
        if self.feedback_input:
            x = torch.cat([x, previous_feedback(b["e"])], dim=-1)
        out, _ = self.gru(x)
        return out

    def forward(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.mlp(self.summary(b)).squeeze(-1)


class PropensityNet(nn.Module):
    """h (UAE Eq. 12, §IV-B): ``p_t = σ(MLP_2(z_1(x_t) ⊕ z_2(e_{t-1}) ⊕ e_{t-1}))`` with ``z_1`` the GRU_1
    summary of the feature history ``x_1..x_t`` (computed by g, passed in; GRU_1 belongs to Θ_g, so h's
    risk does not train it) and ``z_2`` = GRU_2 over ``e_1..e_{t-1}`` (input at step t: ``e_{t-1}`` and a
    session-start flag), so ``p_t = h(X_t, E_{t-1})``. ``sequential=False`` is SAR's feature-only propensity
    (Bekker et al., 2019): ``p_t = σ(MLP_2(ReLU(W·x_t)))`` from the current play's own features, no
    history. Returns logits ``[B, T]``."""

    def __init__(self, spec: FeatureSpec, embed_dim: int = 8, hidden: int = 64,
                 mlp: tuple[int, ...] = (256, 128, 64), sequential: bool = True, z1_dim: int | None = None):
        super().__init__()
        self.sequential = sequential
        if sequential:
            self.gru = nn.GRU(2, hidden, batch_first=True)
            self.mlp = MLP((z1_dim or hidden) + hidden + 1, tuple(mlp), out_dim=1)
        else:
            self.x = PlayFeatures(spec, embed_dim)
            self.z1 = nn.Sequential(nn.Linear(self.x.out_dim, hidden), nn.ReLU())
            self.mlp = MLP(hidden, tuple(mlp), out_dim=1)

    def forward(self, b: dict[str, torch.Tensor], z1: torch.Tensor | None = None) -> torch.Tensor:
        if not self.sequential:
            return self.mlp(self.z1(self.x(b))).squeeze(-1)
        if z1 is None:
            raise ValueError("the sequential propensity network needs z_1, the GRU_1 summary from g")
        prev = previous_feedback(b["e"])
        z2, _ = self.gru(prev)
        return self.mlp(torch.cat([z1, z2, prev[..., :1]], dim=-1)).squeeze(-1)


# ------------------------------------------------------------------------------------------------------------
# methods


class AttentionMethod(Method):
    """Base of the attention methods: ``estimate`` gives ``α`` per training row; ``fit`` turns it into the
    passive-sample weights, looked up at each step by the batch's ``index`` (row of the training data)."""

    name = "attention"
    graph_safe = True  # one gather of the precomputed weights per step

    def __init__(self, gamma: float = 15.0, passive: str = "positive"):
        if passive not in PASSIVE_SETS:
            raise ConfigError(f"passive must be one of {PASSIVE_SETS}, got {passive!r}")
        self.gamma, self.passive = float(gamma), passive
        self.attention: torch.Tensor | None = None
        self.weights: torch.Tensor | None = None
        self.diagnostics: dict = {}

    def estimate(self, train: EncodedData, spec: FeatureSpec, device: torch.device | str) -> torch.Tensor:
        raise NotImplementedError

    def fit(self, train: EncodedData, spec: FeatureSpec, device: torch.device | str = "cpu") -> None:
        t0 = time.perf_counter()
        alpha = self.estimate(train, spec, device).detach().float().cpu()
        self.attention = alpha
        reweight = reweighted_rows(train["active"].cpu(), train["label"].cpu(), self.passive)
        weights = passive_weight(alpha, reweight, self.gamma)
        self.weights = weights.to(device)
        self.diagnostics.update({
            "estimate_seconds": time.perf_counter() - t0,
            "reweighted_rows": int(reweight.sum()),
            "mean_attention_passive": float(alpha[reweight].mean()) if reweight.any() else float("nan"),
            "mean_weight_passive": float(weights[reweight].mean()) if reweight.any() else float("nan"),
        })
        if "feedback" in train.tensors:
            self.diagnostics["mean_weight_by_kind"] = mean_weight_by_kind(weights, train["feedback"])

    def weights_and_targets(self, batch, logits, losses):
        if self.weights is None:
            raise RuntimeError(f"{type(self).__name__}.fit() must run before training")
        w = self.weights[batch["index"].to(self.weights.device)].to(logits.device)
        return w, batch["label"]

    def state(self) -> dict:
        return {"gamma": self.gamma, "passive": self.passive, **self.diagnostics}


class NetAttentionMethod(AttentionMethod):
    """An attention method with a learned GRU attention network g (UAE, NDB, PN, SAR share it, so they differ
    only in how g is trained). Subclasses implement ``train_epoch``."""

    def __init__(self, gamma: float = 15.0, embed_dim: int = 8, hidden: int = 64,
                 mlp: tuple[int, ...] = (256, 128, 64), epochs: int = 5, lr: float = 1e-3, weight_decay: float = 0.0,
                 batch_rows: int = 1024, feedback_input: bool = False, passive: str = "positive"):
        super().__init__(gamma, passive)
        self.embed_dim, self.hidden, self.mlp = int(embed_dim), int(hidden), tuple(mlp)
        self.feedback_input = bool(feedback_input)
        self.epochs, self.lr, self.weight_decay, self.batch_rows = int(epochs), lr, weight_decay, int(batch_rows)
        self.history: list[dict] = []

    def build(self, spec: FeatureSpec, device: torch.device | str) -> None:
        self.g = AttentionNet(spec, self.embed_dim, self.hidden, self.mlp, self.feedback_input).to(device)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    def train_epoch(self, sessions: Sessions, data: SessionTensors, order: torch.Tensor) -> dict:
        raise NotImplementedError

    def estimate(self, train, spec, device):
        sessions = Sessions(train, self.batch_rows, seed=int(torch.randint(0, 2**31 - 1, ()).item()))
        data = SessionTensors(train, device)
        self.build(spec, device)
        self.history = []
        for epoch in range(self.epochs):
            order = torch.randperm(len(sessions))
            record = self.train_epoch(sessions, data, order)
            self.history.append({"epoch": epoch, **record})
        self.diagnostics["estimator_history"] = self.history
        return self.predict_attention(sessions, data)

    @torch.no_grad()
    def predict_attention(self, sessions: Sessions, data: SessionTensors) -> torch.Tensor:
        self.g.eval()
        alpha = torch.zeros(sessions.n_rows, device=data.device)
        for index in sessions.index:
            b = data.batch(index)
            alpha[b["index"][b["mask"]]] = torch.sigmoid(self.g(b))[b["mask"]]
        self.g.train()
        return alpha.cpu()

    def bce_step(self, b: dict[str, torch.Tensor], keep: torch.Tensor) -> torch.Tensor:
        """One step of g on BCE(α, e) over the positions where ``keep`` holds (the PN / NDB classifiers)."""
        logits = self.g(b)
        m = keep.float()
        loss = (F.binary_cross_entropy_with_logits(logits, b["e"], reduction="none") * m).sum() / m.sum().clamp_min(1)
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        return loss.detach()
