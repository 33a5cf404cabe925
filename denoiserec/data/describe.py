"""Statistics of a canonical log, as the papers report them: size, feedback kinds, active (e) and label (y)
rates, and the play / active rate by position in the session."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from rich.table import Table


def stats(df: pl.DataFrame) -> dict:
    """Counts and shares: rows, users, items, sessions, mean session length, per-kind shares, active share,
    label share (overall, among active and among passive rows), when present split shares and, on a simulated
    log, the popularity scorer's AUC against the truth (:func:`popularity_auc_true`)."""
    n = df.height
    out = {
        "rows": n,
        "users": df["user"].n_unique(),
        "items": df["item"].n_unique(),
        "sessions": df["session"].n_unique(),
    }
    out["mean_session_length"] = n / max(out["sessions"], 1)
    if n:
        out["active_share"] = float(df["active"].cast(pl.Float64).mean())
        out["label_share"] = float(df["label"].cast(pl.Float64).mean())
        for e, name in ((1, "active"), (0, "passive")):
            sub = df.filter(pl.col("active") == e)
            out[f"label_share_{name}"] = float(sub["label"].cast(pl.Float64).mean()) if sub.height else None
    kinds = df.group_by("feedback").len().sort("len", descending=True)
    out["feedback"] = {k: c / n for k, c in zip(kinds["feedback"], kinds["len"], strict=True)}
    if "split" in df.columns:
        sp = df.group_by("split").len().sort("split")
        out["split"] = {int(k): c / n for k, c in zip(sp["split"], sp["len"], strict=True)}
    if n and "true_preference" in df.columns:
        out["popularity_auc_true"] = popularity_auc_true(df)
    return out


def popularity_auc_true(df: pl.DataFrame) -> float:
    """AUC against the hidden ``true_preference`` of the popularity scorer: each row scored by its item's count of
    positive labels in the rest of the log (leave-one-out, so a row's own label never scores it). Near 0.5: the
    truth is personal; high: what users like is what is popular."""
    from denoiserec.metrics import auc

    s = df.select(score=pl.col("label").cast(pl.Int64).sum().over("item") - pl.col("label").cast(pl.Int64),
                  truth=pl.col("true_preference"))
    return float(auc(s["score"].to_numpy(), s["truth"].to_numpy()))


def by_position(df: pl.DataFrame, max_position: int = 20) -> pl.DataFrame:
    """Per session position (0-based, capped at ``max_position``): rows, play rate (label = 1 share) and
    active rate (e = 1 share), and the active rate after an active / a passive previous row."""
    prev = pl.col("active").shift(1).over("session", order_by="position")
    d = df.select("session", "position", "active", "label").with_columns(
        _prev=prev, position=pl.col("position").clip(upper_bound=max_position))
    return d.group_by("position").agg(
        rows=pl.len(),
        play_rate=pl.col("label").cast(pl.Float64).mean(),
        active_rate=pl.col("active").cast(pl.Float64).mean(),
        active_after_active=pl.col("active").filter(pl.col("_prev") == 1).cast(pl.Float64).mean(),
        active_after_passive=pl.col("active").filter(pl.col("_prev") == 0).cast(pl.Float64).mean(),
    ).sort("position")


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, int):
        return f"{v:,}"
    return "-" if v is None else str(v)


def table(df: pl.DataFrame, title: str = "canonical log") -> Table:
    """A Rich table of :func:`stats`."""
    s = stats(df)
    t = Table(title=title, show_header=True)
    t.add_column("statistic")
    t.add_column("value", justify="right")
    for k, v in s.items():
        if isinstance(v, dict):
            for kk, vv in v.items():
                t.add_row(f"{k} share: {kk}", _fmt(vv))
        else:
            t.add_row(k.replace("_", " "), _fmt(v))
    return t


def position_table(df: pl.DataFrame, max_position: int = 20) -> Table:
    p = by_position(df, max_position)
    t = Table(title=f"by session position (last row: >= {max_position})")
    for c in p.columns:
        t.add_column(c.replace("_", " "), justify="right")
    for row in p.iter_rows():
        t.add_row(*[_fmt(v) for v in row])
    return t


def plot(df: pl.DataFrame, out: str | Path, max_position: int = 20) -> Path:
    """Save the play rate and active rate by session position as a PNG (written atomically)."""
    from denoiserec.io import pyplot, write_png

    p = by_position(df, max_position)
    fig, ax = pyplot().subplots(figsize=(6, 3.5))
    ax.plot(p["position"], p["play_rate"], marker="o", label="play rate (y = 1)")
    ax.plot(p["position"], p["active_rate"], marker="s", label="active rate (e = 1)")
    ax.set_xlabel("position in session")
    ax.set_ylabel("share of rows")
    ax.set_ylim(0, 1)
    ax.legend()
    fig.tight_layout()
    return write_png(fig, out, dpi=120)
