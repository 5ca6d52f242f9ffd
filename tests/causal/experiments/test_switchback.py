"""Switchbacks done fully: balanced schedules, carryover from the data against the simulated
truth, randomisation inference within the plan, power by simulation, bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from causal.experiments import (
    SwitchbackDesign,
    SwitchbackPlan,
    SwitchbackSchedule,
    estimate_carryover,
    simulate_switchback,
    switchback_power,
    switchback_randomization_test,
)
from servicelab.errors import DesignError

HOUR = 3600.0


def test_schedule_is_balanced_by_time_of_day_and_day_of_week_and_exportable(tmp_path):
    plan = SwitchbackPlan(("billing", "tech", "sales"), days=14, slice_s=HOUR, burn_in_s=600)
    sched = plan.generate(rng=3)
    f = sched.to_frame()
    assert len(f) == 3 * 14 * 24
    # every unit: every day 12/12, every slot of the day 7/7, every weekday x slot 1/1
    assert (f.groupby(["unit", "day", "arm"]).size() == 12).all()
    assert (f.groupby(["unit", "slot", "arm"]).size() == 7).all()
    assert (f.groupby(["unit", "day_of_week", "slot", "arm"]).size() == 1).all()
    assert sched.diagnostics[0].status == "ok"
    # the burn-in follows the switches
    sw = f[f["switched"]]
    assert ((sw["burn_in_end_s"] - sw["start_s"]) == 600).all()
    assert (f.loc[~f["switched"], "burn_in_end_s"] == f.loc[~f["switched"], "start_s"]).all()
    # seeded, and randomised
    pd.testing.assert_frame_equal(f, plan.generate(rng=3).to_frame())
    assert not f["arm"].equals(plan.generate(rng=4).to_frame()["arm"])
    # CSV round trip
    path = tmp_path / "schedule.csv"
    sched.to_csv(path)
    back = SwitchbackSchedule.from_frame(pd.read_csv(path), plan)
    pd.testing.assert_frame_equal(back.to_frame(), f)
    tod = SwitchbackPlan(("q",), days=10, slice_s=2 * HOUR, balance="time_of_day").generate(rng=1)
    assert (tod.to_frame().groupby(["slot", "arm"]).size() == 5).all()


def _bin_truth(effect: float, tau: float, a: float, b: float) -> float:
    """Mean of effect * exp(-w / tau) over w uniform in [a, b): the previous arm's weight."""
    return effect * tau / (b - a) * (math.exp(-a / tau) - math.exp(-b / tau))


def test_carryover_estimate_matches_the_simulated_decay():
    tau, effect, bin_s = 900.0, -20.0, 900.0
    plan = SwitchbackPlan(("a", "b"), days=28, slice_s=2 * HOUR)
    sched = plan.generate(rng=10)
    data = simulate_switchback(sched, effect=effect, relax_s=tau, noise_sd=20, rng=11)
    res = estimate_carryover(data, sched, outcome="y", time="t_s", unit="unit", bin_s=bin_s)
    p = res.profile
    truth = [_bin_truth(effect, tau, a, b) for a, b in zip(p["bin_start_s"], p["bin_end_s"],
                                                           strict=True)]
    assert (np.abs(p["lag_effect"] - truth) <= 4 * p["se"]).all()
    assert p["lag_effect"].iloc[0] < -5 * p["se"].iloc[0]  # loud in the first quarter hour
    # the truth is within 4 se of 0 from 3 tau on: the burn-in lands between tau and 4 tau
    assert tau <= res.suggested_burn_in_s <= 4 * tau + bin_s
    assert res.diagnostics[0].status == "warning"
    # no carryover: every bin's lag effect is 0 within the band
    none = simulate_switchback(sched, effect=effect, relax_s=0, noise_sd=20, rng=12)
    q = estimate_carryover(none, sched, outcome="y", time="t_s", unit="unit", bin_s=bin_s).profile
    assert (q["lag_effect"].abs() <= 4 * q["se"]).all()


def test_randomisation_inference_within_the_plan_holds_its_level_and_detects_an_effect():
    plan = SwitchbackPlan(("a", "b"), days=7, slice_s=2 * HOUR)
    reps, rejections, pvals = 40, 0, []
    for seq in np.random.SeedSequence(20).spawn(reps):
        g = np.random.default_rng(seq)
        sched = plan.generate(g)
        data = simulate_switchback(sched, effect=0.0, rng=g)
        out = switchback_randomization_test(data, sched, outcome="y", time="t_s", unit="unit",
                                            n_permutations=99, rng=g)
        pvals.append(out["pvalue"])
        rejections += out["pvalue"] <= 0.1
    assert rejections / reps <= 0.1 + 3 * math.sqrt(0.09 / reps)
    assert abs(np.mean(pvals) - 0.5) <= 3 * math.sqrt(1 / 12 / reps)
    sched = plan.generate(rng=1)
    data = simulate_switchback(sched, effect=-15.0, rng=2)
    design = SwitchbackDesign("y", "t_s", "unit", slice_s=2 * HOUR, n_resamples=199)
    res = design.analyze(data, plan=plan, schedule=sched, rng=3)
    assert res.pvalue_ri <= 0.01
    ri = next(d for d in res.diagnostics if d.name == "randomisation_inference")
    assert ri.status == "ok" and "re-drawn from the plan" in ri.message
    # the schedule read back from the data's arms gives the same p-value
    assert design.analyze(data, plan=plan, rng=3).pvalue_ri == res.pvalue_ri
    free = design.analyze(data, rng=3)
    assert next(d for d in free.diagnostics
                if d.name == "randomisation_inference").status == "warning"


def test_power_by_simulation_bias_and_coverage():
    """With a burn-in longer than the carryover the CR2 interval covers the effect at ~95%
    (binomial band); without one, the estimate is pulled towards zero."""
    tau, effect, n = 600.0, -8.0, 80
    plan = SwitchbackPlan(("a", "b"), days=7, slice_s=HOUR, burn_in_s=1800)
    design = SwitchbackDesign("y", "t_s", "unit", slice_s=HOUR, burn_in_s=1800)
    pw = switchback_power(plan, design,
                          lambda s, g: simulate_switchback(s, effect=effect, relax_s=tau, rate_per_s=1 / 180, rng=g),
                          n_sims=n, truth=effect, rng=5)
    assert pw.coverage >= 0.95 - 3 * math.sqrt(0.95 * 0.05 / n)
    # the realised power agrees with the normal approximation from the simulated SD
    predicted = float(1 - __import__("scipy").stats.norm.cdf(1.96 - abs(effect) / pw.sd_estimate))
    assert abs(pw.power - predicted) <= 3 * pw.mc_se + 0.05
    naive_plan = SwitchbackPlan(("a", "b"), days=7, slice_s=HOUR)
    naive = switchback_power(
        naive_plan, SwitchbackDesign("y", "t_s", "unit", slice_s=HOUR),
        lambda s, g: simulate_switchback(s, effect=effect, relax_s=tau, rate_per_s=1 / 180, rng=g),
        n_sims=40, truth=effect, rng=5)
    # attenuation: the truth is ~ effect * (1 - tau / slice * (1 - e^(-slice/tau)) * share)
    assert naive.mean_estimate - effect > 3 * naive.sd_estimate / math.sqrt(40)
    null = switchback_power(plan, design, lambda s, g: simulate_switchback(s, effect=0.0, rate_per_s=1 / 180, rng=g),
                            n_sims=n, rng=6)
    assert null.power <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / n)
    assert set(pw.to_dict()) >= {"power", "mc_se", "bias", "coverage"}


def test_bad_switchback_input():
    with pytest.raises(DesignError, match="not shorter than the slice"):
        SwitchbackPlan(("q",), days=7, slice_s=600, burn_in_s=900)
    with pytest.raises(DesignError, match="burn_in_s"):
        SwitchbackDesign("y", "t_s", "unit", slice_s=600, burn_in_s=900)
    with pytest.raises(DesignError, match="at least two distinct arms"):
        SwitchbackPlan(("q",), days=7, slice_s=HOUR, arms=("control",))
    plan = SwitchbackPlan(("q",), days=2, slice_s=HOUR)
    one_arm = pd.DataFrame({"unit": "q", "slice": range(48), "arm": "control"})
    with pytest.raises(DesignError, match="one arm only"):
        SwitchbackSchedule.from_frame(one_arm, plan)
    with pytest.raises(DesignError, match="does not divide a day"):
        SwitchbackPlan(("q",), days=2, slice_s=7000)
    sched = plan.generate(rng=1)
    data = simulate_switchback(sched, effect=0.0, rng=2)
    with pytest.raises(DesignError, match="must agree"):
        SwitchbackDesign("y", "t_s", "unit", slice_s=2 * HOUR).analyze(data, plan=plan)
