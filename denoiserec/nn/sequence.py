"""Building blocks of the behaviour-sequence models (DIN, DIEN, DSIN, DFN, DMT, DUMN): target/user embeddings,
masked attention over ``[B, T, E]`` histories, a masked GRU/AUGRU, and the user memory network (UMN).

Every sequence is left-padded with item id 0 (see ``docs/design.md``); every block here masks padding so that
adding more padding changes nothing, and does so without host synchronisation (no ``.item()``, no boolean
indexing inside the forward pass).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from denoiserec.data.spec import FeatureSpec
from denoiserec.errors import ConfigError
from denoiserec.nn.layers import MLP, FieldEmbedding

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
    def rows(f: int) -> torch.Tensor:
        x = embed.table(cat[:, f] + embed.offsets[f])
        return x[:, :embed.dim] if embed.first_order else x  # without a fused first-order column

    e_item = rows(spec.item_field)
    if spec.user_field is None:
        return torch.zeros_like(e_item), e_item
    return rows(spec.user_field), e_item


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax of ``scores`` over ``mask``-ed entries; all-masked rows give all zeros (not NaN). Computed in the
    scores' dtype when it is float64, else in float32 (half and bfloat16 scores too), and returned in theirs."""
    s = scores.to(torch.float64 if scores.dtype == torch.float64 else torch.float32).masked_fill(~mask, NEG)
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
    """DUMN's batch triplet loss (eqs. 17, 19): ``mean_i max(d(q_i, s⁺) − d(q_i, s⁻) + margin, 0)``, ``d = 1 − cos``.

    ``anchor [B, Z]`` are the memory queries ``q``; ``pos [P, Z]`` and ``neg [N, Z]`` the candidate positive and
    negative samples (shared by every anchor of the batch). ``hard``: per anchor the hardest candidates by cosine
    (largest positive distance, smallest negative distance; DUMN §4.3.4); otherwise one valid candidate of each
    drawn uniformly (DUMN_RS). Masks drop anchors/candidates (e.g. empty sequences); an anchor without a valid
    pair contributes nothing.
    """
    a = F.normalize(anchor.float(), dim=-1)
    dp = 1.0 - a @ F.normalize(pos.float(), dim=-1).T  # [B, P]
    dn = 1.0 - a @ F.normalize(neg.float(), dim=-1).T  # [B, N]
    n = len(a)
    am = torch.ones(n, dtype=torch.bool, device=a.device) if anchor_mask is None else anchor_mask
    pm = (torch.ones(len(pos), dtype=torch.bool, device=a.device) if pos_mask is None else pos_mask)
    nm = (torch.ones(len(neg), dtype=torch.bool, device=a.device) if neg_mask is None else neg_mask)
    pm, nm = pm.unsqueeze(0).expand_as(dp), nm.unsqueeze(0).expand_as(dn)
    if hard:
        d_pos = dp.masked_fill(~pm, -1.0).max(1).values
        d_neg = dn.masked_fill(~nm, 3.0).min(1).values
    else:
        d_pos = dp.gather(1, random_choice(pm, generator).unsqueeze(1)).squeeze(1)
        d_neg = dn.gather(1, random_choice(nm, generator).unsqueeze(1)).squeeze(1)
    valid = (am & pm.any(1) & nm.any(1)).float()
    per = F.relu(d_pos - d_neg + margin) * valid
    return per.sum() / valid.sum().clamp_min(1.0)


def random_choice(mask: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Per row of ``mask [B, T]`` the index of one ``True`` entry drawn uniformly (Gumbel-max, on device; 0 for
    rows without any)."""
    u = torch.rand(mask.shape, device=mask.device, generator=generator).clamp(1e-9, 1 - 1e-9)
    return (-torch.log(-torch.log(u))).masked_fill(~mask, NEG).argmax(1)


class UserMemory(nn.Module):
    """One user memory ``M ∈ R^{m×Z}`` of DUMN's user memory network (UMN, §3.4, eqs. 8-12, 18).

    Controller ``c = FFN([f^o, e_user])`` (eq. 8; one hidden ReLU layer of width ``ffn``) emits a read key
    ``k_r``, a write key ``k_w``, an erase vector ``erase = σ(·)`` and an add vector ``add = tanh(·)``.
    Addressing ``w_j = softmax_j cos(k, M_j)`` (eqs. 9-10; ``key_strength=True`` adds NTM's learned sharpness
    ``β > 0``: ``softmax_j β cos``). Read ``r = Σ_j w^r_j M_j`` (eq. 11). Write (eq. 12)
    ``M ← (1 − w^w ⊗ erase) ⊙ M + w^w ⊗ add``. Anchor of the triplet loss (eq. 18) ``q = Σ_j w^w_j M'_j`` over
    the memory as the row's own write leaves it, ``M' = (1 − w^w ⊗ erase) ⊙ M + w^w ⊗ add``, so the loss
    reaches the write (erase/add) as well as the slots.

    Per-user state over a batch: the memory is one state shared by all users (slots aggregate similar users'
    interests, §3.4), ``M = P + D`` with ``P`` a learned parameter (initial content, moved by the optimiser) and
    ``D`` a buffer holding what the writes have changed. In a training forward every row reads the state left by
    the earlier batches; then the batch writes once, the mean of its rows' eq.-12 updates,
    ``M ← (1 − mean_i w^w_i ⊗ erase_i) ⊙ M + mean_i w^w_i ⊗ add_i`` (rows with ``write_mask`` false are left
    out), and ``D = M − P`` is stored (no gradient through earlier batches' writes). Later batches, and
    evaluation, read the written state; evaluation does not write. ``D`` is in the ``state_dict``, so
    checkpoints and the best-epoch restore keep the written memory. Under DDP the buffer is broadcast from rank 0.

    As written, each user reads their own vector (rows of one user agree, other users' differ), but the user-specific
    part is a few per cent of the read or less, and a trained DUMN's test AUC does not change when every read is
    replaced by the mean read (``docs/results/dumn.md``): eq. 9 addresses almost uniformly over 256 slots, and
    near-uniform writes plus the batch-level triplet targets make the slots alike. That is measured and reported,
    not changed: eqs. 9-12 and 17-18 are followed as published.

    **Per-user state** (``forward`` given ``events``; DUMN's ``memory_state: user``, after MIMN, Pi et al. 2019):
    each row starts from the learned content ``P`` and writes every event of her own sequence, oldest first, by
    eq. 12 (:meth:`user_state`: the controller of eq. 8 fed ``[e_item(event), e_user]``, as MIMN's controller
    is fed each behaviour; padding writes nothing), then reads her own state with the key of ``[f^o, e_user]``
    (eqs. 9-11); the anchor ``q`` is eq. 18 over her state as that key's write would leave it. Nothing is
    kept between batches (the ``written`` buffer is not used), so training and evaluation read alike and a
    read depends on the row's own history only; gradients flow through the whole scan.
    """

    def __init__(self, in_dim: int, slots: int = 256, width: int = 64, ffn: int = 512, key_strength: bool = False):
        super().__init__()
        self.memory = nn.Parameter(torch.randn(slots, width) * 0.1)
        self.register_buffer("written", torch.zeros(slots, width))
        self.key_strength = key_strength
        self.controller = nn.Sequential(nn.Linear(in_dim, ffn), nn.ReLU(),
                                        nn.Linear(ffn, 4 * width + (2 if key_strength else 0)))
        self.width = width

    def state(self) -> torch.Tensor:
        """The memory ``M = P + D`` as the last write left it (gradient flows to ``P``)."""
        return self.memory + self.written

    @staticmethod
    def address(key: torch.Tensor, memory: torch.Tensor, beta: torch.Tensor | None = None) -> torch.Tensor:
        cos = F.normalize(key, dim=-1) @ F.normalize(memory, dim=-1).T  # [B, m], eq. 10
        return torch.softmax(cos if beta is None else beta * cos, -1)  # eq. 9

    def _heads(self, c: torch.Tensor):
        """Controller output → (read key, write key, erase, add, read β, write β); β None without key_strength."""
        z = self.width
        beta = 1.0 + F.softplus(c[..., 4 * z:]) if self.key_strength else None
        return (c[..., :z], c[..., z:2 * z], torch.sigmoid(c[..., 2 * z:3 * z]), torch.tanh(c[..., 3 * z:4 * z]),
                None if beta is None else beta[..., :1], None if beta is None else beta[..., 1:])

    @staticmethod
    def address_rows(key: torch.Tensor, memory: torch.Tensor, beta: torch.Tensor | None = None) -> torch.Tensor:
        """Eqs. 9-10 with one memory per row: ``key [B, Z]``, ``memory [B, m, Z]`` → ``w [B, m]``."""
        cos = torch.einsum("bz,bmz->bm", F.normalize(key, dim=-1), F.normalize(memory, dim=-1))
        return torch.softmax(cos if beta is None else beta * cos, -1)

    def user_state(self, events: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Each row's memory written by her own events: ``events [B, T, in_dim]`` (oldest first), ``mask [B, T]``
        (False: padding, no write) → ``[B, m, Z]``, starting from the learned content ``P``."""
        _, k_w, erase, add, _, beta_w = self._heads(self.controller(events))
        mem = self.memory.unsqueeze(0).expand(events.shape[0], -1, -1)
        for t in range(events.shape[1]):
            w = self.address_rows(k_w[:, t], mem, None if beta_w is None else beta_w[:, t])
            w = (w * mask[:, t, None].to(w.dtype)).unsqueeze(-1)  # [B, m, 1]
            mem = (1.0 - w * erase[:, t, None, :]) * mem + w * add[:, t, None, :]  # eq. 12
        return mem

    def forward(self, x: torch.Tensor, write_mask: torch.Tensor | None = None, events: torch.Tensor | None = None,
                event_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``x [B, in_dim]`` → (read vector ``r [B, Z]``, triplet anchor ``q [B, Z]``); writes when training.
        With ``events [B, T, in_dim]`` and ``event_mask [B, T]``: the per-user state (class docstring)."""
        if events is not None:
            k_r, k_w, erase, add, beta_r, beta_w = self._heads(self.controller(x))
            mem = self.user_state(events, event_mask)
            read = torch.einsum("bm,bmz->bz", self.address_rows(k_r, mem, beta_r), mem)  # eqs. 9-11
            w_w = self.address_rows(k_w, mem, beta_w)
            ww = w_w * w_w
            q = (torch.einsum("bm,bmz->bz", w_w, mem) - torch.einsum("bm,bmz->bz", ww, mem) * erase
                 + ww.sum(-1, keepdim=True) * add)  # eq. 18
            return read, q
        z = self.width
        c = self.controller(x)
        k_r, k_w = c[:, :z], c[:, z:2 * z]
        erase, add = torch.sigmoid(c[:, 2 * z:3 * z]), torch.tanh(c[:, 3 * z:4 * z])
        beta = 1.0 + F.softplus(c[:, 4 * z:]) if self.key_strength else None
        mem = self.state()
        w_r = self.address(k_r, mem, None if beta is None else beta[:, :1])
        w_w = self.address(k_w, mem, None if beta is None else beta[:, 1:])
        read = w_r @ mem  # eq. 11
        ww = w_w * w_w
        q = w_w @ mem - (ww @ mem) * erase + ww.sum(-1, keepdim=True) * add  # eq. 18 over the row's eq.-12 write
        if self.training:
            with torch.no_grad():
                wm = w_w if write_mask is None else w_w * write_mask.unsqueeze(1).to(w_w.dtype)
                n = wm.sum().clamp_min(1e-12)  # = number of writing rows (each w^w sums to 1)
                new = (1.0 - wm.T @ erase / n) * mem + wm.T @ add / n
                self.written.copy_(new - self.memory)
        return read, q


#: DUMN's contrasting feedback pairs: the triplet negatives of memory x are items of CONTRAST[x] (§3.6)
CONTRAST = {"click": "unclick", "unclick": "click", "like": "dislike", "dislike": "like"}


def umn_triplet(queries: dict[str, torch.Tensor], ids: dict[str, torch.Tensor], embed: FieldEmbedding,
                proj: nn.Module, margin: float = 0.5, hard: bool = True, pool: int = 1024) -> torch.Tensor:
    """DUMN's ``L2`` (eqs. 17-20) over the memories in ``queries`` that have their contrasting partner.

    Each of the first ``pool`` rows contributes one item drawn at random from each of its sequences ``ids[x]``
    (§3.6); its embedding-layer output, mapped ``E → Z`` by ``proj``, is a candidate positive for memory x and a
    candidate negative for ``CONTRAST[x]``. Anchors are the rows' memory queries ``q_x`` (eq. 18)."""
    samples = {}
    for n in queries:
        mask = ids[n][:pool] > 0
        item = ids[n][:pool].gather(1, random_choice(mask).unsqueeze(1)).squeeze(1)
        samples[n] = (proj(embed.item_embedding(item)), mask.any(1))
    total = None
    for n, q in queries.items():
        other = CONTRAST.get(n)
        if other not in queries:
            continue
        (pos, has_pos), (neg, has_neg) = samples[n], samples[other]
        loss = triplet_loss(q[:pool], pos, neg, margin, anchor_mask=has_pos, pos_mask=has_pos, neg_mask=has_neg,
                            hard=hard)
        total = loss if total is None else total + loss
    return total if total is not None else next(iter(queries.values())).new_zeros(())


class Gate(nn.Module):
    """DUMN's PAIR gate ``x ⊙ σ(x W)``."""

    def __init__(self, dim: int):
        super().__init__()
        self.lin = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.lin(x))
