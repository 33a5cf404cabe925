"""The CTR task: models x methods x seeds on rows of a canonical log -- the experiment loop (data → encoded
parts → one :class:`~denoiserec.train.trainer.Trainer` run per (model, method, seed) → run records and bundles
→ :mod:`denoiserec.report.ctr`). Config layout: :mod:`denoiserec.experiment`."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import torch
from tqdm.auto import tqdm

from denoiserec.io import is_writer, write_json
from denoiserec.tasks.base import Task, set_aside_stale_runs

if TYPE_CHECKING:
    from denoiserec.run_settings import CtrSettings


def run_name(model: str, method: str, seed: int) -> str:
    return f"{model}__{method}__seed{seed}"


def run_done(out_dir: str | Path, name: str) -> bool:
    """A run counts as done only when all its artefacts are in place: its record (written last) and its bundle."""
    out_dir = Path(out_dir)
    return (out_dir / "runs" / f"{name}.json").is_file() and (out_dir / "bundles" / name / "bundle.json").is_file()


def load_data(cfg: CtrSettings, warnings: list | None = None) -> pl.DataFrame:
    """The canonical log named by ``cfg.data``, with a ``split`` column from ``cfg.split`` and the label of
    ``cfg.target`` (:mod:`denoiserec.data.target`)."""
    from denoiserec.data.load import load_log
    from denoiserec.data.target import relabel

    df = load_log(cfg.data, warnings)
    if "split" not in df.columns:
        from denoiserec.data.split import split

        df = split(df, **cfg.split)
    df = relabel(df, cfg.target)
    if cfg.noise is not None:  # known-answer control: labels := hidden truth, train/valid flipped
        from denoiserec.data.noise import flip_labels

        df = flip_labels(df, cfg.noise)
    return df


#: the attention scores also given on held-out rows, as ``<key>_heldout``
HELDOUT_ATTENTION = ("att_auc_passive", "att_auc_passive_played")


def score_attention(method, train, heldout=None) -> dict:
    """An attention method's per-row estimate scored against the simulator's hidden truth, after training (the
    method itself never reads ``true_*`` columns); empty for other methods and on real data. With ``heldout`` (the
    test part): also the method's estimate on those rows (:meth:`~denoiserec.methods.base.Method.attention_on`,
    given the rows without their truth), as ``att_auc_passive_heldout`` and ``att_auc_passive_played_heldout``:
    whether the estimator generalises to sessions it was not trained on, or memorised its training rows."""
    from denoiserec.data.tensors import EncodedTensors
    from denoiserec.eval.truth import attention_metrics
    from denoiserec.train.batch import without_truth

    if method.attention is None:
        return {}
    scores = attention_metrics(method.attention, train.tensors)
    if scores and isinstance(heldout, EncodedTensors) and "true_attention" in heldout.tensors:
        alpha = method.attention_on(without_truth(heldout))
        if alpha is not None:
            held = attention_metrics(alpha, heldout.tensors)
            scores.update({f"{k}_heldout": held[k] for k in HELDOUT_ATTENTION})
    return scores


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


class CtrTask(Task):
    name = "ctr"

    def check_config(self, cfg: dict, where: str = "config") -> CtrSettings:
        from denoiserec.config_check import check_ctr_config

        return check_ctr_config(cfg, where)

    def run(self, cfg: CtrSettings, out_dir: str | Path, progress: bool = True) -> Path:
        """Run every (model, method, seed) of ``cfg`` not yet in ``out_dir``; write its report."""
        from denoiserec.bundle import save_run_bundle, training_items
        from denoiserec.data.encoder import fit_encode_splits
        from denoiserec.data.target import oracle_labels
        from denoiserec.eval.popularity import popularity_result
        from denoiserec.fingerprint import data_fingerprint, run_fingerprint
        from denoiserec.methods import build_method
        from denoiserec.models import build_model
        from denoiserec.train.precision import cpu_bf16_warning
        from denoiserec.train.trainer import Trainer

        out_dir = Path(out_dir)
        runs_dir = out_dir / "runs"
        runs_dir.mkdir(parents=True, exist_ok=True)
        data_fp = data_fingerprint(cfg.data)
        wanted = {run_name(m, me, s): run_fingerprint(cfg, m, me, s, data_fp)
                  for m in cfg.models for me in cfg.methods for s in cfg.seeds}
        if is_writer():  # under torchrun, one process moves files
            set_aside_stale_runs(runs_dir, wanted)
        plan = [(m, me, s) for m in cfg.models for me in cfg.methods for s in cfg.seeds
                if not run_done(out_dir, run_name(m, me, s))]
        if plan:
            t0 = time.perf_counter()
            from denoiserec.data.store import streamed_splits, use_stream

            # logs larger than memory: encoded once into an on-disk store, read in batches (a relabelled target: in
            # memory)
            data_warnings: list[str] = []  # every run's record gets them (denoiserec.notices)
            df = None
            if cfg.target == "click" and cfg.noise is None and use_stream(cfg.data):
                encoder, parts = streamed_splits(cfg.data, cfg.split, cfg.features, data_warnings)
            else:
                df = load_data(cfg, data_warnings)
                encoder, parts = fit_encode_splits(df, cfg.features)
            spec = encoder.spec
            items = training_items(cfg, df, spec) if is_writer() else None  # the bundles' item table
            check_parts(parts)
            from denoiserec import notices

            if Trainer.is_main_process():
                data_warnings += [notices.warn(w) for w in notices.part_warnings(parts)]
            prep_seconds = time.perf_counter() - t0
            if Trainer.is_main_process() and "true_preference" in parts["test"].tensors:
                write_json(out_dir / "popularity.json", popularity_result(parts, spec))
            bar = tqdm(plan, desc=cfg.name, disable=notices.bar_off(progress))

            def setup(model_label: str, method_label: str, seed: int) -> dict:
                model_name, mhp = cfg.models[model_label].module, dict(cfg.models[model_label].params)
                me = cfg.methods[method_label]
                method_name, hp, oracle = me.module, dict(me.params), me.oracle
                train_part, valid_part = parts["train"], parts["valid"]
                if oracle:  # the documented exception: labels := hidden truth, before the method/model see them
                    where = f"methods.{method_label}"
                    train_part, valid_part = oracle_labels(train_part, where), oracle_labels(valid_part, where)
                name = run_name(model_label, method_label, seed)
                train_cfg = replace(cfg.train, seed=seed, checkpoint=str(out_dir / "checkpoints" / f"{name}.pt"),
                                    progress=progress)
                trainer = Trainer(train_cfg)
                warned = list(data_warnings)  # the run record's `warnings` (denoiserec.notices)
                if trainer.rank == 0 and (w := notices.steps_warning(len(train_part), train_cfg.batch_size)):
                    notices.warn(w, warned)
                if trainer.rank == 0 and (w := cpu_bf16_warning(trainer.device, train_cfg.amp_cpu)):
                    notices.warn(w, warned)
                torch.manual_seed(seed)
                model = build_model(model_name, spec, **mhp)
                method = build_method(method_name, **hp)
                return {"name": name, "model_name": model_name, "mhp": mhp, "method_name": method_name, "hp": hp,
                        "oracle": oracle, "train_part": train_part, "valid_part": valid_part, "train_cfg": train_cfg,
                        "trainer": trainer, "model": model, "method": method, "warned": warned}

            trained: dict[str, dict] = {}  # runs trained ahead in a stacked group (train.stack_seeds)
            for model_label, method_label, seed in bar:
                bar.set_postfix_str(run_name(model_label, method_label, seed))
                r = trained.pop(run_name(model_label, method_label, seed), None)
                if r is None:
                    r = setup(model_label, method_label, seed)
                    if r["train_cfg"].stack_seeds:  # every planned seed of this model and method in one step
                        from denoiserec.train.stacked import fit_stacked

                        group = [r, *(setup(model_label, method_label, s) for m, me, s in plan
                                      if (m, me) == (model_label, method_label) and s != seed)]
                        seconds = fit_stacked([g["trainer"] for g in group], [g["model"] for g in group],
                                              r["train_part"], r["valid_part"], [g["method"] for g in group], spec)
                        for g in group:
                            g["seconds"] = seconds / len(group)
                        trained.update({g["name"]: g for g in group[1:]})
                    else:
                        t0 = time.perf_counter()
                        r["trainer"].fit(r["model"], r["train_part"], r["valid_part"], r["method"], spec,
                                         fingerprint=wanted[r["name"]])
                        r["seconds"] = time.perf_counter() - t0
                name, trainer, model, method, train_cfg = (r[k] for k in ("name", "trainer", "model", "method",
                                                                           "train_cfg"))
                model_name, mhp, method_name, hp, oracle, warned = (r[k] for k in ("model_name", "mhp", "method_name",
                                                                                   "hp", "oracle", "warned"))
                seconds = r["seconds"]
                if trainer.rank == 0:
                    for w in [*notices.method_warnings(method_label, method.state(), getattr(method, "weights", None)),
                              notices.validation_warning(trainer.history, train_cfg.monitor)]:
                        if w:
                            notices.warn(w, warned)
                result = {
                    "model": model_label, "method": method_label, "seed": seed,
                    "model_module": model_name, "method_module": method_name,
                    "model_params": mhp, "method_params": hp, **({"oracle": True} if oracle else {}),
                    "test": trainer.split_metrics(model, parts["test"]),
                    "valid": trainer.split_metrics(model, parts["valid"]),
                    "history": trainer.history,
                    "method_state": {**method.state(), **score_attention(method, parts["train"], parts["test"])},
                    "train_seconds": seconds, "prepare_seconds": prep_seconds,
                    "rows": {k: len(v) for k, v in parts.items()},
                    "parameters": sum(p.numel() for p in model.parameters()),
                    "fingerprint": wanted[name], "warnings": warned,
                }
                if trainer.rank == 0:
                    save_run_bundle(out_dir / "bundles" / name, model, encoder, result, train_cfg, cfg, items)
                    write_json(runs_dir / f"{name}.json", result)  # last: the record marks the run done
                    (out_dir / "checkpoints" / f"{name}.pt").unlink(missing_ok=True)  # the run is done
        if not plan or Trainer.is_main_process():
            self.write_report(out_dir, cfg)
        return out_dir

    def write_report(self, out_dir: str | Path, cfg: CtrSettings | dict) -> Path:
        """``cfg``: the settings, or a results folder's stored ``config.yaml`` (``denoiserec report``)."""
        from denoiserec.report.ctr import write_report
        from denoiserec.run_settings import report_keys

        return write_report(out_dir, *report_keys(cfg))

    def print_summary(self, out_dir: str | Path, cfg: CtrSettings | dict) -> None:
        from denoiserec.report.ctr import print_summary
        from denoiserec.run_settings import report_keys

        print_summary(out_dir, *report_keys(cfg))
