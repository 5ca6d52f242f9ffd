"""Ground truth on the synthetic world: the help bot (confounded opt-in, heterogeneous effect)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from causal.observational import CateAnalysis, ObservationalStudy


@pytest.fixture(scope="module")
def world():
    from studies.world import generate_world

    return generate_world(seed=11, scale=0.05)


@pytest.fixture(scope="module")
def bot_frame(world):
    c, cu = world.tables["contacts"], world.tables["customers"]
    df = c[~c["abandoned"]].merge(cu, on="customer_id")
    df["log_age"] = np.log(df["account_age_days"] / 365.0)
    df["bot"] = df["bot_used"].astype(int)
    return df


@pytest.fixture(scope="module")
def bot_truth(world):
    te = world.truth["truth_effects"]
    return te[(te.intervention == "help_bot") & (te.outcome == "handle_s")]


def test_help_bot_adjusted_estimators_recover_truth(bot_frame, bot_truth):
    truth = bot_truth.loc[bot_truth.estimand == "ATE", "value"].iloc[0]
    res = ObservationalStudy(
        "bot", "handle_s", confounders=["tier", "log_age", "reason"],
        effect_modifiers=["reason"], estimators=("naive", "regression", "ipw", "aipw",
                                                 "linear_dml", "dr_learner"),
        refuters=("placebo_treatment",), n_refute_simulations=5,
        population="answered contacts").fit(bot_frame, rng=1)
    naive = res.estimate("naive")
    assert not naive.covers(truth) and naive.estimate - truth > 100  # visibly biased
    for e in res.estimates[1:]:
        assert e.covers(truth), (e.method, e.estimate, truth)
    assert res.refutations[0].passed


def test_help_bot_cate_ranks_reasons(bot_frame, bot_truth):
    res = CateAnalysis("bot", "handle_s", ["log_age"], ["reason", "tier"], segments=["reason"],
                       learner="linear_dml", higher_is_better=False).fit(bot_frame, rng=1)
    true = bot_truth[(bot_truth.estimand == "CATE") & (bot_truth.segment == "reason")]
    true = true.set_index("segment_value")["value"]
    est = res.segments.set_index("value").loc[true.index, "cate"]
    rho = stats.spearmanr(est, true).statistic
    assert rho >= 0.8, rho
    # the bot should not be offered where it lengthens handling (safety, appeals)
    assert res.policy["value_policy"] > res.policy["value_treat_all"]
    assert res.blp["beta2_p"] < 0.05
