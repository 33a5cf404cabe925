"""CTR results folder → Markdown report and PNG plots (tables, statistics and figures shared with the other tasks:
:mod:`denoiserec.report.common`).

For every (model, method): mean ± std over seeds of each test metric; RelaImpr of the mean AUC against the
baseline method of the same model; and a paired t-test (seeds matched) of AUC against it. On simulated data the
same is given for ``auc_true`` (AUC against the hidden true preference -- what denoising is meant to improve).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from denoiserec.eval.gap import add_gap_closed
from denoiserec.eval.metrics import rela_impr
from denoiserec.io import pyplot, write_text
from denoiserec.report.common import (
    console,
    figure,
    fmt_mean_sd,
    markdown_table,
    mean_sd,
    paired_p,
    print_table,
    read_records,
    save,
)

METRICS = ("auc", "gauc", "logloss", "auc_true", "gauc_true", "auc_active")
#: Diagnostics a method reports in ``state()`` that the tables show (UAE-style attention vs the hidden truth).
STATE_METRICS = ("att_auc_passive", "att_auc_passive_heldout")
#: Metrics compared with the baseline (RelaImpr, paired t-test).
COMPARED = ("auc", "gauc", "auc_true", "gauc_true")


def load_runs(out_dir: str | Path) -> list[dict]:
    """Every run of ``out_dir``, plus the popularity scorer's record when there is one (``popularity.json``)."""
    runs = read_records(out_dir, "*.json")
    if (Path(out_dir) / "popularity.json").exists():
        runs.append(json.loads((Path(out_dir) / "popularity.json").read_text()))
    return runs


def select_on_validation(runs: list[dict], select: dict[str, list[str]] | None, metric: str = "auc") -> list[dict]:
    """Add, per model, a method ``name`` for each ``select: {name: [candidate labels]}``: the candidate with the
    best mean validation ``metric`` over seeds (hyper-parameters chosen on validation, never on test)."""
    extra = []
    for name, candidates in (select or {}).items():
        for model in sorted({r["model"] for r in runs if "model" in r}):
            scores = {}
            for c in candidates:
                vals = [r["valid"].get(metric, np.nan) for r in runs if r.get("model") == model and r["method"] == c]
                if vals:
                    scores[c] = float(np.nanmean(vals))
            if not scores:
                continue
            best = (min if metric == "logloss" else max)(scores, key=scores.get)
            for r in runs:
                if r.get("model") == model and r["method"] == best:
                    extra.append({**r, "method": name, "selected": best})
    return runs + extra


def _comparison_cell(key: str, value: float | None, percent: str) -> str:
    """A RelaImpr (``relaimpr_*``, signed percent) or p-value (``p_*``) cell; a dash when absent."""
    if value is None or math.isnan(value):
        return "–"
    if key.startswith("gap"):
        return f"{value:+.2f}"
    return f"{value:+.2f}{percent}" if key.startswith("relaimpr") else f"{value:.3g}"


def summarize(runs: list[dict], baseline: str | None, baseline_model: str | None = None) -> list[dict]:
    """One row per (model, method) with mean/std per metric, RelaImpr and paired t-test p-values."""
    groups: dict[tuple[str, str], dict[int, dict]] = {}
    selected = {(r["model"], r["method"]): r["selected"] for r in runs if "selected" in r}
    oracle = {(r["model"], r["method"]) for r in runs if r.get("oracle")}
    for r in runs:
        if "model" in r:
            state = {k: v for k, v in (r.get("method_state") or {}).items() if k in STATE_METRICS}
            groups.setdefault((r["model"], r["method"]), {})[r["seed"]] = {**r["test"], **state}
    rows = []
    for (model, method), by_seed in groups.items():
        label = f"{method} (= {selected[model, method]})" if (model, method) in selected else method
        row: dict = {"model": model, "method": label, "seeds": len(by_seed)}
        for m in METRICS + STATE_METRICS:
            ms = mean_sd(t.get(m) for t in by_seed.values())
            if not math.isnan(ms[0]):
                row[m] = ms
        if baseline_model is not None:  # models compared with one model, method by method (DUMN vs DIN ...)
            base = groups.get((baseline_model, method)) if model != baseline_model else None
        else:
            base = groups.get((model, baseline)) if baseline and method != baseline else None
        if base is not None:
            for m in COMPARED:
                if m not in row:
                    continue
                seeds = sorted(set(base) & set(by_seed))
                a = np.array([by_seed[s][m] for s in seeds])
                b = np.array([base[s][m] for s in seeds])
                # RelaImpr is only meaningful against a base better than random
                row[f"relaimpr_{m}"] = rela_impr(float(a.mean()), float(b.mean())) if b.mean() > 0.5 else float("nan")
                row[f"p_{m}"] = paired_p(a, b)
        rows.append(row)
    if baseline_model is None:
        add_gap_closed(rows, baseline, oracle, COMPARED)
    return rows


def to_markdown(rows: list[dict], baseline: str | None, baseline_model: str | None = None) -> str:
    present = [m for m in METRICS + STATE_METRICS if any(m in r for r in rows)]
    extra = [f"{k}_{m}" for m in COMPARED for k in ("relaimpr", "p", "gap") if any(f"{k}_{m}" in r for r in rows)]
    lines = markdown_table(["model", "method", "seeds", *present, *extra],
                           ([r["model"], r["method"], str(r["seeds"]), *[fmt_mean_sd(r.get(m)) for m in present],
                             *[_comparison_cell(k, r.get(k), " %") for k in extra]] for r in rows))
    against = (f"model `{baseline_model}` with the same method" if baseline_model
               else f"method `{baseline}` of the same model")
    note = (f"\nTest-set metrics, mean ± std over seeds. RelaImpr and paired t-test p-values (seeds matched) are "
            f"against {against} "
            f"(RelaImpr left out where the base is not above 0.5). `*_true` metrics score against the simulator's "
            f"hidden true preference; `auc_active` only on rows with active feedback; `att_auc_passive`: AUC of a "
            f"method's estimated attention against the hidden attention on passive training rows (`_heldout`: on the "
            f"test period's passive rows, the estimator applied to their own sessions). `oracle*`: the same "
            f"model trained on the hidden true preference (simulated data only); `gap_*`: the share of the gap "
            f"between the baseline and the oracle that a method closes, (method − baseline) / (oracle − baseline); "
            f"`popularity`: test rows scored by their item's positive count in training.\n")
    return "\n".join(lines) + "\n" + note


#: the per-feedback-kind means an attention method records (training rows): attention α and passive weight w
BY_KIND = ("mean_attention_by_kind", "mean_weight_by_kind")


def by_kind_markdown(runs: list[dict]) -> str:
    """Per (model, method) that records them: mean α / mean w per feedback kind on the training rows, each mean ±
    std over seeds; empty when no run does."""
    groups: dict[tuple[str, str], list[dict]] = {}
    kinds: dict[str, None] = {}
    for r in runs:
        state = r.get("method_state") or {}
        if "model" in r and any(state.get(k) for k in BY_KIND):
            groups.setdefault((r["model"], r["method"]), []).append(state)
            for k in BY_KIND:
                kinds.update(dict.fromkeys(state.get(k) or {}))
    if not groups:
        return ""

    def cell(states: list[dict], key: str, kind: str) -> str:
        vals = np.array([s[key][kind] for s in states if kind in (s.get(key) or {})], dtype=float)
        if not len(vals):
            return "–"
        return f"{vals.mean():.3f}±{vals.std(ddof=1):.3f}" if len(vals) > 1 else f"{vals.mean():.3f}"

    lines = ["| model | method | seeds | " + " | ".join(f"α / w: {k}" for k in kinds) + " |",
             "|" + "---|" * (3 + len(kinds))]
    for (model, method), states in groups.items():
        cells = [f"{cell(states, BY_KIND[0], k)} / {cell(states, BY_KIND[1], k)}" for k in kinds]
        lines.append(f"| {model} | {method} | {len(states)} | " + " | ".join(cells) + " |")
    return ("\n## Attention and passive weight per feedback kind\n\n" + "\n".join(lines) + "\n\nTraining rows: a "
            "method's mean estimated attention α and mean weight w = 1 − (α + 1)^(−γ) (where it re-weights; 1 "
            "elsewhere) per feedback kind, mean±std over seeds. Only p·α is identified by the data, so α's scale "
            "(and with it w) is set by the estimator's clip and optimisation, not by the log.\n")


def plot_curves(runs: list[dict], path: Path, metric: str = "valid_auc") -> bool:
    """Training loss and validation ``metric`` per epoch, one line per run, one panel pair per model."""
    runs = [r for r in runs if r.get("history")]
    if not runs:
        return False
    models = sorted({r["model"] for r in runs})
    methods = sorted({r["method"] for r in runs})
    colors = {m: pyplot().cm.tab10(i % 10) for i, m in enumerate(methods)}
    fig, axes = figure((4.5 * len(models), 6.5), 2, len(models))
    for j, model in enumerate(models):
        for r in (r for r in runs if r["model"] == model):
            ep = [h["epoch"] + 1 for h in r["history"]]
            label = r["method"] if r["seed"] == min(x["seed"] for x in runs if x["method"] == r["method"]) else None
            axes[0, j].plot(ep, [h["train_loss"] for h in r["history"]], color=colors[r["method"]], alpha=0.7,
                            label=label)
            axes[1, j].plot(ep, [h.get(metric, np.nan) for h in r["history"]], color=colors[r["method"]], alpha=0.7)
        axes[0, j].set_title(model)
        axes[0, j].set_ylabel("train loss")
        axes[1, j].set_ylabel(metric)
        axes[1, j].set_xlabel("epoch")
    axes[0, 0].legend(fontsize=8)
    save(fig, path)
    return True


def plot_bars(rows: list[dict], path: Path, metric: str) -> bool:
    """Test ``metric`` per model and method, with the std over seeds as error bars."""
    rows = [r for r in rows if metric in r]
    if not rows:
        return False
    models = sorted({r["model"] for r in rows})
    methods = list(dict.fromkeys(r["method"] for r in rows))
    width = 0.8 / len(methods)
    fig, axes = figure((max(4.0, 1.2 * len(models) * len(methods) * 0.6 + 2), 3.8))
    ax = axes[0, 0]
    for i, me in enumerate(methods):
        xs, ys, es = [], [], []
        for j, mo in enumerate(models):
            r = next((r for r in rows if r["model"] == mo and r["method"] == me), None)
            if r:
                xs.append(j + i * width)
                ys.append(r[metric][0])
                es.append(r[metric][1])
        ax.bar(xs, ys, width, yerr=es, label=me, capsize=2)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(models))], models)
    lo = min(r[metric][0] - r[metric][1] for r in rows)
    hi = max(r[metric][0] + r[metric][1] for r in rows)
    ax.set_ylim(lo - 0.1 * (hi - lo + 1e-3), hi + 0.1 * (hi - lo + 1e-3))
    ax.set_ylabel(f"test {metric}")
    ax.legend(fontsize=8)
    save(fig, path)
    return True


def plot_attention_calibration(runs: list[dict], path: Path) -> bool:
    """Reliability diagram of each method's estimated attention against the hidden attention (passive training
    plays, simulated data), from the first model and seed of every method that reports one."""
    curves = {}
    for r in sorted(runs, key=lambda r: (r.get("model", ""), r.get("seed", 0))):
        cal = (r.get("method_state") or {}).get("att_calibration_passive")
        if cal and r["method"] not in curves:
            curves[r["method"]] = cal
    if not curves:
        return False
    fig, axes = figure((4.8, 4.4))
    ax = axes[0, 0]
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", label="perfect")
    for method, cal in curves.items():
        ax.plot([c[0] for c in cal], [c[1] for c in cal], marker="o", ms=3, label=method)
    ax.set_xlabel("estimated attention (bin mean)")
    ax.set_ylabel("share truly attentive")
    ax.set_title("attention calibration, passive plays")
    ax.legend(fontsize=8)
    save(fig, path)
    return True


def write_report(out_dir: str | Path, baseline: str | None = None, select: dict | None = None,
                 baseline_model: str | None = None) -> Path:
    """Write ``report.md`` (+ ``curves.png``, ``test_<metric>.png``) for the runs in ``out_dir``."""
    out_dir = Path(out_dir)
    runs = load_runs(out_dir)
    rows = summarize(select_on_validation(runs, select), baseline, baseline_model)
    text = f"# {out_dir.name}\n\n"
    if rows:
        text += to_markdown(rows, baseline, baseline_model) + by_kind_markdown(runs)
        if plot_curves(runs, out_dir / "curves.png"):
            text += "\n![training and validation curves](curves.png)\n"
        for m in ("auc", "auc_true"):
            if plot_bars(rows, out_dir / f"test_{m}.png", m):
                text += f"\n![test {m}](test_{m}.png)\n"
        if plot_attention_calibration(runs, out_dir / "attention_calibration.png"):
            text += "\n![attention calibration](attention_calibration.png)\n"
    else:
        extra = [r for r in runs if "model" not in r]
        text += "No CTR runs.\n" if not extra else "```\n" + json.dumps(extra, indent=1)[:20000] + "\n```\n"
    write_text(out_dir / "report.md", text)
    return out_dir / "report.md"


def print_summary(out_dir: str | Path, baseline: str | None = None, select: dict | None = None,
                  baseline_model: str | None = None) -> None:
    """Print the summary of ``out_dir`` as a compact Rich table (the full one is in ``report.md``)."""
    rows = summarize(select_on_validation(load_runs(out_dir), select), baseline, baseline_model)
    if not rows:
        console().print(f"no CTR runs in {out_dir}; see {Path(out_dir) / 'report.md'}")
        return
    cols = [m for m in ("auc", "gauc", "logloss", "auc_true", "gauc_true") if any(m in r for r in rows)]
    rel = [f"{k}_{m}" for m in ("auc", "auc_true") for k in ("relaimpr", "p", "gap")
           if any(f"{k}_{m}" in r for r in rows)]
    header = ["model", "method", "n", *cols,
              *[k.replace("relaimpr_", "RelaImpr ").replace("p_", "p ").replace("gap_", "gap closed ") for k in rel]]
    print_table(f"{Path(out_dir).name}: test metrics, mean ± std over seeds", header,
                ([r["model"], r["method"], str(r["seeds"]),
                  *[f"{r[m][0]:.4f}±{r[m][1]:.4f}" if m in r else "–" for m in cols],
                  *[_comparison_cell(k, r.get(k), "%") for k in rel]] for r in rows),
                ("model", "method"),
                f"baseline: {baseline_model or baseline}; full report: {Path(out_dir) / 'report.md'}")
