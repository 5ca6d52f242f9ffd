"""Tests of the synthetic service world (studies.world)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from servicelab.errors import DesignError
from studies.world import (
    CHANNELS,
    QUEUES,
    REASONS,
    SCHEMA,
    TIERS,
    TRUTH_SCHEMA,
    World,
    WorldConfig,
    generate_world,
)
from studies.world.schema import POTENTIAL_OUTCOMES

SCALE = 0.05
START = pd.Timestamp("2026-01-05")

_PANDAS_KIND = {
    "BIGINT": {"int64"},
    "INT": {"int32", "Int32"},
    "DOUBLE": {"float64"},
    "VARCHAR": {"object"},
    "TIMESTAMP": {"datetime64[ns]"},
    "BOOLEAN": {"bool", "boolean"},
    "TINYINT": {"Int8"},
}


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(seed=0, scale=SCALE)


@pytest.fixture(scope="module")
def answered(world: World) -> pd.DataFrame:
    c = world.tables["contacts"]
    return c[~c["abandoned"]]


def _demean(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    s = pd.Series(x)
    return (s - s.groupby(groups).transform("mean")).to_numpy()


# ------------------------------------------------------------------------------ contract


def test_tables_follow_the_schema(world: World) -> None:
    assert list(world.tables) == list(SCHEMA)
    assert list(world.truth) == list(TRUTH_SCHEMA)
    for schema, frames in ((SCHEMA, world.tables), (TRUTH_SCHEMA, world.truth)):
        for table, columns in schema.items():
            frame = frames[table]
            assert list(frame.columns) == list(columns), table
            # holidays are opt-in (WorldConfig.holiday_days): the default world has none
            assert len(frame) > 0 or (table == "holidays" and not world.config.holiday_days), table
            for col, typ in columns.items():
                assert str(frame[col].dtype) in _PANDAS_KIND[typ], (table, col, frame[col].dtype)
    meta = world.tables["world_meta"]
    assert dict(zip(meta.key, meta.value, strict=True)) == world.meta
    for key in ("seed", "scale", "window_start", "window_end", "extraction_at"):
        assert key in world.meta
    assert world.meta["extraction_at"] == "2026-04-05 00:00:00"


def test_value_domains_and_null_rules(world: World) -> None:
    t = world.tables
    cu, c, ag = t["customers"], t["contacts"], t["agents"]
    assert set(cu.tier) <= set(TIERS)
    assert set(cu.region) <= {"NA", "LATAM", "EMEA", "APAC"}
    assert cu.customer_id.is_unique and c.contact_id.is_unique
    assert (cu.account_age_days >= 1).all()
    assert cu.pre_handle_s.isna().equals(cu.pre_contacts == 0)
    assert set(c.channel) == set(CHANNELS)
    assert set(c.reason) == set(REASONS)
    assert set(c.queue) == set(QUEUES)
    assert set(c.priority) == {1, 2, 3}
    assert c.customer_id.isin(cu.customer_id).all()
    assert c.created_at.is_monotonic_increasing
    assert c.created_at.min() >= START
    assert c.created_at.max() < START + pd.Timedelta(days=90)
    ab = c.abandoned.to_numpy()
    assert 0 < ab.mean() < 0.2
    # abandoned => no agent, site, handle time, resolution, fcr, reopen or csat
    for col in ("agent_id", "site", "handle_s", "resolved_at", "fcr", "reopened", "csat"):
        assert c.loc[ab, col].isna().all(), col
        if col not in ("resolved_at", "reopened", "csat"):
            assert c.loc[~ab, col].notna().all(), col
    assert (c.wait_s >= 0).all() and (c.queue_wait_s >= 0).all()
    assert (c.wait_s[ab] == c.queue_wait_s[ab]).all()
    assert (c.wait_s[~ab] > c.queue_wait_s[~ab]).all()  # routing delay on answered contacts
    assert (c.handle_s[~ab] > 0).all()
    res = c.resolved_at.notna()
    assert (c.resolved_at[res] >= c.created_at[res]).all()
    assert (c.resolved_at[res] <= START + pd.Timedelta(days=90)).all()
    assert c.reopened.isna().equals(c.resolved_at.isna())
    csat = c.csat.dropna().astype(int)
    assert set(csat) == {1, 2, 3, 4, 5}
    assert 0.15 < c.csat.notna()[~ab].mean() < 0.35
    assert not c.assist_active[ab].any()
    assert (c.specialist == (c.queue == "specialist")).all()
    assert (c.specialist | ~c.overflow).all()  # overflow => specialist
    assert ag.agent_id.is_unique and set(ag.skills) == set(QUEUES)
    assert (ag.is_specialist == (ag.skills == "specialist")).all()
    assert set(ag["shift"]) <= {"early", "day", "late", "night"}
    assert len(t["sites"]) >= 10 and t["sites"].n_agents.sum() == len(ag)
    assert set(t["experiment_assignments"].variant) == {"control", "treatment"}


def test_queue_mechanics(world: World, answered: pd.DataFrame) -> None:
    """Each agent serves one contact at a time, within a shift, from its own skill queue."""
    ag = world.tables["agents"].set_index("agent_id")
    a = answered
    assert (ag.loc[a.agent_id.astype(int), "skills"].to_numpy() == a.queue.to_numpy()).all()
    assert (ag.loc[a.agent_id.astype(int), "site"].to_numpy() == a.site.to_numpy()).all()
    start_s = (a.created_at - START).dt.total_seconds().to_numpy() + a.queue_wait_s.to_numpy()
    df = pd.DataFrame({"agent": a.agent_id.astype(int), "s": start_s, "h": a.handle_s})
    df = df.sort_values(["agent", "s"])
    same = df.agent.to_numpy()[1:] == df.agent.to_numpy()[:-1]
    gap = df.s.to_numpy()[1:] - (df.s + df.h).to_numpy()[:-1]
    assert (gap[same] >= -1e-3).all()
    # answers start while the agent is on shift
    shift_start = ag.loc[df.agent, "shift_start_hour"].to_numpy() * 3600.0
    into = (df.s.to_numpy() - shift_start + 0.01) % 86_400.0  # 0.01 s: rounding of wait_s
    assert (into < ag.loc[df.agent, "shift_hours"].to_numpy() * 3600.0 + 0.02).all()
    # staffing: scheduled agents per interval and queue, positive everywhere
    st = world.tables["staffing"]
    assert len(st) == 90 * 48 * len(QUEUES)
    assert (st.agents >= 1).all()
    # occupancy is realistic but below one
    busy = a.handle_s.sum() / (st.agents.sum() * 1800.0)
    assert 0.4 < busy < 0.95


# ------------------------------------------------------------------------------ determinism


def test_same_seed_same_world_and_different_seed_differs() -> None:
    w1 = generate_world(seed=3, scale=0.01)
    w2 = generate_world(seed=3, scale=0.01)
    for name in SCHEMA:
        pd.testing.assert_frame_equal(w1.tables[name], w2.tables[name])
    for name in TRUTH_SCHEMA:
        pd.testing.assert_frame_equal(w1.truth[name], w2.truth[name])
    w3 = generate_world(seed=4, scale=0.01)
    assert not w1.tables["contacts"].created_at.equals(w3.tables["contacts"].created_at)
    assert w1.meta["seed"] == "3" and w3.meta["seed"] == "4"


def test_named_streams_isolate_components() -> None:
    """Changing the help-bot knobs leaves arrivals and reasons untouched."""
    base = generate_world(seed=5, scale=0.01)
    other = generate_world(seed=5, scale=0.01, config=WorldConfig(bot_intercept=-0.5))
    c0, c1 = base.tables["contacts"], other.tables["contacts"]
    pd.testing.assert_series_equal(c0.created_at, c1.created_at)
    pd.testing.assert_series_equal(c0.reason, c1.reason)
    assert c1.bot_used.mean() > c0.bot_used.mean() + 0.1


# ------------------------------------------------------------------------------ realism


def test_daily_and_weekly_seasonality(world: World) -> None:
    c = world.tables["contacts"]
    by_hour = c.created_at.dt.hour.value_counts()
    assert by_hour.max() / by_hour.min() > 3.0
    assert by_hour.idxmin() in range(1, 6)
    by_dow = c.created_at.dt.dayofweek.value_counts()
    assert by_dow[[0, 1]].mean() / by_dow[[5, 6]].mean() > 1.3


def test_handle_times_are_lognormal_by_reason(answered: pd.DataFrame) -> None:
    logh = np.log(answered.handle_s)
    med = answered.groupby("reason").handle_s.median()
    assert med["safety_report"] > 1.8 * med["other"]
    skew = ((logh - logh.mean()) ** 3).mean() / logh.std() ** 3
    assert abs(skew) < 0.3  # roughly symmetric on the log scale


def test_resolution_is_right_censored(world: World, answered: pd.DataFrame) -> None:
    open_ = answered.resolved_at.isna()
    assert 0.005 < open_.mean() < 0.2
    # open tickets are the recent ones
    assert answered.created_at[open_].median() > answered.created_at[~open_].median()
    tc = world.truth["truth_contacts"].set_index("contact_id").loc[answered.contact_id]
    assert (tc.resolution_s[open_.to_numpy()] > 0).all()  # the truth knows them
    observed = (answered.resolved_at - answered.created_at).dt.total_seconds()
    dropped = observed.mean()
    assert dropped < 0.9 * tc.resolution_s.mean()  # dropping open tickets is visibly biased


def test_csat_nonresponse_depends_on_experience(world: World, answered: pd.DataFrame) -> None:
    tc = world.truth["truth_contacts"].set_index("contact_id").loc[answered.contact_id]
    full = np.where(tc.routing_v2__treated, tc.routing_v2__csat__1, tc.routing_v2__csat__0)
    full = full.astype(float)
    responded = answered.csat.notna().to_numpy()
    np.testing.assert_array_equal(answered.csat.dropna().astype(float), full[responded])
    # unhappy customers answer the survey more often: respondents look worse than everyone
    assert full[responded].mean() < full.mean() - 0.1
    assert responded[full == 1].mean() > 1.5 * responded[full == 4].mean()


def test_observed_equals_potential_outcome_under_realised_treatment(
    world: World, answered: pd.DataFrame
) -> None:
    tc = world.truth["truth_contacts"].set_index("contact_id").loc[answered.contact_id]
    a = answered.set_index("contact_id")
    realised = {
        "routing_v2": tc.routing_v2__treated.to_numpy(),
        "assist": a.assist_active.to_numpy(),
        "help_bot": a.bot_used.to_numpy(),
        "specialist": a.specialist.to_numpy(),
    }
    res_obs = (a.resolved_at - a.created_at).dt.total_seconds()
    observed = {
        "wait_s": a.wait_s,
        "handle_s": a.handle_s,
        "fcr": a.fcr.astype("float64"),
        "reopened": a.reopened.astype("float64"),
        "csat": a.csat.astype("float64"),
        "resolution_s": res_obs,
    }
    for intervention, outcomes in POTENTIAL_OUTCOMES.items():
        d = realised[intervention]
        for outcome in outcomes:
            y0 = tc[f"{intervention}__{outcome}__0"].astype("float64").to_numpy()
            y1 = tc[f"{intervention}__{outcome}__1"].astype("float64").to_numpy()
            y = observed[outcome].to_numpy(dtype=float)
            ok = ~np.isnan(y)
            assert ok.sum() > 100, (intervention, outcome)
            expected = np.where(d, y1, y0)
            tol = 1e-3 if outcome == "resolution_s" else 1e-9
            np.testing.assert_allclose(y[ok], expected[ok], rtol=0, atol=tol,
                                       err_msg=f"{intervention}/{outcome}")  # fmt: skip
            if outcome == "handle_s":
                assert (y[ok] == expected[ok]).all()  # exact for the queue's handle time


# ------------------------------------------------------------------------------ interventions


def test_truth_tables_are_complete(world: World) -> None:
    te = world.truth["truth_effects"]
    assert te.value.notna().all() and (te.n > 0).all()
    assert not te.duplicated(["intervention", "outcome", "estimand", "segment", "segment_value"]).any()
    for intervention, outcomes in POTENTIAL_OUTCOMES.items():
        for outcome in outcomes:
            rows = te[(te.intervention == intervention) & (te.outcome == outcome)]
            assert len(rows) > 0, (intervention, outcome)
    assert set(te.intervention) == {"routing_v2", "assist", "help_bot", "specialist", "priority_lane"}
    assert set(te.estimand) == {"ATE", "ATT", "CATE", "LATE"}
    for intervention in ("routing_v2", "help_bot"):
        cate = te[(te.intervention == intervention) & (te.estimand == "CATE")]
        assert set(cate[cate.segment == "reason"].segment_value) == set(REASONS)
        assert set(cate[cate.segment == "tier"].segment_value) == set(TIERS)
    cohorts = te[(te.intervention == "assist") & (te.segment == "cohort")]
    assert len(cohorts[cohorts.outcome == "handle_s"]) == 4
    for outcome in POTENTIAL_OUTCOMES["specialist"]:
        assert world.effect("specialist", outcome, "LATE") == world.effect(
            "specialist", outcome, "LATE", "all", "all"
        )
    with pytest.raises(KeyError, match="no unique truth row"):
        world.effect("routing_v2", "no_such_outcome")
    tc = world.truth["truth_contacts"]
    assert len(tc) == len(world.tables["contacts"])
    assert (tc.contact_id.to_numpy() == world.tables["contacts"].contact_id.to_numpy()).all()


def test_effects_differ_by_segment(world: World) -> None:
    def cate(intervention: str, outcome: str, value: str) -> float:
        return world.effect(intervention, outcome, "CATE", "reason", value)

    assert world.effect("routing_v2", "handle_s") < 0
    assert world.effect("routing_v2", "wait_s") < 0
    assert world.effect("routing_v2", "fcr") > 0
    assert world.effect("routing_v2", "csat") > 0
    assert cate("routing_v2", "handle_s", "account_access") < cate("routing_v2", "handle_s", "other")
    # the help bot helps access problems and hurts appeals: a policy has something to find
    assert cate("help_bot", "handle_s", "account_access") < -50
    assert cate("help_bot", "handle_s", "suspension_appeal") > 0
    assert cate("help_bot", "csat", "suspension_appeal") < 0 < cate("help_bot", "csat", "account_access")
    # assist: earlier cohorts have larger (more negative) effects
    by_cohort = [world.effect("assist", "log_handle_s", "ATT", "cohort", f"day{d}")
                 for d in (14, 35, 49, 63)]  # fmt: skip
    assert by_cohort == sorted(by_cohort)


def test_routing_experiment_assignment(world: World) -> None:
    asg = world.tables["experiment_assignments"]
    c = world.tables["contacts"]
    assert asg.customer_id.is_unique and (asg.experiment == "routing-v2").all()
    first = c[c.created_at >= START + pd.Timedelta(days=28)].groupby("customer_id").created_at.min()
    assert set(first.index) == set(asg.customer_id)
    assert (asg.set_index("customer_id").assigned_at == first.loc[asg.customer_id].to_numpy()).all()
    share = (asg.variant == "treatment").mean()
    n = len(asg)
    assert abs(share - 0.5) < 4 * np.sqrt(0.25 / n)
    exp = world.tables["experiments"].iloc[0]
    assert exp.start_at == START + pd.Timedelta(days=28) and exp.control_share == 0.5


def test_repeat_customers_make_ticket_level_errors_too_narrow(answered: pd.DataFrame) -> None:
    """Contacts of one customer share a random effect: the design effect is well above one."""
    e = answered[answered.created_at >= START + pd.Timedelta(days=28)]
    y = e.handle_s.to_numpy()
    mean = y.mean()
    iid_var = y.var() / len(y)
    # delta-method variance of the ratio sum(handle) / n(contacts), customers as clusters
    g = pd.DataFrame({"c": e.customer_id, "r": y - mean}).groupby("c").r.sum()
    cluster_var = (g**2).sum() / len(y) ** 2
    assert cluster_var / iid_var > 1.3


def test_srm_bias_injects_a_sample_ratio_mismatch() -> None:
    w = generate_world(seed=1, scale=0.01, config=WorldConfig(srm_bias=0.3))
    asg = w.tables["experiment_assignments"]
    n_t, n = (asg.variant == "treatment").sum(), len(asg)
    z = (n_t - 0.5 * n) / np.sqrt(0.25 * n)
    assert z < -5
    # the lost customers' contacts are still treated: the log, not the treatment, is wrong
    tc = w.truth["truth_contacts"]
    c = w.tables["contacts"]
    logged_t = asg.customer_id[asg.variant == "treatment"]
    treated_customers = c.customer_id[tc.routing_v2__treated.to_numpy()].unique()
    assert len(treated_customers) > 1.2 * len(logged_t)


def test_cuped_covariates_predict_outcomes(world: World, answered: pd.DataFrame) -> None:
    cu = world.tables["customers"].set_index("customer_id")
    exp = answered[answered.created_at >= START + pd.Timedelta(days=28)]
    g = exp.groupby("customer_id").agg(h=("handle_s", "mean"), n=("contact_id", "size"))
    g = g.join(cu[["pre_contacts", "pre_handle_s"]])
    has_pre = g.pre_handle_s.notna()
    r_h = np.corrcoef(g.h[has_pre], g.pre_handle_s[has_pre])[0, 1]
    r_n = np.corrcoef(g.n, g.pre_contacts)[0, 1]
    # variance reduction of CUPED = r^2
    assert 0.15 < r_h**2 < 0.6
    assert r_n**2 > 0.2
    # days 0-27 of the window also work as the pre-period
    pre = answered[answered.created_at < START + pd.Timedelta(days=28)]
    g = g.join(pre.groupby("customer_id").handle_s.mean().rename("pre_in"), how="inner")
    assert np.corrcoef(g.h, g.pre_in)[0, 1] ** 2 > 0.1


def test_help_bot_naive_difference_is_biased(world: World, answered: pd.DataFrame) -> None:
    a = answered
    naive = a.handle_s[a.bot_used].mean() - a.handle_s[~a.bot_used].mean()
    att = world.effect("help_bot", "handle_s", "ATT")
    ate = world.effect("help_bot", "handle_s", "ATE")
    assert att < 0 and ate < 0
    assert naive > 0 or abs(naive - att) > 0.5 * abs(att)
    p = world.truth["truth_contacts"].help_bot__propensity
    assert ((p > 0.05) & (p < 0.95)).mean() > 0.97  # good overlap
    # opt-in depends on tier and account age
    cu = world.tables["customers"].set_index("customer_id")
    tier = cu.tier.loc[a.customer_id].to_numpy()
    assert a.bot_used[tier == "advertiser"].mean() > a.bot_used[tier == "standard"].mean() + 0.15


def test_twfe_on_site_day_panel_is_biased(world: World, answered: pd.DataFrame) -> None:
    """Staggered adoption with growing effects: TWFE on the site x day panel is far off."""
    a = answered
    day = (a.created_at - START).dt.days
    panel = (
        pd.DataFrame({"site": a.site, "day": day, "y": np.log(a.handle_s), "d": a.assist_active})
        .groupby(["site", "day"], as_index=False)
        .mean()
    )
    panel["d"] = (panel.d > 0.5).astype(float)
    X = np.column_stack(
        [panel.d, pd.get_dummies(panel.site, drop_first=True, dtype=float),
         pd.get_dummies(panel.day, dtype=float)]
    )  # fmt: skip
    beta = np.linalg.lstsq(X, panel.y.to_numpy(), rcond=None)[0][0]
    truth = world.effect("assist", "log_handle_s", "ATT", "panel", "site_day")
    assert truth < -0.05
    assert abs(beta - truth) > 0.3 * abs(truth)
    # an imputation estimator (site and day effects fitted on untreated site-days) recovers it
    untreated = panel.d.to_numpy() == 0
    X0 = X[:, 1:]
    b0 = np.linalg.lstsq(X0[untreated], panel.y.to_numpy()[untreated], rcond=None)[0]
    imputed = (panel.y.to_numpy() - X0 @ b0)[~untreated].mean()
    assert abs(imputed - truth) < 0.4 * abs(truth)
    assert abs(imputed - truth) < abs(beta - truth)
    assert world.effect("assist", "handle_s", "ATT", "panel", "site_day") < 0
    rollout = world.tables["assist_rollout"]
    assert rollout.launched_at.isna().sum() >= 2
    assert rollout.launched_at.nunique() >= 4  # a single-site pilot and three cohorts
    assert (rollout.launched_at == rollout.launched_at.min()).sum() == 1
    # assist is live exactly at launched sites after launch
    launch = rollout.set_index("site").launched_at
    la = launch.loc[a.site].to_numpy()
    answer = a.created_at + pd.to_timedelta(a.queue_wait_s, unit="s")
    live = answer.dt.floor("D").to_numpy() >= la  # NaT compares False: never-treated sites
    assert (a.assist_active.to_numpy() == live).all()


def test_overflow_instrument_is_strong_and_recovers_the_late(
    world: World, answered: pd.DataFrame
) -> None:
    a = answered
    how = (a.created_at.dt.dayofweek * 24 + a.created_at.dt.hour).to_numpy()
    z = _demean(a.overflow.to_numpy(float), how)
    d = _demean(a.specialist.to_numpy(float), how)
    pi = (z @ d) / (z @ z)
    resid = d - pi * z
    se = np.sqrt((resid @ resid) / (len(z) - 170) / (z @ z))
    assert (pi / se) ** 2 > 1000  # first-stage F
    # overflow depends only on the hour of the week (and a coin)
    p = world.truth["truth_contacts"].specialist__overflow_prob
    hw = (world.tables["contacts"].created_at.dt.dayofweek * 24
          + world.tables["contacts"].created_at.dt.hour)  # fmt: skip
    assert p.groupby(hw.to_numpy()).nunique().max() == 1
    for outcome, y in (("log_handle_s", np.log(a.handle_s)), ("fcr", a.fcr.astype(float))):
        yd = _demean(y.to_numpy(float), how)
        iv = (z @ yd) / (z @ d)
        ols = (d @ yd) / (d @ d)
        late = world.effect("specialist", outcome, "LATE")
        assert abs(iv - late) < 0.25 * abs(late), outcome
        if outcome == "log_handle_s":  # complex contacts are escalated and take longer
            assert ols - late > 2 * abs(iv - late)


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"scale": 0}, "scale"),
        ({"scale": float("nan")}, "scale"),
        ({"config": {"srm_bias": 0.1}}, "WorldConfig"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(DesignError, match=match):
        generate_world(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"srm_bias": 1.5}, "srm_bias"),
        ({"control_share": 1.0}, "control_share"),
        ({"window_days": 30}, "window_days"),
        ({"staffing_level": 0.0}, "staffing_level"),
        ({"hourly_profile": (1.0,) * 23}, "hourly_profile"),
        ({"window_start": "2026-01-06"}, "Monday"),
        ({"assist_launch_days": {"krakow": 20}}, "assist_max_effect"),
    ],
)
def test_bad_config_raises(kwargs: dict, match: str) -> None:
    with pytest.raises(DesignError, match=match):
        WorldConfig(**kwargs)
