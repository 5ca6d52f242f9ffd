"""Building blocks: relative intervals, multiple-testing corrections, Welch ANOVA, SRM."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.oneway import anova_oneway

from causal.experiments import adjust_pvalues, srm_test, two_sample_test, welch_anova
from servicelab import DataError, DesignError


def test_relative_interval_methods_agree_for_large_samples():
    args = (10.0, 4.0, 20000, 10.5, 4.5, 20000)
    log = two_sample_test(*args, relative="log")
    fie = two_sample_test(*args, relative="fieller")
    dlt = two_sample_test(*args, relative="delta")
    for r in (fie, dlt):
        assert r.rel_ci_low == pytest.approx(log.rel_ci_low, abs=2e-4)
        assert r.rel_ci_high == pytest.approx(log.rel_ci_high, abs=2e-4)
    assert log.rel_ci_low < 0.05 < log.rel_ci_high


def test_fieller_unbounded_when_control_mean_is_uncertain():
    r = two_sample_test(0.05, 1.0, 30, 0.5, 1.0, 30, relative="fieller")
    assert math.isinf(r.rel_ci_low) and math.isinf(r.rel_ci_high)


def test_one_sided_alternatives():
    g = two_sample_test(1.0, 1.0, 500, 1.1, 1.0, 500, alternative="greater")
    two = two_sample_test(1.0, 1.0, 500, 1.1, 1.0, 500)
    assert g.pvalue == pytest.approx(two.pvalue / 2, rel=1e-12)
    assert math.isinf(g.ci_high) and g.ci_low > two.ci_low


@pytest.mark.parametrize(("ours", "theirs"), [("holm", "holm"), ("bonferroni", "bonferroni"),
                                              ("bh", "fdr_bh"), ("by", "fdr_by")])
def test_corrections_match_statsmodels(ours, theirs):
    p = np.random.default_rng(0).uniform(0, 0.2, size=12)
    np.testing.assert_allclose(adjust_pvalues(p, ours), multipletests(p, method=theirs)[1],
                               rtol=1e-12)


def test_corrections_pass_nan_through():
    out = adjust_pvalues([0.01, np.nan, 0.04], "holm")
    assert np.isnan(out[1]) and out[0] == pytest.approx(0.02)
    with pytest.raises(DesignError):
        adjust_pvalues([0.1], "sidak-ish")
    with pytest.raises(DataError):
        adjust_pvalues([1.5], "holm")


@pytest.mark.parametrize(("method", "former"), [
    ("holm", [0.006, 0.16, np.nan, 0.15, 0.16, 0.4, 0.8]),
    ("bonferroni", [0.006, 0.24, np.nan, 0.18, 0.24, 1.0, 1.0]),
    ("bh", [0.006, 0.06, np.nan, 0.06, 0.06, 0.24, 0.8]),
    ("by", [0.0147, 0.147, np.nan, 0.147, 0.147, 0.588, 1.0]),
    ("none", [0.001, 0.04, np.nan, 0.03, 0.04, 0.2, 0.8]),
])
def test_corrections_keep_the_former_hand_written_outputs(method, former):
    # outputs of the hand-written corrections replaced by statsmodels (ties and a NaN included)
    out = adjust_pvalues([0.001, 0.04, np.nan, 0.03, 0.04, 0.2, 0.8], method)
    np.testing.assert_allclose(out, former, rtol=1e-12, atol=1e-15)


def test_welch_anova_matches_statsmodels():
    rng = np.random.default_rng(1)
    groups = [rng.normal(0, 1, 40), rng.normal(0.3, 2, 60), rng.normal(0.1, 0.5, 30)]
    f_stat, d1, d2, p = welch_anova([g.mean() for g in groups], [g.var(ddof=1) for g in groups],
                               [g.size for g in groups])
    ref = anova_oneway(groups, use_var="unequal")
    assert f_stat == pytest.approx(ref.statistic, rel=1e-10)
    assert d1 == 2
    assert p == pytest.approx(ref.pvalue, rel=1e-8)
    assert d2 == pytest.approx(ref.df[1], rel=1e-10)


def test_two_sample_bad_input():
    with pytest.raises(DataError, match="at least 2 units"):
        two_sample_test(1, 1, 1, 1, 1, 10)
    with pytest.raises(DataError, match="zero variance"):
        two_sample_test(1, 0, 10, 1, 0, 10)
    with pytest.raises(DesignError):
        srm_test([10])
    with pytest.raises(DataError):
        srm_test([10, -1])
    with pytest.raises(DesignError):
        srm_test([10, 10], [0.5, 0.3, 0.2])


def test_two_sample_to_dict_is_json_safe_and_to_row_keeps_the_numbers():
    import json

    res = two_sample_test(np.float64(10.0), np.float64(4.0), np.int64(500), np.float64(10.4),
                          np.float64(4.0), np.int64(500), use_t=False)
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert all(type(v) in (float, int, str, bool, list) or v is None for v in d.values())
    assert d["df"] is None and res.to_row()["df"] == np.inf  # infinity: None in JSON, kept in rows
    assert d["effect"] == pytest.approx(0.4) and d["diagnostics"] == []
    assert set(res.to_row()) == set(res.__dataclass_fields__)
