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
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from denoiserec.run_settings import SeqrecSettings

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
    model / train / eval has them (``cfg``: the checked dict, read once by :func:`settings`)."""
    routed = route((cfg.get("models") or {}).get(label), label)
    parts = {"model": routed["model"], "train": {**(cfg.get("train") or {}), **routed["train"]},
             "eval": {**(cfg.get("eval") or {}), **routed["eval"]}}
    return tuple(_SECTIONS[p](**parts[p]) for p in ("model", "train", "eval"))  # type: ignore[return-value]


def settings(cfg: dict) -> SeqrecSettings:
    """The typed settings of a checked seqrec config (defaults filled here, once)."""
    from denoiserec.data.load import DataSpec
    from denoiserec.run_settings import SeqrecSettings, SeqrecVariant

    models = {label: SeqrecVariant(dict(hp or {}), *resolve_configs(cfg, label)) for label, hp in cfg["models"].items()}
    data = DataSpec.from_dict(cfg["data"]) if "data" in cfg else None  # none: run_seed's log given directly
    return SeqrecSettings(checked=cfg, name=cfg["name"], data=data,
                          seeds=tuple(cfg["seeds"]), features=SequenceConfig.from_dict(cfg.get("features")),
                          split=SeqSplitConfig.from_dict(cfg.get("split")), eval=EvalConfig(**(cfg.get("eval") or {})),
                          models=models, baseline=cfg.get("baseline"), description=cfg.get("description"))


def _as_settings(cfg: SeqrecSettings | dict) -> SeqrecSettings:
    """Settings as given, or of a config dict whose sections were checked (``data`` may be left out where a log is
    given directly, ``name``, ``seeds`` and ``models`` default as in the check)."""
    from denoiserec.run_settings import Settings

    if isinstance(cfg, Settings):
        return cfg
    return settings({"name": "log", "seeds": [0], **cfg, "models": cfg.get("models") or {"default": {}}})


def prepare(cfg: SeqrecSettings | dict, log: pl.DataFrame | None = None) -> SeqData:
    """Sequences + hard-negative cascade for ``cfg`` (cached per data/features/split within a process)."""
    cfg = _as_settings(cfg)
    key = repr((cfg.data, cfg.features, cfg.split))
    if log is None and key in _DATA_CACHE:
        return _DATA_CACHE[key]
    df = log if log is not None else load_log(cfg.data)
    data = SeqData(build_sequences(df, cfg.features, cfg.split, source=cfg.name))
    if log is None:
        _DATA_CACHE.clear()
        _DATA_CACHE[key] = data
    return data


def _data_digest(cfg: SeqrecSettings, log: pl.DataFrame | None) -> str:
    """What a checkpoint's fingerprint holds of the data: the content fingerprint of ``cfg.data``
    (:func:`denoiserec.fingerprint.data_fingerprint`: the simulator's settings or the files), or of the rows of
    a ``log`` given directly."""
    if log is None:
        from denoiserec.fingerprint import data_fingerprint

        return data_fingerprint(cfg.data)
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


def run_seed(cfg: SeqrecSettings | dict, seed: int, out_dir: str | Path, log: pl.DataFrame | None = None,
             labels: list[str] | None = None, progress: bool = True) -> dict[str, dict[str, float]]:
    """Train and evaluate every labelled model (or those named) and the baselines for one seed; write the run
    record and return ``{label: test metrics}``. Under ``torchrun`` every process trains its share of each batch
    (:func:`denoiserec.seqrec.train.train_model`) and evaluates; rank 0 writes."""
    cfg = _as_settings(cfg)
    data = prepare(cfg, log)
    data_fp = _data_digest(cfg, log)
    table = cfg.models
    record: dict = {"task": "seqrec", "seed": seed, "data": data_summary(data), "variants": {}, "baselines": {},
                    "warnings": []}
    main = is_writer()
    if main:
        _data_warnings(record["data"], record["warnings"])
    results = {}
    for label in labels or list(table):
        if label not in table:
            raise ConfigError(f"unknown model label {label!r}; known: {sorted(table)}")
        variant = table[label]
        mcfg, ecfg = variant.model, variant.eval
        tcfg = replace(variant.train, progress=variant.train.progress and progress,
                       checkpoint=str(Path(out_dir) / "checkpoints" / f"seqrec__{label}__seed{seed}.pt"))
        fp = hashlib.sha256(json.dumps([data_fp] + [cfg.given(k) for k in ("features", "split", "train", "eval")]
                                       + [variant.params, seed], sort_keys=True, default=str).encode()).hexdigest()
        model, history, conv = train_model(data, mcfg, tcfg, ecfg, seed=seed, fingerprint=fp)
        per_user: dict = {}
        test = period_metrics(ModelScorer(model, data.seq, "test", ecfg.batch_size), data.seq, ecfg, "test", seed,
                              per_user)
        if main:
            save_seqrec(Path(out_dir) / "bundles" / f"seqrec__{label}__seed{seed}", model, data, mcfg,
                        cfg.given("features"), {"variant": label, "seed": seed, "test": test, "data": cfg.given("data"),
                                              "fingerprint": fp, "selected_epoch": conv.get("best_epoch")})
        test.update(nonpersonal_metrics(model, data, ecfg, seed))
        test.update(hard_share=history[-1]["hard_share"] if history else 0.0)
        if mcfg.feedback_inputs:
            test.update(model.feedback_similarity())
        results[label] = test
        record["variants"][label] = {"params": variant.params, "test": test, "convergence": conv,
                                     "history": history, "per_user": per_user}
    ecfg = cfg.eval
    scorers: dict = {**baseline_scorers(data.train), **ceiling_scorers(data.seq)}
    for name, scorer in scorers.items():
        per_user = {}
        record["baselines"][name] = {"test": period_metrics(scorer, data.seq, ecfg, "test", seed, per_user),
                                     "per_user": per_user}
    fig1 = next((v.model for v in table.values() if v.model.feedback_inputs), ModelConfig())
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

    def check_config(self, cfg: dict, where: str = "config") -> SeqrecSettings:
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
            return settings(cfg)
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None

    def run(self, cfg: SeqrecSettings, out_dir: str | Path, progress: bool = True) -> Path:
        """Every seed not yet in ``out_dir/runs``, after setting aside results of another config or data (by
        fingerprint), then the report."""
        from tqdm.auto import tqdm

        from denoiserec import notices
        from denoiserec.fingerprint import seqrec_fingerprint

        out_dir = Path(out_dir)
        runs_dir = out_dir / "runs"
        runs_dir.mkdir(parents=True, exist_ok=True)
        if is_writer():  # under torchrun, one process moves files
            wanted = {f"seqrec__seed{s}": seqrec_fingerprint(cfg, s) for s in cfg.seeds}
            set_aside_stale_runs(runs_dir, wanted, prefix="seqrec__")
        for seed in tqdm(cfg.seeds, desc=cfg.name, disable=notices.bar_off(progress)):
            file = runs_dir / f"seqrec__seed{seed}.json"
            if file.exists():
                continue
            run_seed(cfg, seed, out_dir, progress=progress)
            if is_writer():
                write_json(file, {**json.loads(file.read_text()), "fingerprint": seqrec_fingerprint(cfg, seed)})
        self.write_report(out_dir, cfg)
        return out_dir

    def write_report(self, out_dir: str | Path, cfg: SeqrecSettings | dict) -> Path:
        """``cfg``: the settings, or a results folder's stored ``config.yaml`` (``denoiserec report``)."""
        from denoiserec.report.seqrec import write_report

        if not is_writer():
            return Path(out_dir) / "report.md"
        return write_report(out_dir, _baseline(cfg))

    def print_summary(self, out_dir: str | Path, cfg: SeqrecSettings | dict) -> None:
        from denoiserec.report.seqrec import print_summary

        print_summary(out_dir, _baseline(cfg))


def _baseline(cfg: SeqrecSettings | dict) -> str | None:
    """The baseline label of settings, or of a stored config as written."""
    from denoiserec.run_settings import Settings

    return cfg.baseline if isinstance(cfg, Settings) else cfg.get("baseline")
