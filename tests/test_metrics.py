import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from denoiserec.eval import metrics


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    n = 5000
    s = rng.integers(0, 30, n).astype(float)  # many ties
    y = (rng.random(n) < 0.2 + 0.01 * s).astype(int)
    g = rng.integers(0, 40, n)
    return s, y, g


def test_auc_matches_sklearn(data):
    s, y, _ = data
    assert metrics.auc(s, y) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert np.isnan(metrics.auc(s, np.ones_like(y)))


def test_gauc_is_weighted_user_auc(data):
    s, y, g = data
    y[g == 0] = 1  # a one-class user is skipped
    ref, pos, imp = [], [], []
    for u in np.unique(g):
        m = g == u
        if 0 < y[m].sum() < m.sum():
            ref.append(roc_auc_score(y[m], s[m]))
            pos.append(y[m].sum())
            imp.append(m.sum())
    assert metrics.gauc(s, y, g) == pytest.approx(np.average(ref, weights=pos), abs=1e-12)
    assert metrics.gauc(s, y, g, weight="impressions") == pytest.approx(np.average(ref, weights=imp), abs=1e-12)


def test_pairwise_accuracy_counts_pairs():
    s = np.array([3.0, 1.0, 2.0, 0.0, 5.0])
    y = np.array([1, 0, 0, 1, 1])
    g = np.array([0, 0, 0, 0, 1])
    # group 0: positives {3, 0} vs negatives {1, 2}: 3>1, 3>2 correct; 0<1, 0<2 wrong -> 2/4
    assert metrics.pairwise_accuracy(s, y, g) == 0.5


def test_logloss_and_relaimpr(data):
    s, y, _ = data
    p = 1 / (1 + np.exp(-(s - 15) / 10))
    assert metrics.logloss(p, y) == pytest.approx(log_loss(y, p), rel=1e-9)
    assert metrics.rela_impr(0.75, 0.70) == pytest.approx(25.0)


def test_rank_metrics():
    scores = np.array([[0.9, 0.1, 0.2], [0.1, 0.5, 0.9], [0.5, 0.5, 0.1]])
    assert metrics.rank_of_target(scores).tolist() == [1.0, 3.0, 1.5]
    assert metrics.recall_at_k(scores, 1) == pytest.approx(1 / 3)
    assert metrics.mrr(scores) == pytest.approx((1 + 1 / 3 + 1 / 1.5) / 3)
