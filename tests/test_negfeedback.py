"""Issue 6: feedback sequences, the hard-negative cascade, masking, the transformer and its evaluation."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import torch

from denoiserec import metrics
from denoiserec.data.sequences import DOWN, SKIP, UP, SequenceConfig, build_sequences, training_windows
from denoiserec.seqrec.negatives import TIERS, build_cascade, random_items, sample_negatives
from denoiserec.seqrec.train import (
    EvalConfig,
    ModelConfig,
    SeqData,
    SeqTrainConfig,
    _histories,
    evaluate,
    make_batch,
    train_model,
)
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


def _log(n_users=40, per_user=60, n_items=40, seed=0, test_share=0.25):
    """Users like items of their own parity: liked -> like/autoplay, disliked -> skip/dislike; later days test."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        for t in range(per_user):
            i = int(rng.integers(0, n_items))
            likes = (i % 2) == (u % 2)
            kind = rng.choice(["like", "autoplay"]) if likes else rng.choice(["skip", "dislike", "skip"])
            rows.append((str(u), f"i{i}", 10**9 + t * 3600 * 6, f"{u}-{t // 8}", t % 8, kind,
                         rng.choice(["radio", "mix"]), float(likes)))
    df = pl.DataFrame(rows, schema=["user", "item", "timestamp", "session", "position", "feedback", "context",
                                    "true_preference"], orient="row")
    return df


def test_sequences_mapping_split_and_windows():
    df = _log(n_users=4, per_user=20).vstack(pl.DataFrame({
        "user": ["0"], "item": ["i1"], "timestamp": [10**9 + 7], "session": ["x"], "position": [0],
        "feedback": ["unplayed"], "context": ["radio"], "true_preference": [0.0]}))
    seq = build_sequences(df, SequenceConfig(test_frac=0.25))
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


def test_masking_and_removal_of_used_negatives():
    seq = build_sequences(_log(n_users=6, per_user=40), SequenceConfig(test_frac=0.25))
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
    # without feedback inputs the windows hold 'up' events only
    w2 = data.windows(max_len=30, feedback_inputs=False)
    assert (t.fb[w2[w2 >= 0]] == UP).all()


def test_no_future_in_test_inputs():
    seq = build_sequences(_log(n_users=5, per_user=30), SequenceConfig(test_frac=0.3))
    data = SeqData(seq)
    users = np.arange(5)
    h = _histories(data, users, 10, True)
    last_train_item = [seq.item[np.flatnonzero((seq.user == u) & ~seq.test)[-1]] for u in users]
    assert (h["tokens"][:, -1] - 1 == np.array(last_train_item)).all()
    hist_ts = {int(x) for x in data.train.timestamp}
    assert min(seq.timestamp[seq.test]) > max(hist_ts)


def test_model_shapes_and_padding_invariance():
    model = NegFeedbackTransformer(n_items=30, n_stations=3, max_len=8, dim=16, layers=2, heads=2).eval()
    tokens = torch.tensor([[0, 0, 5, 6, MASK_TOKEN], [3, 4, 5, 6, MASK_TOKEN]])
    fb = torch.tensor([[0, 0, 1, 2, 1], [1, 3, 1, 2, 1]])
    st = torch.tensor([[0, 0, 1, 2, 1], [1, 1, 1, 2, 1]])
    h = model(tokens, fb, st)
    assert h.shape == (2, 5, 16)
    assert model.score(h[:, -1], torch.tensor([[1, 2, 3], [4, 5, 6]])).shape == (2, 3)
    h_short = model(tokens[:1, 2:], fb[:1, 2:], st[:1, 2:])
    torch.testing.assert_close(h_short[0, -1], h[0, -1], atol=1e-5, rtol=1e-4)  # left padding changes nothing


def test_gauc_groups_weight():
    s, y, g = [0.9, 0.1, 0.2, 0.8, 0.7, 0.3], [1, 0, 1, 0, 1, 0], [0, 0, 1, 1, 1, 1]
    assert metrics.gauc(s, y, g, weight="groups") == pytest.approx((1.0 + 0.25) / 2)  # per-group AUC, averaged
    assert metrics.pairwise_accuracy(s, y, g) == pytest.approx((1 + 1) / (1 + 4))  # pairs pooled


def test_training_improves_pairwise_accuracy_and_run_writes_report(tmp_path):
    torch.set_num_threads(1)
    seq = build_sequences(_log(), SequenceConfig(test_frac=0.25))
    data = SeqData(seq)
    mcfg = ModelConfig(dim=16, layers=1, heads=2, dropout=0.0, max_len=30)
    ecfg = EvalConfig(candidates=20)
    untrained = NegFeedbackTransformer(seq.n_items, seq.n_stations, **vars(mcfg))
    before = evaluate(untrained, data, mcfg, ecfg)
    tcfg = SeqTrainConfig(epochs=25, batch_size=16, lr=0.01, p_hard=1.0, progress=False)
    model, history = train_model(data, mcfg, tcfg, seed=0)
    after = evaluate(model, data, mcfg, ecfg)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert after["acc_down"] > max(before["acc_down"], 0.5) + 0.15, (before, after)
    assert after["coverage"] == 1.0 and after["n_pairs_down"] > 0

    from denoiserec.seqrec import run_seqrec

    cfg = {"seqrec": {"model": {"dim": 8, "layers": 1, "max_len": 10}, "train": {"epochs": 1, "progress": False},
                      "variants": {"base": {"feedback_inputs": False}, "p1": {"p_hard": 1.0}, "p0": {"p_hard": 0.0}}}}
    res = run_seqrec(cfg, 3, tmp_path, log=_log(n_users=8, per_user=20))
    assert set(res) == {"base", "p1", "p0"} and "cos_up_down" in res["p1"] and "cos_up_down" not in res["base"]
    saved = json.loads((tmp_path / "runs" / "seqrec__seed3.json").read_text())
    assert saved["seed"] == 3 and saved["variants"]["p1"]["test"]["acc_down"] == res["p1"]["acc_down"]
    assert "| base |" in (tmp_path / "report.md").read_text() and (tmp_path / "sweep_p_hard.png").exists()
