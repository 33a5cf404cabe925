"""Fit the simulator's knobs to a real (prepared) log: ``denoiserec simulate --like PREPARED_DIR``.

:func:`profile` measures the statistics the issue names on any canonical log -- session-length distribution,
active / label / unplayed rates, P(e_t | e_{t-1}) over consecutive played rows, the active rate by session
position, feedback-kind shares, the item-popularity curve (rank-frequency slope, top-1 % share) and the share of
explicit thumbs. :func:`fit` maps them onto :class:`~denoiserec.data.simulate.SimConfig`:

* read off directly: ``users``, ``sessions`` per user, ``mode`` (``feed`` when the log has click/unclick),
  ``emit_unplayed`` (whether it logs never-reached rows), ``min_len``/``max_len`` (1st/99th percentile of the
  session length; without unplayed rows both are the longest session, capped at :data:`MAX_LEN_CAP`, and the
  stop hazard shapes the rest),
  ``stop_rate`` / ``stop_after_negative`` (the per-play hazard of a session ending after a non-negative / a
  negative action), ``active_after_active`` / ``active_after_passive`` (the simulator's own targets),
  ``dislike_share``, ``share_rate``, ``download_rate``;
* fitted by fixed-point passes on pilot simulations of the same size (:data:`PASSES`): ``start_attention``
  (active rate at position 0), ``pref_bias`` (positive share of actions; music mode only),
  for a log without unplayed rows ``stop_rate`` (the session-end hazard per play) and ``stop_user_sd`` (how
  far the hazard at position 0 exceeds it),
  ``popularity_exponent`` (rank-frequency slope) and ``items`` (distinct items seen).

Not identifiable from a log without the truth, left at the base scenario's value: ``taste_scale``,
``pref_popularity``, ``quality_sd``, ``slip``, ``attention_history``, the attention offsets, ``pref_bias`` in a
feed (click rate = attention x clicking, one statistic for two knobs), and
``act_like / act_dislike`` (in a music log the positive share of actions and the label rate both measure
``P(prefers) · act_like`` against ``P(does not) · act_dislike``, so the ratio trades off against ``pref_bias``;
the fit moves ``pref_bias`` only). A log whose rows
are all active (KuaiRand's like/hate export) forces ``act_like = act_dislike = 1`` and full attention.
:data:`TOLERANCES` states how close the simulated statistics must come; :func:`compare` checks them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, replace

import numpy as np
import polars as pl

from denoiserec.data.simulate import SimConfig, simulate

#: Fixed-point passes over pilot simulations.
PASSES = 6
#: Pilot simulations use at most this many users: a larger log is fitted on a random subset of its users (the
#: rates are per row and session; the number of distinct items is compared on the same subset), then the fitted
#: config gets the log's full user count, so the fit's memory stays bounded whatever the log's size.
PILOT_USERS = 20_000
#: Longest session the fit simulates (the simulator holds [sessions, max_len] matrices per block).
MAX_LEN_CAP = 100
#: Statistic -> (kind, tolerance): ``abs`` |sim − real| <= tol, ``rel`` |sim − real| <= tol·|real|.
TOLERANCES: dict[str, tuple[str, float]] = {
    "users": ("rel", 0.0),
    "rows": ("rel", 0.10),
    "sessions_per_user": ("rel", 0.05),
    "items": ("rel", 0.15),
    "mean_session_length": ("rel", 0.10),
    "median_session_length": ("rel", 0.20),
    "p90_session_length": ("rel", 0.20),
    "unplayed_rate": ("abs", 0.03),
    "active_rate": ("abs", 0.03),
    "label_rate": ("abs", 0.03),
    "active_after_active": ("abs", 0.05),
    "active_after_passive": ("abs", 0.03),
    "active_rate_position0": ("abs", 0.05),
    "active_rate_position5plus": ("abs", 0.05),
    "positive_share_of_actions": ("abs", 0.05),
    "explicit_share_of_actions": ("abs", 0.05),
    "share_active_positive": ("abs", 0.03),
    "share_active_negative": ("abs", 0.03),
    "share_passive_positive": ("abs", 0.03),
    "share_passive_negative": ("abs", 0.03),
    "popularity_slope": ("abs", 0.15),
    "top1pct_item_share": ("abs", 0.05),
}
KIND_TOL = 0.03  # abs tolerance of a feedback-kind share (checked where both logs have the kind)
NEGATIVE = ("skip", "dislike")
EXPLICIT = ("like", "dislike")  # thumbs


def _mean(x: pl.Series) -> float:
    return float(x.mean()) if x.len() else math.nan


def profile(df: pl.DataFrame) -> dict:
    """The calibration statistics of a canonical log (``feedback_*``: each kind's share of rows)."""
    d = df.select("user", "item", "session", "position", "feedback", "active", "label").sort("session", "position")
    played = pl.col("feedback") != "unplayed"
    d = d.with_columns(_played=played, _prev_active=pl.col("active").shift(1).over("session"),
                       _prev_played=played.shift(1).over("session"))
    lengths = d.group_by("session").agg(pl.len().alias("n"), pl.col("user").first())["n"]
    pairs = d.filter(pl.col("_played") & pl.col("_prev_played").fill_null(False))
    act = d.filter(pl.col("active") == 1)
    out: dict = {
        "rows": d.height, "users": d["user"].n_unique(), "items": d["item"].n_unique(),
        "sessions_per_user": d["session"].n_unique() / max(d["user"].n_unique(), 1),
        "mean_session_length": _mean(lengths.cast(pl.Float64)),
        "median_session_length": float(lengths.median()), "p90_session_length": float(lengths.quantile(0.9)),
        "unplayed_rate": _mean((d["feedback"] == "unplayed").cast(pl.Float64)),
        "active_rate": _mean(d["active"].cast(pl.Float64)), "label_rate": _mean(d["label"].cast(pl.Float64)),
        "active_after_active": _mean(pairs.filter(pl.col("_prev_active") == 1)["active"].cast(pl.Float64)),
        "active_after_passive": _mean(pairs.filter(pl.col("_prev_active") == 0)["active"].cast(pl.Float64)),
        "active_rate_position0": _mean(d.filter(pl.col("position") == 0)["active"].cast(pl.Float64)),
        "active_rate_position5plus": _mean(d.filter((pl.col("position") >= 5) & pl.col("_played"))["active"]
                                           .cast(pl.Float64)),
        "positive_share_of_actions": _mean(act["label"].cast(pl.Float64)),
        "explicit_share_of_actions": _mean(act["feedback"].is_in(EXPLICIT).cast(pl.Float64)),
    }
    for e, en in ((1, "active"), (0, "passive")):
        for y, yn in ((1, "positive"), (0, "negative")):
            out[f"share_{en}_{yn}"] = _mean(((d["active"] == e) & (d["label"] == y)).cast(pl.Float64))
    counts = np.sort(d.group_by("item").len()["len"].to_numpy())[::-1].astype(float)
    out["top1pct_item_share"] = float(counts[: max(1, len(counts) // 100)].sum() / counts.sum())
    # slope of log frequency on log rank over the head (ranks 1 .. 10 % of the items), the Zipf exponent
    head = max(5, len(counts) // 10)
    r = np.arange(1, min(head, len(counts)) + 1)
    out["popularity_slope"] = float(-np.polyfit(np.log(r), np.log(counts[: len(r)]), 1)[0]) if len(r) > 2 else 0.0
    kinds = d.group_by("feedback").len()
    out.update({f"feedback_{k}": c / d.height for k, c in kinds.iter_rows()})
    # session-end hazards (for the fit): P(last played row | played row), after a negative action and otherwise
    last = d.filter(pl.col("_played")).group_by("session").agg(pl.col("position").max().alias("_last"))
    p = d.filter(pl.col("_played")).join(last, on="session").join(
        d.group_by("session").agg(pl.len().alias("_n")), on="session")
    censored = (pl.col("position") == pl.col("_n") - 1) if "unplayed" in set(kinds["feedback"]) else pl.lit(False)
    p = p.filter(~censored).with_columns(_end=(pl.col("position") == pl.col("_last")).cast(pl.Float64),
                                         _neg=pl.col("feedback").is_in(NEGATIVE))
    out["_stop_plain"] = _mean(p.filter(~pl.col("_neg"))["_end"])
    out["_stop_position0"] = _mean(p.filter(~pl.col("_neg") & (pl.col("position") == 0))["_end"])
    out["_stop_negative"] = _mean(p.filter(pl.col("_neg"))["_end"])
    out["_length_q01"] = float(lengths.quantile(0.01))
    out["_length_q99"] = float(lengths.quantile(0.99))
    out["_length_max"] = int(lengths.max())
    return out


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def _ok(x: float) -> bool:
    return x is not None and not math.isnan(x)


def _clip(x: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return float(min(max(x, lo), hi))


def direct_knobs(real: dict, base: SimConfig) -> dict:
    """The knobs read straight off the statistics."""
    k: dict = {"users": int(real["users"]), "sessions": max(1, round(real["sessions_per_user"])),
               "items": max(int(real["items"]), 2)}
    feed = "feedback_unclick" in real
    k["mode"] = "feed" if feed else "music"
    k["emit_unplayed"] = "feedback_unplayed" in real
    if k["emit_unplayed"]:  # every session is its whole recommended list: L ~ U{q01..q99}
        k["max_len"] = int(min(max(math.ceil(real["_length_q99"]), 1), MAX_LEN_CAP))
        k["min_len"] = int(min(max(math.floor(real["_length_q01"]), 1), k["max_len"]))
    else:  # only what was shown: a long list, cut by the stop hazard
        k["max_len"] = k["min_len"] = int(min(max(real["_length_max"], 1), MAX_LEN_CAP))
    if _ok(real["_stop_plain"]):
        k["stop_rate"] = _clip(real["_stop_plain"])
    if _ok(real["_stop_negative"]):
        k["stop_after_negative"] = _clip(real["_stop_negative"] - k.get("stop_rate", base.stop_rate))
    for name in ("active_after_active", "active_after_passive"):
        if _ok(real[name]):
            k[name] = _clip(real[name], 0.001, 0.999)
    share = {x: real.get(f"feedback_{x}", 0.0) for x in ("like", "share", "download", "dislike", "skip", "click")}
    if feed:
        pos = share["click"] + share["like"]
        if pos > 0:
            k["share_rate"], k["download_rate"] = _clip(share["like"] / pos), 0.0
    else:
        pos = share["like"] + share["share"] + share["download"]
        if pos > 0:
            k["share_rate"], k["download_rate"] = _clip(share["share"] / pos), _clip(share["download"] / pos)
        neg = share["dislike"] + share["skip"]
        if neg > 0:
            k["dislike_share"] = _clip(share["dislike"] / neg)
    ps = real["positive_share_of_actions"]
    if _ok(ps) and ps in (0.0, 1.0):  # only one direction of action is logged (Last.fm: skips, no likes)
        k["act_like" if ps == 0.0 else "act_dislike"] = 0.0
    if _ok(real["active_rate"]) and real["active_rate"] > 0.97:  # every row an action: full attention, always act
        k.update(act_like=1.0, act_dislike=1.0, start_attention=1.0, active_after_active=1.0,
                 active_after_passive=k.get("active_after_passive", 1.0))
    return k


def fit(real_df: pl.DataFrame | dict, base: SimConfig | None = None, passes: int = PASSES, seed: int = 0
        ) -> tuple[SimConfig, dict]:
    """Knobs that make the simulator reproduce ``real_df``'s :func:`profile`; returns (config, the real profile).

    ``base`` (default :class:`SimConfig`) supplies every knob the log does not identify."""
    full = real_df if isinstance(real_df, dict) else profile(real_df)
    real = full
    if not isinstance(real_df, dict) and full["users"] > PILOT_USERS:
        keep = real_df["user"].unique().sort().sample(PILOT_USERS, seed=seed)
        real = profile(real_df.filter(pl.col("user").is_in(keep.implode())))
    base = base or SimConfig()
    cfg = replace(base, **direct_knobs(real, base), seed=seed)
    all_active = cfg.act_like == 1.0 and cfg.act_dislike == 1.0 and cfg.start_attention == 1.0
    for _ in range(passes):
        sim = profile(simulate(cfg))
        upd: dict = {}
        # the preference level, from the positive share of actions (free of the session-end fit); not in a feed,
        # where the label is the click and the click rate is already the attention chain's
        stat = "positive_share_of_actions"
        if cfg.mode != "feed" and _ok(real[stat]) and _ok(sim[stat]) and 0 < real[stat] < 1:
            upd["pref_bias"] = cfg.pref_bias + _logit(real[stat]) - _logit(sim[stat])
        if not all_active:
            if _ok(real["active_rate_position0"]) and _ok(sim["active_rate_position0"]):
                x = _logit(cfg.start_attention) + _logit(real["active_rate_position0"]) \
                    - _logit(sim["active_rate_position0"])
                upd["start_attention"] = _clip(1 / (1 + math.exp(-x)), 0.001, 0.999)
        # a log of shown rows only (no unplayed): the hazard over all plays sets stop_rate, the excess of the
        # hazard at position 0 over it the per-user spread stop_user_sd (a spread makes long sessions the work of
        # the users who stop less, so the hazard per play falls below the hazard per session start)
        r0, s0, ra, sa = real["_stop_position0"], sim["_stop_position0"], real["_stop_plain"], sim["_stop_plain"]
        if not cfg.emit_unplayed and all(_ok(x) and 0 < x < 1 for x in (r0, s0, ra, sa)):
            upd["stop_rate"] = _clip(1 / (1 + math.exp(-(_logit(cfg.stop_rate) + _logit(ra) - _logit(sa)))),
                                     0.0005, 0.9995)
            excess = (_logit(r0) - _logit(ra)) - (_logit(s0) - _logit(sa))
            upd["stop_user_sd"] = float(np.clip(cfg.stop_user_sd + 2.0 * excess, 0.0, 4.0))
        # the attention chain's targets: read off the log, then corrected where the simulator misses them
        for name in ("active_after_active", "active_after_passive"):
            if not all_active and _ok(real[name]) and _ok(sim[name]):
                upd[name] = _clip(getattr(cfg, name) + real[name] - sim[name], 0.001, 0.999)
        if sim["popularity_slope"] > 0 and real["popularity_slope"] > 0:
            upd["popularity_exponent"] = float(np.clip(
                cfg.popularity_exponent * real["popularity_slope"] / sim["popularity_slope"], 0.05, 3.0))
        if sim["items"] > 0:
            # at most doubled or halved per pass: a small sample where nearly every row is another item says
            # little about the catalogue size
            upd["items"] = max(2, round(cfg.items * float(np.clip(real["items"] / sim["items"], 0.5, 2.0))))
        cfg = replace(cfg, **upd)
    return replace(cfg, users=int(full["users"])), full


def compare(real: dict, sim: dict) -> list[dict]:
    """Per statistic: real, simulated, the tolerance and whether it is met (kind shares: ``KIND_TOL``, where both
    logs name the kind; the (e, y) class shares compare kinds by meaning)."""
    rows = []
    kinds = sorted({k for k in (*real, *sim) if k.startswith("feedback_")})
    for name in [*TOLERANCES, *kinds]:
        how, tol = TOLERANCES.get(name, ("abs", KIND_TOL))
        r, s = real.get(name, math.nan), sim.get(name, math.nan)
        if name in kinds and _ok(r) != _ok(s):  # a kind only one log names (MSSD's click, Last.fm's complete)
            r, s = (r if _ok(r) else 0.0), (s if _ok(s) else 0.0)
            rows.append({"statistic": name, "real": r, "simulated": s, "tolerance": "named in one log only",
                         "ok": None})
            continue
        if not (_ok(r) and _ok(s)):
            rows.append({"statistic": name, "real": r, "simulated": s, "tolerance": f"{how} {tol}", "ok": None})
            continue
        bound = tol * abs(r) if how == "rel" else tol
        rows.append({"statistic": name, "real": r, "simulated": s, "tolerance": f"{how} {tol:g}",
                     "ok": bool(abs(s - r) <= bound + 1e-12)})
    return rows


def fitted_knobs(cfg: SimConfig, base: SimConfig | None = None) -> dict:
    """The knobs whose fitted value differs from ``base`` (default :class:`SimConfig`)."""
    b = asdict(base or SimConfig())
    return {k: v for k, v in asdict(cfg).items() if b.get(k) != v and k != "seed"}


def table(rows: list[dict], title: str):
    """A Rich table of :func:`compare`'s rows."""
    from rich.table import Table

    t = Table(title=title)
    for c in ("statistic", "real", "simulated", "tolerance", "ok"):
        t.add_column(c, justify="left" if c == "statistic" else "right")
    for r in rows:
        fmt = (lambda v: "-" if not _ok(v) else (f"{v:,.0f}" if abs(v) >= 100 else f"{v:.4f}"))  # noqa: E731
        t.add_row(r["statistic"], fmt(r["real"]), fmt(r["simulated"]), r["tolerance"],
                  "-" if r["ok"] is None else ("yes" if r["ok"] else "NO"))
    return t


def plot(real_df: pl.DataFrame, sim_df: pl.DataFrame, out, title: str = "", max_position: int = 20):
    """Real vs simulated, three panels: session-length distribution, active rate by session position, item
    rank-frequency curve (log-log). Written atomically as a PNG."""
    from denoiserec.io import pyplot, write_png

    fig, axes = pyplot().subplots(1, 3, figsize=(13, 3.6))
    for df, name, style in ((real_df, "real", "-"), (sim_df, "simulated", "--")):
        lengths = df.group_by("session").len()["len"].clip(upper_bound=max_position * 2).to_numpy()
        axes[0].hist(lengths, bins=np.arange(1, max_position * 2 + 2), density=True, histtype="step", ls=style,
                     label=name)
        by = df.with_columns(pl.col("position").clip(upper_bound=max_position)).group_by("position").agg(
            pl.col("active").cast(pl.Float64).mean()).sort("position")
        axes[1].plot(by["position"], by["active"], ls=style, marker="o", ms=3, label=name)
        counts = np.sort(df.group_by("item").len()["len"].to_numpy())[::-1]
        axes[2].loglog(np.arange(1, len(counts) + 1), counts / counts.sum(), ls=style, label=name)
    axes[0].set_xlabel(f"session length (capped at {max_position * 2})")
    axes[0].set_ylabel("share of sessions")
    axes[1].set_xlabel(f"position in session (last: >= {max_position})")
    axes[1].set_ylabel("active rate")
    axes[1].set_ylim(0, 1.05)
    axes[2].set_xlabel("item rank")
    axes[2].set_ylabel("share of rows")
    for ax in axes:
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return write_png(fig, out, dpi=110)
