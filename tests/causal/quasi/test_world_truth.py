"""Ground truth on the synthetic world: the staggered agent-assist rollout."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture(scope="module")
def world():
    from studies.world import generate_world

    return generate_world(seed=11, scale=0.05)


def test_assist_staggered_rollout_truth(world):
    from causal.quasi import StaggeredDiD

    c, ro = world.tables["contacts"], world.tables["assist_rollout"].copy()
    start = pd.Timestamp(world.meta["window_start"])
    ans = c[~c["abandoned"]].assign(day=lambda f: (f["created_at"] - start).dt.days)
    panel = ans.groupby(["site", "day"])["handle_s"].mean().rename("handle_s").reset_index()
    ro["launch_day"] = (ro["launched_at"] - start).dt.days
    panel = panel.merge(ro[["site", "launch_day"]], on="site")
    te = world.truth["truth_effects"]
    truth = te[(te.intervention == "assist") & (te.outcome == "handle_s")
               & (te.segment == "panel")]["value"].iloc[0]
    res = StaggeredDiD("handle_s", "site", "day", "launch_day", pre_periods=7,
                       n_boot=99).fit(panel, rng=1)
    assert res.att.covers(truth), (res.att, truth)
    assert not res.twfe.covers(truth)  # effects ramp up with exposure: TWFE is too small
    assert abs(res.twfe.estimate) < abs(truth) / 1.5
    assert res.pretrend_p > 0.05
