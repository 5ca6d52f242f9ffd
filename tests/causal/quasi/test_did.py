"""DiD: anchors (organ donation TWFE, bank failures 2x2), staggered ground truth, bad input."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import causaldata
import matplotlib
import numpy as np
import pandas as pd
import pytest

from causal.quasi import TWFE, DiD2x2, StaggeredDiD
from servicelab.errors import DataError
from tests.anchors import load_anchor

matplotlib.use("Agg")
ANCHOR = load_anchor("causal")


def test_organ_donation_twfe_clustered():
    a = ANCHOR["organ_donation_did"]
    o = causaldata.organ_donations.load_pandas().data
    assert o.shape[0] == 27 * 6
    # California switched to active choice in 2011 Q3 (Quarter_Num 4 = Q32011)
    o = o.assign(treated=((o.State == "California") & (o.Quarter_Num >= 4)).astype(int))
    res = TWFE("Rate", "State", "Quarter_Num", "treated").fit(o)
    assert res.estimate.estimate == pytest.approx(a["estimate"], rel=a["tolerance_rel"])
    assert res.estimate.se == pytest.approx(a["cluster_se"], rel=a["tolerance_rel"])
    json.dumps(res.to_dict())
    res.plot()


def banks_2x2():
    # the file behind causalpy.load_data("banks"), read without importing PyMC (slow import)
    root = importlib.util.find_spec("causalpy").submodule_search_locations[0]
    b = pd.read_csv(Path(root) / "data" / "banks.csv")
    july1 = b[(b.month == 7) & (b.day == 1) & b.year.isin([1930, 1931])]
    return pd.DataFrame({
        "banks": np.concatenate([july1["bib6"], july1["bib8"]]),
        "sixth": [1, 1, 0, 0],  # 6th district: the Atlanta Fed lent to banks (treated)
        "post": np.concatenate([july1["year"] == 1931] * 2).astype(int),
    })


def test_bank_failures_2x2():
    a = ANCHOR["bank_failures_did"]
    res = DiD2x2("banks", "sixth", "post").fit(banks_2x2())
    assert res.estimate.estimate == pytest.approx(a["estimate"], abs=a["tolerance_abs"])
    assert res.estimate.se is None  # four cells, no residual degrees of freedom
    assert "parallel trends" in str(res.summary())


def staggered_panel(rng: np.random.Generator, n_units: int = 30, periods: int = 12
                    ) -> pd.DataFrame:
    df = pd.DataFrame([(u, t) for u in range(n_units) for t in range(periods)],
                      columns=["unit", "period"])
    df["adopt"] = df["unit"].map(lambda u: [3, 7, np.nan][u % 3])
    rel = df["period"] - df["adopt"]
    effect = np.where(rel >= 0, 1.0 + 0.4 * rel, 0.0)  # effects grow with exposure
    unit_fe = rng.normal(size=n_units)[df["unit"]]
    df["y"] = unit_fe + 0.2 * df["period"] + effect + rng.normal(0, 0.3, len(df))
    df["effect"] = effect
    df["d"] = (rel >= 0).astype(int)
    return df


def test_staggered_recovers_att_where_twfe_is_biased():
    df = staggered_panel(np.random.default_rng(1))
    truth = df.loc[df.d == 1, "effect"].mean()
    res = StaggeredDiD("y", "unit", "period", "adopt", n_boot=99).fit(df, rng=0)
    assert res.att.covers(truth)
    assert not res.twfe.covers(truth)
    assert res.twfe.estimate < truth - 0.3  # forbidden comparisons drag TWFE down
    es = res.event_study.set_index("rel_time")
    for h in range(4):
        assert es.loc[h, "estimate"] == pytest.approx(1.0 + 0.4 * h, abs=4 * es.loc[h, "se"] + 0.05)
    assert res.pretrend_p > 0.01
    assert "pre-trend" in str(res.summary())
    json.dumps(res.to_dict())
    res.plot()


def test_pretrend_test_detects_violation():
    rng = np.random.default_rng(2)
    df = staggered_panel(rng)
    # treated cohorts trend up before adoption: parallel trends fail
    df.loc[df.adopt.notna(), "y"] += 0.3 * df.loc[df.adopt.notna(), "period"]
    res = StaggeredDiD("y", "unit", "period", "adopt", n_boot=99).fit(df, rng=0)
    assert res.pretrend_p < 0.05
    assert any(d.name == "pretrend" and d.status == "warning" for d in res.diagnostics)


def test_staggered_determinism():
    df = staggered_panel(np.random.default_rng(3), n_units=12, periods=8)
    spec = StaggeredDiD("y", "unit", "period", "adopt", n_boot=30)
    a, b = spec.fit(df, rng=7), spec.fit(df, rng=7)
    assert a.att == b.att
    pd.testing.assert_frame_equal(a.event_study, b.event_study)


# -- bad input ---------------------------------------------------------------------------------
def test_no_pre_period():
    df = staggered_panel(np.random.default_rng(4), n_units=9, periods=6)
    df["adopt"] = df["adopt"].where(df["adopt"].isna(), 0)  # treated from period 0
    with pytest.raises(DataError, match="no pre-period"):
        StaggeredDiD("y", "unit", "period", "adopt", n_boot=5).fit(df)
    with pytest.raises(DataError, match="no pre-period"):
        TWFE("y", "unit", "period", "d").fit(df.assign(d=df["adopt"].notna().astype(int)))
    with pytest.raises(DataError, match="all four group x period cells"):
        DiD2x2("y", "g", "post").fit(pd.DataFrame({"y": [1.0, 2.0], "g": [0, 1], "post": [1, 1]}))


def test_no_never_or_not_yet_treated_units():
    df = staggered_panel(np.random.default_rng(5), n_units=9, periods=8)
    df["adopt"] = 3  # everyone adopts at once, no never-treated: no controls after period 3
    with pytest.raises(DataError, match="no never- or not-yet-treated"):
        StaggeredDiD("y", "unit", "period", "adopt", n_boot=5).fit(df)
    with pytest.raises(DataError, match="never-treated"):
        TWFE("y", "unit", "period", "d").fit(df.assign(d=(df.period >= 3).astype(int)))


def test_missing_columns_and_non_binary():
    df = staggered_panel(np.random.default_rng(6), n_units=6, periods=5)
    with pytest.raises(DataError, match="not in the data"):
        TWFE("y", "unit", "period", "nope").fit(df)
    with pytest.raises(DataError, match="0/1"):
        TWFE("y", "unit", "period", "adopt").fit(df.fillna({"adopt": 2}))
