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
        "csat": RatioOfMeans("csat_sum", "csat_n", margin=0.05),
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
    assert (seg["pvalue_adj"] >= seg["pvalue"] - 1e-15).all()
    assert seg["pvalue_adj"].max() <= 1


def test_guardrail_noninferiority(result):
    r = result.row("csat")
    assert r["role"] == "guardrail"
    assert r["ni_margin_abs"] == pytest.approx(0.05 * r["mean_control"])
    # no true csat effect: with this n the 5 % margin is established
    assert r["noninferior"] and r["guardrail_status"] == "ok"


def test_guardrail_harm_is_loud(frame):
    f = frame.copy()
    f.loc[f["variant"] == "treatment", "csat_sum"] *= 0.8  # 20 % worse
    res = Experiment(csat=RatioOfMeans("csat_sum", "csat_n", margin=0.02), guardrails=["csat"],
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
    spec = Experiment(p90=Quantile("handle_s_sum", 0.9, n_resamples=200),
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
    p = res.table["pvalue"].to_numpy()
    assert (res.table["pvalue_adj"].to_numpy() >= p).all()
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
    assert "WARNINGS" in str(res.summary())
