"""Synthetic control: ground truth on a factor model, placebo inference, bad input, Bayesian."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

from causal.quasi import BayesianSyntheticControl, ConvexHullWarning, SyntheticControl
from causal.quasi.synth import convex_weights
from servicelab.errors import DataError, DesignError

matplotlib.use("Agg")


def factor_panel(rng: np.random.Generator, n_donors: int = 19, periods: int = 40,
                 t0: int = 30, effect: float = 1.0, outside: bool = False) -> pd.DataFrame:
    """Donors load on three factors; the treated unit is a convex mix of donors 0-2."""
    f = np.column_stack([np.ones(periods), np.arange(periods) / 10,
                         np.sin(np.arange(periods) / 3)])
    lam = rng.uniform(0.2, 1.0, (n_donors, 3))
    treated = 0.5 * lam[0] + 0.3 * lam[1] + 0.2 * lam[2]
    if outside:
        treated = lam.max(axis=0) * 2.0
    rows = []
    for j in range(n_donors):
        for s in range(periods):
            rows.append((f"d{j:02d}", s, f[s] @ lam[j] + rng.normal(0, 0.03)))
    for s in range(periods):
        rows.append(("T", s, f[s] @ treated + rng.normal(0, 0.03) + (effect if s >= t0 else 0)))
    return pd.DataFrame(rows, columns=["unit", "t", "y"])


def test_convex_weights_constraints():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 5))
    w = convex_weights(x @ np.array([0.6, 0.4, 0, 0, 0]), x)
    assert w.min() >= 0 and w.sum() == pytest.approx(1.0)
    assert w[:2] == pytest.approx([0.6, 0.4], abs=1e-3)


def test_synthetic_control_recovers_effect_with_placebo_inference():
    df = factor_panel(np.random.default_rng(1))
    res = SyntheticControl("y", "unit", "t", "T", 30).fit(df)
    assert res.att.estimate == pytest.approx(1.0, abs=0.1)
    assert res.att.covers(1.0)
    assert res.pre_rmspe < 0.1
    assert res.weights.sum() == pytest.approx(1.0) and (res.weights >= 0).all()
    assert res.p_value == pytest.approx(1 / 20)  # treated unit ranks first among 20
    assert len(res.placebo) == 19
    assert "pre-period RMSPE" in str(res.summary())
    json.dumps(res.to_dict())
    res.plot()


def test_no_effect_is_not_significant():
    df = factor_panel(np.random.default_rng(2), effect=0.0)
    res = SyntheticControl("y", "unit", "t", "T", 30).fit(df)
    assert res.att.covers(0.0)
    assert res.p_value > 0.05


def test_too_few_donors_and_bad_input():
    df = factor_panel(np.random.default_rng(3), n_donors=3)
    with pytest.raises(DesignError, match="at least 5 donor units; got 3"):
        SyntheticControl("y", "unit", "t", "T", 30, min_donors=5).fit(df)
    with pytest.raises(DataError, match="treated unit"):
        SyntheticControl("y", "unit", "t", "nope", 30).fit(df)
    with pytest.raises(DataError, match="pre-treatment"):
        SyntheticControl("y", "unit", "t", "T", 0).fit(df)
    res = SyntheticControl("y", "unit", "t", "T", 30).fit(df)
    assert any(d.name == "placebo_power" and d.status == "warning" for d in res.diagnostics)


def test_outside_convex_hull_warns():
    df = factor_panel(np.random.default_rng(4), outside=True)
    with pytest.warns(ConvexHullWarning, match="outside the donors' range"):
        res = SyntheticControl("y", "unit", "t", "T", 30, placebo=False).fit(df)
    assert {d.name: d.status for d in res.diagnostics}["convex_hull"] == "warning"
    assert {d.name: d.status for d in res.diagnostics}["pre_fit"] == "warning"


def test_bayesian_synthetic_control_via_causalpy():
    df = factor_panel(np.random.default_rng(5), n_donors=6)
    res = BayesianSyntheticControl("y", "unit", "t", "T", 30, draws=150, tune=150,
                                   chains=2).fit(df, rng=1)
    assert res.att.covers(1.0) or abs(res.att.estimate - 1.0) < 0.15
    assert res.weights.sum() == pytest.approx(1.0, abs=0.02)
    assert res.pre_rmspe < 0.3
    names = {d.name for d in res.diagnostics}
    assert {"rhat", "pre_fit", "convex_hull"} <= names
    classic = SyntheticControl("y", "unit", "t", "T", 30, placebo=False).fit(df)
    assert classic.pre_rmspe <= res.pre_rmspe + 1e-9  # constrained LS minimises pre-RMSPE


def test_prop99_constrained_weights_pre_fit():
    """GUIDE §4: constrained weights fit California's pre-1989 cigarette sales with RMSPE 1.66."""
    import importlib.util
    from pathlib import Path

    root = importlib.util.find_spec("causalpy").submodule_search_locations[0]
    wide = pd.read_csv(Path(root) / "data" / "california_prop99.csv")
    long = wide.melt(id_vars="Year", var_name="state", value_name="packs")
    res = SyntheticControl("packs", "state", "Year", "California", 1989).fit(long)
    assert res.pre_rmspe == pytest.approx(1.66, abs=0.02)
    assert res.att.estimate < -10  # sales fell against the synthetic California
    assert res.weights.sum() == pytest.approx(1.0)
    assert res.p_value <= 0.1


def test_bayesian_placebo_in_space():
    """Each donor in turn plays the treated unit; the real effect has the largest post/pre ratio."""
    df = factor_panel(np.random.default_rng(8), n_donors=5)
    res = BayesianSyntheticControl("y", "unit", "t", "T", 30, draws=100, tune=100, chains=2,
                                   placebo=True).fit(df, rng=3)
    assert list(res.placebo["unit"]) == [f"d{j:02d}" for j in range(5)]
    treated_ratio = res.post_rmspe / res.pre_rmspe
    assert (res.placebo["ratio"] < treated_ratio).all()
    assert res.p_value == pytest.approx(1 / 6)
