"""Imputation DiD (Borusyak-Jaravel-Spiess) against pyfixest's ``did2s`` (issue 10).

Gardner's two-stage DiD fits unit and period effects on untreated observations and regresses the
residualised outcome on treatment indicators: with one indicator per event time (and no
intercept) its coefficients are the imputation estimator's event-study effects, and with one
indicator the ATT. So the point estimates must agree to rounding. The standard errors are
different estimators of the same unit-clustered sampling SD: ours a unit (cluster) bootstrap,
did2s' the analytic GMM-corrected cluster sandwich. They agree to within the bootstrap's Monte
Carlo error, and did2s' SE matches the Monte Carlo SD of the estimate over replications.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyfixest as pf
import pytest

from causal.quasi import StaggeredDiD

# pyfixest absorbs the fixed effects by iterative demeaning (tolerance ~1e-8 on the residuals);
# the two agree to ~3e-6 relative, not to machine precision
RTOL = 1e-5


def panel(rng: np.random.Generator, n_units: int = 60, periods: int = 10) -> pd.DataFrame:
    """Three adoption cohorts and never-treated units; effects grow with exposure; unit trends."""
    df = pd.DataFrame([(u, t) for u in range(n_units) for t in range(periods)],
                      columns=["unit", "period"])
    df["adopt"] = df["unit"].map(lambda u: [3, 5, 7, np.nan][u % 4])
    rel = df["period"] - df["adopt"]
    effect = np.where(rel >= 0, 1.0 + 0.3 * rel, 0.0)
    unit_fe = rng.normal(size=n_units)[df["unit"]]
    slope = rng.normal(0, 0.05, n_units)[df["unit"]]  # serial correlation within units
    df["y"] = unit_fe + 0.2 * df["period"] + slope * df["period"] + effect + rng.normal(0, 0.5, len(df))
    df["effect"] = effect
    df["d"] = (rel >= 0).astype(int)
    return df


def _did2s(df: pd.DataFrame, second: str):
    return pf.did2s(df, yname="y", first_stage="~ 0 | unit + period", second_stage=second,
                    treatment="d", cluster="unit")


def test_att_and_event_study_equal_did2s_and_ses_agree():
    df = panel(np.random.default_rng(1))
    n_boot = 399
    res = StaggeredDiD("y", "unit", "period", "adopt", n_boot=n_boot, cross_check=False).fit(df, rng=0)
    ref = _did2s(df, "~ d")
    assert res.att.estimate == pytest.approx(float(ref.coef()["d"]), rel=RTOL)
    rel = df["period"] - df["adopt"]
    horizons = list(range(int(rel.max()) + 1))
    for h in horizons:
        df[f"e{h}"] = (rel == h).astype(float)
    ref_es = _did2s(df, "~ 0 + " + " + ".join(f"e{h}" for h in horizons))
    es = res.event_study.set_index("rel_time")
    for h in horizons:
        assert es.loc[h, "estimate"] == pytest.approx(float(ref_es.coef()[f"e{h}"]), rel=RTOL), h
    # SEs: bootstrap vs analytic, both of the unit-clustered SD. Relative Monte Carlo SD of a
    # bootstrap SE is about 1 / sqrt(2 B); allow 3.5 of those plus 5% for the small-sample
    # factors (did2s' G/(G-1), the bootstrap's none).
    tol = 3.5 / math.sqrt(2 * (n_boot - 1)) + 0.05
    assert res.att.se / float(ref.se()["d"]) == pytest.approx(1.0, abs=tol)
    ratios = [es.loc[h, "se"] / float(ref_es.se()[f"e{h}"]) for h in horizons]
    assert np.median(ratios) == pytest.approx(1.0, abs=tol)
    truth = df.loc[df.d == 1, "effect"].mean()
    assert res.att.covers(truth)


def test_did2s_se_matches_the_monte_carlo_sd_of_the_imputation_estimate():
    reps = 80
    ours, ses = [], []
    for s in np.random.SeedSequence(3).spawn(reps):
        df = panel(np.random.default_rng(s))
        r = StaggeredDiD("y", "unit", "period", "adopt", n_boot=2, cross_check=False).fit(df, rng=0)
        ref = _did2s(df, "~ d")
        assert r.att.estimate == pytest.approx(float(ref.coef()["d"]), rel=RTOL)
        ours.append(r.att.estimate)
        ses.append(float(ref.se()["d"]))
    sd = float(np.std(ours, ddof=1))
    # relative SE of a sample SD from `reps` draws is about 1 / sqrt(2 (reps - 1))
    band = 3.5 / math.sqrt(2 * (reps - 1))
    assert float(np.mean(ses)) / sd == pytest.approx(1.0, abs=band)
