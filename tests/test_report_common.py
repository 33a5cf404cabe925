"""What the task reports share (denoiserec.report.common): mean ± sd over seeds, the paired comparison, tables."""

import math

import numpy as np
import pytest
from scipy import stats

from denoiserec.report.common import fmt_mean_sd, markdown_table, mean_sd, paired, paired_p


def test_mean_sd_over_the_seeds_present():
    assert mean_sd([0.5, 0.7, None, math.nan]) == pytest.approx((0.6, math.sqrt(0.02)))
    assert mean_sd([0.5]) == (0.5, 0.0) and mean_sd([0.5, None]) == (0.5, 0.0)
    assert all(math.isnan(v) for v in mean_sd([None, math.nan]))
    assert fmt_mean_sd((0.6, 0.01)) == "0.6000 ± 0.0100" and fmt_mean_sd(None) == fmt_mean_sd((math.nan, 0)) == "–"


def test_paired_difference_is_a_minus_b_over_shared_seeds():
    a, b = {0: 0.70, 1: 0.72, 2: 0.69, 3: 0.9}, {0: 0.60, 1: 0.65, 2: 0.61, 5: 0.1}
    diff, p = paired(a, b)
    assert diff == pytest.approx(np.mean([0.10, 0.07, 0.08]))
    assert p == pytest.approx(stats.ttest_rel([0.70, 0.72, 0.69], [0.60, 0.65, 0.61]).pvalue)
    assert paired(b, a)[0] == pytest.approx(-diff)
    assert math.isnan(paired({0: 0.7, 1: math.nan}, {0: 0.6, 1: 0.6})[1])  # one pair left: no test
    assert math.isnan(paired_p(np.array([0.5, 0.6]), np.array([0.5, 0.6])))  # no difference: no test
    assert all(math.isnan(v) for v in paired({0: 0.7}, {1: 0.6}))


def test_markdown_table():
    assert markdown_table(["a", "b"], [["1", "2"]]) == ["| a | b |", "|---|---|", "| 1 | 2 |"]
