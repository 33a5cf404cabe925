"""Layers shared by the CTR models.

:class:`FieldEmbedding` turns a batch into one ``[B, F, E]`` tensor of field embeddings -- categorical fields
from one fused table (a per-field offset into a single ``nn.Embedding``, so one lookup serves every field),
numeric fields as ``x_d · v_d``, and each history sequence mean-pooled over its non-padding items, looked up
in the item field's rows of the same table. Every model starts from it; models that attend over histories
(DIN, DUMN, ...) call :meth:`FieldEmbedding.item_embedding` on the raw ``seq_*`` ids instead. With
``first_order`` the table has one more column, the first-order weight ``w_f[x_f]`` of each row, so a model with a
linear part (FM, DeepFM, Wide&Deep, xDeepFM, DFN) gets its embeddings and its first-order sum from one gather
forward and one scatter backward (:meth:`FieldEmbedding.fields`, :class:`LinearTerm` with ``fused=True``).

Table lookups go through :func:`lookup`: on CPU its backward is one ``index_add_`` into a zero gradient -- the
same dense gradient as ``nn.Embedding``'s, several times faster than ``embedding_dense_backward`` there
(``docs/performance.md``); elsewhere it is ``nn.Embedding`` itself.
"""

from __future__ import annotations

import torch
from torch import nn

from denoiserec.data.spec import FeatureSpec
from denoiserec.errors import ConfigError


class _Lookup(torch.autograd.Function):
    """``weight[index, :cols]`` (any index shape) with the dense gradient ``∂L/∂W = Σ_i onehot(index_i) ⊗ g_i``
    accumulated by one ``index_add_`` (into the first ``cols`` columns of a zero gradient: the embeddings of a
    table whose last column is a first-order weight, without gathering or padding that column). Under ``vmap``
    over stacked tables ``[S, R, D]`` (stacked seeds, denoiserec/train/stacked.py) it is one lookup into the
    ``[S·R, D]`` view, its backward one ``index_add_``."""

    @staticmethod
    def forward(weight: torch.Tensor, index: torch.Tensor, cols: int) -> torch.Tensor:
        w = weight if cols == weight.shape[1] else weight[:, :cols]
        return w.index_select(0, index.reshape(-1)).view(*index.shape, cols)

    @staticmethod
    def setup_context(ctx, inputs, output):
        weight, index, cols = inputs
        ctx.save_for_backward(index)
        ctx.rows, ctx.dim, ctx.cols = weight.shape[0], weight.shape[1], cols

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (index,) = ctx.saved_tensors
        out = grad.new_zeros(ctx.rows, ctx.dim)
        target = out if ctx.cols == ctx.dim else out[:, :ctx.cols]
        target.index_add_(0, index.reshape(-1), grad.reshape(-1, ctx.cols))
        return out, None, None

    @staticmethod
    def vmap(info, in_dims, weight, index, cols):
        S, (wd, xd, _) = info.batch_size, in_dims
        weight = weight.movedim(wd, 0) if wd is not None else weight.expand(S, *weight.shape)
        index = index.movedim(xd, 0) if xd is not None else index.expand(S, *index.shape)
        rows = weight.shape[1]
        shift = torch.arange(S, device=index.device).mul_(rows).view(S, *[1] * (index.dim() - 1))
        return _Lookup.apply(weight.reshape(S * rows, weight.shape[2]), index + shift, cols), 0


def lookup(table: nn.Embedding, index: torch.Tensor, cols: int | None = None) -> torch.Tensor:
    """``table(index)``, or its first ``cols`` columns; on CPU, when a gradient is needed (or the table is
    vmapped: stacked seeds), through :class:`_Lookup` (same values and gradient). Needs a plain table: no
    ``padding_idx``, ``max_norm`` or sparse gradient."""
    cols = table.embedding_dim if cols is None else cols
    if (index.device.type == "cpu" and table.padding_idx is None and table.max_norm is None and not table.sparse
            and (_vmapped(table.weight) or (table.weight.requires_grad and torch.is_grad_enabled()))):
        return _Lookup.apply(table.weight, index, cols)
    out = table(index)
    return out if cols == table.embedding_dim else out[..., :cols]


def _vmapped(t: torch.Tensor) -> bool:
    return torch._C._functorch.is_batchedtensor(t)


def field_offsets(spec: FeatureSpec) -> torch.Tensor:
    """Start row of each categorical field in a table fused over all fields: ``[0, c_0, c_0 + c_1, ...]``."""
    return torch.tensor([0, *spec.cardinalities[:-1]], dtype=torch.long).cumsum(0)


class FieldEmbedding(nn.Module):
    """Embeds every input field of ``spec`` to ``dim`` dimensions: output ``[B, n_fields, dim]``.

    ``first_order``: the table's column ``dim`` holds each row's first-order weight (zero-initialised), returned
    summed over the categorical fields by :meth:`fields`. The random numbers drawn are those of a ``dim``-wide
    table followed by a separate one-column first-order table, so a seed's initialisation is unchanged."""

    def __init__(self, spec: FeatureSpec, dim: int, pool_sequences: bool = True, init_std: float = 1e-2,
                 sequences: list[str] | None = None, first_order: bool = False):
        super().__init__()
        self.spec, self.dim, self.pool_sequences, self.first_order = spec, dim, pool_sequences, first_order
        self.register_buffer("offsets", field_offsets(spec), persistent=False)
        rows = max(sum(spec.cardinalities), 1)
        if first_order:
            weight = torch.empty(rows, dim).normal_()  # as nn.Embedding(rows, dim) draws, then init_std below
            nn.init.normal_(weight, std=init_std)
            self.table = nn.Embedding(rows, dim + 1, _weight=torch.cat([weight, weight.new_zeros(rows, 1)], 1))
        else:
            self.table = nn.Embedding(rows, dim)
            nn.init.normal_(self.table.weight, std=init_std)
        self.numeric = nn.Parameter(torch.randn(len(spec.numeric), dim) * init_std)
        if first_order:
            torch.empty(rows, 1).normal_()  # what a LinearTerm's own nn.Embedding(rows, 1) drew next, then zeroed
        # the mean-pooled histories: ``sequences`` (checked) or every encoded one
        have = [name for name, _ in spec.sequences]
        if sequences is not None and set(sequences) - set(have):
            raise ConfigError(f"sequence(s) {sorted(set(sequences) - set(have))} not encoded; have {have}")
        self.sequences = (have if sequences is None else list(sequences)) if pool_sequences else []

    @property
    def n_fields(self) -> int:
        return len(self.spec.categorical) + len(self.spec.numeric) + len(self.sequences)

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        """Embeddings (``dim`` columns, without the first-order weight) of table rows ``index`` of any shape."""
        return lookup(self.table, index, self.dim)

    def item_embedding(self, item_ids: torch.Tensor) -> torch.Tensor:
        """Embeddings of item ids (local ids of the ``item`` field; 0 = padding/OOV) of any shape."""
        return self.rows(item_ids.long() + self.offsets[self.spec.item_field])

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.fields(batch)[0]

    def fields(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(e [B, n_fields, dim], Σ_f w_f[x_f] [B])``; the sum is None without ``first_order`` (or categorical
        fields). One lookup serves both: the gathered rows are split into their embedding and weight columns."""
        parts, first = [], None
        if self.spec.categorical:
            x = lookup(self.table, batch["cat"].long() + self.offsets)
            if self.first_order:
                x, w = x.split([self.dim, 1], dim=-1)
                first = w.sum((1, 2))
            parts.append(x)
        if self.spec.numeric:
            parts.append(batch["num"].unsqueeze(-1) * self.numeric)
        for name in self.sequences:
            parts.append(masked_mean(self.item_embedding(batch[f"seq_{name}"]), batch[f"seq_{name}"] > 0).unsqueeze(1))
        return torch.cat(parts, dim=1), first


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x [B, T, E]`` over positions where ``mask [B, T]`` holds (zeros for empty rows)."""
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(1) / m.sum(1).clamp_min(1.0)


class MLP(nn.Module):
    """Linear → activation → dropout blocks (optionally batch-normalised); ``out_dim`` adds a last linear."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...] = (256, 128), dropout: float = 0.0,
                 out_dim: int | None = 1, batch_norm: bool = False, activation: type[nn.Module] = nn.ReLU):
        super().__init__()
        layers: list[nn.Module] = []
        for h in hidden:
            layers.append(nn.Linear(in_dim, h))
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            layers += [activation(), nn.Dropout(dropout)] if dropout else [activation()]
            in_dim = h
        if out_dim is not None:
            layers.append(nn.Linear(in_dim, out_dim))
            in_dim = out_dim
        self.net = nn.Sequential(*layers)
        self.out_dim = in_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class LinearTerm(nn.Module):
    """First-order term ``b + Σ_f w_f[x_f] + Σ_d w_d·x_d`` (LR, FM, Wide).

    ``fused``: the categorical weights ``w_f`` live in a ``first_order`` :class:`FieldEmbedding`'s table and
    their sum comes in as ``forward``'s ``first`` (:meth:`FieldEmbedding.fields`); this module keeps the bias and
    the numeric weights. Otherwise it has its own one-column table (LR, which embeds nothing)."""

    def __init__(self, spec: FeatureSpec, fused: bool = False):
        super().__init__()
        self.spec, self.fused = spec, fused
        if not fused:
            self.register_buffer("offsets", field_offsets(spec), persistent=False)
            self.weight = nn.Embedding(max(sum(spec.cardinalities), 1), 1)
            nn.init.zeros_(self.weight.weight)
        self.numeric = nn.Linear(len(spec.numeric), 1) if spec.numeric else None
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, batch: dict[str, torch.Tensor], first: torch.Tensor | None = None) -> torch.Tensor:
        if self.fused and self.spec.categorical and first is None:
            raise ValueError("a fused LinearTerm needs the first-order sum of FieldEmbedding.fields")
        out = self.bias.expand(batch["cat"].shape[0])  # not len(): a symbolic batch size for ONNX export
        if self.spec.categorical:
            out = out + (first if self.fused else lookup(self.weight, batch["cat"].long() + self.offsets).sum((1, 2)))
        if self.numeric is not None:
            out = out + self.numeric(batch["num"]).squeeze(-1)
        return out


def fm_interaction(e: torch.Tensor) -> torch.Tensor:
    """Second-order FM term ``½ Σ_k [(Σ_f e_fk)² − Σ_f e_fk²]`` of ``e [B, F, E]`` → ``[B]`` (Rendle, 2010)."""
    s = e.sum(1)
    return 0.5 * (s * s - (e * e).sum(1)).sum(1)


class CrossNetwork(nn.Module):
    """Deep & Cross cross layers over ``x0 [B, d]``, ``x_{l+1} = x0 ⊙ g_l(x_l) + x_l``.

    ``kind="vector"`` (DCN, Wang et al. 2017): ``g_l(x) = (x·w_l) + b_l`` -- a scalar projection per row;
    ``kind="matrix"`` (DCN-V2, Wang et al. 2021): ``g_l(x) = W_l x + b_l`` with a full ``d×d`` matrix, or the
    low-rank ``U_l (V_lᵀ x) + b_l`` when ``rank`` is given.
    """

    def __init__(self, dim: int, n_layers: int = 3, kind: str = "vector", rank: int | None = None):
        super().__init__()
        if kind not in ("vector", "matrix"):
            raise ValueError(f"kind must be 'vector' or 'matrix', not {kind!r}")
        self.kind = kind
        if kind == "vector":
            self.w = nn.Parameter(torch.randn(n_layers, dim) * dim ** -0.5)
            self.maps = None
        elif rank is None:
            self.maps = nn.ModuleList(nn.Linear(dim, dim) for _ in range(n_layers))
        else:
            self.maps = nn.ModuleList(nn.Sequential(nn.Linear(dim, rank, bias=False), nn.Linear(rank, dim))
                                      for _ in range(n_layers))
        self.b = nn.Parameter(torch.zeros(n_layers, dim)) if kind == "vector" else None

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        if self.maps is None:
            for w, b in zip(self.w, self.b, strict=True):
                x = x0 * (x @ w).unsqueeze(-1) + b + x
        else:
            for m in self.maps:
                x = x0 * m(x) + x
        return x


def first_order_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """``(fused table key, key of the one-column table it replaced)`` per fused first-order term of ``model``: the
    state-dict keys by which weights saved before the first-order column joined the table are read
    (:func:`fuse_first_order`)."""
    named = dict(model.named_modules())
    pairs = []
    for name, m in named.items():
        if isinstance(m, LinearTerm) and m.fused:
            parent = name.rpartition(".")[0]
            tables = [n for n, e in named.items() if isinstance(e, FieldEmbedding) and e.first_order
                      and n.rpartition(".")[0] == parent]
            pairs += [(f"{t}.table.weight", f"{name}.weight.weight") for t in tables[:1]]
    return pairs


def fuse_first_order(state: dict, model: nn.Module) -> dict:
    """Weights written before the fused first-order column (``embed.table.weight`` [N, D] beside the linear term's
    own ``weight.weight`` [N, 1]) as today's layout ([N, D + 1]: the same numbers, the weight as the last
    column); a state already in today's layout is returned unchanged."""
    state = dict(state)
    for table, old in first_order_pairs(model):
        if old in state and table in state and state[table].shape[0] == state[old].shape[0]:
            state[table] = torch.cat([state[table], state.pop(old).to(state[table].dtype)], 1)
    return state
