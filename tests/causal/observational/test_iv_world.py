"""IV on the synthetic world: overflow instruments specialist handling; the world knows the LATE.

The world's compliers are the answered contacts that go to a specialist if and only if they
overflow (not escalated); 2SLS with the hour, day, reason and tier as controls (in both stages)
recovers their handle-time and FCR effects, while OLS (specialists take the hard contacts) is far
off. Bands: 4 standard errors of the estimate, so they hold for any world seed.
"""

from __future__ import annotations

import numpy as np
import pytest

from causal.observational import IVStudy


@pytest.fixture(scope="module")
def world_frame():
    from studies.world import generate_world

    world = generate_world(seed=7, scale=0.03)
    c, cu = world.tables["contacts"], world.tables["customers"]
    f = c[~c["abandoned"]].merge(cu, on="customer_id")
    f = f.assign(spec=f["specialist"].astype(int), over=f["overflow"].astype(int),
                 fcr01=f["fcr"].astype(float), hour=f["created_at"].dt.hour.astype(str),
                 dow=f["created_at"].dt.dayofweek.astype(str))
    te = world.truth["truth_effects"]
    truth = {o: float(te[(te.intervention == "specialist") & (te.outcome == o)
                         & (te.estimand == "LATE")]["value"].iloc[0]) for o in ("handle_s", "fcr")}
    return f, truth


@pytest.mark.parametrize("outcome", ["handle_s", "fcr01"])
def test_2sls_recovers_the_world_late_and_ols_does_not(world_frame, outcome):
    f, truth = world_frame
    true_late = truth["handle_s" if outcome == "handle_s" else "fcr"]
    res = IVStudy(outcome=outcome, treatment="spec", instruments=["over"],
                  covariates=["hour", "dow", "reason", "tier"], methods=("2sls",),
                  cluster="customer_id").fit(f)
    e = res.estimates[0]
    assert abs(e.estimate - true_late) <= 4 * e.se, (e.estimate, e.se, true_late)
    assert res.anderson_rubin.bounded and res.anderson_rubin.contains(e.estimate)
    assert res.diagnostics[0].status == "ok"  # strong first stage
    if outcome == "handle_s":  # specialists take the hard contacts: OLS is biased upwards
        assert res.ols.estimate - true_late > 4 * np.hypot(res.ols.se, e.se)
