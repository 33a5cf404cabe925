"""YAML entry point of the sequential experiments (``task: seqrec``), called by :mod:`denoiserec.experiment`.

``run_seqrec(config, seed, out_dir)`` trains and evaluates every variant of the config for one seed, writes
``<out_dir>/runs/seqrec__seed<seed>.json`` (so ``denoiserec run`` resumes per seed) and re-writes
``<out_dir>/report.md`` with plots from every seed present, and returns ``{variant: {metric: value}}``.
Config (``denoiserec run configs/negfeedback.yaml``)::

    name: negfeedback
    task: seqrec
    data: {simulate: {<SimConfig>}}   # or {source: mssd, path: RAW, options: {...}} or {path: PREPARED}
    seeds: [0, 1, 2]
    seqrec:
      sequences: {<data.sequences.SequenceConfig>}  # feedback-kind mapping, station column, test_frac
      model: {<seqrec.train.ModelConfig>}          # dim, layers, heads, dropout, max_len, positional, ...
      train: {<seqrec.train.SeqTrainConfig>}       # epochs, batch_size, lr, p_mask, p_hard, hardest_of_k, ...
      eval: {<seqrec.train.EvalConfig>}            # candidates, k
      variants: {label: {flat overrides of model/train/eval keys}}   # default: one variant "default"

Variants overriding ``p_hard`` or ``hardest_of_k`` (two or more) are also drawn as a sweep plot.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl

from denoiserec.bundle import save_seqrec
from denoiserec.data.sequences import SequenceConfig, build_sequences
from denoiserec.errors import ConfigError
from denoiserec.experiment import load_log
from denoiserec.io import pyplot, write_json, write_png, write_text
from denoiserec.seqrec.train import SeqData, evaluate, resolve_configs, train_model

_DATA_CACHE: dict[str, SeqData] = {}


def section(config: dict) -> dict:
    """The ``seqrec`` section of a config."""
    sec = config.get("seqrec") or {}
    unknown = set(sec) - {"sequences", "model", "train", "eval", "variants"}
    if unknown:
        raise ConfigError(f"seqrec: unknown key(s) {sorted(unknown)}")
    return sec


def prepare(config: dict, log: pl.DataFrame | None = None) -> SeqData:
    """Sequences + hard-negative cascade for ``config`` (cached per data/sequences section within a process)."""
    key = repr((config.get("data"), section(config).get("sequences")))
    if log is None and key in _DATA_CACHE:
        return _DATA_CACHE[key]
    data = SeqData(build_sequences(log if log is not None else load_log(config.get("data") or {}),
                                   SequenceConfig.from_dict(section(config).get("sequences"))))
    if log is None:
        _DATA_CACHE.clear()
        _DATA_CACHE[key] = data
    return data


def run_seqrec(config: dict, seed: int, out_dir: str | Path, log: pl.DataFrame | None = None,
               variants: list[str] | None = None, progress: bool = True) -> dict[str, dict[str, float]]:
    """Train and evaluate every variant (or those named) for one seed; returns ``{variant: test metrics}``.
    ``progress=False`` turns the training progress bars off whatever the config says."""
    sec = section(config)
    data = prepare(config, log)
    table = sec.get("variants") or {"default": {}}
    results, record = {}, {"task": "seqrec", "seed": seed, "variants": {}}
    for label in variants or list(table):
        if label not in table:
            raise ConfigError(f"unknown variant {label!r}; known: {sorted(table)}")
        mcfg, tcfg, ecfg = resolve_configs(sec, table[label])
        tcfg.progress = tcfg.progress and progress
        model, history = train_model(data, mcfg, tcfg, ecfg, seed=seed)
        test = evaluate(model, data, mcfg, ecfg, seed=seed)
        save_seqrec(Path(out_dir) / "bundles" / f"seqrec__{label}__seed{seed}", model, data, mcfg,
                    sec.get("sequences"), {"variant": label, "seed": seed, "test": test, "data": config.get("data"),
                                           "selected_epoch": len(history) - 1})
        test["train_seconds"] = history[-1]["seconds"] if history else 0.0
        test["hard_share"] = history[-1]["hard_share"] if history else 0.0
        results[label] = test
        record["variants"][label] = {"override": table[label], "test": test, "history": history}
    out_dir = Path(out_dir)
    write_json(out_dir / "runs" / f"seqrec__seed{seed}.json", record)
    write_seqrec_report(out_dir)
    return results


SHOWN = ("acc_down", "acc_skip", "user_auc_down", "acc_true", "mrr_up", "recall@10_up", "mrr_down", "coverage",
         "train_seconds")


def summarize(runs: list[dict]) -> dict[str, dict[str, tuple[float, float]]]:
    """Per variant and metric: (mean, sd) over the seeds."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    labels = list(dict.fromkeys(v for r in runs for v in r["variants"]))
    for v in labels:
        tests = [r["variants"][v]["test"] for r in runs if v in r["variants"]]
        for k in dict.fromkeys(k for t in tests for k in t):
            vals = np.array([t.get(k, np.nan) for t in tests], dtype=float)
            if np.isnan(vals).all():
                continue
            sd = float(np.nanstd(vals, ddof=1)) if np.sum(~np.isnan(vals)) > 1 else 0.0
            out.setdefault(v, {})[k] = (float(np.nanmean(vals)), sd)
    return out


def _plot(path: Path, draw) -> None:
    fig, ax = pyplot().subplots(figsize=(6.5, 3.8))
    draw(ax)
    fig.tight_layout()
    write_png(fig, path)


def write_seqrec_report(out_dir: str | Path) -> Path:
    """``report.md`` (table of mean ± sd over seeds), ``seqrec_acc.png`` and sweep plots for ``out_dir``."""
    out_dir = Path(out_dir)
    runs = [json.loads(f.read_text()) for f in sorted((out_dir / "runs").glob("seqrec__seed*.json"))]
    summary = summarize(runs)
    cols = [c for c in SHOWN if any(c in s for s in summary.values())]
    fmt = lambda m: "–" if math.isnan(m[0]) else f"{m[0]:.4f} ± {m[1]:.4f}"  # noqa: E731
    lines = [f"# {out_dir.name}", "", f"Seeds: {sorted(r['seed'] for r in runs)}. Test period metrics, mean ± sd "
             "over seeds (`acc_*`: pairwise up-vs-down/skip accuracy, same user and station; `acc_true`: against "
             "the simulator's hidden preference; `mrr_down` lower is better).", "",
             "| variant | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for v, s in summary.items():
        lines.append(f"| {v} | " + " | ".join(fmt(s[c]) if c in s else "–" for c in cols) + " |")
    cos = [c for c in ("cos_up_skip", "cos_up_down", "cos_skip_down") if any(c in s for s in summary.values())]
    if cos:
        lines += ["", "Cosine similarity of the learned feedback-type embeddings:", "",
                  "| variant | " + " | ".join(cos) + " |", "|---|" + "---|" * len(cos)]
        lines += [f"| {v} | " + " | ".join(fmt(s[c]) for c in cos) + " |" for v, s in summary.items() if cos[0] in s]
    metric = "acc_down" if any("acc_down" in s for s in summary.values()) else "acc_skip"
    labels = [v for v in summary if metric in summary[v]]
    if labels:
        def bars(ax):
            ax.bar(range(len(labels)), [summary[v][metric][0] for v in labels],
                   yerr=[summary[v][metric][1] for v in labels], capsize=3)
            ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
            ax.axhline(0.5, color="grey", lw=0.8, ls=":")
            lo = min(summary[v][metric][0] - summary[v][metric][1] for v in labels)
            ax.set_ylim(min(0.5, lo) - 0.02, None)
            ax.set_ylabel(f"test {metric}")
        _plot(out_dir / "seqrec_acc.png", bars)
        lines += ["", f"![test {metric}](seqrec_acc.png)"]
    overrides = {v: o for r in runs for v, o in ((v, d["override"] or {}) for v, d in r["variants"].items())}
    for knob in ("p_hard", "hardest_of_k"):
        sweep = sorted((float(o[knob]), v) for v, o in overrides.items() if knob in o and v in labels)
        if len(sweep) < 2:
            continue

        def line(ax, sweep=sweep, knob=knob):
            xs = [x for x, _ in sweep]
            ax.errorbar(xs, [summary[v][metric][0] for _, v in sweep], yerr=[summary[v][metric][1] for _, v in sweep],
                        marker="o", capsize=3)
            if knob == "hardest_of_k":
                ax.set_xscale("log")
            ax.set_xlabel(knob)
            ax.set_ylabel(f"test {metric}")
        _plot(out_dir / f"sweep_{knob}.png", line)
        lines += ["", f"![{metric} vs {knob}](sweep_{knob}.png)"]
    write_text(out_dir / "report.md", "\n".join(lines) + "\n")
    return out_dir / "report.md"
