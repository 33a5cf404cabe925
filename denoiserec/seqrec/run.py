"""One seed of a ``task: seqrec`` experiment (:class:`denoiserec.tasks.seqrec.SeqrecTask`): train and evaluate
every labelled model of the config, score the popularity baselines, and write
``<out_dir>/runs/seqrec__seed<seed>.json`` (each label checkpoints every epoch into ``<out_dir>/checkpoints/``,
so a killed run resumes mid-training; the checkpoints go once the seed is written). The config uses the sections
of CTR experiments::

    name: negfeedback
    task: seqrec
    data: {simulate: {<SimConfig>}}     # or {source: kuairand, path: RAW} or {path: PREPARED}
    split: {test_days: 30, valid_frac: 0.1}          # data.sequences.SeqSplitConfig
    features: {up: auto, station: context}           # data.sequences.SequenceConfig
    train: {epochs: 50, patience: 3, batch_size: 128, lr: 0.001, p_hard: 0.0}   # seqrec.train.SeqTrainConfig
    eval: {candidates: 100, k: [10]}                 # seqrec.evaluate.EvalConfig
    models:                                          # label -> flat keys of seqrec.train.ModelConfig,
      baseline: {feedback_inputs: false}             #   SeqTrainConfig or EvalConfig (the label's settings)
      both: {feedback_inputs: true, p_hard: 1.0}
    baseline: baseline                               # paired tests are against this label
    seeds: [0, 1, 2, 3, 4]
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import polars as pl

from denoiserec.bundle import save_seqrec
from denoiserec.data.load import load_log
from denoiserec.data.sequences import UP, SeqSplitConfig, SequenceConfig, build_sequences
from denoiserec.errors import ConfigError
from denoiserec.io import is_writer, write_json
from denoiserec.seqrec.evaluate import EvalConfig, ModelScorer, OracleScorer, baseline_scorers, period_metrics
from denoiserec.seqrec.train import ModelConfig, SeqData, SeqTrainConfig, train_model

_DATA_CACHE: dict[str, SeqData] = {}
_SECTIONS = {"model": ModelConfig, "train": SeqTrainConfig, "eval": EvalConfig}


def resolve_configs(cfg: dict, label: str) -> tuple[ModelConfig, SeqTrainConfig, EvalConfig]:
    """The ``train``/``eval`` sections with the label's flat keys (``models.<label>``) applied to whichever of
    model / train / eval has them."""
    parts: dict[str, dict] = {"model": {}, "train": dict(cfg.get("train") or {}), "eval": dict(cfg.get("eval") or {})}
    for sec in ("train", "eval"):
        known = {f.name for f in fields(_SECTIONS[sec])}
        bad = set(parts[sec]) - known
        if bad:
            raise ConfigError(f"{sec}: unknown option(s) {sorted(bad)}; known: {sorted(known)}")
    for key, value in ((cfg.get("models") or {}).get(label) or {}).items():
        if key == "model":
            if value != "negfeedback":
                raise ConfigError(f"models.{label}.model: the seqrec task has one model, 'negfeedback'")
            continue
        home = [p for p, c in _SECTIONS.items() if key in {f.name for f in fields(c)}]
        if not home:
            known = sorted(f.name for c in _SECTIONS.values() for f in fields(c))
            raise ConfigError(f"models.{label}: unknown option {key!r}; known: {known}")
        parts[home[0]][key] = value
    return tuple(_SECTIONS[p](**parts[p]) for p in ("model", "train", "eval"))  # type: ignore[return-value]


def prepare(cfg: dict, log: pl.DataFrame | None = None) -> SeqData:
    """Sequences + hard-negative cascade for ``cfg`` (cached per data/features/split within a process)."""
    key = repr((cfg.get("data"), cfg.get("features"), cfg.get("split")))
    if log is None and key in _DATA_CACHE:
        return _DATA_CACHE[key]
    df = log if log is not None else load_log(cfg.get("data") or {})
    data = SeqData(build_sequences(df, SequenceConfig.from_dict(cfg.get("features")),
                                   SeqSplitConfig.from_dict(cfg.get("split")), source=str(cfg.get("name", "log"))))
    if log is None:
        _DATA_CACHE.clear()
        _DATA_CACHE[key] = data
    return data


def data_summary(data: SeqData) -> dict[str, float]:
    seq = data.seq
    users = lambda m: int(len(np.unique(seq.user[m])))  # noqa: E731
    return {"events": len(seq), "train_events": len(data.train), "items": seq.n_items, "stations": seq.n_stations,
            "train_users": users(seq.train_mask), "valid_users": users(seq.valid), "test_users": users(seq.test),
            "test_days": float((seq.timestamp.max() - seq.timestamp[seq.test].min()) / 86400),
            "up_share_train": float(np.mean(data.train.fb == UP))}


def _data_warnings(summary: dict, record: list) -> None:
    """A part without users (denoiserec.notices): 0 validation users (early stopping without a signal, every
    epoch trained and the last kept) or 0 test users (every metric undefined)."""
    from denoiserec.notices import warn

    if not summary["valid_users"]:
        warn("valid: 0 validation users with events in the validation period (split.valid_frac of the users, "
             "split.valid_days): early stopping has no signal; every epoch is trained and the last kept; raise "
             "split.valid_frac or give more users", record)
    if not summary["test_users"]:
        warn("test: 0 test users (no user with events in the final test period): every test metric is undefined; "
             "change split.test_days or give a longer log", record)


def run_seed(cfg: dict, seed: int, out_dir: str | Path, log: pl.DataFrame | None = None,
             labels: list[str] | None = None, progress: bool = True) -> dict[str, dict[str, float]]:
    """Train and evaluate every labelled model (or those named) and the baselines for one seed; write the run
    record and return ``{label: test metrics}``. Under ``torchrun`` every process trains its share of each batch
    (:func:`denoiserec.seqrec.train.train_model`) and evaluates; rank 0 writes."""
    data = prepare(cfg, log)
    table = cfg.get("models") or {"default": {}}
    record: dict = {"task": "seqrec", "seed": seed, "data": data_summary(data), "variants": {}, "baselines": {},
                    "warnings": []}
    main = is_writer()
    if main:
        _data_warnings(record["data"], record["warnings"])
    results = {}
    for label in labels or list(table):
        if label not in table:
            raise ConfigError(f"unknown model label {label!r}; known: {sorted(table)}")
        mcfg, tcfg, ecfg = resolve_configs(cfg, label)
        tcfg.progress = tcfg.progress and progress
        tcfg.checkpoint = str(Path(out_dir) / "checkpoints" / f"seqrec__{label}__seed{seed}.pt")
        fp = hashlib.sha256(json.dumps([cfg.get(k) for k in ("data", "features", "split", "train", "eval")]
                                       + [table[label], seed], sort_keys=True, default=str).encode()).hexdigest()
        model, history, conv = train_model(data, mcfg, tcfg, ecfg, seed=seed, fingerprint=fp)
        per_user: dict = {}
        test = period_metrics(ModelScorer(model, data.seq, "test", ecfg.batch_size), data.seq, ecfg, "test", seed,
                              per_user)
        if main:
            save_seqrec(Path(out_dir) / "bundles" / f"seqrec__{label}__seed{seed}", model, data, mcfg,
                        cfg.get("features"), {"variant": label, "seed": seed, "test": test, "data": cfg.get("data"),
                                              "fingerprint": fp, "selected_epoch": conv.get("best_epoch")})
        test.update(hard_share=history[-1]["hard_share"] if history else 0.0)
        if mcfg.feedback_inputs:
            test.update(model.feedback_similarity())
        results[label] = test
        record["variants"][label] = {"params": table[label] or {}, "test": test, "convergence": conv,
                                     "history": history, "per_user": per_user}
    ecfg = EvalConfig(**(cfg.get("eval") or {}))
    scorers: dict = baseline_scorers(data.train)
    if data.seq.truth is not None:
        scorers["oracle"] = OracleScorer(data.seq.truth)
    for name, scorer in scorers.items():
        per_user = {}
        record["baselines"][name] = {"test": period_metrics(scorer, data.seq, ecfg, "test", seed, per_user),
                                     "per_user": per_user}
    fig1 = next((resolve_configs(cfg, v)[0] for v in table if resolve_configs(cfg, v)[0].feedback_inputs),
                ModelConfig())
    record["tier_positions"] = data.cascade.tier_shares_by_position(data.windows(fig1.max_len, True),
                                                                    data.train.fb == UP)
    if not main:  # under torchrun, rank 0 writes
        return results
    write_json(Path(out_dir) / "runs" / f"seqrec__seed{seed}.json", record)
    for label in record["variants"]:  # the seed is done: its per-epoch checkpoints are not needed any more
        (Path(out_dir) / "checkpoints" / f"seqrec__{label}__seed{seed}.pt").unlink(missing_ok=True)
    ckpt_dir = Path(out_dir) / "checkpoints"
    if ckpt_dir.is_dir() and not any(ckpt_dir.iterdir()):
        ckpt_dir.rmdir()
    return results
