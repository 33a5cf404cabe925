"""Training of the negative-feedback transformer (Mei et al., "Negative Feedback for Music Personalization",
UMAP '24, §3).

**Training** (cloze task, SASRec loss). Every training user's pre-test history is cut into windows ending with
an 'up' (:func:`denoiserec.data.sequences.training_windows`). Each epoch, in each window, every 'up' position
is masked with probability ``p_mask`` (the paper's p_task = 0.15) and the last position always is; a masked
position keeps its station and type 'up' and has its song replaced by the mask token. Its negative comes from
:func:`denoiserec.seqrec.negatives.sample_negatives` (hard with probability ``p_hard``) or, with
``hardest_of_k > 1``, is the best-scored of k random items. Skips/downs used as negatives are removed from
that window's input. Loss over the M masked positions::

    L = 1/M Σ_m [ -log σ(s(h_m, pos_m)) - log(1 - σ(s(h_m, neg_m))) ]

Without ``feedback_inputs`` the input holds 'up' events only and no type embedding (the paper's baseline).

**Early stopping** (paper §2, Fig. 3). After every epoch the validation users are scored
(:func:`denoiserec.eval.seqrec.period_metrics` on ``part="valid"``) on ``monitor`` (default:
``user_auc_down``, or ``user_auc_skip`` where the validation period has no downs); training runs at least
``min_epochs`` epochs, tolerates ``patience`` epochs without a better one and stops at the next
(:mod:`denoiserec.train.early_stopping`, the CTR trainer's meaning), and ends with the best epoch's weights; where
the validation users have no pair to score (tiny samples), it runs every epoch and the last one counts as the best.
The validation users keep a history (:mod:`denoiserec.data.sequences`: a period whose scored users are mostly
cold is an error), so the validation score is the test's task, not cold-start scoring by item bias.
``best_epoch`` (epochs to convergence) and ``seconds_to_best`` (training seconds up to it, validation excluded)
are recorded.

Shared with the CTR trainer (:mod:`denoiserec.train`): seeding, device resolution, the Adam constructor, the
precision policy (:mod:`denoiserec.train.precision`), early stopping (:mod:`denoiserec.train.early_stopping`)
and the checkpoint file (:mod:`denoiserec.train.checkpoint`: written atomically after every epoch with the
model, optimiser, random states and early-stopping state; read with its ``weights_only`` loader and
fingerprint check; resumed from when present) and the DDP set-up (``torchrun``: the process group of
:func:`denoiserec.train.trainer.init_distributed`, gloo on CPU, NCCL on CUDA). Separate, because the batches are
windows with masking and negative sampling rather than rows of a tensor: the epoch loop and the
early-stopping bookkeeping (on the validation *users*, not rows).

**DDP.** Every process draws the same window permutation, masks and negatives (one NumPy generator, same
seed, consumed identically: the hardest-of-k candidates are drawn for the whole global batch too) and trains
on its contiguous share of the global batch's windows; its loss is its positions' summed loss divided by the
global number of masked positions, times the world size, so that DDP's gradient mean is exactly the
single-process gradient of the same ``batch_size`` (tests/test_seqrec_ddp.py: equal to one process up to the
order of float sums; dropout masks are per process, so they match only with ``dropout: 0``). Validation and
test scoring run on every process (same weights, same result); rank 0 writes the checkpoint, the run record
and the bundle.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm.auto import tqdm

from denoiserec import notices
from denoiserec.data.sequences import DOWN, UP, Sequences, random_items, subset, training_windows
from denoiserec.errors import ConfigError
from denoiserec.eval.seqrec import EvalConfig, period_metrics
from denoiserec.seqrec.negatives import Cascade, build_cascade, hardest_of_k, sample_negatives
from denoiserec.seqrec.scorer import ModelScorer
from denoiserec.seqrec.transformer import MASK_TOKEN, NegFeedbackTransformer
from denoiserec.settings import Count, Dim, NonNeg, NonNegInt, Positive, Rate, Share
from denoiserec.train.checkpoint import load_checkpoint, rng_states, save_checkpoint, set_rng_states
from denoiserec.train.early_stopping import EarlyStopping
from denoiserec.train.precision import AMP_DEFAULT, autocast
from denoiserec.train.trainer import Device, init_distributed, make_adam, resolve_device, seed_everything


@dataclass
class ModelConfig:
    """The transformer's settings (:class:`NegFeedbackTransformer`'s arguments, declared as there)."""

    settings_rules = NegFeedbackTransformer.settings_rules

    dim: Dim = 64
    layers: Count = 2
    heads: Count = 2
    dropout: Rate = 0.1
    max_len: Count = 50
    positional: bool = True
    feedback_inputs: bool = True


@dataclass
class SeqTrainConfig:
    epochs: Count = 50  # at most; early stopping on the validation users usually ends training sooner
    patience: NonNegInt = 2  # epochs without a better ``monitor`` tolerated; the next one stops (train.early_stopping)
    min_epochs: Count = 1  # never stop before this many epochs (a noisy early validation peak does not end a run)
    monitor: str = "auto"  # user_auc_down (auto: user_auc_skip where the validation period has no down)
    amp: bool = AMP_DEFAULT  # bf16 autocast on CUDA (train.precision: one default for both tasks)
    checkpoint: str | None = None  # file written atomically after every epoch and resumed from when present
    batch_size: Count = 128
    lr: Positive = 1e-3
    weight_decay: NonNeg = 0.0
    p_mask: Share = 0.15
    p_hard: Share = 0.0
    hardest_of_k: NonNegInt = 0  # > 1: the negative (when not hard) is the best-scored of k random items
    device: Device = "auto"
    progress: bool = True
    threads: Count | None = None
    eval_every: NonNegInt = 0  # > 0: also evaluate every n epochs into the history (training-time curves)


class SeqData:
    """The sequences, their training part and the hard-negative cascade over it (built once per data set)."""

    def __init__(self, seq: Sequences):
        self.seq = seq
        self.train_idx = np.flatnonzero(seq.train_mask)
        self.train = subset(seq, seq.train_mask)
        t = self.train
        self.cascade: Cascade = build_cascade(t.user, t.fb, t.day, t.station, t.item)

    def windows(self, max_len: int, feedback_inputs: bool) -> np.ndarray:
        t = self.train
        eligible = np.ones(len(t), bool) if feedback_inputs else t.fb == UP
        return training_windows(t.user, eligible, t.fb == UP, max_len)


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


def _shard(n: int, rank: int, world: int) -> tuple[int, int]:
    """Rows ``[lo, hi)`` of a global batch of ``n`` windows that ``rank`` of ``world`` trains on (contiguous)."""
    return rank * n // world, (rank + 1) * n // world


class _Step(torch.nn.Module):
    """One training step's scores as a module, so that DDP sees every use of the parameters (the encoder in
    ``forward``, the item embeddings and biases in ``score``): ``[M, 2]`` (positive, negative) scores of the
    masked positions; with ``hardest_of_k`` the random negatives are replaced by the best-scored of the given
    ``cand`` items ``[M_random, k]``."""

    def __init__(self, model: NegFeedbackTransformer, k: int):
        super().__init__()
        self.model, self.k = model, k

    def score_k(self, h: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        if self.k < 64:
            return self.model.score(h, items)
        return torch.gather(self.model.score_all(h), 1, items.long() - 1)  # the whole catalogue once

    def forward(self, tokens, fb, station, masked, pos, neg, neg_random, cand=None) -> torch.Tensor:
        h = self.model(tokens, fb, station)[masked]
        pos, neg = pos[masked], neg[masked]
        if cand is not None:
            rand = neg_random[masked]
            neg = neg.clone()
            neg[rand] = torch.as_tensor(hardest_of_k(h[rand].detach(), None, self.k, 0, None, self.score_k,
                                                     cand=cand), device=neg.device)
        return self.model.score(h, torch.stack([pos, neg], 1)).float()


def _monitor(tcfg: SeqTrainConfig, seq: Sequences) -> str:
    if tcfg.monitor != "auto":
        return tcfg.monitor
    return "user_auc_down" if (seq.valid & (seq.fb == DOWN)).any() else "user_auc_skip"


def train_model(data: SeqData, mcfg: ModelConfig, tcfg: SeqTrainConfig, ecfg: EvalConfig | None = None,
                seed: int = 0, model: NegFeedbackTransformer | None = None, fingerprint: str | None = None
                ) -> tuple[NegFeedbackTransformer, list, dict]:
    """Train (a new model unless ``model`` is given) with early stopping on the validation users; returns the
    model (best validation epoch), the per-epoch history and the convergence record (``best_epoch``,
    ``epochs_run``, ``seconds_to_best``, ``train_seconds``, ``monitor``, ``valid_<monitor>``)."""
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    device = resolve_device(tcfg.device)
    rank, world = init_distributed(device)
    show = tcfg.progress and rank == 0
    if tcfg.threads:
        torch.set_num_threads(tcfg.threads)
    if data.train.n_items < 2:
        raise ConfigError("the training period has fewer than two items")
    model = model or NegFeedbackTransformer(data.train.n_items, data.train.n_stations, **vars(mcfg))
    model.to(device)
    optim = make_adam(model, tcfg.lr, tcfg.weight_decay)
    windows = data.windows(mcfg.max_len, mcfg.feedback_inputs)
    if len(windows) == 0:
        raise ConfigError("no training window: no training user has an 'up' (see features.up)")
    ecfg = ecfg or EvalConfig()
    validate = bool(data.seq.valid.any())
    monitor = _monitor(tcfg, data.seq)
    history, elapsed = [], 0.0
    stopper, best_state = EarlyStopping(tcfg.patience, blind_keeps_latest=True), None
    conv = {"monitor": monitor, "best_epoch": 0, "seconds_to_best": 0.0}
    n_batches = (len(windows) + tcfg.batch_size - 1) // tcfg.batch_size
    step = _Step(model, tcfg.hardest_of_k)
    if world > 1:  # unused: the type / position embeddings of the ablations
        step = torch.nn.parallel.DistributedDataParallel(
            step, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=not (mcfg.feedback_inputs and mcfg.positional))

    ckpt = Path(tcfg.checkpoint) if tcfg.checkpoint else None
    state = load_checkpoint(ckpt, fingerprint, last_epoch=tcfg.epochs) if ckpt is not None else None
    start, done = 0, False
    if state is not None:
        model.load_state_dict(state["model"])
        optim.load_state_dict(state["optim"])
        rng.bit_generator.state = state["rng"]["numpy_generator"]
        set_rng_states(None, state["rng"])  # torch (CPU and CUDA: dropout draws there), NumPy, Python
        start, history, elapsed, done = state["epoch"], state["history"], state["elapsed"], state["done"]
        stopper.best, best_state, conv = state["best"], state["best_state"], state["conv"]
        stopper.best_epoch = conv["best_epoch"]
        stopper.stale = start - stopper.best_epoch
    for epoch in range(start, tcfg.epochs):
        if done:
            break
        t0 = time.perf_counter()
        model.train()
        perm = rng.permutation(len(windows))
        total, count, tiers = torch.zeros((), device=device), 0, 0
        bar = tqdm(range(n_batches), desc=f"epoch {epoch + 1}/{tcfg.epochs}", disable=notices.bar_off(show),
                   leave=False)
        for b in bar:
            # the global batch, identical on every rank (same rng); each rank trains on its share of its windows
            nb = make_batch(data, windows[perm[b * tcfg.batch_size:(b + 1) * tcfg.batch_size]], tcfg, rng)
            masked = nb["masked"]
            n_global = int(masked.sum())
            lo, hi = _shard(len(masked), rank, world)
            rows = np.nonzero(masked)[0]  # the window of each masked position
            mine = (rows >= lo) & (rows < hi)  # this rank's masked positions, in order
            rand_all = nb["neg_random"][masked]
            cand = None
            if tcfg.hardest_of_k > 1 and rand_all.any():  # drawn for the global batch: every rank's rng in step
                cand = random_items(nb["pos"][masked][rand_all], data.train.n_items, rng, k=tcfg.hardest_of_k)
                cand = cand[mine[rand_all]]
                cand = cand if len(cand) else None
            tb = {k: torch.as_tensor(v[lo:hi], device=device) for k, v in nb.items()
                  if k not in ("event", "neg_event")}
            with autocast(device, tcfg.amp):
                s = step(tb["tokens"], tb["fb"], tb["station"], tb["masked"], tb["pos"], tb["neg"],
                         tb["neg_random"], cand)
            per = F.softplus(-s[:, 0]) + F.softplus(s[:, 1])
            # Σ over this rank's positions / the global count, × world: DDP's gradient mean is then the
            # single-process mean over the global batch
            loss = per.sum() * (world / max(n_global, 1))
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            total += per.detach().sum()
            count += n_global
            tiers += int((~rand_all).sum())
        if world > 1:
            dist.all_reduce(total)
        elapsed += time.perf_counter() - t0
        record = {"epoch": epoch + 1, "train_loss": float(total) / max(count, 1), "seconds": elapsed,
                  "hard_share": tiers / max(count, 1)}
        stop = False
        if validate:
            v = period_metrics(ModelScorer(model, data.seq, "valid", ecfg.batch_size), data.seq, ecfg, "valid", seed)
            record.update({f"valid_{k}": x for k, x in v.items() if k.startswith(("user_auc", "pair_acc"))})
            # no validation pair (yet): no signal, the latest weights are kept and training goes on
            if stopper.update(v.get(monitor, float("nan")), epoch + 1):
                best_state = copy.deepcopy(model.state_dict())
                conv.update(best_epoch=epoch + 1, seconds_to_best=elapsed)
            stop = stopper.should_stop and epoch + 1 >= tcfg.min_epochs
        else:
            conv.update(best_epoch=epoch + 1, seconds_to_best=elapsed)
        if tcfg.eval_every and (epoch + 1) % tcfg.eval_every == 0:
            t = period_metrics(ModelScorer(model, data.seq, "test", ecfg.batch_size), data.seq, ecfg, "test", seed)
            record.update({f"test_{k}": x for k, x in t.items() if k.startswith(("user_auc", "pair_acc"))})
        history.append(record)
        if rank == 0:  # the metrics line, also without bars (--no-progress, a piped log); not --quiet
            notices.say(f"epoch {epoch + 1}/{tcfg.epochs}: " + ", ".join(
                f"{k}={x:.4g}" for k, x in record.items() if k in ("train_loss", f"valid_{monitor}", "hard_share")))
        done = stop
        if ckpt is not None and rank == 0:
            save_checkpoint(ckpt, {"model": model.state_dict(), "optim": optim.state_dict(), "epoch": epoch + 1,
                                 "rng": {"numpy_generator": rng.bit_generator.state, **rng_states(None)},
                                 "history": history, "elapsed": elapsed, "done": done, "best": stopper.best,
                                 "best_state": best_state, "conv": conv, "fingerprint": fingerprint})
        if stop:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    conv.update(epochs_run=len(history), train_seconds=elapsed, **{f"valid_{monitor}": stopper.best})
    return model, history, conv
