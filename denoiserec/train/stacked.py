"""Many seeds in one step: S seeds of one model and method trained as one stacked model (issue 30).

The S models' parameters are stacked along a new first dimension (:func:`torch.func.stack_module_state`) and
the model's forward is ``vmap``-ed over it (:func:`torch.func.functional_call`): one forward, one backward and
one fused Adam step serve every seed, with S-times larger kernels. Everything else stays per seed, exactly as
in :meth:`denoiserec.train.trainer.Trainer.fit`: the initialisation (each model built after
``torch.manual_seed(seed)``), the data order (each seed's own generator, the same ``EncodedData.batches``
shuffle), the method (one instance per seed: its ``fit`` after ``seed_everything(seed)``, its
``on_epoch_start`` and ``weights_and_targets`` on the seed's own batch and logits), the loss
``Σ w·BCE / Σ w`` (:mod:`denoiserec.train.loss`, the trainer's; seeds' losses are summed, so each seed's
gradient is its own), early stopping and the best-epoch restore (a stopped seed gets zero weight, its method
is no longer called and its weights are taken from when it stopped). Validation and test metrics run through
each seed's own ``Trainer`` on its own model.

Departures from separate runs: float results differ by rounding only (batched matmuls sum in another order;
tests/test_stacked.py bounds the difference); no mid-run checkpoint (a killed group restarts); a run record's
``seconds``/``train_seconds`` are the group's time divided by S. What cannot be stacked is a ``ConfigError``
(:func:`stack_problem`): models with dropout (vmap would draw other random numbers than a separate run),
with training-time buffers (batch-norm statistics, DUMN's memory), or whose ops have no vmap rule (DSIN's
scatter); a method declaring ``stackable = False`` (every method here stacks: its state is per instance);
DDP, ``compile`` and ``cuda_graph``.
"""

from __future__ import annotations

import copy
import time

import torch
from torch.func import functional_call, stack_module_state, vmap

from denoiserec.errors import ConfigError
from denoiserec.methods.base import Method
from denoiserec.train.batch import model_inputs, without_truth
from denoiserec.train.early_stopping import EarlyStopping
from denoiserec.train.encoded import batchable
from denoiserec.train.loss import method_targets, weighted_bce
from denoiserec.train.trainer import Trainer, _set_lr, _split_logits, embedding_parameters, make_adam, seed_everything

#: models whose forward has an op without a vmap rule (found by tests/test_stacked.py's probe of the zoo)
NOT_VMAPPABLE = {"DSIN": "its session scatter_ has no vmap rule"}


def stack_problem(model: torch.nn.Module, trainer: Trainer) -> str | None:
    """Why ``model`` (as trained by ``trainer``) cannot be trained stacked, or None."""
    cfg = trainer.config
    name = type(model).__name__
    if name in NOT_VMAPPABLE:
        return f"model {name}: {NOT_VMAPPABLE[name]}"
    drop = [n for n, m in model.named_modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p > 0]
    if drop:
        return f"model {name} has dropout ({drop[0]}): stacked seeds would draw other random numbers"
    params = dict(model.named_parameters())
    persistent = [k for k in model.state_dict() if k not in params]  # non-persistent buffers are constants
    if persistent:
        return f"model {name} keeps training-time state in buffers ({persistent[0]})"
    if not any(p.requires_grad for p in model.parameters()):
        return f"model {name} has no trainable parameters"
    if trainer.world > 1:
        return "stacked seeds run in one process (no torchrun)"
    if cfg.compile or cfg.cuda_graph:
        return "train.compile / train.cuda_graph are not supported with stacked seeds"
    return None


def fit_stacked(trainers: list[Trainer], models: list[torch.nn.Module], train, valid, methods: list[Method],
                spec=None) -> float:
    """Train ``models[s]`` with ``methods[s]`` under ``trainers[s]`` (configs equal but for the seed) as one
    stacked model; each model ends with its best-validation weights and each trainer with its ``history``, as
    after ``trainers[s].fit``. Returns the wall seconds of the whole group."""
    t_start = time.perf_counter()
    S = len(models)
    cfg, lead = trainers[0].config, trainers[0]
    for t, m, method in zip(trainers, models, methods, strict=True):
        why = stack_problem(m, t) or (None if method.stackable else f"method {method.name!r} cannot be stacked") or (
            f"method {method.name!r} trains through its target (target_grad); the stacked step detaches it"
            if method.target_grad else None)
        if why:
            raise ConfigError(f"train.stack_seeds: {why}; train these seeds separately")
        if {**vars(t.config), "seed": 0, "checkpoint": None} != {**vars(cfg), "seed": 0, "checkpoint": None}:
            raise ConfigError("train.stack_seeds: the stacked runs' train settings differ beyond the seed")
    device = lead.device
    train = batchable(without_truth(train))
    generators = []
    for t, model, method in zip(trainers, models, methods, strict=True):
        generators.append(seed_everything(t.config.seed))  # as Trainer.fit: then the method's estimator phase
        model.to(device)
        method.fit(train, spec, device)
    params, buffers = stack_module_state(models)
    holder = torch.nn.Module()  # the stacked parameters as one module, for the trainer's Adam
    for i, v in enumerate(params.values()):
        holder.register_parameter(f"p{i}", torch.nn.Parameter(v.detach().clone()))
    stacked = dict(zip(params, holder.parameters(), strict=True))
    base = copy.deepcopy(models[0]).to("meta")

    def one(p, b, x):
        return functional_call(base, (p, b), (x,))

    forward = vmap(one, randomness="error")
    emb = {id(p) for p in embedding_parameters(models[0])}
    emb_names = {n for n, p in models[0].named_parameters() if id(p) in emb}
    optim = make_adam(holder, cfg.lr_at(0), cfg.weight_decay, embedding_lr_scale=cfg.embedding_lr_scale,
                      embeddings=[stacked[n] for n in stacked if n in emb_names])
    train_dev = train.to(device) if device.type == "cuda" else train
    stoppers = [EarlyStopping(cfg.patience, minimize=cfg.monitor.startswith("logloss")) for _ in range(S)]
    best_state: list = [None] * S
    for t in trainers:
        t.history = []
    n = len(train_dev)
    n_batches = (n + cfg.batch_size - 1) // cfg.batch_size
    for epoch in range(cfg.epochs):
        active = [not stoppers[s].should_stop for s in range(S)]
        if not any(active):
            break
        t0 = time.perf_counter()
        for s in range(S):
            if active[s]:
                methods[s].on_epoch_start(epoch)
                models[s].train()
        iters = [train_dev.batches(cfg.batch_size, shuffle=True, generator=generators[s]) if active[s] else None
                 for s in range(S)]
        first = next(s for s in range(S) if active[s])
        total = torch.zeros(S, device=device)
        aux_total = torch.zeros(S, device=device)
        has_aux = False
        for i in range(n_batches):
            if cfg.warmup_steps and epoch * n_batches + i <= cfg.warmup_steps:
                _set_lr(optim, cfg.lr_at(epoch * n_batches + i))
            got = [next(it) if it is not None else None for it in iters]
            batches = [b if b is not None else got[first] for b in got]
            inputs = {k: torch.stack([model_inputs(b)[k] for b in batches]) for k in model_inputs(batches[0])}
            with lead._autocast():
                logits, aux = _split_logits(forward(stacked, buffers, inputs))
            logits = logits.float()
            w = torch.zeros_like(logits)
            y = torch.zeros_like(logits)
            with torch.no_grad():
                for s in range(S):
                    if active[s]:  # each seed's method on its own batch and logits (detached: no target_grad here)
                        w[s], y[s] = method_targets(methods[s], batches[s], logits[s])
            loss = weighted_bce(logits, y, w, cfg.reduction)  # [S]: each seed's own loss
            rows = logits.shape[1]
            if aux is not None:
                has_aux = True
                loss = loss + aux.float()
                aux_total += aux.detach().float() * rows
            optim.zero_grad(set_to_none=True)
            loss.sum().backward()
            optim.step()
            total += loss.detach() * rows
        seconds = (time.perf_counter() - t0) / S
        for s in range(S):
            if not active[s]:
                continue
            t, model = trainers[s], models[s]
            with torch.no_grad():
                for k, v in model.named_parameters():
                    v.copy_(stacked[k][s])
            record = {"epoch": epoch, "train_loss": float(total[s]) / max(n, 1),
                      "train_aux_loss": float(aux_total[s]) / max(n, 1) if has_aux else 0.0, "seconds": seconds}
            if valid is not None:
                metrics = t.split_metrics(model, valid)
                record.update({f"valid_{k}": v for k, v in metrics.items()})
                score = metrics.get(cfg.monitor, float("nan"))
                if stoppers[s].update(score, epoch + 1):
                    best_state[s] = copy.deepcopy(model.state_dict())
            t.history.append(record)
    for s in range(S):
        if best_state[s] is not None and cfg.restore_best:
            models[s].load_state_dict(best_state[s])
    return time.perf_counter() - t_start
