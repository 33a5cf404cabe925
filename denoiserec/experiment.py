"""Experiments as configs: one YAML file → data → runs (models × methods × seeds) → a results folder.

::

    name: demo
    data: {simulate: {users: 500}}          # or {source: kuairand, path: RAW, options: {...}} or {path: PREPARED}
                                             # stream: auto|true|false, cache: DIR (denoiserec.data.store)
    split: {how: temporal}                   # denoiserec.data.split
    features: {sequences: {hist: {max_len: 20}}, min_count: 1}
    train: {epochs: 5, batch_size: 4096}     # denoiserec.train.trainer.TrainConfig
    seeds: [0, 1, 2, 3, 4]
    models: {deepfm: {embed_dim: 8}}         # label → hparams; `model: <module>` when the label differs
    methods: {none: {}, lcd: {a: 5, b: 1}}   # label → hparams; `method: <module>` when the label differs
    baseline: none                           # RelaImpr and paired t-tests are against this method
    select: {lcd: [lcd_a05, lcd_a1, lcd_a2]} # optional: per model, the label with the best validation AUC
    baseline_model: din                      # optional: compare models with this model instead (same method)

The folder gets ``config.yaml``, ``runs/<model>__<method>__seed<k>.json`` (one per run, written atomically;
a re-run skips the runs already there, so a killed experiment resumes), ``report.md`` and PNG plots.
A config with ``task: seqrec`` is handed to :func:`denoiserec.seqrec.run_seqrec` instead.
"""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl
import torch
import yaml
from tqdm.auto import tqdm

from denoiserec.data.features import FeatureConfig, encode_splits
from denoiserec.errors import ConfigError
from denoiserec.io import write_json, write_text

KNOWN_KEYS = {"name", "task", "data", "split", "features", "train", "seeds", "models", "methods", "baseline",
              "description", "seqrec", "select", "baseline_model"}


def load_config(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such config file")
    try:
        cfg = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    return check_config(cfg, str(path))


def check_config(cfg: dict, where: str = "config") -> dict:
    if not isinstance(cfg, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level")
    unknown = set(cfg) - KNOWN_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(KNOWN_KEYS)}")
    if "data" not in cfg:
        raise ConfigError(f"{where}: 'data' is required")
    cfg.setdefault("name", Path(where).stem)
    cfg.setdefault("seeds", [0, 1, 2, 3, 4])
    cfg.setdefault("models", {"deepfm": {}})
    cfg.setdefault("methods", {"none": {}})
    cfg.setdefault("baseline", next(iter(cfg["methods"])))
    if cfg.get("task") == "seqrec":
        return cfg
    from denoiserec import methods, models

    for key, registry, pick in (("models", models, "model"), ("methods", methods, "method")):
        if not isinstance(cfg[key], dict):
            raise ConfigError(f"{where}: '{key}' must map labels to hyper-parameters")
        for label, hp in cfg[key].items():
            if hp is not None and not isinstance(hp, dict):
                raise ConfigError(f"{where}: {key}.{label} must be a mapping of hyper-parameters, got {hp!r}")
            module = (hp or {}).get(pick, label)
            if module not in registry.available():
                raise ConfigError(f"{where}: unknown {pick} {module!r} (label {label!r}); "
                                  f"available: {', '.join(registry.available())}")
    for name, candidates in (cfg.get("select") or {}).items():
        missing = [c for c in candidates if c not in cfg["methods"]]
        if missing:
            raise ConfigError(f"{where}: select.{name} names unknown method label(s) {missing}")
    return cfg


def load_log(data: dict) -> pl.DataFrame:
    """The canonical log named by a config's ``data`` section: ``simulate``, ``source`` + ``path`` (raw files) or
    ``path`` (a prepared folder)."""
    if "simulate" in data:
        from denoiserec.data.simulate import SimConfig, simulate

        return simulate(SimConfig.from_dict(data["simulate"]))
    if "source" in data:
        from denoiserec.data.sources import read

        return read(data["source"], data["path"], **(data.get("options") or {}))
    if "path" in data:
        from denoiserec.data.log import read_log

        return read_log(data["path"])
    raise ConfigError("data: give one of 'simulate', 'source' + 'path', or 'path'")


def load_data(cfg: dict) -> pl.DataFrame:
    """The canonical log named by ``cfg['data']``, with a ``split`` column from ``cfg['split']``."""
    df = load_log(cfg["data"])
    if "split" not in df.columns:
        from denoiserec.data.split import split

        df = split(df, **(cfg.get("split") or {"how": "temporal"}))
    return df


def run_name(model: str, method: str, seed: int) -> str:
    return f"{model}__{method}__seed{seed}"


def run_experiment(cfg: dict, out_dir: str | Path, progress: bool = True) -> Path:
    """Run every (model, method, seed) of ``cfg`` not yet in ``out_dir``; write its report."""
    from denoiserec.methods import build_method
    from denoiserec.models import build_model
    from denoiserec.report import write_report
    from denoiserec.train.trainer import TrainConfig, Trainer

    out_dir = Path(out_dir)
    runs_dir = out_dir / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))
    if cfg.get("task") == "seqrec":
        from denoiserec.seqrec import run_seqrec

        for seed in tqdm(cfg["seeds"], desc="seeds", disable=not progress):
            if not (runs_dir / f"seqrec__seed{seed}.json").exists():
                run_seqrec(cfg, seed, out_dir, progress=progress)
        return out_dir

    plan = [(m, me, s) for m in cfg["models"] for me in cfg["methods"] for s in cfg["seeds"]
            if not (runs_dir / f"{run_name(m, me, s)}.json").exists()]
    if plan:
        t0 = time.perf_counter()
        from denoiserec.data.store import streamed_splits, use_stream

        if use_stream(cfg):  # logs larger than memory: encoded once into an on-disk store, read in batches
            spec, parts = streamed_splits(cfg)
        else:
            df = load_data(cfg)
            spec, parts = encode_splits(df, FeatureConfig.from_dict(cfg.get("features")))
        prep_seconds = time.perf_counter() - t0
        bar = tqdm(plan, desc=cfg["name"], disable=not progress)
        for model_label, method_label, seed in bar:
            bar.set_postfix_str(run_name(model_label, method_label, seed))
            mhp = dict(cfg["models"][model_label] or {})
            model_name = mhp.pop("model", model_label)
            hp = dict(cfg["methods"][method_label] or {})
            method_name = hp.pop("method", method_label)
            name = run_name(model_label, method_label, seed)
            train_cfg = TrainConfig.from_dict({**(cfg.get("train") or {}), "seed": seed,
                                               "checkpoint": str(out_dir / "checkpoints" / f"{name}.pt"),
                                               "progress": progress})
            trainer = Trainer(train_cfg)
            torch.manual_seed(seed)
            model = build_model(model_name, spec, **mhp)
            method = build_method(method_name, **hp)
            t0 = time.perf_counter()
            trainer.fit(model, parts["train"], parts["valid"], method, spec)
            seconds = time.perf_counter() - t0
            result = {
                "model": model_label, "method": method_label, "seed": seed,
                "model_module": model_name, "method_module": method_name,
                "model_params": mhp, "method_params": hp,
                "test": trainer.evaluate(model, parts["test"]),
                "valid": trainer.evaluate(model, parts["valid"]),
                "history": trainer.history, "method_state": method.state(),
                "train_seconds": seconds, "prepare_seconds": prep_seconds,
                "rows": {k: len(v) for k, v in parts.items()},
                "parameters": sum(p.numel() for p in model.parameters()),
            }
            if trainer.rank == 0:
                write_json(runs_dir / f"{name}.json", result)
                (out_dir / "checkpoints" / f"{name}.pt").unlink(missing_ok=True)  # the run is done
    if not plan or Trainer.is_main_process():
        write_report(out_dir, baseline=cfg.get("baseline"), select=cfg.get("select"),
                     baseline_model=cfg.get("baseline_model"))
    return out_dir
