"""The one trainer: contiguous in-memory tensors sliced into batches (no DataLoader workers), the denoising
method's per-sample weights and targets, early stopping on a validation metric, an atomic resumable
checkpoint, fused Adam, and PyTorch DDP when launched by ``torchrun`` (gloo for a CPU device, NCCL for CUDA:
:func:`ddp_backend`). What each speed choice buys is measured in ``docs/performance.md``.

Precision: fp32 by default on every device (on one H100 bf16 autocast made the launch-bound DeepFM/DCN-V2
step slower, not faster: docs/performance.md); ``amp`` (CUDA) / ``amp_cpu`` turn bf16 autocast on, ``tf32``
lets CUDA matmuls use TF32. Opt-in fast paths, each tested against the plain step (tests/test_fast_paths.py):
``compile``/``compile_mode`` (``torch.compile``) and ``cuda_graph`` (the whole step -- forward, the method's
weights, loss, backward, Adam -- captured once per epoch as a CUDA graph over static batch buffers and
replayed; the first steps of each epoch and a last, partial batch run eagerly, so the same rows are trained
in the same order). Large-batch recipes: ``lr_ref_batch`` scales the learning rate by ``batch_size / lr_ref_batch``,
linearly (``lr_scaling: linear``, Goyal et al. 2017, "Accurate, Large Minibatch SGD") or by its square root
(``sqrt``, Krizhevsky 2014, "One weird trick"); ``warmup_steps`` ramps it up linearly; ``embedding_lr_scale``
gives the embedding tables' parameter group its own learning rate (lr × the scale).

Loss per step: ``L = Σ_i w_i · BCE(σ(s_i), y*_i) / Σ_i w_i + aux`` with ``(w, y*)`` from the method and ``aux``
a model's auxiliary loss (e.g. DUMN's triplet loss); the first term is :mod:`denoiserec.train.loss`, shared with
the stacked-seeds loop.
"""

from __future__ import annotations

import copy
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from denoiserec import notices
from denoiserec.data.tensors import EncodedTensors
from denoiserec.errors import ConfigError
from denoiserec.eval.metrics import split_metrics
from denoiserec.methods.base import Method
from denoiserec.settings import Check, Count, NonNeg, NonNegInt, Positive
from denoiserec.train.batch import model_inputs, without_truth
from denoiserec.train.checkpoint import corrupt, load_checkpoint, rng_states, save_checkpoint, set_rng_states
from denoiserec.train.early_stopping import EarlyStopping
from denoiserec.train.encoded import batchable
from denoiserec.train.loss import method_targets, weighted_bce
from denoiserec.train.precision import AMP_DEFAULT, autocast


def _device_problem(v: str) -> str | None:
    import re

    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", v):
        return f"must be auto, cpu, cuda, cuda:N or mps, got {v!r}"
    if v.startswith("cuda") and not torch.cuda.is_available():
        return f"{v!r} requested but CUDA is not available here"
    return None


COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
CompileMode = Literal[COMPILE_MODES]  # type: ignore[valid-type]

#: what ``monitor`` may name: the keys of :func:`denoiserec.eval.metrics.split_metrics` (``*_true`` on simulated data)
MONITORS = ("auc", "gauc", "logloss", "auc_active", "auc_true", "gauc_true", "logloss_true")
Monitor = Literal[MONITORS]  # type: ignore[valid-type]
#: a device setting (both training loops)
Device = Annotated[str, Check("auto, cpu, cuda, cuda:N or mps", _device_problem)]


@dataclass
class TrainConfig:
    epochs: Count = 5
    batch_size: Count = 4096
    reduction: Literal["weighted", "mean"] = "weighted"  # "weighted": Σ w·BCE / Σ w;  "mean": Σ w·BCE / B
    lr: Positive = 1e-3
    weight_decay: NonNeg = 0.0
    patience: NonNegInt = 2  # epochs without a better ``monitor`` tolerated; the next one stops (train.early_stopping)
    monitor: Monitor = "auc"  # a key of metrics.split_metrics; logloss is minimised, anything else maximised
    device: Device = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = AMP_DEFAULT  # bf16 autocast, CUDA only (train.precision: measured slower than fp32 on an H100)
    tf32: bool = False  # TF32 matmuls on CUDA (fp32 storage, 10-bit mantissa products)
    amp_cpu: bool = False  # bf16 autocast on CPU too (pays on AMX / AVX512-BF16 cores; changes the numerics)
    compile: bool = False  # torch.compile the training forward (pays over long runs; a fixed compile cost)
    compile_mode: CompileMode = "default"  # torch.compile mode: default | reduce-overhead | max-autotune | ...
    cuda_graph: bool = False  # capture the whole training step as a CUDA graph (CUDA, one process)
    lr_ref_batch: Count | None = None  # LR scaling reference: lr × f(batch_size / lr_ref_batch) (None: lr as given)
    lr_scaling: Literal["linear", "sqrt"] = "linear"  # f of lr_ref_batch: linear (B/B_ref) or sqrt (√(B/B_ref))
    embedding_lr_scale: Positive = 1.0  # the embedding tables' learning rate is lr × this (1.0: one group)
    warmup_steps: NonNegInt = 0  # linear LR warm-up over this many optimiser steps (0: none)
    eval_batch_size: Count = 32768
    seed: int = 0
    progress: bool = True
    threads: Count | None = None  # torch CPU threads (None: PyTorch's default)
    checkpoint: str | None = None  # file; written atomically after every epoch, resumed from when present
    restore_best: bool = True  # end with the best-validation epoch's weights (False: the last epoch's)
    stack_seeds: bool = False  # train a config's seeds of one model and method as one stacked model (stacked.py)

    @classmethod
    def check(cls, d: object, where: str = "train") -> dict:
        """``d`` checked key by key (types, ranges, allowed values; :mod:`denoiserec.validate`)."""
        from denoiserec.validate import check_fields

        return check_fields(cls, d, where)

    @classmethod
    def from_dict(cls, d: dict | None) -> TrainConfig:
        return cls(**cls.check(d))

    def __post_init__(self):
        from denoiserec.validate import check_fields

        # built directly (not from a config): the speed paths' settings against their declarations above
        check_fields(type(self), {k: getattr(self, k) for k in ("compile_mode", "lr_ref_batch", "lr_scaling",
                                                         "warmup_steps", "embedding_lr_scale")}, "train")
        if self.cuda_graph and self.compile:
            raise ConfigError("train.cuda_graph and train.compile are exclusive (compile_mode=reduce-overhead "
                              "is torch.compile's own CUDA-graph path)")

    def scaled_lr(self) -> float:
        """The peak learning rate: ``lr``, scaled by ``batch_size / lr_ref_batch`` (``lr_scaling`` linear) or its
        square root (``sqrt``) when ``lr_ref_batch`` is set."""
        if not self.lr_ref_batch:
            return self.lr
        ratio = self.batch_size / self.lr_ref_batch
        return self.lr * (ratio if self.lr_scaling == "linear" else ratio ** 0.5)

    def lr_at(self, step: int) -> float:
        """Learning rate of optimiser step ``step`` (0-based, counted over the whole run): linear warm-up
        ``(step + 1) / warmup_steps`` of the peak, then the peak."""
        factor = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        return self.scaled_lr() * factor


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def ddp_backend(device: torch.device | str) -> str:
    """The process-group backend for training on ``device``: NCCL for CUDA tensors, gloo for CPU ones (also on
    a machine where CUDA is visible: NCCL has no CPU collectives)."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def init_distributed(device: torch.device) -> tuple[int, int]:
    """(rank, world size); initialises the process group for ``device`` when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(ddp_backend(device))
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA when available, else CPU. Under torchrun a CUDA device without an index is the process's
    ``LOCAL_RANK``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available")
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def embedding_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The parameters of the model's ``nn.Embedding`` tables (a fused table's first-order column included)."""
    return [p for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters(recurse=False)]


def make_adam(model: torch.nn.Module, lr: float, weight_decay: float = 0.0, capturable: bool = False,
              embedding_lr_scale: float = 1.0, embeddings: list | None = None) -> torch.optim.Optimizer:
    """Adam with the fused kernel (one pass over each parameter and its moments; CPU and CUDA) when every
    parameter allows it, else the multi-tensor (``foreach``) one; same update rule either way.
    ``capturable`` (CUDA graphs): step counts and the learning rate live on the device, so a captured step
    replays with the current values. ``embedding_lr_scale`` other than 1: two parameter groups, the embedding
    tables (``embeddings``, default :func:`embedding_parameters`) at ``lr × embedding_lr_scale`` and the rest at
    ``lr``; each group keeps its ``lr_scale`` for :func:`_set_lr`."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups: list = params
    if embedding_lr_scale != 1.0:
        emb = {id(p) for p in (embedding_parameters(model) if embeddings is None else embeddings)}
        groups = [{"params": ps, "lr_scale": scale} for ps, scale in
                  (([p for p in params if id(p) not in emb], 1.0), ([p for p in params if id(p) in emb],
                                                                    embedding_lr_scale)) if ps]
        for g in groups:
            g["lr"] = torch.tensor(lr * g["lr_scale"], device=params[0].device) if capturable else lr * g["lr_scale"]
    if capturable:
        lr = torch.tensor(float(lr), device=params[0].device)
        return torch.optim.Adam(groups, lr=lr, weight_decay=weight_decay, fused=True, capturable=True)
    if all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params):
        try:
            return torch.optim.Adam(groups, lr=lr, weight_decay=weight_decay, fused=True)
        except (RuntimeError, ValueError):
            pass
    return torch.optim.Adam(groups, lr=lr, weight_decay=weight_decay, foreach=True)


def _set_lr(optim: torch.optim.Optimizer, lr: float) -> None:
    """Set every group's learning rate in place, × the group's ``lr_scale`` (a device tensor under
    ``capturable`` stays the same tensor)."""
    for group in optim.param_groups:
        value = lr * group.get("lr_scale", 1.0)
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(value)
        else:
            group["lr"] = value


def _cuda_graph_capture(fn):
    """Capture ``fn`` (which runs nothing while captured) as a CUDA graph; returns its ``replay``."""
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


class GraphStep:
    """A training step replayed from a CUDA graph (Trainer ``cuda_graph``). The first ``warmup`` full batches
    run eagerly on a side stream (they initialise optimiser state and library workspaces, as graph capture
    requires); the next full batch is copied into static buffers, the step is captured over them and replayed;
    every later full batch is copied in and replayed. A batch of another size (the epoch's last) runs eagerly.
    So every batch is trained exactly once, in order, by the same operations as the plain step.

    ``step(batch) -> loss`` must be graph-safe: no host synchronisation, static shapes, no Python-side state
    that changes per step (methods declare it with ``graph_safe``). ``capture`` is swappable for tests."""

    def __init__(self, step, warmup: int = 3, capture=_cuda_graph_capture):
        self.step, self.warmup, self.capture = step, warmup, capture
        self.static: dict[str, torch.Tensor] | None = None
        self.out: dict[str, torch.Tensor] = {}
        self.replay = self.side = None
        self.eager_steps = self.replays = 0

    def __call__(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        size = len(batch["label"])
        if self.static is not None and size != len(self.static["label"]):
            return self._eager(batch)
        if self.replay is None and self.eager_steps < self.warmup:
            return self._eager(batch)
        if self.replay is None:
            self.static = {k: v.clone() for k, v in batch.items()}
            self.replay = self.capture(lambda: self.out.__setitem__("loss", self.step(self.static)))
        else:
            for k, v in batch.items():
                self.static[k].copy_(v, non_blocking=True)
        self.replay()
        self.replays += 1
        return self.out["loss"]

    def _eager(self, batch):
        self.eager_steps += 1
        if not batch["label"].is_cuda:
            return self.step(batch)
        if self.side is None:
            self.side = torch.cuda.Stream(batch["label"].device)
        self.side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.side):
            loss = self.step(batch)
        torch.cuda.current_stream().wait_stream(self.side)
        return loss


def _split_logits(out) -> tuple[torch.Tensor, torch.Tensor | None]:
    return (out[0], out[1]) if isinstance(out, tuple) else (out, None)


class Trainer:
    def __init__(self, config: TrainConfig | None = None):
        self.config = config or TrainConfig()
        self.device = resolve_device(self.config.device)
        self.backend = ddp_backend(self.device)
        self.rank, self.world = init_distributed(self.device)
        if self.config.cuda_graph and (self.device.type != "cuda" or self.world > 1):
            raise ConfigError("train.cuda_graph needs a CUDA device and one process (no torchrun)")
        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        self.history: list[dict] = []

    @staticmethod
    def is_main_process() -> bool:
        return not dist.is_initialized() or dist.get_rank() == 0

    # ------------------------------------------------------------------------------------------------------
    def _autocast(self):
        return autocast(self.device, self.config.amp, self.config.amp_cpu, cache_enabled=not self.config.cuda_graph)

    @torch.no_grad()
    def predict(self, model: torch.nn.Module, data: EncodedTensors) -> torch.Tensor:
        """Logits for every row of ``data`` (on CPU, float32). Under DDP every rank scores a shard and the
        shards are gathered, so every rank returns the full, identically ordered vector."""
        module = model.module if hasattr(model, "module") else model
        was_training = module.training
        module.eval()
        n = len(data)
        idx = torch.arange(self.rank, n, self.world)
        part = batchable(data.subset(idx) if self.world > 1 else data)
        outs = []
        for batch in part.batches(self.config.eval_batch_size):
            batch = {k: v.to(self.device, non_blocking=True) for k, v in model_inputs(batch).items()}
            with self._autocast():
                logits, _ = _split_logits(module(batch))
            outs.append(logits.float())
        local = torch.cat(outs) if outs else torch.zeros(0, device=self.device)
        module.train(was_training)
        if self.world == 1:
            return local.cpu()
        size = (n + self.world - 1) // self.world
        padded = torch.zeros(size, device=local.device)
        padded[: len(local)] = local
        gathered = [torch.zeros_like(padded) for _ in range(self.world)]
        dist.all_gather(gathered, padded)
        full = torch.zeros(n)
        for r, g in enumerate(gathered):
            full[r::self.world] = g[: len(range(r, n, self.world))].cpu()
        return full

    def split_metrics(self, model: torch.nn.Module, data: EncodedTensors) -> dict[str, float]:
        """:func:`denoiserec.eval.metrics.split_metrics` of the model's predictions on ``data``."""
        return split_metrics(self.predict(model, data), data.tensors)

    # ------------------------------------------------------------------------------------------------------
    def fit(self, model: torch.nn.Module, train: EncodedTensors, valid: EncodedTensors | None = None,
            method: Method | None = None, spec=None, fingerprint: str | None = None) -> torch.nn.Module:
        """Train ``model`` in place with ``method`` (default: none); returns the best model on ``valid``.

        ``fingerprint`` (a hash of the run's effective config and data) is stored in the checkpoint; a
        checkpoint with another fingerprint is not resumed from (the run restarts, saying so)."""
        cfg = self.config
        method = method or Method()
        train = batchable(without_truth(train))  # the hidden truth reaches only the metrics (denoiserec.train.batch)
        generator = seed_everything(cfg.seed)
        model.to(self.device)
        method.fit(train, spec, self.device)
        ddp_model = model
        if self.world > 1:
            ddp_model = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        graph = cfg.cuda_graph
        if graph and not (type(method).weights_and_targets is Method.weights_and_targets or method.graph_safe):
            raise ConfigError(f"train.cuda_graph: method {method.name!r} is not graph-safe (host syncs or "
                              "per-step Python state in weights_and_targets); train without it")
        if self.device.type == "cuda" and cfg.tf32:
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        optim = make_adam(model, cfg.lr_at(0), cfg.weight_decay, capturable=graph and self.device.type == "cuda",
                          embedding_lr_scale=cfg.embedding_lr_scale)
        forward = torch.compile(ddp_model, mode=cfg.compile_mode) if cfg.compile else ddp_model
        start_epoch, best_state = 0, None
        stopper = EarlyStopping(cfg.patience, minimize=cfg.monitor.startswith("logloss"))
        ckpt = Path(cfg.checkpoint) if cfg.checkpoint else None
        state = load_checkpoint(ckpt, fingerprint, last_epoch=cfg.epochs - 1) if ckpt is not None else None
        if state is not None:
            try:
                model.load_state_dict(state["model"])
                optim.load_state_dict(state["optim"])
                start_epoch, best_state = state["epoch"] + 1, state["best_state"]
                stopper.best, stopper.stale = state["best"], state["stale"]
                stopper.best_epoch = state["epoch"] + 1 - stopper.stale
                self.history = state["history"]
                method.load_state_dict(state.get("method") or {})
                set_rng_states(generator, state["rng"])
            except (KeyError, TypeError, ValueError, RuntimeError) as e:
                raise corrupt(ckpt, f"does not fit this run: {type(e).__name__}: {e}") from None
        if graph and self.device.type == "cuda":  # a resumed lr comes back on the CPU: the captured step reads
            for group in optim.param_groups:
                group["lr"] = torch.as_tensor(group["lr"], dtype=torch.float32).to(self.device)  # a device tensor
        train_dev = train.to(self.device) if self.device.type == "cuda" else train
        show = cfg.progress and self.rank == 0
        for epoch in range(start_epoch, cfg.epochs):
            if stopper.should_stop:
                break
            t0 = time.perf_counter()
            method.on_epoch_start(epoch)
            model.train()
            part = train_dev
            if self.world > 1 and hasattr(train_dev, "shard"):  # streamed data: each rank reads only its shard
                part = train_dev.shard(self.rank, self.world)
            elif self.world > 1:  # same permutation on every rank, equal shard sizes so DDP steps stay in sync
                perm = torch.randperm(len(train), generator=generator)
                per_rank = len(train) // self.world
                rows = perm[self.rank * per_rank:(self.rank + 1) * per_rank]
                part = train_dev.subset(rows)
                part.tensors["index"] = rows.to(self.device)  # methods look weights up by the full data's row
            total, count = 0.0, 0
            batch_size = max(cfg.batch_size // self.world, 1)  # the global batch stays cfg.batch_size under DDP
            n_batches = (len(part) + batch_size - 1) // batch_size
            bar = tqdm(part.batches(batch_size, shuffle=True, generator=generator), total=n_batches,
                       desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=notices.bar_off(show), leave=False)
            step = self._step_fn(forward, method, optim)
            aux_sum = getattr(step, "aux_sum", None)  # Σ_rows of the model's auxiliary loss, on the device
            if graph:  # captured afresh every epoch: a method may swap its per-epoch tensors in on_epoch_start
                step = GraphStep(step)
            for i, batch in enumerate(bar):  # already on the device: train_dev was moved there once
                if cfg.warmup_steps and epoch * n_batches + i <= cfg.warmup_steps:
                    _set_lr(optim, cfg.lr_at(epoch * n_batches + i))
                loss = step(batch)
                total += loss * len(batch["label"])  # a tensor: no host sync per step
                count += len(batch["label"])
            record = {"epoch": epoch, "train_loss": float(total) / max(count, 1),
                      "train_aux_loss": float(aux_sum) / max(count, 1) if aux_sum is not None else 0.0,
                      "seconds": time.perf_counter() - t0}
            if valid is not None:
                metrics = self.split_metrics(model, valid)
                record.update({f"valid_{k}": v for k, v in metrics.items()})
                score = metrics.get(cfg.monitor, float("nan"))
                if stopper.update(score, epoch + 1):
                    best_state = copy.deepcopy(model.state_dict())
            self.history.append(record)
            if self.rank == 0:  # the metrics line, also without bars (--no-progress, a piped log); not --quiet
                keys = ("train_loss", "valid_auc", "valid_auc_true")
                shown = {k: round(v, 4) for k, v in record.items() if k in keys}
                notices.say(f"epoch {epoch + 1}/{cfg.epochs}: {shown} ({record['seconds']:.1f}s)")
            if ckpt is not None and self.rank == 0:
                save_checkpoint(ckpt, {"model": model.state_dict(), "optim": optim.state_dict(), "epoch": epoch,
                                  "best": stopper.best, "best_state": best_state, "stale": stopper.stale,
                                  "history": self.history, "rng": rng_states(generator), "method": method.state_dict(),
                                  "fingerprint": fingerprint, "config": asdict(cfg)})
        if best_state is not None and cfg.restore_best:
            model.load_state_dict(best_state)
        return model

    def _step_fn(self, forward, method: Method, optim: torch.optim.Optimizer):
        """The plain training step ``batch -> detached loss``: forward, the method's ``(w, y*)``, the weighted
        BCE (+ a model's auxiliary loss), backward, optimiser step."""
        cfg = self.config
        # Inductor's CUDA graphs (reduce-overhead) are told where a training iteration starts
        mark = cfg.compile and cfg.compile_mode == "reduce-overhead" and self.device.type == "cuda"

        def step(batch: dict[str, torch.Tensor]) -> torch.Tensor:
            if mark:
                torch.compiler.cudagraph_mark_step_begin()
            with self._autocast():
                logits, aux = _split_logits(forward(model_inputs(batch)))
            logits = logits.float()
            w, y_star = method_targets(method, batch, logits)
            loss = weighted_bce(logits, y_star, w, cfg.reduction)
            if aux is not None:
                loss = loss + aux.float()
                aux_sum.add_(aux.detach().float() * len(logits))  # in place: replayed by a captured graph too
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            return loss.detach()

        aux_sum = torch.zeros((), device=self.device)
        step.aux_sum = aux_sum
        return step
