"""Every number in ../shared/anchors/experiments.json, reproduced within its tolerance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causal.experiments import (
    Experiment,
    GroupSequentialDesign,
    MannWhitney,
    Mean,
    PowerAnalysis,
    RatioOfMeans,
    adjust_pvalues,
    bayes_normal_lift,
    mann_whitney,
    mean_var_from_sums,
    srm_test,
    two_sample_test,
)
from tests.anchors import ANCHOR_DIR, load_anchor

A = load_anchor("experiments")
TT = A["tea_tasting_users"]
TOL = TT["tolerance_abs"]
GB = A["gbstats_sufficient_statistics"]
GTOL = GB["tolerance_abs"]


@pytest.fixture(scope="module")
def users() -> pd.DataFrame:
    return pd.read_csv(ANCHOR_DIR / TT["data_with_covariates"])


@pytest.fixture(scope="module")
def tt_result(users):
    exp = Experiment(
        sessions_per_user=Mean("sessions"),
        orders_per_session=RatioOfMeans("orders", "sessions"),
        orders_per_user=Mean("orders"),
        revenue_per_user=Mean("revenue"),
        revenue_cuped=Mean("revenue", covariate="revenue_covariate"),
        variant="variant", control=0, correction="bh",
    )
    return exp.analyze(users)


def test_plain_data_file_matches_covariate_file(users):
    plain = pd.read_csv(ANCHOR_DIR / TT["data"])
    cols = ["user", "variant", "sessions", "orders", "revenue"]
    pd.testing.assert_frame_equal(plain[cols], users[cols])


def test_mean_orders_per_user(tt_result):
    a = TT["mean_orders_per_user"]
    r = tt_result.row("orders_per_user")
    assert r["test"] == "Welch t"
    assert r["effect"] == pytest.approx(a["effect_abs"], abs=TOL)
    assert r["ci_low"] == pytest.approx(a["ci95"][0], abs=TOL)
    assert r["ci_high"] == pytest.approx(a["ci95"][1], abs=TOL)
    assert r["pvalue"] == pytest.approx(a["pvalue"], abs=TOL)


def test_ratio_orders_per_session_delta_method(tt_result):
    a = TT["ratio_orders_per_session"]
    r = tt_result.row("orders_per_session")
    assert r["effect"] == pytest.approx(a["effect_abs"], abs=TOL)
    assert r["ci_low"] == pytest.approx(a["ci95"][0], abs=TOL)
    assert r["ci_high"] == pytest.approx(a["ci95"][1], abs=TOL)
    assert r["pvalue"] == pytest.approx(a["pvalue"], abs=TOL)
    assert r["rel_ci_low"] == pytest.approx(a["rel_ci95_log_delta"][0], abs=TOL)
    assert r["rel_ci_high"] == pytest.approx(a["rel_ci95_log_delta"][1], abs=TOL)


def test_cuped_revenue(tt_result):
    a = TT["cuped_revenue_per_user"]
    r = tt_result.row("revenue_cuped")
    assert r["effect"] == pytest.approx(a["effect_abs"], abs=TOL)
    assert r["ci_low"] == pytest.approx(a["ci95"][0], abs=TOL)
    assert r["ci_high"] == pytest.approx(a["ci95"][1], abs=TOL)
    assert r["pvalue"] == pytest.approx(a["pvalue"], abs=TOL)
    assert r["theta"] == pytest.approx(a["theta"], abs=1e-7)
    # variance of the effect estimate after / before CUPED (anchor rounded to 4 digits)
    assert 1 - r["variance_reduction"] == pytest.approx(a["variance_ratio_after_before"], abs=5e-5)


def test_srm_counts(users, tt_result):
    a = TT["srm_counts"]
    counts = users["variant"].value_counts()
    # the anchor's arm labels are swapped relative to the data (variant 0 has 2023 users);
    # the test is symmetric in the arms, so the p-values do not depend on the labels
    assert sorted(counts.tolist()) == sorted([a["control"], a["treatment"]])
    s = srm_test([a["control"], a["treatment"]], a["expected_split"])
    assert s.pvalue_chi_square == pytest.approx(a["pvalue_chi_square"], abs=5e-4)
    # the anchor's "exact binomial" value is the continuity-corrected normal approximation
    # (what tea-tasting reports for n >= 1000); scipy's exact binomial differs by 4.5e-6
    assert s.pvalue_normal == pytest.approx(a["pvalue_exact_binomial"], abs=TOL)
    assert s.pvalue_exact == pytest.approx(a["pvalue_exact_binomial"], abs=1e-5)
    assert not s.mismatch
    assert tt_result.srm.pvalue_chi_square == pytest.approx(a["pvalue_chi_square"], abs=5e-4)


def test_mann_whitney_revenue(users):
    a = TT["mann_whitney_revenue"]
    c = users.loc[users["variant"] == 0, "revenue"].to_numpy()
    t = users.loc[users["variant"] == 1, "revenue"].to_numpy()
    mw = mann_whitney(c, t)
    assert mw["U"] == pytest.approx(a["U"], abs=TOL)
    assert mw["pvalue"] == pytest.approx(a["pvalue"], abs=TOL)
    res = Experiment(rev=MannWhitney("revenue"), variant="variant", control=0).analyze(users)
    assert res.row("rev")["U"] == pytest.approx(a["U"], abs=TOL)
    assert res.row("rev")["pvalue"] == pytest.approx(a["pvalue"], abs=TOL)


def test_multiple_testing_bh(tt_result):
    a = TT["multiple_testing_four_metrics"]
    raw = [tt_result.row(m)["pvalue"] for m in a["order"]]
    for got, want in zip(raw, a["raw_p_rounded"], strict=True):
        digits = len(str(want).split(".")[1])
        assert round(got, digits) == pytest.approx(want, abs=1e-12)
    bh = adjust_pvalues(raw, "bh")
    assert np.round(bh, 3).tolist() == a["bh_adjusted_rounded"]


def test_sample_size_orders(users):
    a = TT["sample_size_orders_per_user_10pct_lift_80pct_power_alpha05"]
    res = PowerAnalysis(Mean("orders")).sample_size(users, rel_mde=0.10, power=0.8)
    assert res.n_control == a["per_group"]
    assert res.n_per_group == pytest.approx(3843.6, abs=0.05)


def _gb_means():
    m = GB["means"]
    ca = mean_var_from_sums(m["A"]["sum"], m["A"]["sum_squares"], m["A"]["n"])
    cb = mean_var_from_sums(m["B"]["sum"], m["B"]["sum_squares"], m["B"]["n"])
    return ca, m["A"]["n"], cb, m["B"]["n"]


def test_gbstats_means_absolute_and_relative():
    (ma, va), na, (mb, vb), nb = _gb_means()
    m = GB["means"]
    r = two_sample_test(ma, va, na, mb, vb, nb, relative="delta")
    assert r.effect == pytest.approx(m["absolute"]["effect"], abs=GTOL)
    assert r.ci_low == pytest.approx(m["absolute"]["ci95"][0], abs=GTOL)
    assert r.ci_high == pytest.approx(m["absolute"]["ci95"][1], abs=GTOL)
    assert r.pvalue == pytest.approx(m["absolute"]["pvalue"], abs=GTOL)
    assert r.rel_effect == pytest.approx(m["relative"]["effect"], abs=GTOL)
    assert r.rel_ci_low == pytest.approx(m["relative"]["ci95"][0], abs=GTOL)
    assert r.rel_ci_high == pytest.approx(m["relative"]["ci95"][1], abs=GTOL)
    assert r.rel_pvalue == pytest.approx(m["relative"]["pvalue"], abs=GTOL)


def test_gbstats_proportions_relative():
    p = GB["proportions_relative"]
    pa = p["A"]["successes"] / p["A"]["n"]
    pb = p["B"]["successes"] / p["B"]["n"]
    # gbstats: binomial variance p(1-p), Welch t, delta-method relative interval
    r = two_sample_test(pa, pa * (1 - pa), p["A"]["n"], pb, pb * (1 - pb), p["B"]["n"],
                        relative="delta")
    assert r.rel_ci_low == pytest.approx(p["ci95"][0], abs=GTOL)
    assert r.rel_ci_high == pytest.approx(p["ci95"][1], abs=GTOL)
    assert r.rel_pvalue == pytest.approx(p["pvalue"], abs=GTOL)


def test_gbstats_bayesian_lift():
    b = GB["bayesian_normal_prior_on_relative_lift"]
    (ma, va), na, (mb, vb), nb = _gb_means()
    lift = mb / ma - 1
    lift_var = vb / (nb * ma**2) + mb**2 * va / (na * ma**4)
    flat = bayes_normal_lift(lift, lift_var)
    assert flat["ci_low"] == pytest.approx(b["flat_prior"]["ci95"][0], abs=GTOL)
    assert flat["ci_high"] == pytest.approx(b["flat_prior"]["ci95"][1], abs=GTOL)
    assert flat["chance_to_win"] == pytest.approx(b["flat_prior"]["chance_to_win"], abs=GTOL)
    pr = bayes_normal_lift(lift, lift_var, prior_mean=0.0, prior_sd=0.3)
    w = b["prior_normal_0_0.3"]
    assert pr["mean"] == pytest.approx(w["mean"], abs=GTOL)
    assert pr["ci_low"] == pytest.approx(w["ci95"][0], abs=GTOL)
    assert pr["ci_high"] == pytest.approx(w["ci95"][1], abs=GTOL)
    assert pr["chance_to_win"] == pytest.approx(w["chance_to_win"], abs=GTOL)


@pytest.mark.parametrize("case", A["sample_ratio_mismatch"]["cases"])
def test_srm_published_cases(case):
    s = srm_test(case["counts"])
    assert s.pvalue_chi_square == pytest.approx(case["pvalue"], rel=5e-3)
    assert s.mismatch


def test_group_sequential_boundaries():
    g = A["group_sequential_boundaries"]
    poc = GroupSequentialDesign(5, 0.05, sides=2, spending="classical_pocock").boundaries()
    assert np.allclose(poc.z, g["pocock_two_sided_0.05_K5"], atol=5e-4)
    obf = GroupSequentialDesign(5, 0.05, sides=2, spending="classical_obf").boundaries()
    assert np.allclose(obf.z, g["obrien_fleming_classical_two_sided_0.05_K5"], atol=5e-4)
    ld = GroupSequentialDesign(3, 0.025, sides=1, spending="obf").boundaries()
    assert np.allclose(ld.z, g["lan_demets_obf_one_sided_0.025_K3_equal_info"], atol=5e-5)
    assert ld.alpha_spent[-1] == pytest.approx(0.025, abs=1e-6)
