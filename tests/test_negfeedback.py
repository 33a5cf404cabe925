"""The negative-feedback transformer (Mei et al., UMAP '24): feedback sequences and the paper's split, the
hard-negative cascade, masking, the transformer, the evaluation protocol (per-user AUC), the popularity baselines
and the seqrec task (run/report)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
import torch
from typer.testing import CliRunner

from denoiserec.cli import app
from denoiserec.data.sequences import (
    DOWN,
    SKIP,
    UP,
    SeqSplitConfig,
    SequenceConfig,
    Sequences,
    build_sequences,
    random_items,
    subset,
    training_windows,
)
from denoiserec.errors import ConfigError, DataError
from denoiserec.eval import metrics
from denoiserec.eval.popularity import baseline_scorers
from denoiserec.eval.seqrec import EvalConfig, ItemTableScorer, OracleScorer, ceiling_scorers, period_metrics
from denoiserec.experiment import check_config
from denoiserec.seqrec.negatives import TIERS, build_cascade, hardest_of_k, sample_negatives
from denoiserec.seqrec.scorer import ModelScorer, histories
from denoiserec.seqrec.train import ModelConfig, SeqData, SeqTrainConfig, make_batch, train_model
from denoiserec.seqrec.transformer import MASK_TOKEN, NegFeedbackTransformer

# user, fb, day, station, item -- sorted by (user, time)
HAND = [
    (0, UP, 0, 1, 1),     # 0: same-day skip on station 1 (the down that day is on station 2) -> same_day_skip
    (0, SKIP, 0, 1, 2),   # 1
    (0, DOWN, 0, 2, 3),   # 2
    (0, UP, 0, 2, 4),     # 3: earlier same-day down on station 2 -> same_day_down
    (0, DOWN, 1, 1, 5),   # 4
    (0, UP, 1, 1, 6),     # 5: same-day down (earlier) -> same_day_down
    (0, SKIP, 2, 1, 7),   # 6
    (0, UP, 3, 1, 8),     # 7: nothing that day, nothing later -> random (user 1's downs do not count)
    (1, UP, 0, 1, 9),     # 8: later down (day 2) and later skip -> future_down
    (1, SKIP, 1, 1, 10),  # 9
    (1, DOWN, 2, 1, 11),  # 10
    (1, UP, 3, 1, 12),    # 11: no negative after it -> random
    (2, UP, 0, 1, 13),    # 12: a later skip only -> future_skip
    (2, SKIP, 5, 1, 14),  # 13
]


def _hand():
    return [np.array(c, dtype=np.int64) for c in zip(*HAND, strict=True)]


def test_cascade_tiers_on_hand_made_history():
    user, fb, day, station, item = _hand()
    c = build_cascade(user, fb, day, station, item)
    name = {i: TIERS[c.tier[i]] for i in np.flatnonzero(fb == UP)}
    assert name == {0: "same_day_skip", 3: "same_day_down", 5: "same_day_down", 7: "random", 8: "future_down",
                    11: "random", 12: "future_skip"}
    cands = {i: sorted(c.pool[c.start[i]:c.start[i] + c.count[i]].tolist()) for i in name}
    assert cands[0] == [1] and cands[3] == [2] and cands[5] == [4] and cands[8] == [10] and cands[12] == [13]
    assert (c.count[[7, 11]] == 0).all()


def test_future_means_after_not_before():
    # an up whose only down is earlier on another day gets a random negative
    user, fb, day, station = (np.array(x) for x in ([0, 0], [DOWN, UP], [0, 1], [1, 1]))
    c = build_cascade(user, fb, day, station, np.array([1, 2]))
    assert TIERS[c.tier[1]] == "random"


def test_sampling_respects_p_hard_and_never_the_positive():
    user, fb, day, station, item = _hand()
    c = build_cascade(user, fb, day, station, item)
    rng = np.random.default_rng(0)
    ev = np.repeat(np.array([0, 3, 5, 8]), 5000)  # all have a hard negative
    neg, neg_ev = sample_negatives(c, ev, item[ev], 1.0, 20, rng)
    assert (neg_ev >= 0).all() and (neg == item[neg_ev]).all()
    assert set(neg[ev == 0]) == {2} and set(neg[ev == 3]) == {3} and set(neg[ev == 8]) == {11}
    neg, neg_ev = sample_negatives(c, ev, item[ev], 0.3, 20, rng)
    share = (neg_ev >= 0).mean()
    assert abs(share - 0.3) < 0.02  # 20000 draws: sd ~ 0.003
    assert (neg != item[ev]).all()
    # random negatives: uniform over the other items, never the positive
    pos = np.array([1, 2, 3] * 3000)
    r = random_items(pos, 3, rng)
    assert (r != pos).all() and set(r.tolist()) == {1, 2, 3}
    # a hard negative that is the positive's own song falls back to a random one
    c.item[1] = 1  # the skip at index 1 is now the same song as the up at 0
    neg, neg_ev = sample_negatives(c, np.zeros(2000, np.int64), np.ones(2000, np.int64), 1.0, 20, rng)
    assert (neg != 1).all() and (neg_ev == -1).all()


def test_hardest_of_k_keeps_the_highest_scored_candidate():
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    pos = np.array([3, 7, 1, 9])
    h = torch.zeros(4, 2)
    score = lambda hidden, items: items.float() * torch.tensor([1.0, -1.0, 1.0, -1.0])[:, None]  # noqa: E731
    best = hardest_of_k(h, pos, 6, 50, rng_a, score)
    cand = random_items(pos, 50, rng_b, k=6)  # the same draws
    assert best.tolist() == [cand[0].max(), cand[1].min(), cand[2].max(), cand[3].min()]
    assert (best != pos).all()


def _log(n_users=40, per_user=60, n_items=40, seed=0, days_per_event=0.25):
    """Users like items of their own parity: liked -> like/autoplay, disliked -> skip/dislike."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        for t in range(per_user):
            i = int(rng.integers(0, n_items))
            likes = (i % 2) == (u % 2)
            kind = rng.choice(["like", "autoplay"]) if likes else rng.choice(["skip", "dislike", "skip"])
            rows.append((str(u), f"i{i}", 10**9 + int(t * 86400 * days_per_event), f"{u}-{t // 8}", t % 8, kind,
                         rng.choice(["radio", "mix"]), float(likes)))
    return pl.DataFrame(rows, schema=["user", "item", "timestamp", "session", "position", "feedback", "context",
                                      "true_preference"], orient="row")


EXPLICIT = SequenceConfig(up=("like", "autoplay"))
SPLIT = SeqSplitConfig(test_frac=0.25, valid_frac=0.0)


def test_sequences_mapping_split_and_windows():
    df = _log(n_users=4, per_user=20).vstack(pl.DataFrame({
        "user": ["0"], "item": ["i1"], "timestamp": [10**9 + 7], "session": ["x"], "position": [0],
        "feedback": ["unplayed"], "context": ["radio"], "true_preference": [0.0]}))
    seq = build_sequences(df, EXPLICIT, SPLIT)
    assert len(seq) == 80  # unplayed dropped
    kinds = df.filter(pl.col("feedback") != "unplayed").sort(["user", "timestamp"])["feedback"].to_list()
    want = {"like": UP, "autoplay": UP, "skip": SKIP, "dislike": DOWN}
    assert seq.fb.tolist() == [want[k] for k in kinds]
    assert (seq.timestamp[seq.test].min() > seq.timestamp[~seq.test].max())
    assert (seq.item[~seq.test] > 0).all()  # vocabulary from the training period
    assert seq.day.tolist() == (seq.timestamp // 86400).tolist()
    win = training_windows(seq.user, ~seq.test, seq.fb == UP, 7)
    flat = win[win >= 0]
    assert len(np.unique(flat)) == len(flat)  # windows do not overlap
    assert (seq.fb[win[:, -1]] == UP).all() and (win[:, -1] >= 0).all()  # every window ends with an 'up'
    for row in win:
        r = row[row >= 0]
        assert len(set(seq.user[r])) == 1 and (np.diff(r) > 0).all() and not seq.test[r].any()


def test_up_is_the_explicit_positive_not_autoplay_by_default():
    df = _log(n_users=3, per_user=30)
    seq = build_sequences(df, SequenceConfig(), SPLIT)  # up: auto
    kept = df.filter(pl.col("feedback") != "autoplay").sort(["user", "timestamp"])
    assert len(seq) == kept.height and (seq.fb[kept["feedback"].to_numpy() == "like"] == UP).all()
    # no explicit positive (plays and skips, as MSSD): every played-to-the-end kind is an 'up'
    plays = df.with_columns(pl.col("feedback").replace({"like": "autoplay", "dislike": "click"}))
    seq = build_sequences(plays, SequenceConfig(), SPLIT)
    order = plays.sort(["user", "timestamp"])["feedback"].to_numpy()
    assert len(seq) == plays.height and (seq.fb[order != "skip"] == UP).all()
    with pytest.raises(ConfigError, match="unknown feedback kind"):
        SequenceConfig.from_dict({"up": ["thumbs"]})


def test_paper_split_final_period_and_validation_users():
    df = _log(n_users=60, per_user=40, days_per_event=1.0)  # 40 days
    seq = build_sequences(df, EXPLICIT, SeqSplitConfig(test_days=10, valid_frac=0.2, seed=1))
    last = seq.timestamp.max()
    assert (seq.timestamp[seq.test] > last - 10 * 86400).all() and (seq.timestamp[~seq.test] <= last - 10 * 86400).all()
    vu = np.unique(seq.user[seq.valid_user])
    assert 3 <= len(vu) <= 25  # ~20 % of 60 users, at random
    assert set(np.unique(seq.user[seq.valid]).tolist()) <= set(vu.tolist())
    assert (seq.timestamp[seq.valid] > last - 20 * 86400).all() and not (seq.valid & seq.test).any()
    train = seq.train_mask
    assert not (train & seq.valid_user).any() and not (train & seq.test).any() and train.any()
    vh = seq.history_mask("valid")
    assert (seq.timestamp[vh].max() <= seq.timestamp[seq.valid].min()) and not (vh & ~seq.valid_user).any()
    data = SeqData(seq)  # training and the cascade see the training users' pre-test events only
    assert set(data.train_idx.tolist()) == set(np.flatnonzero(train).tolist())
    assert set(np.unique(seq.user[seq.test]).tolist()) & set(vu.tolist())  # validation users are tested too


def test_masking_and_removal_of_used_negatives():
    seq = build_sequences(_log(n_users=6, per_user=40), EXPLICIT, SPLIT)
    data = SeqData(seq)
    win = data.windows(max_len=30, feedback_inputs=True)
    rng = np.random.default_rng(1)
    t = data.train
    b = make_batch(data, win, SeqTrainConfig(p_mask=0.0, p_hard=0.0), rng)
    assert b["masked"].sum() == len(win) and b["masked"][:, -1].all()  # p_mask=0: only the last position
    assert (b["tokens"][:, -1] == MASK_TOKEN).all() and (b["fb"][:, -1] == UP).all()
    assert (b["station"][:, -1] == t.station[win[:, -1]]).all()  # the context at a masked position is kept
    assert (b["pos"][:, -1] == t.item[win[:, -1]]).all()
    assert (b["tokens"][:, :-1] != MASK_TOKEN).all()
    b = make_batch(data, win, SeqTrainConfig(p_mask=0.5, p_hard=1.0), rng)
    m = b["masked"]
    assert (b["tokens"][m] == MASK_TOKEN).all() and (b["fb"][m] == UP).all() and m[:, -1].all()
    n_up = ((t.fb[np.maximum(win, 0)] == UP) & (win >= 0)).sum()
    assert len(win) < m.sum() < n_up  # some but not all 'up' positions
    kept = (b["tokens"] > 0).sum()
    hard = ~b["neg_random"][m]
    assert hard.any() and kept < (win >= 0).sum()  # used negatives left the input
    for r in range(len(win)):  # exactly the hard negatives inside their own window left its input
        used = set(b["neg_event"][r][m[r]].tolist()) & set(win[r].tolist()) - {-1}
        inputs = set(b["event"][r].tolist()) - {-1}
        assert not used & inputs and inputs | used == set(win[r].tolist()) - {-1}
        assert all(data.train.fb[e] in (SKIP, DOWN) for e in used)
    w2 = data.windows(max_len=30, feedback_inputs=False)  # without feedback inputs: 'up' events only
    assert (t.fb[w2[w2 >= 0]] == UP).all()


def test_tier_shares_by_position_fig1():
    user, fb, day, station, item = _hand()
    c = build_cascade(user, fb, day, station, item)
    win = np.array([[-1, 0, 1, 2, 3], [4, 5, 6, 7, -1]])
    tp = c.tier_shares_by_position(win, fb == UP)
    assert tp["n"] == [0, 2, 0, 1, 1]  # 'up' events per position: {0, 5}, {}, {7}, {3}
    assert tp["same_day_skip"][1] == tp["same_day_down"][1] == 0.5  # event 0: skip, event 5: down
    assert tp["random"][3] == 1.0 and tp["same_day_down"][4] == 1.0 and tp["future_down"] == [0.0] * 5


def _hand_seq(rows, stations=("a", "b")) -> Sequences:
    """A test-period-only Sequences from (user, item, fb, station) rows (one history 'up' per user first)."""
    users = sorted({r[0] for r in rows})
    hist = [(u, 1, UP, 1, False) for u in users]
    allr = sorted(hist + [(u, i, f, s, True) for u, i, f, s in rows], key=lambda r: (r[0], r[4]))
    a = lambda k: np.array([r[k] for r in allr])  # noqa: E731
    n = len(allr)
    return Sequences(user=a(0).astype(np.int64), item=a(1).astype(np.int64), fb=a(2).astype(np.int8),
                     station=a(3).astype(np.int64), day=np.zeros(n, np.int64), timestamp=np.arange(n),
                     test=a(4).astype(bool), valid=np.zeros(n, bool), valid_user=np.zeros(n, bool), truth=None,
                     users=[str(u) for u in range(max(users) + 1)], items=[f"i{i}" for i in range(20)],
                     stations=list(stations))


def test_headline_is_per_user_auc_not_pooled_pairs():
    # user 0: 1 up, 1 down, ranked right (AUC 1); user 1: 3 ups, 3 downs, 3 of 9 pairs right (AUC 1/3)
    rows = [(0, 2, UP, 1), (0, 3, DOWN, 1)] + [(1, i, UP, 1) for i in (4, 5, 6)] + [(1, i, DOWN, 1) for i in (7, 8, 9)]
    seq = _hand_seq(rows)
    table = np.zeros(21)
    table[[2, 4, 5, 6, 7, 8]] = [1.0, 0.5, 0.5, 0.5, 1.0, 1.0]  # item 9 (a down) scores 0: below every up
    out = period_metrics(ItemTableScorer(table), seq, EvalConfig(candidates=3))
    assert out["user_auc_down"] == pytest.approx((1 + 1 / 3) / 2)  # mean over the 2 users
    assert out["pair_acc_down"] == pytest.approx((1 + 3) / 10)  # 1 + 3 of 1 + 9 pooled pairs
    assert out["n_users_down"] == 2 and out["n_pairs_down"] == 10
    mean, users, aucs = metrics.user_pair_auc([0.9, 0.1, 0.2, 0.8], [1, 0, 1, 0], [0, 0, 1, 1], [0, 0, 1, 1])
    assert mean == pytest.approx(0.5) and users.tolist() == [0, 1] and aucs.tolist() == [1.0, 0.0]


def test_pairs_are_within_user_and_station():
    # user 0: an up and a down on station 1 (ranked right), a down on station 2 that outscores the up
    rows = [(0, 2, UP, 1), (0, 3, DOWN, 1), (0, 4, DOWN, 2), (1, 5, UP, 2), (1, 6, DOWN, 2)]
    seq = _hand_seq(rows)
    table = np.zeros(21)
    table[[2, 4, 5, 6]] = [0.5, 0.9, 0.1, 0.2]  # user 1's pair ranked wrong
    out = period_metrics(ItemTableScorer(table), seq, EvalConfig(candidates=3))
    assert out["n_pairs_down"] == 2  # (2, 3) on station 1 and (5, 6) on station 2; never (2, 4)
    assert out["user_auc_down"] == pytest.approx(0.5) and out["pair_acc_down"] == pytest.approx(0.5)
    # per user across her stations: pairs of both stations count for that user, not one AUC per station
    rows += [(0, 7, UP, 2)]
    table[7] = 1.0  # beats user 0's station-2 down
    out = period_metrics(ItemTableScorer(table), _hand_seq(rows), EvalConfig(candidates=3))
    assert out["n_pairs_down"] == 3 and out["user_auc_down"] == pytest.approx((1.0 + 0.0) / 2)


def test_evaluation_query_carries_the_station():
    rows = [(0, 2, UP, 1), (0, 3, DOWN, 2), (1, 4, UP, 2), (1, 5, DOWN, 1)]
    seq = _hand_seq(rows)
    torch.manual_seed(0)
    model = NegFeedbackTransformer(seq.n_items, seq.n_stations, max_len=4, dim=8, layers=1, heads=2).eval()
    with torch.no_grad():
        model.station.weight[1:] = torch.randn(2, 8)  # stations that matter
    seen = []

    class Spy(ModelScorer):
        def queries(self, users, stations):
            seen.extend(zip(users.tolist(), stations.tolist(), strict=True))
            return super().queries(users, stations)

    period_metrics(Spy(model, seq, "test"), seq, EvalConfig(candidates=3))
    assert sorted(seen) == [(0, 1), (0, 2), (1, 1), (1, 2)]  # one query per (user, station) of the test period
    sc = ModelScorer(model, seq, "test")
    sc.queries(np.array([0, 0]), np.array([1, 2]))
    with torch.no_grad():  # by hand: history (item 1, up, station 1), then the mask token at the query station
        for q, st in enumerate((1, 2)):
            h = model(torch.tensor([[0, 0, 2, MASK_TOKEN]]), torch.tensor([[0, 0, UP, UP]]),
                      torch.tensor([[0, 0, 1, st]]))[0, -1]
            torch.testing.assert_close(sc.h[q], h)
    assert not torch.allclose(sc.h[0], sc.h[1])


def test_popularity_baselines_and_skip_only_users():
    rows = [(0, 2, UP, 1), (0, 3, DOWN, 1), (1, 4, UP, 1), (1, 5, DOWN, 1)]
    seq = _hand_seq(rows)
    seq.fb[(seq.user == 1) & ~seq.test] = SKIP  # user 1's history: a skip only
    b = baseline_scorers(subset(seq, ~seq.test))
    assert b["pop_up"].table[1] == 1 and b["fewest_neg"].table[1] == -1  # item 1: one up (user 0), one skip
    assert b["fewest_neg"].table[3] == 0 and b["pop_up"].table[2] == 0  # test events are not counted
    table = np.zeros(21)
    table[[2, 4]] = 1.0
    per_user: dict = {}
    out = period_metrics(ItemTableScorer(table), seq, EvalConfig(candidates=3), per_user=per_user)
    assert out["n_users_down_skip_only"] == 1 and out["user_auc_down_skip_only"] == 1.0
    assert per_user["down"]["user"] == [0, 1] and per_user["down"]["up_share"] == [1.0, 0.0]


def test_no_future_in_test_inputs():
    seq = build_sequences(_log(n_users=5, per_user=30), EXPLICIT, SeqSplitConfig(test_frac=0.3, valid_frac=0.0))
    users = np.arange(5)
    h = histories(seq, "test", users, 10, True)
    last_train_item = [seq.item[np.flatnonzero((seq.user == u) & ~seq.test)[-1]] for u in users]
    assert (h["tokens"][:, -1] - 1 == np.array(last_train_item)).all()
    assert min(seq.timestamp[seq.test]) > max(seq.timestamp[seq.history_mask("test")])


def test_model_shapes_and_padding_invariance():
    model = NegFeedbackTransformer(n_items=30, n_stations=3, max_len=8, dim=16, layers=2, heads=2).eval()
    tokens = torch.tensor([[0, 0, 5, 6, MASK_TOKEN], [3, 4, 5, 6, MASK_TOKEN]])
    fb = torch.tensor([[0, 0, 1, 2, 1], [1, 3, 1, 2, 1]])
    st = torch.tensor([[0, 0, 1, 2, 1], [1, 1, 1, 2, 1]])
    h = model(tokens, fb, st)
    assert h.shape == (2, 5, 16)
    items = torch.tensor([[1, 2, 3], [4, 5, 30]])
    assert model.score(h[:, -1], items).shape == (2, 3)
    torch.testing.assert_close(model.score_all(h[:, -1]).gather(1, items - 1), model.score(h[:, -1], items))
    h_short = model(tokens[:1, 2:], fb[:1, 2:], st[:1, 2:])
    torch.testing.assert_close(h_short[0, -1], h[0, -1], atol=1e-5, rtol=1e-4)  # left padding changes nothing


def test_training_improves_and_stops_early_on_validation_users():
    torch.set_num_threads(1)
    seq = build_sequences(_log(n_users=60), EXPLICIT, SeqSplitConfig(test_frac=0.25, valid_frac=0.2))
    data = SeqData(seq)
    mcfg = ModelConfig(dim=16, layers=1, heads=2, dropout=0.0, max_len=30)
    ecfg = EvalConfig(candidates=20)
    untrained = NegFeedbackTransformer(seq.n_items, seq.n_stations, **vars(mcfg))
    before = period_metrics(ModelScorer(untrained, seq), seq, ecfg)
    tcfg = SeqTrainConfig(epochs=25, patience=25, batch_size=16, lr=0.01, p_hard=1.0, progress=False)
    model, history, conv = train_model(data, mcfg, tcfg, ecfg, seed=0)
    after = period_metrics(ModelScorer(model, seq), seq, ecfg)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert after["user_auc_down"] > max(before["user_auc_down"], 0.5) + 0.15, (before, after)
    assert after["coverage"] == 1.0 and after["n_pairs_down"] > 0
    assert conv["monitor"] == "user_auc_down" and 1 <= conv["best_epoch"] <= conv["epochs_run"] == len(history)
    assert conv["seconds_to_best"] == history[conv["best_epoch"] - 1]["seconds"]
    best = max(h["valid_user_auc_down"] for h in history)
    assert history[conv["best_epoch"] - 1]["valid_user_auc_down"] == best == conv["valid_user_auc_down"]
    restored = period_metrics(ModelScorer(model, seq, "valid"), seq, ecfg, "valid")["user_auc_down"]
    assert restored == pytest.approx(best)  # the model ends with the best epoch's weights
    _, history, conv = train_model(data, mcfg, SeqTrainConfig(epochs=25, patience=1, batch_size=16, lr=0.01,
                                                              progress=False), ecfg, seed=0)
    # patience 1: one epoch without improvement tolerated, the second one stops (as the CTR trainer)
    assert conv["epochs_run"] == len(history) == min(conv["best_epoch"] + 2, 25)


def _config(tmp_path, **over):
    cfg = {"name": "nf", "task": "seqrec",
           "data": {"simulate": {"users": 80, "items": 150, "artists": 30, "sessions": 4, "days": 10, "seed": 1}},
           "split": {"test_frac": 0.25, "valid_frac": 0.2},
           "train": {"epochs": 2, "patience": 1, "batch_size": 32, "threads": 1},
           "eval": {"candidates": 10, "k": [5]}, "seeds": [0, 1],
           "models": {"base": {"dim": 8, "layers": 1, "max_len": 10, "feedback_inputs": False, "p_hard": 0.0},
                      "p1": {"dim": 8, "layers": 1, "max_len": 10, "p_hard": 1.0},
                      "p0": {"dim": 8, "layers": 1, "max_len": 10, "p_hard": 0.0}},
           "baseline": "base", **over}
    import yaml

    f = tmp_path / "nf.yaml"
    f.write_text(yaml.safe_dump(cfg))
    return f


def test_run_and_report_via_the_cli(tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["run", str(_config(tmp_path)), "-o", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "user_auc_down" in res.output and "pop_up" in res.output and "no CTR runs" not in res.output
    rec = json.loads((out / "runs" / "seqrec__seed1.json").read_text())
    assert set(rec["variants"]) == {"base", "p1", "p0"}
    assert set(rec["baselines"]) == {"pop_up", "fewest_neg", "up_share", "oracle", "oracle_pi", "item_mean_pi"}
    b = {k: v["test"]["user_auc_down"] for k, v in rec["baselines"].items()}
    assert b["oracle"] > b["oracle_pi"] > b["item_mean_pi"]  # the realised draw > π > the item's mean π
    for tag in ("mean_h", "bias"):
        assert {f"user_auc_down@{tag}", f"user_auc_true@{tag}"} <= set(rec["variants"]["p1"]["test"])
    assert "cos_up_down" in rec["variants"]["p1"]["test"] and "cos_up_down" not in rec["variants"]["base"]["test"]
    assert rec["variants"]["p1"]["convergence"]["best_epoch"] >= 1 and rec["data"]["valid_users"] > 0
    assert not list((out / "checkpoints").glob("*.pt"))  # per-epoch checkpoints go once a seed is written
    report = (out / "report.md").read_text()
    assert "**Headline: `user_auc_down`**" in report and "| *pop_up* |" in report and "| *fewest_neg* |" in report
    assert "pair_acc_down" in report and "best_epoch" in report and "Δ vs base" in report
    assert "| *oracle_pi* |" in report and "| *up_share* |" in report and "gap_closed" in report
    assert "user_auc_down@mean_h" in report and "user_auc_down@bias" in report
    for fig in ("fig1_negative_sources.png", "sweep_p_hard.png", "fig3_convergence.png", "fig4_feedback_mix.png"):
        assert (out / fig).exists() and f"]({fig})" in report
    res = CliRunner().invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "report.md").read_text() == report  # `report` re-writes the same seqrec report


def test_seqrec_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="'seqrec:' section is gone"):
        check_config({"task": "seqrec", "data": {"simulate": {}}, "seqrec": {"variants": {}}})
    with pytest.raises(ConfigError, match=r"models.a.p_hrad: unknown key"):
        check_config({"task": "seqrec", "data": {"simulate": {}}, "models": {"a": {"p_hrad": 1.0}}})
    with pytest.raises(ConfigError, match="split.valid_frac"):
        check_config({"task": "seqrec", "data": {"simulate": {}}, "split": {"valid_frac": 1.5}})
    with pytest.raises(ConfigError, match=r"models.a.*p_hard"):
        check_config({"task": "seqrec", "data": {"simulate": {}}, "models": {"a": {"p_hard": 2.0}}})
    with pytest.raises(ConfigError, match=r"train.*epochs"):
        check_config({"task": "seqrec", "data": {"simulate": {}}, "train": {"epochs": 0}})
    with pytest.raises(ConfigError, match="eval: unknown key"):
        check_config({"task": "ctr", "data": {"simulate": {}}, "eval": {}})
    with pytest.raises(ConfigError, match="task: must be one of"):
        check_config({"task": "seqrek", "data": {"simulate": {}}})


def test_no_import_cycle_between_experiment_and_seqrec():
    code = ("import sys, denoiserec.tasks.seqrec, denoiserec.report.seqrec; "
            "assert 'denoiserec.experiment' not in sys.modules, 'seqrec imports experiment'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_oracle_scores_events_by_the_hidden_preference():
    rows = [(0, 2, UP, 1), (0, 3, DOWN, 1), (1, 4, UP, 1), (1, 5, DOWN, 1)]
    seq = _hand_seq(rows)
    seq.truth = np.where(seq.fb == UP, 1.0, 0.0).astype(np.float32)
    seq.truth[(seq.user == 1) & seq.test] = [0.0, 1.0]  # user 1's up was a slip: the truth ranks it below
    out = period_metrics(OracleScorer(seq.truth), seq, EvalConfig(candidates=3))
    assert out["user_auc_down"] == pytest.approx(0.5) and out["user_auc_true"] == 1.0 and "mrr_up" not in out


def test_checkpoint_resume_continues_where_training_stopped(tmp_path):
    torch.set_num_threads(1)
    seq = build_sequences(_log(n_users=20, per_user=30), EXPLICIT, SeqSplitConfig(test_frac=0.25, valid_frac=0.2))
    data = SeqData(seq)
    mcfg = ModelConfig(dim=8, layers=1, heads=2, max_len=10)
    ecfg = EvalConfig(candidates=5)
    kw = {"batch_size": 16, "lr": 0.01, "p_hard": 0.5, "patience": 50, "progress": False}
    full, h_full, _ = train_model(data, mcfg, SeqTrainConfig(epochs=4, **kw), ecfg, seed=3)
    ckpt = str(tmp_path / "c.pt")
    train_model(data, mcfg, SeqTrainConfig(epochs=2, checkpoint=ckpt, **kw), ecfg, seed=3, fingerprint="a")
    resumed, h_res, _ = train_model(data, mcfg, SeqTrainConfig(epochs=4, checkpoint=ckpt, **kw), ecfg, seed=3,
                                    fingerprint="a")
    assert [h["train_loss"] for h in h_res] == pytest.approx([h["train_loss"] for h in h_full])
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    # a checkpoint of another config is not resumed from: training starts again at epoch 1
    _, h_other, _ = train_model(data, mcfg, SeqTrainConfig(epochs=1, checkpoint=ckpt, **kw), ecfg, seed=3,
                                fingerprint="b")
    assert len(h_other) == 1 and h_other[0]["train_loss"] == pytest.approx(h_full[0]["train_loss"])


def test_validation_users_keep_a_history_under_test_frac():
    # a sparse tail: the final 25 % of events span most of the time, as in the simulator
    df = _log(n_users=40, per_user=40)
    q = int(df["timestamp"].quantile(0.75))
    df = df.with_columns(pl.when(pl.col("timestamp") > q).then(q + (pl.col("timestamp") - q) * 10)
                         .otherwise(pl.col("timestamp")).alias("timestamp"))
    seq = build_sequences(df, EXPLICIT, SeqSplitConfig(test_frac=0.25, valid_frac=0.25))
    assert seq.valid.any() and seq.cold_users("valid") == (0, len(np.unique(seq.user[seq.valid])))
    assert seq.cold_users("test")[0] == 0
    # the validation window is the final test_frac share of the pre-test events, not the (longer) test span
    pre = seq.timestamp[~seq.test]
    assert seq.timestamp[seq.valid].min() > np.quantile(pre, 0.7)
    # a window longer than the pre-test period leaves every validation user cold: an error, not a silent run
    with pytest.raises(DataError, match="valid users have no history"):
        build_sequences(df, EXPLICIT, SeqSplitConfig(test_frac=0.25, valid_frac=0.25, valid_days=1000))
    seq = build_sequences(df, EXPLICIT, SeqSplitConfig(test_frac=0.25, valid_frac=0.25, valid_days=1000,
                                                       max_cold_share=1.0))
    cold, n = seq.cold_users("valid")
    assert cold == n > 0


def test_min_epochs_keeps_training_past_an_early_validation_peak():
    torch.set_num_threads(1)
    seq = build_sequences(_log(n_users=20, per_user=30), EXPLICIT, SeqSplitConfig(test_frac=0.25, valid_frac=0.2))
    data = SeqData(seq)
    mcfg = ModelConfig(dim=8, layers=1, heads=2, max_len=10)
    kw = {"batch_size": 16, "lr": 0.0, "patience": 0, "progress": False}  # lr 0: no epoch improves on the first
    _, history, conv = train_model(data, mcfg, SeqTrainConfig(epochs=10, **kw), EvalConfig(candidates=5), seed=0)
    assert len(history) == 2 and conv["best_epoch"] == 1
    _, history, conv = train_model(data, mcfg, SeqTrainConfig(epochs=10, min_epochs=5, **kw),
                                   EvalConfig(candidates=5), seed=0)
    assert len(history) == 5 and conv["best_epoch"] == 1


def test_ceilings_and_up_share_baseline():
    # items 2, 3 in test; training: item 2 has 3 ups and 1 skip, item 3 one up and 3 downs
    rows = [(0, 2, UP, 1), (0, 3, DOWN, 1), (1, 2, UP, 1), (1, 3, DOWN, 1)]
    seq = _hand_seq(rows)
    train = _hand_seq([(5, 2, UP, 1)] * 3 + [(5, 2, SKIP, 1), (5, 3, UP, 1)] + [(5, 3, DOWN, 1)] * 3)
    train.test[:] = False
    share = baseline_scorers(train)["up_share"].table
    r = np.mean(train.fb == UP)  # 5 of 9 (with the history 'up' of item 1)
    assert share[2] == pytest.approx((3 + r) / 5) and share[3] == pytest.approx((1 + r) / 5)
    assert share[4] == pytest.approx(r)  # an unseen item: the overall share
    assert ceiling_scorers(seq) == {}  # no hidden truth: no ceiling
    seq.truth = np.where(seq.fb == UP, 1.0, 0.0).astype(np.float32)
    # π: user 0 prefers item 2 (0.9 vs 0.2); user 1 prefers item 3 (0.3 vs 0.6) although her feedback says 2
    seq.truth_prob = np.full(len(seq), 0.5, np.float32)
    t = np.flatnonzero(seq.test)
    seq.truth_prob[t] = [0.9, 0.2, 0.3, 0.6]
    c = ceiling_scorers(seq)
    assert set(c) == {"oracle", "oracle_pi", "item_mean_pi"}
    out = {k: period_metrics(v, seq, EvalConfig(candidates=3))["user_auc_down"] for k, v in c.items()}
    assert out["oracle"] == 1.0 and out["oracle_pi"] == pytest.approx(0.5)
    assert c["item_mean_pi"].table[2] == pytest.approx(0.6) and c["item_mean_pi"].table[3] == pytest.approx(0.4)
    assert c["item_mean_pi"].table[1] == pytest.approx(0.5) and out["item_mean_pi"] == 1.0


def test_non_personal_checks_of_the_model():
    torch.manual_seed(0)
    rows = [(0, 2, UP, 1), (0, 3, DOWN, 1), (1, 2, UP, 2), (1, 4, DOWN, 2)]
    seq = _hand_seq(rows)
    seq.item[~seq.test] = [5, 6]  # the two users' histories differ
    model = NegFeedbackTransformer(20, 2, max_len=5, dim=8, layers=1, heads=2, dropout=0.0)
    with torch.no_grad():
        model.bias.weight.normal_()
    users, st = np.array([0, 1]), np.array([1, 2])
    items = np.array([[2, 3, 4], [2, 3, 4]])
    full = ModelScorer(model, seq)
    full.queries(users, st)
    personal = full(np.array([0, 1]), items)
    assert not np.allclose(personal[0], personal[1])
    mean = ModelScorer(model, seq, state="mean")
    mean.queries(users, st)
    torch.testing.assert_close(mean.h[0], full.h.mean(0))
    m = mean(np.array([0, 1]), items)
    np.testing.assert_allclose(m[0], m[1])  # one score per item, whoever asks
    np.testing.assert_allclose(m[0], personal.mean(0), rtol=1e-5)  # linear in h: the mean state's score
    zero = ModelScorer(model, seq, state="zero")
    zero.queries(users, st)
    np.testing.assert_allclose(zero(np.array([0]), items[:1])[0],
                               model.bias.weight[items[0] + 1, 0].detach().numpy(), rtol=1e-6)
