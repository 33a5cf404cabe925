"""Results folder of a ``task: seqrec`` experiment -> ``report.md`` and the figures of Mei et al., "Negative
Feedback for Music Personalization" (UMAP '24), from the run records alone (``denoiserec report`` re-writes
the same report without the data):

* the table: per label, mean ± sd over seeds of the headline per-user AUC (``user_auc_down``; ``user_auc_skip``
  where the data has no downs), the pooled pair accuracy beside it, the skip-only users' AUC, the rank metrics,
  coverage, and epochs / seconds to convergence (best validation epoch); the popularity baselines ``pop_up``
  and ``fewest_neg`` (:mod:`denoiserec.eval.popularity`) as rows; paired t-tests (seeds matched) of the
  headline against the config's ``baseline`` label and against the better popularity baseline; external
  baselines (RecBole's SASRec, ``benchmarks/seqrec_sasrec.py``) as rows of their own where their records are
  in ``runs/``;
* Fig. 1 ``fig1_negative_sources.png``: share of each hard-negative source by window position;
* Fig. 2 ``sweep_p_hard.png``, ``sweep_hardest_of_k.png``: the headline against p_hard and k (baselines as
  lines);
* Fig. 3 ``fig3_convergence.png``: epochs and seconds to convergence, and the MRR of test ups and downs
  among random items, against p_hard;
* Fig. 4 ``fig4_feedback_mix.png``: per-user AUC by the user's share of 'up' in her history, skip-only users
  as their own point, and how many users each bin holds.

Tables, statistics and figure set-up are shared with the CTR report (:mod:`denoiserec.report.common`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from denoiserec.eval.gap import gap_closed
from denoiserec.io import write_text
from denoiserec.report.common import (
    console,
    figure,
    fmt_mean_sd,
    markdown_table,
    mean_sd,
    paired,
    print_table,
    read_records,
    save,
)
from denoiserec.seqrec.negatives import TIERS

BASELINES = ("pop_up", "fewest_neg", "up_share", "oracle", "oracle_pi", "item_mean_pi")
POPULARITY = ("pop_up", "fewest_neg", "up_share")
#: the reachable ceiling that "gap closed" measures against (simulator only)
CEILING = "oracle_pi"
SHOWN = ("pair_acc", "n_users_{k}", "user_auc_{k}_skip_only", "user_auc_true", "pair_acc_true",
         "user_auc_{k}@mean_h", "user_auc_{k}@bias", "user_auc_true@mean_h", "mrr_up", "recall@10_up", "mrr_down",
         "coverage")
MIX_BINS = (0.0, 0.25, 0.5, 0.75, 1.0)


def load_runs(out_dir: str | Path) -> list[dict]:
    """The seed records; each with ``external``: the external baselines' records of that seed
    (``runs/external__<name>__seed<seed>.json``, e.g. RecBole's SASRec from ``benchmarks/seqrec_sasrec.py``)
    whose data summary is the seed's (one written for other data is left out)."""
    runs = read_records(out_dir, "seqrec__seed*.json")
    for f in sorted((Path(out_dir) / "runs").glob("external__*__seed*.json")):
        ext = json.loads(f.read_text())
        for r in runs:
            if r["seed"] == ext.get("seed") and r.get("data") == ext.get("data"):
                r.setdefault("external", {})[ext["external"]] = ext
    return runs


def headline_kind(runs: list[dict]) -> str:
    """'down' where any run has a per-user up-vs-down AUC, else 'skip' (plays vs skips only, e.g. MSSD)."""
    for r in runs:
        for v in list(r["variants"].values()) + list(r.get("baselines", {}).values()):
            x = v["test"].get("user_auc_down")
            if x is not None and not (isinstance(x, float) and math.isnan(x)):
                return "down"
    return "skip"


def _entries(runs: list[dict]) -> dict[str, dict[int, dict]]:
    """label -> seed -> {"test", "convergence", "params", "per_user"}; baselines first."""
    out: dict[str, dict[int, dict]] = {}
    for r in runs:
        for name, b in r.get("baselines", {}).items():
            out.setdefault(name, {})[r["seed"]] = b
    for r in runs:
        for label, v in r["variants"].items():
            out.setdefault(label, {})[r["seed"]] = v
    for r in runs:
        for name, e in r.get("external", {}).items():
            out.setdefault(name, {})[r["seed"]] = e
    return out


def summarize(runs: list[dict], baseline: str | None = None) -> tuple[str, list[dict]]:
    """(headline metric, one row per label with ``(mean, sd)`` per metric and the paired comparisons)."""
    kind = headline_kind(runs)
    head = f"user_auc_{kind}"
    entries = _entries(runs)
    per_seed = {lab: {s: float(e["test"].get(head, np.nan)) for s, e in by.items()} for lab, by in entries.items()}
    pops = [b for b in POPULARITY if b in per_seed]
    best_pop = max(pops, key=lambda b: np.nanmean(list(per_seed[b].values()))) if pops else None
    rows = []
    for label, by in entries.items():
        row: dict = {"label": label, "seeds": len(by), "is_baseline": label in BASELINES}
        tests = [e["test"] for e in by.values()]
        for m in dict.fromkeys(k for t in tests for k in t):
            row[m] = mean_sd([t.get(m) for t in tests])
        for m in ("best_epoch", "epochs_run", "seconds_to_best", "train_seconds"):
            if any(m in (e.get("convergence") or {}) for e in by.values()):
                row[m] = mean_sd([(e.get("convergence") or {}).get(m) for e in by.values()])
        row["params"] = next(iter(by.values())).get("params", {})
        if best_pop and CEILING in per_seed:
            row["gap_closed"] = mean_sd(gap_closed(per_seed[label], per_seed[best_pop], per_seed[CEILING]))
        if label not in BASELINES:
            if baseline and baseline in per_seed and label != baseline:
                row["vs_baseline"] = paired(per_seed[label], per_seed[baseline])
            if best_pop:
                row["vs_pop"] = paired(per_seed[label], per_seed[best_pop])
        rows.append(row)
    return head, rows


def _cmp(d) -> str:
    if d is None or math.isnan(d[0]):
        return "–"
    return f"{d[0]:+.4f} (p {d[1]:.2g})" if not math.isnan(d[1]) else f"{d[0]:+.4f}"


def to_markdown(head: str, rows: list[dict], baseline: str | None) -> str:
    kind = head.rsplit("_", 1)[1]
    cols = [c.format(k=kind) if c != "pair_acc" else f"pair_acc_{kind}" for c in SHOWN]
    cols = [c for c in cols if any(c in r and not math.isnan(r[c][0]) for r in rows)]
    conv = [c for c in ("gap_closed", "best_epoch", "seconds_to_best") if any(c in r for r in rows)]
    best_pop = max((r for r in rows if r["label"] in POPULARITY), key=lambda r: r[head][0], default=None)
    cmp_cols = ([f"Δ vs {baseline}"] if baseline and any("vs_baseline" in r for r in rows) else []) + \
               ([f"Δ vs {best_pop['label']}"] if best_pop else [])
    hdr = ["label", "seeds", f"**{head}**", *cols, *conv, *cmp_cols]
    body = []
    for r in rows:
        cells = [f"*{r['label']}*" if r["is_baseline"] else r["label"], str(r["seeds"]),
                 f"**{fmt_mean_sd(r.get(head))}**", *[fmt_mean_sd(r.get(c)) for c in (*cols, *conv)]]
        if cmp_cols and cmp_cols[0] == f"Δ vs {baseline}":
            cells.append(_cmp(r.get("vs_baseline")))
        if best_pop:
            cells.append(_cmp(r.get("vs_pop")))
        body.append(cells)
    return "\n".join(markdown_table(hdr, body)) + "\n"


def _plot(path: Path, draw, size=(6.5, 3.8), nrows: int = 1) -> None:
    fig, axes = figure(size, nrows)
    draw(*axes[:, 0])
    save(fig, path)


def _baseline_lines(ax, head: str, rows: list[dict]) -> None:
    for r, style in zip([r for r in rows if r["label"] in POPULARITY], ("--", "-."), strict=False):
        ax.axhline(r[head][0], color="grey", ls=style, lw=1, label=r["label"])


def plot_headline(head: str, rows: list[dict], path: Path) -> None:
    def draw(ax):
        xs = range(len(rows))
        ax.bar(xs, [r[head][0] for r in rows], yerr=[r[head][1] for r in rows], capsize=3,
               color=["lightgrey" if r["is_baseline"] else "tab:blue" for r in rows])
        ax.set_xticks(list(xs), [r["label"] for r in rows], rotation=30, ha="right", fontsize=8)
        ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        ax.set_ylim(min(0.45, min(r[head][0] - r[head][1] for r in rows) - 0.02), None)
        ax.set_ylabel(f"test {head}")
    _plot(path, draw)


def _lines(rows: list[dict], knob: str, extra: tuple[str, ...] = ()) -> dict[str, list[tuple[float, dict]]]:
    """Labels whose settings name ``knob``, grouped by all their other settings (one line per group with at least
    two knob values), sorted by the knob; ``extra`` are further keys that must be among the settings."""
    groups: dict[str, list[tuple[float, dict]]] = {}
    for r in rows:
        if r["is_baseline"] or knob not in r["params"] or not all(k in r for k in extra):
            continue
        other = {k: v for k, v in r["params"].items() if k != knob}
        name = ", ".join(f"{k}={v}" for k, v in other.items() if k in ("feedback_inputs", "positional", "max_len"))
        groups.setdefault(repr(sorted(other.items(), key=str)) + "|" + name, []).append((float(r["params"][knob]), r))
    return {k.split("|", 1)[1] or "transformer": sorted(v, key=lambda t: t[0]) for k, v in groups.items()
            if len({x for x, _ in v}) >= 2}


def plot_sweep(head: str, rows: list[dict], knob: str, path: Path) -> bool:
    lines = _lines(rows, knob)
    if not lines:
        return False

    def draw(ax):
        for name, pts in lines.items():
            ax.errorbar([x for x, _ in pts], [r[head][0] for _, r in pts], yerr=[r[head][1] for _, r in pts],
                        marker="o", capsize=3, label=name)
        _baseline_lines(ax, head, rows)
        if knob == "hardest_of_k":
            ax.set_xscale("log")
        ax.set_xlabel(knob)
        ax.set_ylabel(f"test {head}")
        ax.legend(fontsize=8)
    _plot(path, draw)
    return True


def plot_convergence(rows: list[dict], path: Path) -> bool:
    """Fig. 3: epochs and seconds to the best validation epoch against p_hard, one line per other setting."""
    lines = _lines(rows, "p_hard", ("best_epoch",))
    if not lines:
        return False

    def draw(ax1, ax2, ax3):
        for name, pts in lines.items():
            for ax, m, lab in ((ax1, "best_epoch", name), (ax2, "seconds_to_best", name),
                               (ax3, "mrr_up", f"{name}: up (+)"), (ax3, "mrr_down", f"{name}: down (−)")):
                if all(m in r for _, r in pts):
                    ax.errorbar([x for x, _ in pts], [r[m][0] for _, r in pts], yerr=[r[m][1] for _, r in pts],
                                marker="o", capsize=3, label=lab)
        ax1.set_ylabel("epochs to convergence")
        ax2.set_ylabel("seconds to convergence")
        ax3.set_ylabel("test MRR")
        ax3.set_xlabel("p_hard")
        ax1.legend(fontsize=8)
        ax3.legend(fontsize=7)
    _plot(path, draw, size=(6.0, 7.5), nrows=3)
    return True


def plot_tier_positions(runs: list[dict], path: Path) -> bool:
    """Fig. 1: stacked share of each hard-negative source by window position (the first run's data)."""
    tp = next((r["tier_positions"] for r in runs if r.get("tier_positions")), None)
    if not tp or not sum(tp["n"]):
        return False
    keep = [i for i, n in enumerate(tp["n"]) if n > 0]

    def draw(ax):
        ax.stackplot(keep, *[[tp[t][i] for i in keep] for t in TIERS], labels=TIERS)
        ax.set_xlabel("position in the training window (right = most recent)")
        ax.set_ylabel("share of hard negatives")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7, loc="lower left")
    _plot(path, draw)
    return True


def feedback_mix(runs: list[dict], kind: str) -> dict[str, dict[str, list]]:
    """Per label: mean per-user AUC (pooled over seeds) and user count by history 'up' share bin; bin "skip-only"
    is a share of exactly 0 (history without any 'up')."""
    out: dict[str, dict[str, list]] = {}
    names = ["skip-only"] + [f"({a:g}, {b:g}]" for a, b in zip(MIX_BINS[:-1], MIX_BINS[1:], strict=True)]
    for label, by in _entries(runs).items():
        auc, share = [], []
        for e in by.values():
            pu = (e.get("per_user") or {}).get(kind)
            if pu:
                auc += pu["auc"]
                share += pu["up_share"]
        if not auc:
            continue
        a = np.array(auc, dtype=float)
        s = np.array([np.nan if x is None else x for x in share], dtype=float)
        bins = [s == 0] + [(s > lo) & (s <= hi) for lo, hi in zip(MIX_BINS[:-1], MIX_BINS[1:], strict=True)]
        out[label] = {"bin": names, "auc": [float(a[b].mean()) if b.any() else float("nan") for b in bins],
                      "users": [int(b.sum()) // max(len(by), 1) for b in bins]}
    return out


def plot_feedback_mix(mix: dict, kind: str, path: Path) -> bool:
    if not mix:
        return False

    def draw(ax1, ax2):
        names = next(iter(mix.values()))["bin"]
        xs = np.arange(len(names))
        for label, m in mix.items():
            ax1.plot(xs, m["auc"], marker="o", ls="--" if label in BASELINES else "-", label=label)
        ax1.set_xticks(xs, names)
        ax1.set_ylabel(f"per-user AUC ({kind})")
        ax1.axhline(0.5, color="grey", lw=0.8, ls=":")
        ax1.legend(fontsize=7, ncol=2)
        ax2.bar(xs, next(iter(mix.values()))["users"], color="lightgrey")
        ax2.set_xticks(xs, names)
        ax2.set_xlabel("share of 'up' in the user's history")
        ax2.set_ylabel("test users")
    _plot(path, draw, size=(6.5, 5.5), nrows=2)
    return True


def write_report(out_dir: str | Path, baseline: str | None = None) -> Path:
    """``report.md`` and the figures for the seqrec runs in ``out_dir``; paired tests against label ``baseline``."""
    out_dir = Path(out_dir)
    runs = load_runs(out_dir)
    text = [f"# {out_dir.name}", ""]
    if not runs:
        write_text(out_dir / "report.md", "\n".join(text + ["No seqrec runs yet.", ""]))
        return out_dir / "report.md"
    head, rows = summarize(runs, baseline)
    kind = head.rsplit("_", 1)[1]
    d = runs[0].get("data", {})
    text += [f"Seeds: {sorted(r['seed'] for r in runs)}. Split (Mei et al. §2): users at random, the final "
             f"{d.get('test_days', float('nan')):.1f} days as test, the other users 90/10 train/validation "
             f"({d.get('train_users', '?')} training, {d.get('valid_users', '?')} validation and "
             f"{d.get('test_users', '?')} test users; {d.get('items', '?')} items; {d.get('train_events', '?')} "
             f"training events, {100 * d.get('up_share_train', float('nan')):.0f} % of them 'up'). Early stopping "
             "on the validation users' per-user AUC.", "",
             f"**Headline: `{head}`**, the per-user AUC of up vs {kind} items of the same user and station, averaged "
             f"over users (the paper's \"average area, of all users, under the ROC\"); `pair_acc_{kind}` pools "
             "every pair instead. *Italic rows* are the baselines (non-personal: `pop_up`: how often the item was "
             "an 'up' in training; `fewest_neg`: how few skips/downs it got; `up_share`: its smoothed share of "
             "'up' in training) and, simulator only, the ceilings (`oracle`: the realised hidden preference of "
             "each test event, a coin flip no model can learn; `oracle_pi`: its preference probability π, the "
             "reachable ceiling; `item_mean_pi`: the item's mean π, the best non-personal score). "
             "`@mean_h`: the model with every query's hidden state replaced by their mean; `@bias`: its item "
             "bias alone -- a model no better than these has learnt item effects, not taste. `gap_closed`: the "
             f"share of the gap from the best popularity baseline to `oracle_pi` that the row closes on `{head}` "
             "(per seed). "
             + ("`sasrec_recbole`: RecBole's SASRec ('up' inputs only, the transformer rows' size; settings in "
                "benchmarks/seqrec_sasrec.py) trained on the same training users and scored on the same queries "
                "by the same code; its `best_epoch` counts RecBole's epochs (early stopping on the validation "
                "users' GAUC). "
                if any("sasrec_recbole" in r.get("external", {}) for r in runs) else "") +
             "`best_epoch` / `seconds_to_best`: "
             "epochs and training seconds to the best validation epoch. Δ: mean paired difference of the "
             "headline (seeds matched) and the paired t-test p-value. `*_skip_only`: users without any 'up' in "
             "their history (never in training). `*_true`: against the simulator's hidden preference. "
             "Mean ± sd over seeds.", "", to_markdown(head, rows, baseline)]
    absent = [t for t in ("skip", "down") if all(r.get(f"n_pairs_{t}", (0.0,))[0] == 0 for r in rows)]
    cos = [c for c in ("cos_up_skip", "cos_up_down", "cos_skip_down")  # an absent type's embedding is untrained
           if any(c in r for r in rows) and not any(t in c for t in absent)]
    if cos:
        text += ["Cosine similarity of the learned feedback-type embeddings (paper §5.3):", "",
                 *markdown_table(["label", *cos], ([r["label"], *[fmt_mean_sd(r.get(c)) for c in cos]]
                                                   for r in rows if cos[0] in r)), ""]
    plot_headline(head, rows, out_dir / "seqrec_headline.png")
    text += [f"![test {head}](seqrec_headline.png)", ""]
    if plot_tier_positions(runs, out_dir / "fig1_negative_sources.png"):
        text += ["Fig. 1 -- source of the hard negative of each training 'up', by position in the training window:",
                 "", "![negative sources by position](fig1_negative_sources.png)", ""]
    for knob in ("p_hard", "hardest_of_k"):
        if plot_sweep(head, rows, knob, out_dir / f"sweep_{knob}.png"):
            text += [f"Fig. 2 -- {head} against {knob}:", "", f"![{head} vs {knob}](sweep_{knob}.png)", ""]
    if plot_convergence(rows, out_dir / "fig3_convergence.png"):
        text += ["Fig. 3 -- epochs and seconds to convergence (best validation epoch), and the test MRR of ups and "
                 "downs among random items, against p_hard:", "",
                 "![convergence vs p_hard](fig3_convergence.png)", ""]
    mix = feedback_mix(runs, kind)
    if plot_feedback_mix(mix, kind, out_dir / "fig4_feedback_mix.png"):
        names = next(iter(mix.values()))["bin"]
        text += [f"Fig. 4 -- per-user AUC ({kind}) by the share of 'up' in the user's history (users pooled over "
                 "seeds); skip-only users separately:", ""]
        text += markdown_table(["label", *names],
                               [*([lab, *["–" if math.isnan(a) else f"{a:.3f}" for a in m["auc"]]]
                                  for lab, m in mix.items()),
                                ["users", *[str(n) for n in next(iter(mix.values()))["users"]]]])
        text += ["", "![accuracy by feedback mix](fig4_feedback_mix.png)", ""]
    write_text(out_dir / "report.md", "\n".join(text))
    return out_dir / "report.md"


def print_summary(out_dir: str | Path, baseline: str | None = None) -> None:
    """The headline table as a compact Rich table (the full report is ``report.md``)."""
    runs = load_runs(out_dir)
    if not runs:
        console().print(f"no seqrec runs in {out_dir}")
        return
    head, rows = summarize(runs, baseline)
    kind = head.rsplit("_", 1)[1]
    print_table(f"{Path(out_dir).name}: test {head} (headline), mean ± sd over seeds",
                ["label", "n", head, f"pair_acc_{kind}", "best_epoch", "Δ vs baseline", "Δ vs best popularity"],
                ([r["label"], str(r["seeds"]), fmt_mean_sd(r.get(head)), fmt_mean_sd(r.get(f"pair_acc_{kind}")),
                  fmt_mean_sd(r.get("best_epoch")), _cmp(r.get("vs_baseline")), _cmp(r.get("vs_pop"))] for r in rows),
                ("label",), f"baseline: {baseline}; full report: {Path(out_dir) / 'report.md'}")
