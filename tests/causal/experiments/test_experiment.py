"""The Experiment spec and its result: API, warehouse parity, segments, arms, guardrails,
determinism and bad input."""

from __future__ import annotations

import json
import math

import duckdb
import matplotlib
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from causal.experiments import (
    Experiment,
    ExperimentResult,
    Mean,
    Proportion,
    Quantile,
    RatioOfMeans,
    simulate_service_experiment,
)
from causal.results import EffectEstimate
from servicelab import DataError, DesignError, Summary

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    c = simulate_service_experiment(3000, handle_effect=-0.08, rng=11).customers
    c["any_contact"] = (c["contacts"] > 0).astype(int)
    return c


def _spec(**kw) -> Experiment:
    base = {
        "aht": RatioOfMeans("handle_s_sum", "answered", covariate="pre_handle_s_sum",
                         covariate_denominator="pre_answered", higher_is_better=False),
        "contacts": Mean("contacts", covariate="pre_contacts", higher_is_better=False),
        "any_contact": Proportion("any_contact", higher_is_better=False),
        "csat": RatioOfMeans("csat_sum", "csat_n", higher_is_better=True, margin=0.05),
    }
    params = {"variant": "variant", "control": "control", "guardrails": ("csat",), "segment": "tier",
                  "name": "routing-sim"}
    params.update(kw)
    return Experiment(base, **params)


@pytest.fixture(scope="module")
def result(frame) -> ExperimentResult:
    return _spec().analyze(frame)


def test_result_shape_and_exports(result):
    t = result.table
    assert set(t["metric"]) == {"aht", "contacts", "any_contact", "csat"}
    assert set(t["segment"]) == {"all", "standard", "verified", "creator", "advertiser"}
    s = result.summary()
    assert isinstance(s, Summary)
    assert "aht" in str(s) and "<table" in s._repr_html_() and "| metric |" in s.to_markdown()
    assert len(s.to_frame()) == len(t)
    d = result.to_dict()
    json.dumps(d)  # JSON-safe
    assert d["srm"]["counts"] == list(result.srm.counts)
    ax = result.plot()
    assert len(ax.get_yticklabels()) == 4
    eff = result.effect("aht")
    assert isinstance(eff, EffectEstimate) and eff.estimand == "ATE"
    names = [x.name for x in result.diagnostics]
    assert "srm" in names and "balance" in names and "guardrail:csat:treatment" in names


def test_ground_truth_handle_effect(result):
    # handle time per answered contact falls by 8 %: CUPED-adjusted ratio covers the truth
    r = result.row("aht")
    assert r["rel_ci_low"] < -0.08 < r["rel_ci_high"]
    assert r["ci_low"] < 420 * -0.08 < r["ci_high"]
    assert r["significant"]
    assert r["variance_reduction"] > 0.1  # the pre-period ratio is informative


def test_segment_pvalues_are_corrected(result):
    t = result.table
    seg = t[(t["metric"] == "aht") & (t["segment"] != "all")]
    assert len(seg) >= 2
    # exactly Holm within the metric's segments (statsmodels as the reference)
    expected = multipletests(seg["pvalue"].to_numpy(), method="holm")[1]
    np.testing.assert_allclose(seg["pvalue_adj"].to_numpy(), expected, rtol=1e-12, atol=0)


def test_guardrail_noninferiority(result):
    r = result.row("csat")
    assert r["role"] == "guardrail"
    assert r["ni_margin_abs"] == pytest.approx(0.05 * r["mean_control"])
    # no true csat effect: with this n the 5 % margin is established
    assert r["noninferior"] and r["guardrail_status"] == "ok"


def test_guardrail_harm_is_loud(frame):
    f = frame.copy()
    f.loc[f["variant"] == "treatment", "csat_sum"] *= 0.8  # 20 % worse
    res = Experiment(csat=RatioOfMeans("csat_sum", "csat_n", higher_is_better=True, margin=0.02), guardrails=["csat"],
                     ).analyze(f)
    d = {x.name: x for x in res.diagnostics}["guardrail:csat:treatment"]
    assert d.status == "fail"
    assert "FAILED CHECKS" in str(res.summary())


def test_warehouse_path_matches_pandas(frame, result):
    con = duckdb.connect()
    con.register("customers_view", frame)
    con.execute("CREATE TABLE customers AS SELECT * FROM customers_view")
    spec = _spec()
    cols = ["effect", "ci_low", "ci_high", "pvalue", "rel_ci_low", "rel_ci_high", "theta",
            "variance_reduction", "pvalue_adj"]
    for data in [(con, "customers"), (con, "SELECT * FROM customers"),
                 con.sql("SELECT * FROM customers")]:
        res = spec.analyze(data)
        assert res.info["backend"].startswith("duckdb")
        a = res.table.set_index(["metric", "segment"])[cols].sort_index()
        b = result.table.set_index(["metric", "segment"])[cols].sort_index()
        np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-9, atol=1e-12)
        assert res.srm.counts == result.srm.counts


def test_sql_injection_is_refused(frame):
    con = duckdb.connect()
    con.register("t", frame)
    with pytest.raises(DataError, match="neither a table name nor a SELECT"):
        Experiment(y=Mean("contacts")).analyze((con, "t; DROP TABLE t"))
    with pytest.raises(DataError, match="not in the data"):
        Experiment(y=Mean('contacts" OR 1=1 --')).analyze((con, "t"))
    con.register("t2", frame.rename(columns={"contacts": 'contacts"x'}))
    with pytest.raises(DataError, match="plain SQL identifier"):
        Experiment(y=Mean('contacts"x')).analyze((con, "t2"))


def test_determinism_and_quantile_seed(frame):
    spec = Experiment(p90=Quantile("handle_s_sum", 0.9, method="bca", n_resamples=200),
                      aht=RatioOfMeans("handle_s_sum", "answered"))
    a = spec.analyze(frame, rng=5).table
    b = spec.analyze(frame, rng=5).table
    pd.testing.assert_frame_equal(a, b)
    c = spec.analyze(frame, rng=6).table
    assert a.loc[a["metric"] == "p90", "ci_low"].item() != c.loc[c["metric"] == "p90",
                                                                 "ci_low"].item()


def test_multi_arm_omnibus_and_correction():
    rng = np.random.default_rng(3)
    n = 3000
    arm = rng.choice(["control", "a", "b"], size=n)
    y = rng.normal(size=n) + 0.25 * (arm == "b")
    f = pd.DataFrame({"variant": arm, "y": y, "z": (rng.random(n) < 0.3 + 0.1 * (arm == "a"))})
    f["z"] = f["z"].astype(int)
    res = Experiment(y=Mean("y"), z=Proportion("z"), correction="holm").analyze(f)
    assert set(res.table["arm"]) == {"a", "b"}
    om = res.omnibus.set_index("metric")
    assert om.loc["y", "test"] == "Welch ANOVA" and om.loc["y", "pvalue"] < 1e-3
    assert om.loc["z", "test"] == "chi-square homogeneity" and om.loc["z", "pvalue"] < 1e-3
    assert res.row("y", "b")["significant"] and not res.row("y", "a")["significant"]
    # Holm over the primary family (2 metrics x 2 arms), statsmodels as the reference
    p = res.table["pvalue"].to_numpy()
    np.testing.assert_allclose(res.table["pvalue_adj"].to_numpy(),
                               multipletests(p, method="holm")[1], rtol=1e-12, atol=0)
    assert len(res.srm.counts) == 3


def test_srm_failure_is_loud():
    f = pd.DataFrame({"variant": ["control"] * 600 + ["treatment"] * 400,
                      "y": np.arange(1000.0) % 13})
    res = Experiment(y=Mean("y")).analyze(f)
    d = {x.name: x for x in res.diagnostics}["srm"]
    assert d.status == "fail" and "SAMPLE RATIO MISMATCH" in d.message
    assert "FAILED CHECKS" in str(res.summary())
    # with the designed 60/40 split there is no mismatch
    ok = Experiment(y=Mean("y"), expected_split=[0.6, 0.4]).analyze(f)
    assert {x.name: x for x in ok.diagnostics}["srm"].status == "ok"


def test_balance_warning_on_imbalanced_covariate(frame):
    f = frame.copy()
    f.loc[f["variant"] == "treatment", "pre_contacts"] += 2
    res = Experiment(c=Mean("contacts", covariate="pre_contacts")).analyze(f)
    d = {x.name: x for x in res.diagnostics}["balance"]
    assert d.status == "warning" and "pre_contacts" in d.message


# -- bad input ---------------------------------------------------------------------------------
def test_unknown_variant_label(frame):
    f = frame.copy()
    f.loc[f.index[:5], "variant"] = "treatmnet"
    with pytest.raises(DataError, match="unknown variant label"):
        Experiment(y=Mean("contacts"), arms=["control", "treatment"]).analyze(f)
    with pytest.raises(DataError, match="control label 'ctrl' not found"):
        Experiment(y=Mean("contacts"), control="ctrl").analyze(frame)


def test_single_arm(frame):
    f = frame[frame["variant"] == "control"]
    with pytest.raises(DesignError, match="only one arm"):
        Experiment(y=Mean("contacts")).analyze(f)


def test_zero_variance_metric_is_a_failed_diagnostic(frame):
    f = frame.assign(const=1.0)
    res = Experiment(c=Mean("const"), y=Mean("contacts")).analyze(f)
    d = {x.name: x for x in res.diagnostics}["zero_variance:c"]
    assert d.status == "fail"
    assert math.isnan(res.row("c")["pvalue"])
    assert not math.isnan(res.row("y")["pvalue"])


def test_nan_policy(frame):
    f = frame.copy()
    f.loc[f.index[:7], "contacts"] = np.nan
    with pytest.raises(DataError, match="7 units have missing values"):
        Experiment(y=Mean("contacts")).analyze(f)
    res = Experiment(y=Mean("contacts"), nan_policy="drop").analyze(f)
    d = {x.name: x for x in res.diagnostics}["missing:y"]
    assert d.value == 7 and d.status == "warning"
    r = res.row("y")
    assert r["n_control"] + r["n_treatment"] == len(f) - 7
    # SRM still counts every randomised unit
    assert sum(res.srm.counts) == len(f)


def test_covariate_with_nans(frame):
    f = frame.copy()
    f.loc[f.index[:3], "pre_contacts"] = np.nan
    with pytest.raises(DataError, match="missing values"):
        Experiment(y=Mean("contacts", covariate="pre_contacts")).analyze(f)
    res = Experiment(y=Mean("contacts", covariate="pre_contacts"), nan_policy="drop").analyze(f)
    assert {x.name: x for x in res.diagnostics}["missing:y"].value == 3


def test_ratio_with_zero_denominators(frame):
    # some customers have no answered contact: kept, as a ratio of means (not a mean of ratios)
    assert (frame["answered"] == 0).any()
    res = Experiment(aht=RatioOfMeans("handle_s_sum", "answered")).analyze(frame)
    c = frame[frame["variant"] == "control"]
    assert res.row("aht")["mean_control"] == pytest.approx(
        c["handle_s_sum"].sum() / c["answered"].sum()
    )
    # an arm whose denominators are all zero: the ratio is undefined
    f = frame.copy()
    f.loc[f["variant"] == "treatment", ["answered", "handle_s_sum"]] = 0
    with pytest.raises(DataError, match="denominator sums to 0"):
        Experiment(aht=RatioOfMeans("handle_s_sum", "answered")).analyze(f)


def test_spec_errors(frame):
    with pytest.raises(DesignError, match="at least one metric"):
        Experiment().analyze(frame)
    with pytest.raises(DesignError, match="guardrails"):
        Experiment(y=Mean("contacts"), guardrails=["nope"]).analyze(frame)
    with pytest.raises(DataError, match="not in the data"):
        Experiment(y=Mean("nope")).analyze(frame)
    with pytest.raises(DataError, match="0/1"):
        Experiment(y=Proportion("contacts")).analyze(frame)
    with pytest.raises(DesignError, match="margin"):
        Mean("contacts", margin=-1)
    with pytest.raises(DataError, match="DataFrame"):
        Experiment(y=Mean("contacts")).analyze([1, 2, 3])


def test_decision_text(result, frame):
    text = result.decision("aht")
    assert text.startswith("SHIP CANDIDATE") and "aht" in text
    f = frame.copy()
    f.loc[f["variant"] == "treatment", "csat_sum"] *= 0.8
    harmed = _spec().analyze(f)
    assert harmed.decision("aht").startswith("HOLD") and "csat" in harmed.decision("aht")
    assert result.decision("csat", higher_is_better=True).startswith("INCONCLUSIVE")
    g = pd.DataFrame({"variant": ["control"] * 600 + ["treatment"] * 400,
                      "y": np.arange(1000.0) % 13})
    assert Experiment(y=Mean("y")).analyze(g).decision("y").startswith("NO DECISION")


def test_tiny_segment_is_skipped_loudly(frame):
    f = frame.copy()
    f.loc[f.index[:1], "tier"] = "vip"  # one unit, one arm only
    res = Experiment(y=Mean("contacts"), segment="tier").analyze(f)
    names = [d.name for d in res.diagnostics]
    assert "segment_skipped:y:vip" in names
    assert "vip" not in set(res.table["segment"])
    assert "WARNINGS" in str(res.summary()) and "segment_skipped:y:vip" in str(res.summary())


# -- omnibus first, balance always, no silent fallbacks ----------------------------------------
def _three_arms(shift_b: float, n: int = 1500, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.choice(["control", "a", "b"], size=n)
    y = rng.normal(size=n) + shift_b * (arm == "b")
    return pd.DataFrame({"variant": arm, "y": y, "pre": rng.normal(size=n)})


def test_decision_reads_the_omnibus_first():
    # a per-arm p < 0.05 can appear by chance among several arms (seed 22: arm 'a' p = 0.044,
    # omnibus p = 0.098); without a significant omnibus test there is no per-arm ship decision
    res = Experiment(y=Mean("y"), correction="none").analyze(_three_arms(0.0, seed=22))
    assert res.row("y", "a")["significant"] and res.omnibus.loc[0, "pvalue"] >= 0.05
    text = res.decision("y", "a")
    assert text.startswith("INCONCLUSIVE") and "omnibus Welch ANOVA" in text
    assert "not significant" in text
    # a real effect: omnibus significant, the decision names it and goes on per arm
    res = Experiment(y=Mean("y", higher_is_better=True)).analyze(_three_arms(0.4))
    text = res.decision("y", "b")
    assert text.startswith("SHIP CANDIDATE") and "omnibus Welch ANOVA" in text


def test_omnibus_with_a_constant_arm_is_loud():
    f = _three_arms(0.4)
    f.loc[f["variant"] == "a", "y"] = 1.0
    res = Experiment(y=Mean("y")).analyze(f)
    d = {x.name: x for x in res.diagnostics}["omnibus:y"]
    assert d.status == "warning" and "zero variance" in d.message and "'a'" in d.message
    assert math.isnan(res.omnibus.loc[0, "pvalue"])
    assert res.decision("y", "b").startswith("INCONCLUSIVE")


def test_welch_anova_refuses_zero_variance():
    from causal.experiments import ZeroVarianceError, welch_anova

    with pytest.raises(ZeroVarianceError, match=r"arm\(s\) \[1\]"):
        welch_anova([0.0, 1.0, 0.5], [1.0, 0.0, 1.0], [50, 50, 50])


def test_balance_not_checked_is_a_warning(frame):
    res = Experiment(y=Mean("contacts")).analyze(frame)
    d = {x.name: x for x in res.diagnostics}["balance"]
    assert d.status == "warning" and "NOT CHECKED" in d.message and "balance=" in d.message
    res = Experiment(y=Mean("contacts"), balance=["pre_contacts"]).analyze(frame)
    assert {x.name: x for x in res.diagnostics}["balance"].status == "ok"


def test_missing_segment_is_counted(frame):
    f = frame.copy()
    f.loc[f.index[:9], "tier"] = None
    res = Experiment(y=Mean("contacts"), segment="tier").analyze(f)
    d = {x.name: x for x in res.diagnostics}["segment_missing:tier"]
    assert d.value == 9 and d.status == "warning"
    r = res.row("y")
    assert r["n_control"] + r["n_treatment"] == len(f)  # still in the 'all' rows


def test_balance_column_nans_follow_nan_policy(frame):
    f = frame.copy()
    f.loc[f.index[:4], "pre_contacts"] = np.nan
    with pytest.raises(DataError, match="balance column 'pre_contacts' has 4 missing"):
        Experiment(y=Mean("contacts"), balance=["pre_contacts"]).analyze(f)
    res = Experiment(y=Mean("contacts"), balance=["pre_contacts"], nan_policy="drop").analyze(f)
    assert {x.name: x for x in res.diagnostics}["missing:balance:pre_contacts"].value == 4


def test_undefined_log_relative_ci_is_loud():
    rng = np.random.default_rng(1)
    f = pd.DataFrame({"variant": ["control", "treatment"] * 200,
                      "y": rng.normal(size=400) + np.tile([-0.5, 0.5], 200)})
    res = Experiment(y=Mean("y")).analyze(f)
    assert math.isnan(res.row("y")["rel_ci_low"])
    d = {x.name: x for x in res.diagnostics}["relative_ci:y"]
    assert d.status == "warning" and "relative='delta'" in d.message and "'y'" in d.message
    ok = Experiment(y=Mean("y", relative="delta")).analyze(f)
    assert not math.isnan(ok.row("y")["rel_ci_low"])
    assert "relative_ci:y" not in {x.name for x in ok.diagnostics}


def test_invalid_relative_is_rejected_at_construction():
    with pytest.raises(DesignError, match="relative must be"):
        Mean("y", relative="ratio")
    with pytest.raises(DesignError, match="relative must be"):
        RatioOfMeans("a", "b", relative="LOG")
    with pytest.raises(DesignError, match="alternative must be"):
        Proportion("z", alternative="two_sided")
