"""The music-session simulator: determinism, schema, configured rates, and noise in the intended direction."""

from __future__ import annotations

import time

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from denoiserec.cli import app
from denoiserec.data import simulate as sim
from denoiserec.data.kinds import FEEDBACK_KINDS
from denoiserec.data.log import read_log, read_meta
from denoiserec.data.schema import REQUIRED, conform
from denoiserec.data.simulate import SimConfig, simulate, simulate_to, summary
from denoiserec.errors import ConfigError

SMALL = dict(users=300, items=800, artists=100, sessions=3, min_len=5, max_len=15)


@pytest.fixture(scope="module")
def default_log() -> tuple[pl.DataFrame, float]:
    t = time.perf_counter()
    df = simulate(SimConfig())
    return df, time.perf_counter() - t


def test_default_size_and_speed(default_log):
    df, seconds = default_log
    assert 150_000 <= df.height <= 250_000
    assert seconds < 10.0


def test_same_seed_same_output_other_seed_differs():
    a = simulate(SimConfig(**SMALL, seed=7))
    b = simulate(SimConfig(**SMALL, seed=7))
    c = simulate(SimConfig(**SMALL, seed=8))
    assert a.equals(b)
    assert not a.equals(c)


def test_schema_and_structure():
    cfg = SimConfig(**SMALL)
    df = simulate(cfg)
    assert conform(df, "x").equals(df)  # already canonical: types and column order
    for c, t in REQUIRED.items():
        assert df.schema[c] == t
    assert set(df["feedback"].unique()) <= set(FEEDBACK_KINDS)
    for kind, (e, y) in FEEDBACK_KINDS.items():
        sub = df.filter(pl.col("feedback") == kind)
        if sub.height:
            assert set(sub["active"]) == {e} and set(sub["label"]) == {y}
    assert {"true_attention", "true_attention_prob", "true_preference", "true_pref_prob"} <= set(df.columns)
    assert df.select(pl.col("true_pref_prob").is_between(0, 1).all()).item()
    # sessions: exactly `sessions` per user, L in [min_len, max_len], positions 0..L-1, time never goes back
    per = df.group_by("session").agg(pl.len(), pl.col("position").min().alias("lo"),
                                     pl.col("position").max().alias("hi"), pl.col("user").n_unique().alias("nu"))
    assert per.height == cfg.users * cfg.sessions
    assert per["len"].is_between(cfg.min_len, cfg.max_len).all()
    assert (per["lo"] == 0).all() and (per["hi"] == per["len"] - 1).all() and (per["nu"] == 1).all()
    assert df["user"].n_unique() == cfg.users
    bounds = df.group_by("user", "session").agg(pl.col("timestamp").min().alias("t0"),
                                               pl.col("timestamp").max().alias("t1")).sort("user", "t0")
    overlap = bounds.with_columns(prev_end=pl.col("t1").shift(1).over("user")).filter(pl.col("t0") < pl.col("prev_end"))
    assert overlap.height == 0, "sessions of one user overlap in time"
    diffs = df.with_columns(d=pl.col("timestamp").diff().over("session")).filter(pl.col("d") < 0)
    assert diffs.height == 0
    assert (df["hour"].cast(pl.Int64) == (df["timestamp"] // 3600) % 24).all()
    # unplayed rows come only after the session stopped, and never before a played one
    last_played = df.filter(pl.col("feedback") != "unplayed").group_by("session").agg(pl.col("position").max())
    first_unplayed = df.filter(pl.col("feedback") == "unplayed").group_by("session").agg(pl.col("position").min())
    j = last_played.join(first_unplayed, on="session", suffix="_u")
    assert (j["position"] < j["position_u"]).all()


def test_users_across_blocks(monkeypatch):
    monkeypatch.setattr(sim, "BLOCK_USERS", 64)
    cfg = SimConfig(users=150, items=300, artists=40, sessions=2, min_len=3, max_len=4)
    df = simulate(cfg)
    assert df["user"].n_unique() == 150 and df["session"].n_unique() == 300


def test_statistics_match_configured_rates(default_log):
    df, _ = default_log
    s = summary(df)
    cfg = SimConfig()
    assert s["active_after_active"] == pytest.approx(cfg.active_after_active, abs=0.03)
    assert s["active_after_passive"] == pytest.approx(cfg.active_after_passive, abs=0.01)
    assert 0.06 <= s["active_rate"] <= 0.12
    # other targets are reached too, not just the defaults
    other = summary(simulate(SimConfig(users=1000, active_after_active=0.35, active_after_passive=0.12, seed=3)))
    assert other["active_after_active"] == pytest.approx(0.35, abs=0.03)
    assert other["active_after_passive"] == pytest.approx(0.12, abs=0.015)


def test_attention_starts_high_and_decays(default_log):
    df, _ = default_log
    by = df.filter(pl.col("feedback") != "unplayed").group_by("position").agg(pl.col("true_attention").mean())
    by = dict(by.iter_rows())
    assert by[0] > by[3] > by[9]


def test_labels_noisy_in_the_intended_direction(default_log):
    df, _ = default_log
    agree = (pl.col("label") == pl.col("true_preference")).mean()
    act = df.filter(pl.col("active") == 1).select(agree).item()
    pas = df.filter(pl.col("active") == 0).select(agree).item()
    assert act > 0.9
    assert pas < act - 0.2
    # active rows follow the preference
    pref = dict(df.group_by("feedback").agg(pl.col("true_preference").mean()).iter_rows())
    assert pref["like"] > 0.9 and pref["skip"] < 0.1 and pref["dislike"] < 0.1
    # passive positives include disliked tracks (autoplay noise), passive negatives liked ones (unplayed noise)
    assert 0.2 < pref["autoplay"] < 0.9 and 0.2 < pref["unplayed"] < 0.9
    # actions imply attention; nobody attends to an unplayed track; most auto-plays are inattentive
    att = dict(df.group_by("feedback").agg(pl.col("true_attention").mean()).iter_rows())
    assert att["like"] == 1.0 and att["skip"] == 1.0 and att["unplayed"] == 0.0 and att["autoplay"] < 0.3


def test_no_slip_means_actions_never_contradict_preference():
    df = simulate(SimConfig(**SMALL, slip=0.0))
    act = df.filter(pl.col("active") == 1)
    assert act.height > 100 and (act["label"] == act["true_preference"]).all()


def test_simulate_to_roundtrip_and_meta(tmp_path, monkeypatch):
    monkeypatch.setattr(sim, "BLOCK_USERS", 100)  # several blocks streamed into one file
    cfg = SimConfig(**SMALL, seed=5)
    meta = simulate_to(cfg, tmp_path / "out", progress=False)
    df = read_log(tmp_path / "out")
    assert df.equals(simulate(cfg))
    m = read_meta(tmp_path / "out")
    assert m["rows"] == df.height == meta["rows"] and m["config"]["seed"] == 5 and m["source"] == "simulator"
    s = summary(df)
    assert m["rates"]["active_after_passive"] == pytest.approx(s["active_after_passive"], abs=1e-3)
    assert m["rates"]["active_rate"] == pytest.approx(s["active_rate"], abs=1e-3)


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(sim, "BLOCK_USERS", 100)
    real = sim._simulate_block
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return real(*args, **kwargs)

    monkeypatch.setattr(sim, "_simulate_block", failing)
    with pytest.raises(RuntimeError):
        simulate_to(SimConfig(**SMALL), tmp_path / "out", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_config_validation():
    with pytest.raises(ConfigError):
        SimConfig(min_len=10, max_len=5)
    with pytest.raises(ConfigError):
        SimConfig(slip=1.5)
    with pytest.raises(ConfigError):
        SimConfig.from_dict({"nope": 1})
    assert SimConfig.from_dict({"users": 3}).users == 3


def test_cli(tmp_path):
    out = tmp_path / "sim"
    r = CliRunner().invoke(app, ["simulate", "--out", str(out), "--users", "50", "--items", "200", "--sessions", "2",
                                 "--seed", "4", "--set", "slip=0.0", "--set", "artists=30", "--quiet"])
    assert r.exit_code == 0, r.output
    meta = read_meta(out)
    assert meta["config"]["slip"] == 0.0 and meta["config"]["users"] == 50
    assert read_log(out)["user"].n_unique() == 50
    bad = CliRunner().invoke(app, ["simulate", "-o", str(tmp_path / "bad"), "--set", "bogus=1"])
    assert bad.exit_code != 0 and not (tmp_path / "bad").exists()
    r = CliRunner().invoke(app, ["simulate", "-o", str(tmp_path / "feed"), "--scenario", "feed", "--users", "40",
                                 "--quiet"])
    assert r.exit_code == 0, r.output
    assert read_meta(tmp_path / "feed")["config"]["mode"] == "feed"
    bad = CliRunner().invoke(app, ["simulate", "-o", str(tmp_path / "bad"), "--scenario", "tv"])
    assert bad.exit_code != 0 and "scenario" in bad.output and not (tmp_path / "bad").exists()
    assert "station" in CliRunner().invoke(app, ["simulate", "--help"]).output


def test_pref_prob_is_informative(default_log):
    """The hidden preference is learnable from user x item (else no method could recover it)."""
    df, _ = default_log
    y = df["true_preference"].to_numpy()
    p = df["true_pref_prob"].to_numpy()
    order = np.argsort(p)
    ranks = np.empty(len(p))
    ranks[order] = np.arange(1, len(p) + 1)
    n1 = y.sum()
    auc = (ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * (len(y) - n1))
    assert auc > 0.75


# --- scenarios and the knobs they turn (docs/simulator.md) -----------------------------------------------------


def _auc(score, truth) -> float:
    from denoiserec.eval.metrics import auc

    return float(auc(np.asarray(score, dtype=float), np.asarray(truth, dtype=float)))


def _since(df: pl.DataFrame, event: pl.Expr) -> pl.Series:
    """Per row: plays since the last row where ``event`` held before it (the session start counts)."""
    x = df.sort("session", "position").with_columns(_g=event.shift(1).over("session").fill_null(True).cast(pl.Int32)
                                                    .cum_sum().over("session"))
    return x.with_columns(_k=pl.int_range(pl.len()).over("session", "_g")).select(
        "session", "position", "_k", "true_attention", "active", "feedback")


@pytest.mark.parametrize("name", sorted(sim.SCENARIOS))
def test_scenarios_build_and_keep_the_schema(name):
    df = simulate(SimConfig.from_dict({"scenario": name, **SMALL}))
    assert conform(df, "x").equals(df) and df.height > 0
    assert set(df["feedback"].unique()) <= set(FEEDBACK_KINDS)
    for kind, (e, y) in FEEDBACK_KINDS.items():
        sub = df.filter(pl.col("feedback") == kind)
        if sub.height:
            assert set(sub["active"]) == {e} and set(sub["label"]) == {y}
    assert SimConfig.from_dict({"scenario": name}).scenario == name


def test_scenario_settings():
    assert SimConfig.from_dict({}) == SimConfig()  # the default scenario is the defaults
    feed = simulate(SimConfig.from_dict({"scenario": "feed", "users": 400}))
    assert set(feed["feedback"].unique()) <= {"click", "unclick", "like", "dislike"}
    # a feed logs what was shown only: positions 0..n-1 and no unplayed rows
    per = feed.group_by("session").agg(pl.len(), pl.col("position").max().alias("hi"))
    assert (per["hi"] == per["len"] - 1).all()
    station = dict(simulate(SimConfig.from_dict({"scenario": "station", "users": 400}))["feedback"]
                   .value_counts().iter_rows())
    assert station["skip"] > 2 * station["like"] > 2 * station["dislike"] and "share" not in station
    with pytest.raises(ConfigError, match="scenario"):
        SimConfig.from_dict({"scenario": "nope"})
    assert SimConfig.from_dict({"scenario": "station", "act_like": 0.3}).act_like == 0.3  # options win


def test_attention_history_moves_attention_from_the_last_action_to_the_features():
    """λ = 0: the plays since the last action (EDM's signal) rank attention better than the plays since the last
    change of genre (a feature-history signal); λ = 1: the other way round. The active rate is kept."""
    out = {}
    for lam in (0.0, 1.0):
        df = simulate(SimConfig(users=600, attention_history=lam, seed=4))
        genre_change = pl.col("category") != pl.col("category").shift(1).over("session")
        passive_played = (pl.col("active") == 0) & (pl.col("feedback") != "unplayed")
        a = _since(df, pl.col("active") == 1).filter(passive_played)
        g = _since(df, genre_change.fill_null(True)).filter(passive_played)
        out[lam] = (_auc(-a["_k"], a["true_attention"]), _auc(-g["_k"], g["true_attention"]), df["active"].mean())
    (edm0, feat0, rate0), (edm1, feat1, rate1) = out[0.0], out[1.0]
    assert edm0 > feat0 + 0.1 and feat1 > edm1 + 0.05
    assert feat1 > feat0 + 0.1 and edm0 > edm1 + 0.05
    assert rate1 == pytest.approx(rate0, abs=0.01)


def test_pref_popularity_makes_popularity_predict_the_truth():
    from denoiserec.eval.popularity import popularity_auc_true

    base = dict(users=600, seed=5)
    flat = popularity_auc_true(simulate(SimConfig(**base)))
    tilted = popularity_auc_true(simulate(SimConfig(**base, pref_popularity=1.5)))
    assert abs(flat - 0.5) < 0.05 and tilted > 0.65
    assert popularity_auc_true(simulate(SimConfig(**base, pref_popularity=-1.5))) < 0.4  # sign matters


def test_kind_share_and_context_knobs():
    df = simulate(SimConfig(**SMALL, share_rate=0.3, download_rate=0.0, context_p=[0, 0, 0, 1, 0, 0]))
    pos = df.filter(pl.col("feedback").is_in(["like", "share", "download"]))
    share = (pos["feedback"] == "share").mean()
    assert share == pytest.approx(0.3, abs=0.05) and (pos["feedback"] != "download").all()
    assert set(df["context"]) == {"album"}
    with pytest.raises(ConfigError, match="context_p"):
        SimConfig(context_p=[1.0, 0.0])
    with pytest.raises(ConfigError, match="mode"):
        SimConfig(mode="tv")


def test_stop_user_sd_fattens_the_session_tail():
    cfg = dict(users=800, mode="feed", emit_unplayed=False, min_len=60, max_len=60, stop_rate=0.3, seed=6)
    plain = simulate(SimConfig(**cfg)).group_by("session").len()["len"]
    spread = simulate(SimConfig(**cfg, stop_user_sd=1.5)).group_by("session").len()["len"]
    assert spread.quantile(0.95) > plain.quantile(0.95) and (spread > 15).sum() > 3 * (plain > 15).sum()


def _digest(df: pl.DataFrame) -> str:
    import hashlib

    h = hashlib.sha256()
    for c in df.columns:
        h.update(c.encode())
        h.update("|".join(map(str, df[c].to_list())).encode())
    return h.hexdigest()


def test_default_knobs_leave_the_log_bit_identical():
    """The knobs added later (``propensity_history``, ``dislike_drift``, ...) leave the log at their defaults as it
    was: digests of every column's values, recorded before ``propensity_history`` was added."""
    small = dict(users=40, items=300, artists=60, seed=5)
    assert _digest(simulate(SimConfig(**small))) == \
        "2dc33fc6ebce9b59dac067e4d84d9a9db0f5500bad3807ce0d761460a41f3ec7"
    assert _digest(simulate(SimConfig(**small, attention_history=0.5, mode="feed"))) == \
        "b0e60bc687b98f32d79b68d5196a62417e49a4542eb1fa04cd7fc77bbcbd9ca5"


def test_propensity_history_scales_acting_after_a_passive_play():
    """κ: an attentive user acts (1-κ) times as often after a passive play as after an action; κ = 0 leaves the
    two equal (the propensity is then history-blind). Attention is feature-driven here (λ = 1), so the ratio is
    the propensity's alone."""
    out = {}
    for kappa in (0.0, 0.6):
        df = simulate(SimConfig(users=400, attention_history=1.0, propensity_history=kappa, seed=2))
        df = df.with_columns(prev=pl.col("active").shift(1).over("session", order_by="position"))
        att = df.filter((pl.col("true_attention") == 1) & pl.col("prev").is_not_null())
        rate = att.group_by("prev").agg(pl.col("active").mean()).sort("prev")["active"].to_list()
        out[kappa] = rate[0] / rate[1]  # P(act | attentive, after passive) / P(act | attentive, after action)
    assert out[0.0] == pytest.approx(1.0, abs=0.05)
    assert out[0.6] == pytest.approx(0.4, abs=0.05)
    with pytest.raises(ConfigError):
        SimConfig(propensity_history=1.5)


def _near_dislikes(df: pl.DataFrame) -> dict[tuple[bool, bool], tuple[float, float]]:
    """(user's sign is +, item's genre disliked by her earlier) -> (mean true_pref_prob, click rate)."""
    first = df.filter(pl.col("feedback") == "dislike").group_by("user", "category").agg(first=pl.col("timestamp").min())
    df = df.join(first, on=["user", "category"], how="left").with_columns(
        near=pl.col("first").is_not_null() & (pl.col("first") < pl.col("timestamp")),
        plus=pl.col("user").str.slice(1).cast(pl.Int64) % 2 == 0)
    by = df.group_by("plus", "near").agg(pl.col("true_pref_prob").mean(), pl.col("label").mean())
    return {(p, n): (pi, y) for p, n, pi, y in by.iter_rows()}


def test_dislike_drift_moves_each_users_preference_near_her_dislikes_by_her_sign():
    """``dislike_drift`` c: after her dislikes, a '+' user (even number) prefers and clicks items of the genres she
    disliked more than without the drift, a '-' user less; items of other genres barely move. A sign flip of
    ``s_u`` (or of c) fails both directions."""
    knobs = {"scenario": "feed", "users": 300, "items": 300, "artists": 60, "sessions": 8, "dislike_share": 0.5,
             "seed": 1}
    off = _near_dislikes(simulate(SimConfig.from_dict(knobs)))
    on = _near_dislikes(simulate(SimConfig.from_dict({**knobs, "dislike_drift": 3.0})))
    diff = {k: (on[k][0] - off[k][0], on[k][1] - off[k][1]) for k in off}
    assert diff[True, True][0] > 0.15 and diff[True, True][1] > 0.01     # '+': preference and clicks rise
    assert diff[False, True][0] < -0.15 and diff[False, True][1] < -0.01  # '-': both fall
    assert abs(diff[True, False][0]) < 0.05 and abs(diff[False, False][0]) < 0.05
    with pytest.raises(ConfigError):
        SimConfig(dislike_drift=-1.0)
