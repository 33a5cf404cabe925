"""Statistics of a canonical log, as the papers report them: size, feedback kinds, active (e) and label (y)
rates, and the play / active rate by position in the session."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from rich.table import Table


def stats(df: pl.DataFrame | pl.LazyFrame) -> dict:
    """Counts and shares: rows, users, items, sessions, mean session length, per-kind shares, active share,
    label share (overall, among active and among passive rows) and, when present, split shares. (``denoiserec data
    describe`` adds, on a simulated log held in memory, the popularity scorer's AUC against the truth:
    :func:`denoiserec.eval.popularity.log_stats`.)

    A LazyFrame (e.g. ``read_log(path, lazy=True)``) is aggregated by Polars' streaming engine, in memory
    bounded by the distinct users, items and sessions rather than by the rows."""
    lf = df.lazy()
    label = pl.col("label").cast(pl.Float64)
    one = lf.select(
        rows=pl.len(), active_share=pl.col("active").cast(pl.Float64).mean(),
        label_share=label.mean(), label_share_active=label.filter(pl.col("active") == 1).mean(),
        label_share_passive=label.filter(pl.col("active") == 0).mean(),
    ).collect(engine="streaming").row(0, named=True)
    for c in ("user", "item", "session"):  # one query each: together they held 5x the memory (Polars 1.x)
        one[f"{c}s"] = lf.select(pl.col(c).n_unique()).collect(engine="streaming").item()
    n = one["rows"]
    out = {k: one[k] for k in ("rows", "users", "items", "sessions")}
    out["mean_session_length"] = n / max(out["sessions"], 1)
    if n:
        for k in ("active_share", "label_share", "label_share_active", "label_share_passive"):
            out[k] = None if one[k] is None else float(one[k])
    kinds = lf.group_by("feedback").len().collect(engine="streaming").sort("len", descending=True)
    out["feedback"] = {k: c / n for k, c in zip(kinds["feedback"], kinds["len"], strict=True)}
    if "split" in lf.collect_schema().names():
        sp = lf.group_by("split").len().collect(engine="streaming").sort("split")
        out["split"] = {int(k): c / n for k, c in zip(sp["split"], sp["len"], strict=True)}
    return out


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


def by_position_streamed(path: str | Path, max_position: int = 20, chunk_rows: int = 1 << 16) -> pl.DataFrame:
    """:func:`by_position` of a log file too large for memory, from chunks of whole users (sessions never
    straddle chunks): per-chunk sums and counts, added up. Needs each user's rows contiguous (the simulator
    writes them so); otherwise reads the four columns it needs into memory."""
    from denoiserec.data.log import EVENTS
    from denoiserec.data.store import user_chunks, users_grouped

    path = Path(path)
    file = path / EVENTS if path.is_dir() else path
    if not users_grouped(file)[0]:
        return by_position(pl.read_parquet(file, columns=["session", "position", "active", "label"]), max_position)
    prev = pl.col("active").shift(1).over("session", order_by="position")
    parts = []
    for chunk in user_chunks(file, chunk_rows, columns=["user", "session", "position", "active", "label"]):
        d = chunk.with_columns(_prev=prev, position=pl.col("position").clip(upper_bound=max_position))
        a = pl.col("active").cast(pl.Int64)
        parts.append(d.group_by("position").agg(
            rows=pl.len(), play=pl.col("label").cast(pl.Int64).sum(), act=a.sum(),
            aa=a.filter(pl.col("_prev") == 1).sum(), aa_n=(pl.col("_prev") == 1).sum(),
            ap=a.filter(pl.col("_prev") == 0).sum(), ap_n=(pl.col("_prev") == 0).sum()))
    if not parts:
        return by_position(pl.read_parquet(file), max_position)
    t = pl.concat(parts).group_by("position").sum()

    def rate(num: str, den: str) -> pl.Expr:
        return pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den))

    return t.select("position", pl.col("rows").cast(pl.UInt32), play_rate=rate("play", "rows"),
                    active_rate=rate("act", "rows"), active_after_active=rate("aa", "aa_n"),
                    active_after_passive=rate("ap", "ap_n")).sort("position")


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, int):
        return f"{v:,}"
    return "-" if v is None else str(v)


def table(df: pl.DataFrame | pl.LazyFrame, title: str = "canonical log", extra: dict | None = None) -> Table:
    """A Rich table of :func:`stats` and then ``extra`` statistics."""
    s = {**stats(df), **(extra or {})}
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


def position_table(df: pl.DataFrame | None, max_position: int = 20, p: pl.DataFrame | None = None) -> Table:
    """A Rich table of :func:`by_position` (or of ``p``, already computed)."""
    p = by_position(df, max_position) if p is None else p
    t = Table(title=f"by session position (last row: >= {max_position})")
    for c in p.columns:
        t.add_column(c.replace("_", " "), justify="right")
    for row in p.iter_rows():
        t.add_row(*[_fmt(v) for v in row])
    return t


def plot(df: pl.DataFrame | None, out: str | Path, max_position: int = 20, p: pl.DataFrame | None = None) -> Path:
    """Save the play rate and active rate by session position as a PNG (written atomically)."""
    from denoiserec.io import pyplot, write_png

    p = by_position(df, max_position) if p is None else p
    fig, ax = pyplot().subplots(figsize=(6, 3.5))
    ax.plot(p["position"], p["play_rate"], marker="o", label="play rate (y = 1)")
    ax.plot(p["position"], p["active_rate"], marker="s", label="active rate (e = 1)")
    ax.set_xlabel("position in session")
    ax.set_ylabel("share of rows")
    ax.set_ylim(0, 1)
    ax.legend()
    fig.tight_layout()
    return write_png(fig, out, dpi=120)
