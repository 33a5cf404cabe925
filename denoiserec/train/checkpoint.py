"""Training checkpoints, shared by both training loops (:class:`denoiserec.train.trainer.Trainer` and
:func:`denoiserec.seqrec.train.train_model`): one file per run, written atomically after every epoch
(:func:`save_checkpoint`), read on the CPU with ``weights_only=True`` and checked against the run's fingerprint
(:func:`load_checkpoint`), with every random state training draws from (:func:`rng_states`,
:func:`set_rng_states`). The fingerprint a loop stores is a content hash of its run's effective settings and
data (:mod:`denoiserec.fingerprint`), so a checkpoint of another config or data is not resumed from.
"""

from __future__ import annotations

import random
import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm


def save_checkpoint(path: Path, state: dict) -> None:
    """Write ``state`` (tensors and plain values only) to ``path`` atomically (a temporary sibling, renamed)."""
    from denoiserec.io import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def corrupt(path: Path, why: str):
    from denoiserec.errors import CheckpointError

    return CheckpointError(f"{path}: cannot resume from this checkpoint ({why}); delete the file to restart "
                           "the run from its first epoch")


def load_checkpoint(path: Path, fingerprint: str | None = None, last_epoch: int | None = None) -> dict | None:
    """The checkpoint at ``path`` loaded on the CPU with ``weights_only=True`` (tensors and plain types only:
    opening it runs no pickled code), or None when there is none or it was written for another config/data
    (its ``fingerprint`` differs; the run then restarts, saying so). An unreadable file, or one of this run
    whose content cannot be (an ``epoch`` beyond ``last_epoch``, the largest value the loop stores for its
    configured epochs; NaN or infinite weights), is a one-line :class:`~denoiserec.errors.CheckpointError`
    naming it and how to restart."""
    if not path.exists():
        return None
    if not path.is_file() or path.stat().st_size == 0:
        raise corrupt(path, "empty file" if path.is_file() else "not a file")
    try:
        with warnings.catch_warnings():  # torch's note on a pickle it refuses: the error line below says it
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, garbage, or a pickle needing code: all unreadable here
        import pickle

        why = ("garbage, truncated, or holding objects other than tensors and plain values"
               if isinstance(e, pickle.UnpicklingError) else f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
               if str(e) else type(e).__name__)
        raise corrupt(path, why) from None
    if not isinstance(state, dict) or not {"model", "optim", "epoch", "rng"} <= set(state):
        raise corrupt(path, "not a denoiserec training checkpoint")
    if fingerprint is not None and state.get("fingerprint") != fingerprint:
        tqdm.write(f"{path}: written for another config or data; not resuming from it, training from epoch 1")
        return None
    epoch = state["epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise corrupt(path, f"epoch {epoch!r} is not an epoch number")
    if last_epoch is not None and epoch > last_epoch:
        raise corrupt(path, f"epoch {epoch} is beyond the {last_epoch} this run's configured epochs allow")
    if "history" in state and not isinstance(state["history"], list):
        raise corrupt(path, f"history is a {type(state['history']).__name__}, not the list of past epochs")
    for part in ("model", "best_state"):
        for name, t in (state.get(part) or {}).items() if isinstance(state.get(part), dict) else ():
            if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise corrupt(path, f"{part} weight {name!r} holds NaN or infinite values")
    return state


def rng_states(generator: torch.Generator | None) -> dict:
    """Every random state training draws from (the CUDA generators too), as CPU tensors and plain lists
    (``weights_only``-loadable)."""
    np_state = np.random.get_state()
    out = {"torch": torch.get_rng_state(), "numpy": [np_state[0], np_state[1].tolist(), *[x for x in np_state[2:]]],
           "python": _listify(random.getstate())}
    if generator is not None:
        out["generator"] = generator.get_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return out


def _listify(x):
    return [_listify(v) for v in x] if isinstance(x, (tuple, list)) else x


def _tuplify(x):
    return tuple(_tuplify(v) for v in x) if isinstance(x, list) else x


def _byte_state(t: torch.Tensor) -> torch.Tensor:
    """An RNG state as the CPU ByteTensor ``set_rng_state`` requires, wherever the checkpoint put it."""
    return t.detach().to("cpu", torch.uint8)


def set_rng_states(generator: torch.Generator | None, rng: dict) -> None:
    if generator is not None:
        generator.set_state(_byte_state(rng["generator"]))
    torch.set_rng_state(_byte_state(rng["torch"]))
    name, keys, *rest = rng["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *rest))
    random.setstate(_tuplify(rng["python"]))
    if "cuda" in rng and torch.cuda.is_available():
        states = [_byte_state(s) for s in rng["cuda"]]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)
