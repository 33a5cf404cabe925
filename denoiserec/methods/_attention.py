"""Shared machinery of UAE and its attention baselines (EDM, NDB, PN, SAR).

Every such method estimates an attention score ``α ∈ [0, 1]`` for each training play, once, before the CTR
model is trained, and then weights each *passive* play by ``w = 1 - (α + 1)^(-γ)`` (UAE Eqs. 18-19; other
plays keep ``w = 1``, targets are the labels as given).

The passive set (``passive``): by default ``"positive"``, the paper's passive feedback -- auto-play, ``e = 0``
and label ``y = 1`` (Table I: "Auto-play, 0 (Passive), ? (Unknown), 1 (Positive ?)"); other passive rows such as
the simulator's ``unplayed`` (recommended, never reached, label 0) keep ``w = 1``. ``"all"`` re-weights every
``e = 0`` row (the behaviour before this was aligned with Table I). The estimators are trained on every play of
a session either way (a session's sequence is not cut). ``state()["mean_weight_by_kind"]`` and
``["mean_attention_by_kind"]`` record the mean ``w`` and ``α`` per feedback kind, so a run shows which plays were
re-weighted and at what scale α settled (only p·α is identified: the clip sets α's scale, see uae.py).

The estimators read the training rows as padded batches of sessions (:mod:`denoiserec.methods._sessions`)
and their networks are in :mod:`denoiserec.nn.attention`.

The methods never see the simulator's hidden ``true_*`` columns (the trainer drops them, see
:mod:`denoiserec.train.batch`): they expose their per-row attention (``self.attention``) and the experiment
runner scores it against the truth (:func:`denoiserec.eval.truth.attention_metrics`).
"""

from __future__ import annotations

import time
from typing import Literal, get_args

import torch
import torch.nn.functional as F

from denoiserec import notices
from denoiserec.data.kinds import FEEDBACK_CODE
from denoiserec.data.spec import FeatureSpec
from denoiserec.data.tensors import EncodedTensors
from denoiserec.errors import ConfigError
from denoiserec.methods._sessions import Sessions, SessionTensors
from denoiserec.methods.base import Method
from denoiserec.nn.attention import AttentionNet
from denoiserec.settings import Count, Dim, Dims, NonNeg, Positive

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


Passive = Literal["positive", "all"]  #: the rows re-weighted: passive positives, or every passive row
PASSIVE_SETS = get_args(Passive)


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
    """Mean of a per-row value (the weight ``w``, the attention ``α``) per feedback kind present (``feedback`` holds
    :data:`FEEDBACK_CODE` codes)."""
    w, f = weights.detach().float().cpu(), feedback.cpu()
    return {kind: float(w[f == code].mean()) for kind, code in FEEDBACK_CODE.items() if bool((f == code).any())}


# ------------------------------------------------------------------------------------------------------------
# methods


class AttentionMethod(Method):
    """Base of the attention methods: ``estimate`` gives ``α`` per training row; ``fit`` turns it into the
    passive-sample weights, looked up at each step by the batch's ``index`` (row of the training data)."""

    name = "attention"
    graph_safe = True  # one gather of the precomputed weights per step
    needs = ("index",)

    def __init__(self, gamma: NonNeg = 15.0, passive: Passive = "positive"):
        self.gamma, self.passive = float(gamma), passive
        self.attention: torch.Tensor | None = None
        self.device: torch.device | str = "cpu"
        self.weights: torch.Tensor | None = None
        self.diagnostics: dict = {}

    def estimate(self, train: EncodedTensors, spec: FeatureSpec, device: torch.device | str) -> torch.Tensor:
        raise NotImplementedError

    def fit(self, train: EncodedTensors, spec: FeatureSpec, device: torch.device | str = "cpu") -> None:
        t0 = time.perf_counter()
        self.device = device  # where attention_on runs the estimator
        alpha = self.estimate(train, spec, device).detach().float().cpu()
        self.attention = alpha
        reweight = reweighted_rows(train["active"].cpu(), train["label"].cpu(), self.passive)
        weights = passive_weight(alpha, reweight, self.gamma)
        self.weights = weights.to(device)
        notices.say(f"method {self.name}: attention estimated in {time.perf_counter() - t0:.1f}s; "
                    f"{int(reweight.sum()):,} rows re-weighted")
        self.diagnostics.update({
            "estimate_seconds": time.perf_counter() - t0,
            "reweighted_rows": int(reweight.sum()),
            "mean_attention_passive": float(alpha[reweight].mean()) if reweight.any() else float("nan"),
            "mean_weight_passive": float(weights[reweight].mean()) if reweight.any() else float("nan"),
        })
        if "feedback" in train.tensors:
            self.diagnostics["mean_weight_by_kind"] = mean_weight_by_kind(weights, train["feedback"])
            self.diagnostics["mean_attention_by_kind"] = mean_weight_by_kind(alpha, train["feedback"])

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

    def __init__(self, gamma: NonNeg = 15.0, embed_dim: Dim = 8, hidden: Dim = 64, mlp: Dims = (256, 128, 64),
                 epochs: Count = 5, lr: Positive = 1e-3, weight_decay: NonNeg = 0.0, batch_rows: Count = 1024,
                 feedback_input: bool = False, passive: Passive = "positive"):
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
            t0 = time.perf_counter()
            order = torch.randperm(len(sessions))
            record = self.train_epoch(sessions, data, order)
            self.history.append({"epoch": epoch, **record})
            notices.say(f"method {self.name}: estimator epoch {epoch + 1}/{self.epochs} "
                        f"({time.perf_counter() - t0:.1f}s)")
        self.diagnostics["estimator_history"] = self.history
        return self.predict_attention(sessions, data)

    def predict_attention(self, sessions: Sessions, data: SessionTensors) -> torch.Tensor:
        """``α`` per row of the estimator's training data (subclasses add diagnostics here)."""
        return self.g_attention(sessions, data)

    def attention_on(self, rows: EncodedTensors) -> torch.Tensor:
        """g applied to other rows grouped into their own sessions (g reads each session's feature history from
        its first row in ``rows``; a session cut by the split starts afresh)."""
        if getattr(self, "g", None) is None:
            raise RuntimeError(f"{type(self).__name__}.fit() must run before attention_on()")
        return self.g_attention(Sessions(rows, self.batch_rows), SessionTensors(rows, self.device))

    @torch.no_grad()
    def g_attention(self, sessions: Sessions, data: SessionTensors) -> torch.Tensor:
        """``α = g(X_t)`` for every row of ``sessions``."""
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
