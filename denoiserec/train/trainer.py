"""The one trainer: contiguous in-memory tensors sliced into batches (no DataLoader workers), the denoising
method's per-sample weights and targets, early stopping on a validation metric, an atomic resumable
checkpoint, bf16 autocast on CUDA (opt-in on CPU), optional ``torch.compile``, fused Adam, and PyTorch DDP when
launched by ``torchrun``. What each speed choice buys is measured in ``docs/performance.md``.

Loss per step: ``L = Σ_i w_i · BCE(σ(s_i), y*_i) / Σ_i w_i + aux`` with ``(w, y*)`` from the method and ``aux``
a model's auxiliary loss (e.g. DUMN's triplet loss).
"""

from __future__ import annotations

import copy
import os
import random
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm.auto import tqdm

from denoiserec.data.features import EncodedData
from denoiserec.errors import ConfigError
from denoiserec.methods.base import Method
from denoiserec.metrics import evaluate


@dataclass
class TrainConfig:
    epochs: int = 5
    batch_size: int = 4096
    reduction: str = "weighted"  # "weighted": Σ w·BCE / Σ w;  "mean": Σ w·BCE / B
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 2  # epochs without improvement of ``monitor`` on valid before stopping
    monitor: str = "auc"  # a key of metrics.evaluate; logloss is minimised, anything else maximised
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = True  # bf16 autocast, CUDA only
    amp_cpu: bool = False  # bf16 autocast on CPU too (pays on AMX / AVX512-BF16 cores; changes the numerics)
    compile: bool = False  # torch.compile the training forward (pays over long runs; a fixed compile cost)
    eval_batch_size: int = 32768
    seed: int = 0
    progress: bool = True
    threads: int | None = None  # torch CPU threads (None: PyTorch's default)
    checkpoint: str | None = None  # file; written atomically after every epoch, resumed from when present
    restore_best: bool = True  # end with the best-validation epoch's weights (False: the last epoch's)

    @classmethod
    def from_dict(cls, d: dict | None) -> TrainConfig:
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown training option(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available")
    return torch.device(name)


def make_adam(model: torch.nn.Module, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Adam with the fused kernel (one pass over each parameter and its moments; CPU and CUDA) when every
    parameter allows it, else the multi-tensor (``foreach``) one; same update rule either way."""
    params = [p for p in model.parameters() if p.requires_grad]
    if all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params):
        try:
            return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
        except (RuntimeError, ValueError):
            pass
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, foreach=True)


def _split_logits(out) -> tuple[torch.Tensor, torch.Tensor | None]:
    return (out[0], out[1]) if isinstance(out, tuple) else (out, None)


class Trainer:
    def __init__(self, config: TrainConfig | None = None):
        self.config = config or TrainConfig()
        self.rank, self.world = _distributed()
        self.device = resolve_device(self.config.device)
        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        self.history: list[dict] = []

    @staticmethod
    def is_main_process() -> bool:
        return not dist.is_initialized() or dist.get_rank() == 0

    # ------------------------------------------------------------------------------------------------------
    def _autocast(self):
        if self.device.type == "cpu":
            return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.config.amp_cpu)
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.config.amp and self.device.type == "cuda")

    def _better(self, new: float, best: float | None) -> bool:
        if best is None or np.isnan(best):
            return not np.isnan(new)
        return new < best if self.config.monitor == "logloss" else new > best

    @torch.no_grad()
    def predict(self, model: torch.nn.Module, data: EncodedData) -> torch.Tensor:
        """Logits for every row of ``data`` (on CPU, float32). Under DDP every rank scores a shard and the
        shards are gathered, so every rank returns the full, identically ordered vector."""
        module = model.module if hasattr(model, "module") else model
        was_training = module.training
        module.eval()
        n = len(data)
        idx = torch.arange(self.rank, n, self.world)
        part = data.subset(idx) if self.world > 1 else data
        outs = []
        for batch in part.batches(self.config.eval_batch_size):
            batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
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

    def evaluate(self, model: torch.nn.Module, data: EncodedData) -> dict[str, float]:
        return evaluate(self.predict(model, data), data.tensors)

    # ------------------------------------------------------------------------------------------------------
    def fit(self, model: torch.nn.Module, train: EncodedData, valid: EncodedData | None = None,
            method: Method | None = None, spec=None) -> torch.nn.Module:
        """Train ``model`` in place with ``method`` (default: none); returns the best model on ``valid``."""
        cfg = self.config
        method = method or Method()
        generator = seed_everything(cfg.seed)
        model.to(self.device)
        method.fit(train, spec, self.device)
        ddp_model = model
        if self.world > 1:
            ddp_model = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        optim = make_adam(model, cfg.lr, cfg.weight_decay)
        forward = torch.compile(ddp_model) if cfg.compile else ddp_model
        start_epoch, best, best_state, stale = 0, None, None, 0
        ckpt = Path(cfg.checkpoint) if cfg.checkpoint else None
        if ckpt is not None and ckpt.exists():
            state = torch.load(ckpt, map_location=self.device, weights_only=False)
            model.load_state_dict(state["model"])
            optim.load_state_dict(state["optim"])
            start_epoch, best, best_state = state["epoch"] + 1, state["best"], state["best_state"]
            stale = state["stale"]
            self.history = state["history"]
            generator.set_state(state["generator"])
        train_dev = train.to(self.device) if self.device.type == "cuda" else train
        show = cfg.progress and self.rank == 0
        for epoch in range(start_epoch, cfg.epochs):
            if stale > cfg.patience:
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
                       desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not show, leave=False)
            for batch in bar:  # already on the device: train_dev was moved there once
                with self._autocast():
                    logits, aux = _split_logits(forward(batch))
                logits = logits.float()
                y = batch["label"]
                with torch.no_grad():
                    losses = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
                    w, y_star = method.weights_and_targets(batch, logits.detach(), losses)
                per = F.binary_cross_entropy_with_logits(logits, y_star, reduction="none")
                denom = w.sum().clamp_min(1e-12) if cfg.reduction == "weighted" else len(per)
                loss = (w * per).sum() / denom
                if aux is not None:
                    loss = loss + aux.float()
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
                total += loss.detach() * len(y)  # a tensor: no host sync per step
                count += len(y)
            record = {"epoch": epoch, "train_loss": float(total) / max(count, 1), "seconds": time.perf_counter() - t0}
            if valid is not None:
                metrics = self.evaluate(model, valid)
                record.update({f"valid_{k}": v for k, v in metrics.items()})
                score = metrics.get(cfg.monitor, float("nan"))
                if self._better(score, best):
                    best, best_state, stale = score, copy.deepcopy(model.state_dict()), 0
                else:
                    stale += 1
            self.history.append(record)
            if show:
                keys = ("train_loss", "valid_auc", "valid_auc_true")
                shown = {k: round(v, 4) for k, v in record.items() if k in keys}
                tqdm.write(f"epoch {epoch + 1}: {shown} ({record['seconds']:.1f}s)")
            if ckpt is not None and self.rank == 0:
                self._save(ckpt, {"model": model.state_dict(), "optim": optim.state_dict(), "epoch": epoch,
                                  "best": best, "best_state": best_state, "stale": stale, "history": self.history,
                                  "generator": generator.get_state(), "config": asdict(cfg)})
        if best_state is not None and cfg.restore_best:
            model.load_state_dict(best_state)
        return model

    @staticmethod
    def _save(path: Path, state: dict) -> None:
        from denoiserec.io import atomic_path

        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
