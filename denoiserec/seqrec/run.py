"""YAML entry point of the sequential experiments (``task: seqrec``).

``run_seqrec(config, seed, out_dir)`` runs every variant of ``config`` for one seed and returns
``{variant: {metric: value}}``; ``denoiserec.experiment`` calls it once per seed for configs with
``task: seqrec``. Config keys::

    task: seqrec
    data: {simulate: {<SimConfig>}} | {source: mssd, path: ..., options: {...}} | {path: <prepared folder>}
    sequences: {<data.sequences.SequenceConfig>}     # feedback mapping, station column, test_frac
    model: {<seqrec.train.ModelConfig>}             # dim, layers, heads, dropout, max_len, positional, ...
    train: {<seqrec.train.SeqTrainConfig>}          # epochs, batch_size, lr, p_mask, p_hard, hardest_of_k, ...
    eval: {<seqrec.train.EvalConfig>}               # candidates, k
    seeds: [0, 1, 2]
    variants: {label: {flat overrides of model/train/eval keys}}   # default: one variant "default"

Each variant writes ``<out_dir>/<variant>/metrics.json`` and ``history.json`` (atomically).
``run_config(path, out_dir)`` loops the seeds itself and writes ``summary.json`` and ``summary.md``
(mean ± sd over seeds) -- usable before/without the generic runner:
``python -m denoiserec.seqrec.run configs/negfeedback_quick.yaml results/negfeedback_quick``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from denoiserec.data.log import read_log
from denoiserec.data.sequences import SequenceConfig, build_sequences
from denoiserec.errors import ConfigError
from denoiserec.io import write_json, write_text
from denoiserec.seqrec.train import SeqData, evaluate, resolve_configs, train_model


def load_log(data: dict) -> pl.DataFrame:
    """The canonical log named by a config's ``data`` section."""
    if "simulate" in data:
        from denoiserec.data.simulate import SimConfig, simulate

        return simulate(SimConfig.from_dict(data["simulate"]))
    if "source" in data:
        from denoiserec.data.sources import read

        return read(data["source"], data["path"], **(data.get("options") or {}))
    if "path" in data:
        return read_log(data["path"])
    raise ConfigError("data: expected one of 'simulate', 'source' or 'path'")


_DATA_CACHE: dict[str, SeqData] = {}


def prepare(config: dict, log: pl.DataFrame | None = None) -> SeqData:
    """Sequences + cascade for ``config`` (cached per data/sequences section within a process)."""
    key = repr((config.get("data"), config.get("sequences")))
    if log is None and key in _DATA_CACHE:
        return _DATA_CACHE[key]
    given = log is not None
    log = log if given else load_log(config.get("data") or {})
    data = SeqData(build_sequences(log, SequenceConfig.from_dict(config.get("sequences"))))
    if not given:
        _DATA_CACHE.clear()
        _DATA_CACHE[key] = data
    return data


def run_seqrec(config: dict, seed: int, out_dir: str | Path, log: pl.DataFrame | None = None,
               variants: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Train and evaluate every variant (or those named) for one seed; ``{variant: metrics}``."""
    data = prepare(config, log)
    table = config.get("variants") or {"default": {}}
    out: dict[str, dict[str, float]] = {}
    for label in variants or list(table):
        if label not in table:
            raise ConfigError(f"unknown variant {label!r}; known: {sorted(table)}")
        mcfg, tcfg, ecfg = resolve_configs(config, table[label])
        model, history = train_model(data, mcfg, tcfg, ecfg, seed=seed)
        result = evaluate(model, data, mcfg, ecfg, seed=seed)
        result["train_seconds"] = history[-1]["seconds"] if history else 0.0
        result["hard_share"] = history[-1]["hard_share"] if history else 0.0
        write_json(Path(out_dir) / label / "metrics.json", result)
        write_json(Path(out_dir) / label / "history.json", history)
        out[label] = result
    return out


SHOWN = ("acc_down", "acc_skip", "user_auc_down", "acc_true", "mrr_up", "mrr_down", "coverage", "train_seconds")


def summarise(runs: dict[int, dict[str, dict[str, float]]]) -> tuple[dict, str]:
    """Mean and sd over seeds of every variant's metrics, and a Markdown table of the main ones."""
    variants = list(next(iter(runs.values())))
    summary = {}
    for v in variants:
        keys = runs[next(iter(runs))][v].keys()
        summary[v] = {k: {"mean": float(np.nanmean([runs[s][v][k] for s in runs])),
                          "sd": float(np.nanstd([runs[s][v][k] for s in runs], ddof=1)) if len(runs) > 1 else 0.0}
                      for k in keys}
    cols = [c for c in SHOWN if any(c in summary[v] for v in variants)]
    lines = [f"seeds: {sorted(runs)}", "", "| variant | " + " | ".join(cols) + " |",
             "|---|" + "---|" * len(cols)]
    for v in variants:
        cells = [f"{summary[v][c]['mean']:.4f} ± {summary[v][c]['sd']:.4f}" if c in summary[v] else "" for c in cols]
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    return summary, "\n".join(lines) + "\n"


def run_config(path: str | Path, out_dir: str | Path) -> dict:
    config = yaml.safe_load(Path(path).read_text())
    if config.get("task") != "seqrec":
        raise ConfigError(f"{path}: not a 'task: seqrec' config")
    runs = {int(s): run_seqrec(config, int(s), Path(out_dir) / f"seed{s}") for s in config.get("seeds", [0])}
    summary, table = summarise(runs)
    write_json(Path(out_dir) / "summary.json", summary)
    write_text(Path(out_dir) / "summary.md", f"# {config.get('name', Path(path).stem)}\n\n{table}")
    print(table)
    return summary


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m denoiserec.seqrec.run CONFIG.yaml OUT_DIR")
    run_config(sys.argv[1], sys.argv[2])
