"""The sweep: same seed, same table (also across the process pool); seeds per scenario."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from causal.scorecard import ESTIMATORS, SCENARIOS, Scorecard, generate, run_family
from servicelab.errors import DesignError

SMALL = {"scenarios": ("exp-baseline", "iv-strong"), "estimators": ("mean", "cuped", "2sls"),
         "reps": 12, "chunk": 5}


def test_same_seed_same_table_and_another_seed_another() -> None:
    a = Scorecard(**SMALL).run(rng=7)
    b = Scorecard(**SMALL).run(rng=7)
    c = Scorecard(**SMALL).run(rng=8)
    pd.testing.assert_frame_equal(a.table, b.table)
    pd.testing.assert_frame_equal(a.records, b.records)
    assert not np.allclose(a.records["estimate"], c.records["estimate"])


def test_process_pool_gives_the_same_records_as_one_process() -> None:
    one = Scorecard(**SMALL).run(rng=3)
    seen: list[int] = []

    def progress(items, total):  # the hook a study passes (ctx.progress): sees every chunk
        seen.append(total)
        yield from items

    pool = Scorecard(**SMALL, n_jobs=2).run(rng=3, progress=progress)
    pd.testing.assert_frame_equal(one.records, pool.records)
    assert seen == [6]  # 2 scenarios x 12 reps in chunks of 5: 3 + 3 tasks


def test_a_scenario_numbers_do_not_depend_on_the_other_scenarios() -> None:
    alone = Scorecard(scenarios=("iv-strong",), estimators=("2sls",), reps=8).run(rng=5)
    both = Scorecard(scenarios=("exp-baseline", "iv-strong"), estimators=("mean", "2sls"),
                     reps=8).run(rng=5)
    pd.testing.assert_series_equal(
        alone.cell("iv-strong", "2sls"), both.cell("iv-strong", "2sls"), check_names=False)


def test_expensive_estimators_see_the_first_worlds_only() -> None:
    sc = Scorecard(scenarios=("did-common",), reps=6, reps_expensive=2)
    (_scen, reps), = sc.plan()
    assert [names for _, names in reps] == [("twfe", "imputation")] * 2 + [("twfe",)] * 4
    # the records of the shared replications are the same worlds: equal TWFE numbers
    res = sc.run(rng=1)
    cheap = Scorecard(scenarios=("did-common",), estimators=("twfe",), reps=6).run(rng=1)
    pd.testing.assert_series_equal(
        res.records.loc[res.records.estimator == "twfe", "estimate"].reset_index(drop=True),
        cheap.records["estimate"].reset_index(drop=True))


def test_sensitivity_is_scored_only_with_a_hidden_confounder() -> None:
    plan = {s.name: r for s, r in Scorecard(
        scenarios=("obs-baseline", "obs-unobserved"), estimators=("regression", "sensitivity"),
        reps=1).plan()}
    assert plan["obs-baseline"][0][1] == ("regression",)
    assert plan["obs-unobserved"][0][1] == ("regression", "sensitivity")


def test_sensitivity_bound_covers_where_the_plain_regression_does_not() -> None:
    res = Scorecard(scenarios=("obs-unobserved",), estimators=("regression", "sensitivity"),
                    reps=30).run(rng=2)
    reg, sens = res.cell("obs-unobserved", "regression"), res.cell("obs-unobserved",
                                                                    "sensitivity")
    assert reg.coverage < 0.3 and reg.bias > 0.3   # the hidden confounder biases it upwards
    assert sens.coverage > 0.8                     # the bound at the true strength reaches it


def test_bad_settings_are_refused() -> None:
    with pytest.raises(DesignError, match="unknown scenario"):
        Scorecard(scenarios=("nope",)).plan()
    with pytest.raises(DesignError, match="unknown estimators"):
        Scorecard(estimators=("nope",)).plan()
    with pytest.raises(DesignError, match="no estimator runs"):
        Scorecard(scenarios=("exp-baseline",), estimators=("2sls",)).plan()
    with pytest.raises(ValueError, match="do not run on"):
        run_family(generate(SCENARIOS["iv-strong"], rng=0), ["mean"])


def test_result_summary_plot_and_json() -> None:
    res = Scorecard(**SMALL).run(rng=1)
    assert "Estimator scorecard" in str(res.summary())
    ax = res.plot()
    assert ax.get_xlabel() == "scenario" and ax.get_ylabel() == "estimator"
    d = json.loads(json.dumps(res.to_dict()))
    assert d["settings"]["reps"] == 12 and len(d["table"]) == 3
    assert {h["family"] for h in d["headline"]} == {"experiments", "iv"}


def test_every_estimator_runs_on_its_family() -> None:
    """One replication of every cheap and expensive estimator: a record each, no errors."""
    for sc in SCENARIOS.values():
        names = [e.name for e in ESTIMATORS.values()
                 if e.family == sc.family and e.cost != "bayes"
                 and (e.name != "sensitivity" or sc.unobserved > 0)]
        if not names or sc.name not in ("exp-baseline", "cl-few", "sb-baseline", "obs-unobserved",
                                        "iv-strong", "did-staggered-dynamic", "synth-good-fit",
                                        "cens-light", "bayes-ab"):
            continue
        recs = run_family(generate(sc, rng=0), names, rng=0)
        assert [r["estimator"] for r in recs] == names
        assert all(r["error"] == "" for r in recs), [r["error"] for r in recs]
        assert all(np.isfinite(r["truth"]) for r in recs)


def test_coverage_is_scored_at_the_level_the_intervals_report() -> None:
    """The nominal coverage comes from the estimates' own ``ci_level`` (recorded per replication),
    not from a setting that the estimators never saw; mixed levels are refused."""
    from causal.scorecard.runner import interval_level

    res = Scorecard(**SMALL).run(rng=5)
    assert set(res.records["ci_level"]) == {0.95}
    assert res.level == 0.95 and res.to_dict()["settings"]["level"] == 0.95
    mixed = res.records.copy()
    mixed.loc[0, "ci_level"] = 0.9
    with pytest.raises(DesignError, match="mixed levels"):
        interval_level(mixed)
