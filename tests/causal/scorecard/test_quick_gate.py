"""The scorecard's CI gate: the ``--quick`` subset, run once (about 15 s in one process).

It fails the suite when the coverage of a listed estimator leaves its binomial band (a correct
95% interval leaves its 99.9% band with probability 0.001, whatever the seed), or when a
diagnostic misses a known failure: limited overlap (propensities down to 1e-3) and a weak
instrument. The issue's criterion is tested literally: in the limited-overlap world no
estimator may report "ok" while missing the truth by more than 3 of its own SEs in more than 5%
of replications.

Assertions the integrated code still fails are marked ``xfail(strict=True)``: once fixed they
XPASS, which fails the suite until the marker is removed. With the overlap fixes of branch
``obs`` merged, the *result's* diagnostics flag every limited-overlap replication, but the
weighting estimators' *own* warnings fire in only part of them (42% for IPW and AIPW, 52% for
the DR learner in the 2026-12-02 full run), so the own-diagnostics test below is still expected to fail.
"""

from __future__ import annotations

import pytest

from causal.scorecard import QUICK_PLAN, Scorecard

SEED = 2026  # the study's default seed; the bands hold for any seed

OBS = "open after the obs merge"
LISTED = [  # estimators whose 95% intervals must be correct in these worlds
    ("exp-baseline", "mean"), ("exp-baseline", "cuped"), ("exp-baseline", "ratio"),
    ("cl-few", "cr2"), ("obs-baseline", "regression"), ("obs-baseline", "aipw"),
    ("obs-limited-overlap", "regression"), ("iv-strong", "2sls"),
    ("cens-heavy", "rmst"), ("cens-heavy", "p_event"),
    # the ATT asked without effect modifiers is computed (it was the ATE labelled ATT)
    ("obs-att-heterogeneous", "linear_dml"), ("obs-att-heterogeneous", "dr_learner"),
]


@pytest.fixture(scope="module")
def quick():
    return Scorecard.quick().run(rng=SEED)


def test_quick_plan_is_what_ran(quick) -> None:
    cells = set(zip(quick.table["scenario"], quick.table["estimator"], strict=True))
    assert cells == {(s, e) for s, es in QUICK_PLAN.items() for e in es}
    assert int(quick.table["errors"].sum()) == 0


@pytest.mark.parametrize(("scenario", "estimator"), LISTED)
def test_listed_coverage_is_inside_its_binomial_band(quick, scenario: str, estimator: str) -> None:
    row = quick.cell(scenario, estimator)
    assert row.band_low <= row.coverage <= row.band_high, (
        f"{estimator} in {scenario}: coverage {row.coverage:.3f} (MC SE {row.coverage_mcse:.3f}) "
        f"outside [{row.band_low:.3f}, {row.band_high:.3f}] over {row.valid} replications")


def test_gate_catches_a_known_wrong_interval(quick) -> None:
    """Negative control: i.i.d. SEs on a cluster-randomised design must fall below the band."""
    row = quick.cell("cl-few", "iid_ignoring_clusters")
    assert row.coverage < row.band_low


def test_limited_overlap_no_silent_wide_misses(quick) -> None:
    """The issue's "done when": no estimator says ok while missing by > 3 SE in > 5% of reps
    (status = every diagnostic of the result the analyst reads)."""
    lo = quick.table[quick.table["scenario"] == "obs-limited-overlap"]
    assert len(lo) == len(QUICK_PLAN["obs-limited-overlap"])
    bad = lo.loc[lo["silent_wide_miss"] > 0.05, ["estimator", "silent_wide_miss"]]
    assert bad.empty, bad.to_string()


@pytest.mark.parametrize("estimator", ["regression", "ipw", "aipw", "matching", "dr_learner"])
def test_limited_overlap_no_silent_wide_misses_by_own_diagnostics(quick, estimator: str) -> None:
    """The same criterion on the estimate's own diagnostics (``EffectEstimate.status``)."""
    row = quick.cell("obs-limited-overlap", estimator)
    assert row.silent_wide_miss_own <= 0.05, (
        f"{estimator}: {row.silent_wide_miss_own:.0%} of replications missed by > 3 SE "
        "with its own diagnostics ok")


@pytest.mark.parametrize("estimator", ["ipw", "aipw", "dr_learner"])
@pytest.mark.xfail(strict=True, reason=f"{OBS}: the estimate's own overlap warning fires in "
                   "only part of the limited-overlap fits")
def test_weighting_estimators_flag_limited_overlap_themselves(quick, estimator: str) -> None:
    """18% of the units have propensities outside [0.01, 0.99]: the estimate itself must say so."""
    rec = quick.records
    own = rec.loc[(rec.scenario == "obs-limited-overlap") & (rec.estimator == estimator),
                  "own_status"]
    assert own.isin(["warning", "fail"]).mean() >= 0.9


def test_limited_overlap_is_flagged_by_the_study(quick) -> None:
    """The pipeline's overlap diagnostic fails in (nearly) every replication."""
    lo = quick.table[quick.table["scenario"] == "obs-limited-overlap"]
    assert (lo["flagged"] >= 0.9).all(), lo[["estimator", "flagged"]].to_string()


def test_weak_instrument_is_flagged(quick) -> None:
    assert quick.cell("iv-weak", "2sls").flagged >= 0.8
    assert quick.cell("iv-strong", "2sls").flagged <= 0.05
