"""The sequential-recommendation task: the negative-feedback transformer of Mei et al., "Negative Feedback for
Music Personalization" (UMAP '24) -- :mod:`denoiserec.seqrec` -- and its experiment loop.

One seed (:func:`run_seed`): train and evaluate every labelled model of the config, score the popularity
baselines, and write
``<out_dir>/runs/seqrec__seed<seed>.json`` (each label checkpoints every epoch into ``<out_dir>/checkpoints/``,
so a killed run resumes mid-training; the checkpoints go once the seed is written). The config uses the sections
of CTR experiments::

    name: negfeedback
    task: seqrec
    data: {simulate: {<SimConfig>}}     # or {source: kuairand, path: RAW} or {path: PREPARED}
    split: {test_days: 30, valid_frac: 0.1}          # data.sequences.SeqSplitConfig
    features: {up: auto, station: context}           # data.sequences.SequenceConfig
    train: {epochs: 50, patience: 2, batch_size: 128, lr: 0.001, p_hard: 0.0}   # seqrec.train.SeqTrainConfig
    eval: {candidates: 100, k: [10]}                 # eval.seqrec.EvalConfig
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
from denoiserec.eval.popularity import baseline_scorers
from denoiserec.eval.seqrec import EvalConfig, ceiling_scorers, period_metrics
from denoiserec.io import is_writer, write_json
from denoiserec.seqrec.scorer import ModelScorer
from denoiserec.seqrec.train import ModelConfig, SeqData, SeqTrainConfig, train_model
from denoiserec.tasks.base import Task, set_aside_stale_runs

KNOWN_KEYS = {"name", "task", "description", "data", "split", "features", "train", "eval", "models", "baseline",
              "seeds"}

_DATA_CACHE: dict[str, SeqData] = {}
_SECTIONS = {"model": ModelConfig, "train": SeqTrainConfig, "eval": EvalConfig}


def route(hp: dict | None, label: str) -> dict[str, dict]:
    """A label's flat keys (``models.<label>``) routed to the section that has them: ``{section: {key: value}}``
    for ``model`` / ``train`` / ``eval`` (the one routing, used by the check and by :func:`resolve_configs`)."""
    parts: dict[str, dict] = {sec: {} for sec in _SECTIONS}
    for key, value in (hp or {}).items():
        if key == "model":
            if value != "negfeedback":
                raise ConfigError(f"models.{label}.model: the seqrec task has one model, 'negfeedback', "
                                  f"got {value!r}")
            continue
        home = [sec for sec, c in _SECTIONS.items() if key in {f.name for f in fields(c)}]
        if not home:
            raise ConfigError(f"models.{label}.{key}: unknown key (not a model/train/eval option)")
        parts[home[0]][key] = value
    return parts


def resolve_configs(cfg: dict, label: str) -> tuple[ModelConfig, SeqTrainConfig, EvalConfig]:
    """The ``train``/``eval`` sections with the label's flat keys (``models.<label>``) applied to whichever of
    model / train / eval has them (``cfg`` checked by :meth:`SeqrecTask.check_config`)."""
    routed = route((cfg.get("models") or {}).get(label), label)
    parts = {"model": routed["model"], "train": {**(cfg.get("train") or {}), **routed["train"]},
             "eval": {**(cfg.get("eval") or {}), **routed["eval"]}}
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


def _data_digest(cfg: dict, log: pl.DataFrame | None) -> str:
    """What a checkpoint's fingerprint holds of the data: the content fingerprint of ``cfg['data']``
    (:func:`denoiserec.fingerprint.data_fingerprint`: the simulator's settings or the files), or of the rows of
    a ``log`` given directly."""
    if log is None:
        from denoiserec.fingerprint import data_fingerprint

        return data_fingerprint(cfg.get("data") or {})
    return hashlib.sha256(log.hash_rows(seed=0).to_numpy().tobytes() + str(log.schema).encode()).hexdigest()


def data_summary(data: SeqData) -> dict[str, float]:
    seq = data.seq
    users = lambda m: int(len(np.unique(seq.user[m])))  # noqa: E731
    return {"events": len(seq), "train_events": len(data.train), "items": seq.n_items, "stations": seq.n_stations,
            "train_users": users(seq.train_mask), "valid_users": users(seq.valid), "test_users": users(seq.test),
            "test_days": float((seq.timestamp.max() - seq.timestamp[seq.test].min()) / 86400),
            "up_share_train": float(np.mean(data.train.fb == UP))}


def sections() -> dict[str, type]:
    """The seqrec task's sections checked key by key: section -> dataclass, whose annotations declare the types,
    ranges and allowed values (what the config check enforces and docs/config.md lists; ``models.<label>``
    entries take model, train and eval keys)."""
    return {"features": SequenceConfig, "split": SeqSplitConfig, "model": ModelConfig, "train": SeqTrainConfig,
            "eval": EvalConfig}


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


def nonpersonal_metrics(model, data: SeqData, ecfg: EvalConfig, seed: int) -> dict[str, float]:
    """The test AUCs of the model's non-personal versions (:class:`ModelScorer` ``state`` ``mean`` / ``zero``),
    as ``<metric>@mean_h`` and ``<metric>@bias``."""
    out = {}
    for state, tag in (("mean", "mean_h"), ("zero", "bias")):
        m = period_metrics(ModelScorer(model, data.seq, "test", ecfg.batch_size, state=state), data.seq, ecfg,
                           "test", seed)
        out.update({f"{k}@{tag}": v for k, v in m.items() if k.startswith("user_auc_") and "skip_only" not in k})
    return out


def run_seed(cfg: dict, seed: int, out_dir: str | Path, log: pl.DataFrame | None = None,
             labels: list[str] | None = None, progress: bool = True) -> dict[str, dict[str, float]]:
    """Train and evaluate every labelled model (or those named) and the baselines for one seed; write the run
    record and return ``{label: test metrics}``. Under ``torchrun`` every process trains its share of each batch
    (:func:`denoiserec.seqrec.train.train_model`) and evaluates; rank 0 writes."""
    data = prepare(cfg, log)
    data_fp = _data_digest(cfg, log)
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
        fp = hashlib.sha256(json.dumps([data_fp] + [cfg.get(k) for k in ("features", "split", "train", "eval")]
                                       + [table[label], seed], sort_keys=True, default=str).encode()).hexdigest()
        model, history, conv = train_model(data, mcfg, tcfg, ecfg, seed=seed, fingerprint=fp)
        per_user: dict = {}
        test = period_metrics(ModelScorer(model, data.seq, "test", ecfg.batch_size), data.seq, ecfg, "test", seed,
                              per_user)
        if main:
            save_seqrec(Path(out_dir) / "bundles" / f"seqrec__{label}__seed{seed}", model, data, mcfg,
                        cfg.get("features"), {"variant": label, "seed": seed, "test": test, "data": cfg.get("data"),
                                              "fingerprint": fp, "selected_epoch": conv.get("best_epoch")})
        test.update(nonpersonal_metrics(model, data, ecfg, seed))
        test.update(hard_share=history[-1]["hard_share"] if history else 0.0)
        if mcfg.feedback_inputs:
            test.update(model.feedback_similarity())
        results[label] = test
        record["variants"][label] = {"params": table[label] or {}, "test": test, "convergence": conv,
                                     "history": history, "per_user": per_user}
    ecfg = EvalConfig(**(cfg.get("eval") or {}))
    scorers: dict = {**baseline_scorers(data.train), **ceiling_scorers(data.seq)}
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


class SeqrecTask(Task):
    name = "seqrec"

    def sections(self) -> dict[str, type]:
        return sections()

    def check_config(self, cfg: dict, where: str = "config") -> dict:
        """Every section checked up front (as :func:`denoiserec.config_check.check_config` does for CTR), defaults
        filled; a :class:`ConfigError` naming the key path otherwise."""
        from denoiserec.config_check import check_data, check_seeds, labelled
        from denoiserec.io import safe_name
        from denoiserec.validate import check_fields, check_mapping

        if "seqrec" in cfg or "variants" in cfg:
            raise ConfigError(f"{where}: seqrec: the 'seqrec:' section is gone: its keys now live in the CTR "
                              "sections (sequences -> features + split, variants -> models, model -> each models "
                              "entry; see configs/negfeedback_quick.yaml)")
        unknown = sorted(set(cfg) - KNOWN_KEYS)
        if unknown:
            raise ConfigError(f"{where}: {unknown[0]}: unknown key for task seqrec; known: "
                              f"{', '.join(sorted(KNOWN_KEYS))}")
        if "data" not in cfg:
            raise ConfigError(f"{where}: data: required")
        classes = sections()
        try:
            cfg = dict(cfg)
            cfg["name"] = safe_name(cfg.get("name", Path(where).stem), "name")
            if "description" in cfg and not isinstance(cfg["description"], str):
                raise ConfigError(f"description: expected text, got {cfg['description']!r}")
            cfg["data"] = check_data(cfg["data"])
            cfg["seeds"] = check_seeds(cfg.get("seeds", [0, 1, 2, 3, 4]))
            for key, klass in (("features", SequenceConfig), ("split", SeqSplitConfig)):
                try:
                    klass.from_dict(check_mapping(cfg.get(key), key))
                except ConfigError as e:
                    raise ConfigError(str(e) if str(e).startswith(key) else f"{key}: {e}") from None
            for part in ("train", "eval"):
                check_fields(classes[part], cfg.get(part), part)
            cfg["models"] = labelled(cfg.get("models", {"default": {}}), "models")
            for label, hp in cfg["models"].items():
                for sec, given in route(check_mapping(hp, f"models.{label}"), label).items():
                    check_fields(classes[sec], given, f"models.{label}")
            if cfg.get("baseline") is not None and cfg["baseline"] not in cfg["models"]:
                raise ConfigError(f"baseline: {cfg['baseline']!r} is not a models label; labels: "
                                  f"{list(cfg['models'])}")
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None
        return cfg

    def run(self, cfg: dict, out_dir: str | Path, progress: bool = True) -> Path:
        """Every seed not yet in ``out_dir/runs``, after setting aside results of another config or data (by
        fingerprint), then the report."""
        from tqdm.auto import tqdm

        from denoiserec import notices
        from denoiserec.fingerprint import seqrec_fingerprint

        out_dir = Path(out_dir)
        runs_dir = out_dir / "runs"
        runs_dir.mkdir(parents=True, exist_ok=True)
        if is_writer():  # under torchrun, one process moves files
            wanted = {f"seqrec__seed{s}": seqrec_fingerprint(cfg, s) for s in cfg["seeds"]}
            set_aside_stale_runs(runs_dir, wanted, prefix="seqrec__")
        for seed in tqdm(cfg["seeds"], desc=cfg.get("name", self.name), disable=notices.bar_off(progress)):
            file = runs_dir / f"seqrec__seed{seed}.json"
            if file.exists():
                continue
            run_seed(cfg, seed, out_dir, progress=progress)
            if is_writer():
                write_json(file, {**json.loads(file.read_text()), "fingerprint": seqrec_fingerprint(cfg, seed)})
        self.write_report(out_dir, cfg)
        return out_dir

    def write_report(self, out_dir: str | Path, cfg: dict) -> Path:
        from denoiserec.report.seqrec import write_report

        if not is_writer():
            return Path(out_dir) / "report.md"
        return write_report(out_dir, cfg)

    def print_summary(self, out_dir: str | Path, cfg: dict) -> None:
        from denoiserec.report.seqrec import print_summary

        print_summary(out_dir, cfg)
