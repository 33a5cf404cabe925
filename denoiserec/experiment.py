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
             # oracle: {oracle: true}        # simulated data: the same model trained on true_preference
             #                               # (denoiserec.headroom; a popularity.json is written beside runs/)
    baseline: none                           # RelaImpr and paired t-tests are against this method
    select: {lcd: [lcd_a05, lcd_a1, lcd_a2]} # optional: per model, the label with the best validation AUC
    baseline_model: din                      # optional: compare models with this model instead (same method)

The folder gets ``config.yaml``, ``runs/<model>__<method>__seed<k>.json`` (one per run, written atomically;
a re-run skips the runs already there, so a killed experiment resumes), ``bundles/<run>/`` (the selected epoch's
model, see :mod:`denoiserec.bundle`), ``report.md`` and PNG plots.
A config with another ``task`` (``seqrec``) is checked and run by that task (:mod:`denoiserec.tasks`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl
import torch
import yaml
from tqdm.auto import tqdm

from denoiserec.data.encoder import fit_encode_splits
from denoiserec.data.features import FeatureConfig
from denoiserec.data.load import load_log
from denoiserec.errors import ConfigError
from denoiserec.headroom import oracle_labels, popularity_result
from denoiserec.io import is_writer, write_json, write_text


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
    """Every section checked up front, defaults filled (:func:`denoiserec.config_check.check_config`)."""
    from denoiserec.config_check import check_config as check

    return check(cfg, where)


def load_data(cfg: dict) -> pl.DataFrame:
    """The canonical log named by ``cfg['data']``, with a ``split`` column from ``cfg['split']`` and the label of
    ``cfg['target']`` (:mod:`denoiserec.data.target`)."""
    from denoiserec.data.target import relabel

    df = load_log(cfg["data"])
    if "split" not in df.columns:
        from denoiserec.data.split import split

        df = split(df, **(cfg.get("split") or {"how": "temporal"}))
    return relabel(df, cfg.get("target", "click"))


def score_attention(method, train) -> dict:
    """An attention method's per-row estimate scored against the simulator's hidden truth, after training (the
    method itself never reads ``true_*`` columns); empty for other methods and on real data."""
    from denoiserec.truth import attention_metrics

    attention = getattr(method, "attention", None)
    return attention_metrics(attention, train.tensors) if attention is not None else {}


def run_name(model: str, method: str, seed: int) -> str:
    return f"{model}__{method}__seed{seed}"


def run_done(out_dir: str | Path, name: str) -> bool:
    """A run counts as done only when all its artefacts are in place: its record (written last) and its bundle."""
    out_dir = Path(out_dir)
    return (out_dir / "runs" / f"{name}.json").is_file() and (out_dir / "bundles" / name / "bundle.json").is_file()


def run_experiment(cfg: dict, out_dir: str | Path, progress: bool = True) -> Path:
    """Run every (model, method, seed) of ``cfg`` not yet in ``out_dir``; write its report."""
    from denoiserec.bundle import save_run_bundle, training_items
    from denoiserec.io import claim_dir
    from denoiserec.methods import build_method
    from denoiserec.models import build_model
    from denoiserec.report import write_report
    from denoiserec.train.trainer import TrainConfig, Trainer

    out_dir = claim_dir(out_dir, "results", [cfg["data"].get("path")])
    runs_dir = out_dir / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))
    if cfg.get("task", "ctr") != "ctr":
        from denoiserec.tasks import get_task

        return get_task(cfg).run(cfg, out_dir, progress)

    from denoiserec.fingerprint import data_fingerprint, run_fingerprint

    data_fp = data_fingerprint(cfg["data"])
    wanted = {run_name(m, me, s): run_fingerprint(cfg, m, me, s, data_fp)
              for m in cfg["models"] for me in cfg["methods"] for s in cfg["seeds"]}
    if is_writer():  # under torchrun, one process moves files
        set_aside_stale_runs(runs_dir, wanted)
    plan = [(m, me, s) for m in cfg["models"] for me in cfg["methods"] for s in cfg["seeds"]
            if not run_done(out_dir, run_name(m, me, s))]
    if plan:
        t0 = time.perf_counter()
        from denoiserec.data.store import streamed_splits, use_stream

        # logs larger than memory: encoded once into an on-disk store, read in batches (a relabelled target: in memory)
        df = None
        if cfg.get("target", "click") == "click" and use_stream(cfg):
            encoder, parts = streamed_splits(cfg)
        else:
            df = load_data(cfg)
            encoder, parts = fit_encode_splits(df, FeatureConfig.from_dict(cfg.get("features")))
        spec = encoder.spec
        items = training_items(cfg, df, spec) if is_writer() else None  # the bundles' item table
        check_parts(parts)
        prep_seconds = time.perf_counter() - t0
        if Trainer.is_main_process() and "true_preference" in parts["test"].tensors:
            write_json(out_dir / "popularity.json", popularity_result(parts, spec))
        bar = tqdm(plan, desc=cfg["name"], disable=not progress)
        for model_label, method_label, seed in bar:
            bar.set_postfix_str(run_name(model_label, method_label, seed))
            mhp = dict(cfg["models"][model_label] or {})
            model_name = mhp.pop("model", model_label)
            hp = dict(cfg["methods"][method_label] or {})
            oracle = bool(hp.pop("oracle", False))
            method_name = hp.pop("method", "none" if oracle else method_label)
            train_part, valid_part = parts["train"], parts["valid"]
            if oracle:  # the documented exception: labels := hidden truth, before the method/model see them
                where = f"methods.{method_label}"
                train_part, valid_part = oracle_labels(train_part, where), oracle_labels(valid_part, where)
            name = run_name(model_label, method_label, seed)
            train_cfg = TrainConfig.from_dict({**(cfg.get("train") or {}), "seed": seed,
                                               "checkpoint": str(out_dir / "checkpoints" / f"{name}.pt"),
                                               "progress": progress})
            trainer = Trainer(train_cfg)
            torch.manual_seed(seed)
            model = build_model(model_name, spec, **mhp)
            method = build_method(method_name, **hp)
            t0 = time.perf_counter()
            trainer.fit(model, train_part, valid_part, method, spec, fingerprint=wanted[name])
            seconds = time.perf_counter() - t0
            result = {
                "model": model_label, "method": method_label, "seed": seed,
                "model_module": model_name, "method_module": method_name,
                "model_params": mhp, "method_params": hp, **({"oracle": True} if oracle else {}),
                "test": trainer.split_metrics(model, parts["test"]),
                "valid": trainer.split_metrics(model, parts["valid"]),
                "history": trainer.history,
                "method_state": {**method.state(), **score_attention(method, parts["train"])},
                "train_seconds": seconds, "prepare_seconds": prep_seconds,
                "rows": {k: len(v) for k, v in parts.items()},
                "parameters": sum(p.numel() for p in model.parameters()),
                "fingerprint": wanted[name],
            }
            if trainer.rank == 0:
                save_run_bundle(out_dir / "bundles" / name, model, encoder, result, train_cfg, cfg, items)
                write_json(runs_dir / f"{name}.json", result)  # last: the record marks the run done
                (out_dir / "checkpoints" / f"{name}.pt").unlink(missing_ok=True)  # the run is done
    if not plan or Trainer.is_main_process():
        write_report(out_dir, baseline=cfg.get("baseline"), select=cfg.get("select"),
                     baseline_model=cfg.get("baseline_model"))
    return out_dir


def check_parts(parts: dict) -> None:
    """Train, valid and test must each hold rows of both labels: an empty part or a single class makes the
    metrics (AUC, GAUC, early stopping) undefined, so it is an error naming the part instead of a table with
    silently missing columns."""
    from denoiserec.errors import DataError

    for name, data in parts.items():
        n = len(data)
        if n == 0:
            raise DataError("split", f"the {name} part is empty (0 rows): change split.how / split.fractions "
                            "or give more data")
        pos = int(data["label"].sum())
        if pos in (0, n):
            raise DataError("split", f"every label of the {name} part is {int(pos == n)} ({n} rows): AUC and "
                            "GAUC are undefined with one class; change the split or the data")


def set_aside_stale_runs(runs_dir: Path, wanted: dict[str, str], prefix: str = "") -> None:
    """Move results that this config would not produce -- another config or data (their fingerprint differs),
    or a model/method/seed no longer in the config -- from ``runs/`` to ``stale/``, saying so; they are then
    recomputed or left out of the report, never reused."""
    for file in sorted(runs_dir.glob(f"{prefix}*.json")):
        if file.name.startswith("seqrec__") != (prefix == "seqrec__"):
            continue
        try:
            fp = json.loads(file.read_text()).get("fingerprint")
        except (OSError, ValueError, AttributeError):
            fp = None
        if wanted.get(file.stem) == fp:
            continue
        why = "not in this config" if file.stem not in wanted else "written for another config or data"
        stale = runs_dir.parent / "stale"
        stale.mkdir(exist_ok=True)
        file.replace(stale / file.name)
        set_aside_bundles(runs_dir.parent, file.stem, stale)
        tqdm.write(f"{file}: {why}; moved to {stale}/" + (" and recomputing" if file.stem in wanted else ""))


def set_aside_bundles(out_dir: Path, run: str, stale: Path) -> None:
    """Move the saved models (:mod:`denoiserec.bundle`) of a run set aside to ``stale/bundles/``: the run's own
    bundle, or for ``seqrec__seed<k>`` every variant's ``seqrec__<variant>__seed<k>``."""
    import shutil

    bundles = out_dir / "bundles"
    if not bundles.is_dir():
        return
    if run.startswith("seqrec__"):
        found = sorted(bundles.glob(f"seqrec__*__{run.removeprefix('seqrec__')}"))
    else:
        found = [bundles / run] if (bundles / run).is_dir() else []
    for folder in found:
        target = stale / "bundles" / folder.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (target / "bundle.json").is_file():  # an older set-aside bundle of ours
            shutil.rmtree(target)
        folder.replace(target)
