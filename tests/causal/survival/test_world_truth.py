"""Survival estimators against the synthetic world's uncensored truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causal.survival import CumulativeIncidence, KaplanMeier


@pytest.fixture(scope="module")
def world():
    from studies.world import generate_world

    return generate_world(seed=6, scale=0.03)


def _frames(world):
    c, a, tc = world.tables["contacts"], world.tables["experiment_assignments"], world.truth["truth_contacts"]
    start = pd.Timestamp(world.meta["window_start"]) + pd.Timedelta(days=int(world.meta["experiment_start_day"]))
    cut = pd.Timestamp(world.meta["extraction_at"])
    allc = (c[c.created_at >= start].merge(a[["customer_id", "variant"]], on="customer_id")
            .merge(tc[["contact_id", "resolution_s"]], on="contact_id"))
    return allc, cut


def test_kaplan_meier_recovers_the_uncensored_resolution_curve(world):
    allc, cut = _frames(world)
    ans = allc[~allc.abandoned]
    hours = (ans.resolved_at.fillna(cut) - ans.created_at).dt.total_seconds() / 3600
    df = pd.DataFrame({"h": hours, "e": ans.resolved_at.notna().astype(int), "arm": ans.variant})
    km = KaplanMeier("h", "e", group="arm").fit(df)
    true_h = ans.resolution_s / 3600
    for t in (24.0, 72.0, 240.0):
        s = km.survival_at(t).set_index("group")
        for arm in ("control", "treatment"):
            truth = float((true_h[ans.variant == arm] > t).mean())
            row = s.loc[arm]
            # the uncensored share is itself a sample quantity; allow both sampling errors
            assert abs(row["survival"] - truth) < 3.5 * row["se"] + 0.01, (t, arm, row.to_dict(), truth)
    naive = df[df.e == 1].groupby("arm")["h"].median()  # dropping open tickets
    med = km.median().set_index("group")["median"]
    assert (med >= naive - 1e-9).all()  # the censored tickets are the long ones


def test_cumulative_incidence_by_arm_covers_the_uncensored_truth(world):
    allc, cut = _frames(world)
    ends = np.select([allc.abandoned, allc.resolved_at.isna(), allc.specialist],
                     ["abandoned", "censored", "escalated"], "resolved")
    hours = np.where(allc.abandoned, allc.wait_s / 3600,
                     (allc.resolved_at.fillna(cut) - allc.created_at).dt.total_seconds() / 3600)
    cr = pd.DataFrame({"h": hours, "end": ends, "arm": allc.variant, "customer_id": allc.customer_id})
    spec = CumulativeIncidence("h", "end", group="arm", cluster="customer_id", at=[48.0], n_boot=60)
    res = spec.fit(cr, rng=3)
    true_end = np.where(ends == "censored", np.where(allc.specialist, "escalated", "resolved"), ends)
    true_h = np.where(allc.abandoned, allc.wait_s / 3600, allc.resolution_s / 3600)
    for cause in ("resolved", "escalated"):
        d = res.difference(48.0, cause, "treatment", "control")
        hit = (true_end == cause) & (true_h <= 48)
        truth = hit[allc.variant == "treatment"].mean() - hit[allc.variant == "control"].mean()
        assert abs(d.estimate - truth) < 3.5 * d.se + 0.005, (cause, d, truth)
    at = res.at(48.0)
    total = at.groupby("group")["cif"].sum()
    assert ((total > 0) & (total < 1)).all()
    again = spec.fit(cr, rng=3).difference(48.0, "resolved", "treatment", "control")
    assert again == res.difference(48.0, "resolved", "treatment", "control")  # same seed, same numbers
