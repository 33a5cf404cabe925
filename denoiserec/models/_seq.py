"""Building blocks of the behaviour-sequence models (DIN, DIEN, DFN, DMT, DUMN): target/user embeddings,
masked attention over ``[B, T, E]`` histories, a masked GRU/AUGRU, and the user memory network (UMN).

Every sequence is left-padded with item id 0 (see ``docs/design.md``); every block here masks padding so that
adding more padding changes nothing, and does so without host synchronisation (no ``.item()``, no boolean
indexing inside the forward pass).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from denoiserec.data.features import FeatureSpec
from denoiserec.errors import ConfigError
from denoiserec.models.layers import MLP, FieldEmbedding

NEG = -1e9


def sequence_names(spec: FeatureSpec, wanted: list[str] | tuple[str, ...] | str | None) -> list[str]:
    """The sequence features a model attends over: ``wanted`` (all of the spec's when None), checked."""
    have = [n for n, _ in spec.sequences]
    if wanted is None:
        names = have
    else:
        names = [wanted] if isinstance(wanted, str) else list(wanted)
        missing = [n for n in names if n not in have]
        if missing:
            raise ConfigError(f"sequence(s) {missing} not encoded; add them under features.sequences (have {have})")
    if not names:
        raise ConfigError("this model needs at least one sequence feature (features.sequences)")
    return names


def user_item(embed: FieldEmbedding, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(e_user, e_item)`` ``[B, E]``: the user and target-item field embeddings (zeros without a user field)."""
    spec = embed.spec
    cat = batch["cat"].long()
    e_item = embed.table(cat[:, spec.item_field] + embed.offsets[spec.item_field])
    if spec.user_field is None:
        return torch.zeros_like(e_item), e_item
    return embed.table(cat[:, spec.user_field] + embed.offsets[spec.user_field]), e_item


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax of ``scores`` over ``mask``-ed entries; all-masked rows give all zeros (not NaN)."""
    s = scores.float().masked_fill(~mask, NEG)
    return torch.softmax(s, dim=dim).masked_fill(~mask, 0.0).to(scores.dtype)


def key_padding(mask: torch.Tensor) -> torch.Tensor:
    """``key_padding_mask`` for :class:`nn.MultiheadAttention` from a validity mask: rows without any valid
    position are left unmasked (their outputs are zeroed by the caller) so attention never sees an empty row."""
    empty = ~mask.any(1, keepdim=True)
    return ~mask & ~empty


class ActivationUnit(nn.Module):
    """DIN's local activation unit (Zhou et al., KDD 2018, eq. 3): ``v_U(A) = Σ_j a(e_j, v_A) e_j`` with
    ``a = MLP([e_j, v_A, e_j − v_A, e_j ⊙ v_A])`` (no softmax, as in the paper); padding gets weight 0."""

    def __init__(self, dim: int, hidden: tuple[int, ...] = (80, 40), softmax: bool = False):
        super().__init__()
        self.mlp = MLP(4 * dim, tuple(hidden), activation=nn.Sigmoid)
        self.softmax = softmax

    def scores(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        q = query.unsqueeze(1).expand_as(keys)
        return self.mlp(torch.cat([keys, q, keys - q, keys * q], -1)).squeeze(-1)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        s = self.scores(query, keys)
        w = masked_softmax(s, mask) if self.softmax else s * mask.to(s.dtype)
        return torch.einsum("bt,bte->be", w, keys)


def positions_from_end(mask: torch.Tensor) -> torch.Tensor:
    """Position of each entry counted from the most recent one (0), so left padding does not shift it."""
    t = mask.shape[1]
    return torch.arange(t - 1, -1, -1, device=mask.device).expand_as(mask)


class MaskedGRU(nn.Module):
    """GRU over ``[B, T, E]`` that keeps its state through padding: ``h_t = m_t h̃_t + (1 − m_t) h_{t−1}``.

    With ``att`` given it is DIEN's AUGRU (Zhou et al., AAAI 2019, eqs. 12-13): the update gate is scaled by the
    attention score, ``ũ_t = a_t u_t``, ``h_t = (1 − ũ_t) ⊙ h_{t−1} + ũ_t ⊙ h̃_t``.
    """

    def __init__(self, in_dim: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.x2h = nn.Linear(in_dim, 3 * hidden)
        self.h2h = nn.Linear(hidden, 3 * hidden)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, att: torch.Tensor | None = None) -> torch.Tensor:
        """All hidden states ``[B, T, H]`` (padding steps repeat the previous state)."""
        b, t, _ = x.shape
        gx = self.x2h(x)  # input projections for every step at once
        m = mask.to(x.dtype).unsqueeze(-1)
        h = x.new_zeros(b, self.hidden)
        out = []
        for i in range(t):
            xr, xz, xn = gx[:, i].chunk(3, -1)
            hr, hz, hn = self.h2h(h).chunk(3, -1)
            r = torch.sigmoid(xr + hr)
            z = torch.sigmoid(xz + hz)  # the update gate u_t (PyTorch convention: h = (1−z) h̃ + z h)
            n = torch.tanh(xn + r * hn)
            u = 1.0 - z
            if att is not None:
                u = att[:, i:i + 1] * u
            h_new = (1.0 - u) * h + u * n
            h = m[:, i] * h_new + (1.0 - m[:, i]) * h
            out.append(h)
        return torch.stack(out, 1)


def projection(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``proj(a, b) = (a·b / |b|) · b / |b|`` row-wise; 0 where ``|b| = 0`` (DUMN's feature purification)."""
    bb = (b * b).sum(-1, keepdim=True)
    return torch.where(bb > eps, (a * b).sum(-1, keepdim=True) / bb.clamp_min(eps) * b, torch.zeros_like(b))


def purify(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a^o = a − proj(a, b)``: the part of ``a`` orthogonal to ``b``."""
    return a - projection(a, b)


def triplet_loss(anchor: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, margin: float = 0.5,
                 anchor_mask: torch.Tensor | None = None, pos_mask: torch.Tensor | None = None,
                 neg_mask: torch.Tensor | None = None, hard: bool = True,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Batch triplet loss ``mean_i max(d(q_i, s⁺) − d(q_i, s⁻) + margin, 0)`` with ``d = 1 − cos``.

    ``anchor [B, Z]`` are the queries; candidates for the positive are the other rows of ``pos [B, Z]`` (row i
    itself excluded), for the negative every row of ``neg [B, Z]``. ``hard``: the hardest of each (largest
    positive distance, smallest negative distance); otherwise one valid candidate drawn at random. Masks drop
    anchors/candidates (e.g. users with an empty sequence); anchors without a valid pair contribute nothing.
    """
    a = F.normalize(anchor.float(), dim=-1)
    dp = 1.0 - a @ F.normalize(pos.float(), dim=-1).T  # [B, B]
    dn = 1.0 - a @ F.normalize(neg.float(), dim=-1).T
    n = len(a)
    ones = torch.ones(n, dtype=torch.bool, device=a.device)
    am = ones if anchor_mask is None else anchor_mask
    pm = (ones if pos_mask is None else pos_mask).unsqueeze(0) & ~torch.eye(n, dtype=torch.bool, device=a.device)
    nm = (ones if neg_mask is None else neg_mask).unsqueeze(0).expand(n, n)
    if hard:
        d_pos = dp.masked_fill(~pm, -1.0).max(1).values
        d_neg = dn.masked_fill(~nm, 3.0).min(1).values
    else:
        # Gumbel-max over valid candidates = a uniform draw, on device
        gp = -torch.log(-torch.log(torch.rand(n, n, device=a.device, generator=generator).clamp(1e-9, 1 - 1e-9)))
        gn = -torch.log(-torch.log(torch.rand(n, n, device=a.device, generator=generator).clamp(1e-9, 1 - 1e-9)))
        d_pos = dp.gather(1, gp.masked_fill(~pm, NEG).argmax(1, keepdim=True)).squeeze(1)
        d_neg = dn.gather(1, gn.masked_fill(~nm, NEG).argmax(1, keepdim=True)).squeeze(1)
    valid = (am & pm.any(1) & nm.any(1)).float()
    per = F.relu(d_pos - d_neg + margin) * valid
    return per.sum() / valid.sum().clamp_min(1.0)


class UserMemory(nn.Module):
    """One NTM-style user memory ``M ∈ R^{m×Z}`` of DUMN's user memory network (UMN).

    Controller ``c = FFN([f^o, e_user])`` (width ``ffn``) emits a read key ``k_r``, a write key ``k_w``, key
    strengths ``β_r, β_w > 0``, an erase vector ``e = σ(·)`` and an add vector ``a = tanh(·)``. Addressing is
    ``w_j = softmax_j(β cos(k, M_j))`` (NTM content addressing; the issue's ``softmax(cos)`` with a learned
    sharpness). The write ``M' = (1 − w^w ⊗ e) ⊙ M + w^w ⊗ a`` is applied per sample (the sample's own view of
    the shared memory) and the read ``r = Σ_j w^r_j M'_j`` is taken from it, computed without materialising
    ``M'``: ``r = w^r M − ((w^r ⊙ w^w) M) ⊙ e + (w^r · w^w) a``. The triplet query is ``q = Σ_j w^w_j M_j``.
    """

    def __init__(self, in_dim: int, slots: int = 256, width: int = 64, ffn: int = 512):
        super().__init__()
        self.memory = nn.Parameter(torch.randn(slots, width) * 0.1)
        self.controller = nn.Sequential(nn.Linear(in_dim, ffn), nn.ReLU(), nn.Linear(ffn, 4 * width + 2))
        self.width = width

    def address(self, key: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        cos = F.normalize(key, dim=-1) @ F.normalize(self.memory, dim=-1).T  # [B, m]
        return torch.softmax(beta * cos, -1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x [B, in_dim]`` → (read vector ``r [B, Z]``, write query ``q [B, Z]``)."""
        z = self.width
        c = self.controller(x)
        k_r, k_w, erase, add = c[:, :z], c[:, z:2 * z], torch.sigmoid(c[:, 2 * z:3 * z]), torch.tanh(c[:, 3 * z:4 * z])
        beta = 1.0 + F.softplus(c[:, 4 * z:])
        w_r, w_w = self.address(k_r, beta[:, :1]), self.address(k_w, beta[:, 1:])
        mem = self.memory
        read = w_r @ mem - ((w_r * w_w) @ mem) * erase + (w_r * w_w).sum(-1, keepdim=True) * add
        return read, w_w @ mem


class Gate(nn.Module):
    """DUMN's PAIR gate ``x ⊙ σ(x W)``."""

    def __init__(self, dim: int):
        super().__init__()
        self.lin = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.lin(x))
