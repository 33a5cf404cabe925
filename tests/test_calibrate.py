"""Calibration of the simulator to a log (denoiserec.data.calibrate): parameter recovery with stated tolerances,
the KuaiRand sample within the documented tolerances, and `simulate --like`."""

from __future__ import annotations

from dataclasses import replace

import pytest
from typer.testing import CliRunner

from denoiserec.cli import app
from denoiserec.data import calibrate as cal
from denoiserec.data.log import read_log, read_meta, write_log
from denoiserec.data.simulate import SimConfig, simulate

#: knob -> (true value, tolerance of the recovered value): music log with unplayed rows (docs/simulator.md)
MUSIC_TRUTH = {"popularity_exponent": (1.0, 0.1), "active_after_active": (0.45, 0.03),
               "active_after_passive": (0.08, 0.01), "start_attention": (0.4, 0.06), "pref_bias": (-0.2, 0.35),
               "dislike_share": (0.4, 0.03), "stop_rate": (0.03, 0.006), "stop_after_negative": (0.1, 0.02),
               "share_rate": (0.2, 0.02), "download_rate": (0.05, 0.015)}
EXACT = {"users": 800, "sessions": 3, "min_len": 8, "max_len": 20}


def test_parameter_recovery_music():
    true = SimConfig(items=3000, seed=11, **EXACT, **{k: v for k, (v, _) in MUSIC_TRUTH.items()})
    fitted, real = cal.fit(simulate(true), seed=111)  # starts from the defaults, another world
    for k, v in EXACT.items():
        assert getattr(fitted, k) == v, k
    assert fitted.items == pytest.approx(true.items, rel=0.12)
    for k, (v, tol) in MUSIC_TRUTH.items():
        assert getattr(fitted, k) == pytest.approx(v, abs=tol), k
    assert fitted.mode == "music" and fitted.emit_unplayed and fitted.stop_user_sd == 0.0
    rows = cal.compare(real, cal.profile(simulate(fitted)))
    assert all(r["ok"] for r in rows if r["ok"] is not None), [r for r in rows if r["ok"] is False]


def test_parameter_recovery_feed_without_unplayed_rows():
    """A feed log (only shown rows): the stop hazard, the attention chain and the kind shares are recovered, with
    the preference level known (it is not identifiable from clicks alone: docs/simulator.md)."""
    base = SimConfig.from_dict({"scenario": "feed"})
    # active_after_active below what the feed can reach (a click needs attention and P(click | attentive) ~ 0.3)
    true = replace(base, users=600, sessions=4, items=2000, stop_rate=0.12, stop_user_sd=0.6,
                   active_after_active=0.22, active_after_passive=0.08, share_rate=0.2, seed=21)
    fitted, real = cal.fit(simulate(true), base=base, seed=121)
    assert fitted.mode == "feed" and not fitted.emit_unplayed
    assert fitted.stop_rate == pytest.approx(0.12, abs=0.03)
    assert fitted.stop_user_sd == pytest.approx(0.6, abs=0.4)
    assert fitted.active_after_active == pytest.approx(0.22, abs=0.04)
    assert fitted.active_after_passive == pytest.approx(0.08, abs=0.01)
    assert fitted.share_rate == pytest.approx(0.2, abs=0.03)
    assert fitted.popularity_exponent == pytest.approx(base.popularity_exponent, abs=0.1)
    rows = cal.compare(real, cal.profile(simulate(fitted)))
    assert all(r["ok"] for r in rows if r["ok"] is not None), [r for r in rows if r["ok"] is False]


def test_profile_reads_the_rates():
    df = simulate(SimConfig(users=300, items=800, artists=100, sessions=3, seed=2))
    p = cal.profile(df)
    assert p["users"] == 300 and p["sessions_per_user"] == 3 and p["rows"] == df.height
    assert p["unplayed_rate"] == pytest.approx((df["feedback"] == "unplayed").mean())
    assert p["active_rate"] == pytest.approx(df["active"].mean())
    assert sum(v for k, v in p.items() if k.startswith("feedback_")) == pytest.approx(1.0)
    steeper = cal.profile(simulate(SimConfig(users=300, items=800, artists=100, sessions=3, seed=2,
                                             popularity_exponent=1.4)))
    assert steeper["popularity_slope"] > p["popularity_slope"] and steeper["top1pct_item_share"] > \
        p["top1pct_item_share"]


def test_kuairand_sample_within_tolerances(shared_data, tmp_path):
    from denoiserec.data.sources import read

    real = read("kuairand", shared_data / "kuairand")
    fitted, prof = cal.fit(real)
    assert fitted.act_like == 1.0 and fitted.users == real["user"].n_unique() and not fitted.emit_unplayed
    rows = cal.compare(prof, cal.profile(simulate(fitted)))
    assert all(r["ok"] for r in rows if r["ok"] is not None), [r for r in rows if r["ok"] is False]


def test_cli_like_writes_fitted_knobs(tmp_path):
    real = tmp_path / "real"
    write_log(simulate(SimConfig(users=200, items=600, artists=80, sessions=2, stop_rate=0.05, seed=3)), real,
              source="simulator")
    r = CliRunner().invoke(app, ["simulate", "--like", str(real), "-o", str(tmp_path / "sim"), "--quiet",
                                 "--seed", "9"])
    assert r.exit_code == 0, r.output
    assert "real" in r.output and "simulated" in r.output and "within tolerance" in r.output
    meta = read_meta(tmp_path / "sim")
    assert meta["calibration"]["like"] == str(real) and meta["calibration"]["fitted"]["users"] == 200
    assert meta["config"]["stop_rate"] == pytest.approx(0.05, abs=0.02)
    assert read_log(tmp_path / "sim")["user"].n_unique() == 200
    # an explicit option wins over the fit
    r = CliRunner().invoke(app, ["simulate", "--like", str(real), "-o", str(tmp_path / "sim2"), "--quiet",
                                 "--users", "50"])
    assert r.exit_code == 0, r.output and read_meta(tmp_path / "sim2")["config"]["users"] == 50


def test_large_logs_are_fitted_on_a_subset_of_users(monkeypatch):
    monkeypatch.setattr(cal, "PILOT_USERS", 150)
    true = SimConfig(users=400, items=1500, artists=100, sessions=2, min_len=5, max_len=12, stop_rate=0.04, seed=8)
    fitted, real = cal.fit(simulate(true), passes=2, seed=1)
    assert fitted.users == 400 and real["users"] == 400  # the full log's users and profile
    assert (fitted.min_len, fitted.max_len) == (5, 12)
    assert fitted.items == pytest.approx(1500, rel=0.25)
