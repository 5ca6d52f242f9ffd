"""Mix against rate decomposition: algebra, an external reference, coverage over replications,
known launches, dimension Shapley values, bad input and determinism."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.oaxaca import OaxacaBlinder

from causal.attribution import Decomposition
from servicelab.errors import DataError, DesignError

SEGS = np.array(["a", "b", "c"])
P0 = np.array([0.5, 0.3, 0.2])
P1 = np.array([0.35, 0.45, 0.2])  # the mix shifts from a to b
MU0 = np.array([300.0, 600.0, 900.0])  # population means (lognormal with sigma 0.5)
MU1 = np.array([300.0, 600.0, 1080.0])  # segment c gets 20% slower
SIGMA = 0.5


def _draw(rng: np.random.Generator, p: np.ndarray, mu: np.ndarray, n: int, label: str) -> pd.DataFrame:
    seg = rng.choice(3, size=n, p=p)
    y = mu[seg] * np.exp(SIGMA * rng.standard_normal(n) - SIGMA**2 / 2)
    return pd.DataFrame({"period": label, "seg": SEGS[seg], "y": y})


def _frame(rng: np.random.Generator, n: int = 1500) -> pd.DataFrame:
    return pd.concat([_draw(rng, P0, MU0, n, "before"), _draw(rng, P1, MU1, n, "after")], ignore_index=True)


def _population_truth() -> dict[tuple[str, str], float]:
    """Population Shapley components: mix_c = dp (mu_bar - M_bar), rate_c = p_bar dmu."""
    k0, k1 = P0 @ MU0, P1 @ MU1
    mix = (P1 - P0) * ((MU0 + MU1) / 2 - (k0 + k1) / 2)
    rate = (P0 + P1) / 2 * (MU1 - MU0)
    out = {("mix", s): m for s, m in zip(SEGS, mix, strict=True)}
    out |= {("rate", s): r for s, r in zip(SEGS, rate, strict=True)}
    out[("total", "mix")] = mix.sum()
    out[("total", "rate")] = rate.sum()
    out[("total", "change")] = k1 - k0
    return out


def test_components_match_the_formulas_and_add_up() -> None:
    f = _frame(np.random.default_rng(3))
    r = Decomposition("y", ("seg",), n_boot=50).fit(f, rng=0)
    g = f.groupby(["period", "seg"])["y"].agg(["size", "mean"]).unstack("period")
    w0 = g[("size", "before")] / g[("size", "before")].sum()
    w1 = g[("size", "after")] / g[("size", "after")].sum()
    m0, m1 = g[("mean", "before")], g[("mean", "after")]
    k0, k1 = (w0 * m0).sum(), (w1 * m1).sum()
    for s in SEGS:
        mix = (w1[s] - w0[s]) * ((m0[s] + m1[s]) / 2 - (k0 + k1) / 2)
        rate = (w0[s] + w1[s]) / 2 * (m1[s] - m0[s])
        assert r.contribution("mix", s)["estimate"] == pytest.approx(mix, rel=1e-10)
        assert r.contribution("rate", s)["estimate"] == pytest.approx(rate, rel=1e-10)
    assert r.total("change") == pytest.approx(f[f.period == "after"].y.mean() - f[f.period == "before"].y.mean())
    assert r.total("mix") + r.total("rate") == pytest.approx(r.total("change"), abs=1e-9)
    for method in ("twofold", "threefold"):
        rm = Decomposition("y", ("seg",), method=method, n_boot=50).fit(f, rng=0)
        parts = rm.total("mix") + rm.total("rate") + (rm.total("interaction") if method == "threefold" else 0)
        assert parts == pytest.approx(r.total("change"), abs=1e-9)
    assert "of the" in r.narrative(2, " s")
    assert r.summary().to_markdown().startswith("### KPI change")
    assert r.to_dict()["totals"][0]["component"] == "change"


def test_threefold_matches_statsmodels_oaxaca_blinder() -> None:
    """External reference: statsmodels' Oaxaca–Blinder on saturated segment dummies."""
    f = _frame(np.random.default_rng(4))
    g = (f["period"] == "after").to_numpy(dtype=float)
    X = np.column_stack([g, f["seg"] == "b", f["seg"] == "c"]).astype(float)
    ref = OaxacaBlinder(f["y"].to_numpy(), X, bifurcate=0, hasconst=False, swap=True).three_fold().params
    r = Decomposition("y", ("seg",), method="threefold", n_boot=50).fit(f, rng=0)
    assert r.total("mix") == pytest.approx(ref[0], rel=1e-9)  # endowments
    assert r.total("rate") == pytest.approx(ref[1], rel=1e-9)  # coefficients
    assert r.total("interaction") == pytest.approx(ref[2], rel=1e-9, abs=1e-9)
    assert r.total("change") == pytest.approx(ref[3], rel=1e-9)


def test_intervals_cover_the_injected_mix_and_rate_in_90_percent_of_replications() -> None:
    """Measured target: injected mix (a -> b) and rate (c slower) contributions within the 95%
    intervals in >= 90% of replications (expected 95%; 200 replications put 90% 3 MC sd below)."""
    truth = _population_truth()
    rng = np.random.default_rng()  # any seed: the band holds for every one
    reps = 200
    hits = dict.fromkeys((("mix", "b"), ("mix", "a"), ("rate", "c"), ("total", "mix"), ("total", "rate")), 0)
    for _ in range(reps):
        r = Decomposition("y", ("seg",), n_boot=80).fit(_frame(rng, 1000), rng=rng)
        t = r.totals.set_index("component")
        for key in hits:
            row = t.loc[key[1]] if key[0] == "total" else r.contribution(*key)
            hits[key] += bool(row["ci_low"] <= truth[key] <= row["ci_high"])
    cover = {k: v / reps for k, v in hits.items()}
    assert min(cover.values()) >= 0.90, cover
    assert max(cover.values()) <= 0.995, cover  # not absurdly wide either


def test_cluster_bootstrap_widens_intervals_under_clustered_rows() -> None:
    rng = np.random.default_rng(5)
    rows = []
    for label, p in (("before", P0), ("after", P1)):
        cust = rng.integers(0, 150, 3000)
        u = rng.normal(0, 0.6, 150)[cust]  # a strong customer effect
        seg = rng.choice(3, 3000, p=p)
        rows.append(pd.DataFrame({"period": label, "seg": SEGS[seg], "cust": cust,
                                  "y": MU0[seg] * np.exp(u + 0.3 * rng.standard_normal(3000))}))
    f = pd.concat(rows, ignore_index=True)
    plain = Decomposition("y", ("seg",), n_boot=100).fit(f, rng=1)
    clustered = Decomposition("y", ("seg",), cluster="cust", n_boot=100).fit(f, rng=1)
    se = lambda r, c: float(r.totals.set_index("component").loc[c, "se"])
    assert se(clustered, "rate") > 1.5 * se(plain, "rate")


def test_known_launch_is_separated_from_the_rate() -> None:
    """A launch randomised to half the after period with effect -60 s: launch part = 0.5 x -60."""
    rng = np.random.default_rng()
    f = _frame(rng, 3000)
    exposed = (f["period"] == "after") & (rng.random(len(f)) < 0.5)
    f["launch"] = exposed
    f.loc[exposed, "y"] -= 60.0
    r = Decomposition("y", ("seg",), launches=("launch",), n_boot=150).fit(f, rng=rng)
    t = r.totals.set_index("component")
    z = (t.loc["launch:launch", "estimate"] - 0.5 * -60.0) / t.loc["launch:launch", "se"]
    assert abs(z) < 3.5, t
    assert r.launches["tau"].iloc[0] == pytest.approx(-60.0, abs=3.5 * r.launches["tau_se"].iloc[0])
    parts = t.loc["mix", "estimate"] + t.loc["rate", "estimate"] + t.loc["launch:launch", "estimate"]
    assert parts == pytest.approx(t.loc["change", "estimate"], abs=1e-9)
    # the rest of the rate change is the injected slowdown of c
    truth = _population_truth()
    zr = (t.loc["rate", "estimate"] - truth[("total", "rate")]) / t.loc["rate", "se"]
    assert abs(zr) < 3.5


def test_dimension_shapley_names_the_dimension_that_shifted() -> None:
    rng = np.random.default_rng()
    f = _frame(rng, 3000)
    f["channel"] = rng.choice(["x", "y"], len(f))  # independent of everything, same mix in both
    f.loc[f["channel"] == "y", "y"] *= 1.3
    r = Decomposition("y", ("seg", "channel"), n_boot=100).fit(f, rng=rng)
    d = r.dimensions.set_index("dimension")
    assert d["estimate"].sum() == pytest.approx(r.total("mix"), abs=1e-8)
    assert abs(d.loc["channel", "estimate"]) < 3.5 * d.loc["channel", "se"] + 1e-9
    truth = _population_truth()[("total", "mix")]
    assert abs(d.loc["seg", "estimate"] - truth) < 3.5 * d.loc["seg", "se"] + 0.05 * abs(truth)


def test_same_seed_same_numbers() -> None:
    f = _frame(np.random.default_rng(9))
    a = Decomposition("y", ("seg",), n_boot=60).fit(f, rng=11).totals
    b = Decomposition("y", ("seg",), n_boot=60).fit(f, rng=11).totals
    pd.testing.assert_frame_equal(a, b)


# ------------------------------------------------------------------------------ bad input


def test_periods_that_share_no_segment_are_refused() -> None:
    f = _frame(np.random.default_rng(1))
    f.loc[f.period == "after", "seg"] = "z_" + f.loc[f.period == "after", "seg"]
    with pytest.raises(DataError, match="share no segment"):
        Decomposition("y", ("seg",), n_boot=50).fit(f)


def test_a_segment_in_one_period_only_is_refused_or_booked_as_mix() -> None:
    f = _frame(np.random.default_rng(2))
    new = f[f.period == "after"].head(50).assign(seg="new")
    f = pd.concat([f, new], ignore_index=True)
    with pytest.raises(DataError, match=r"one period only: new \(only after\)"):
        Decomposition("y", ("seg",), n_boot=50).fit(f)
    r = Decomposition("y", ("seg",), n_boot=50, unmatched="mix").fit(f, rng=0)
    assert any(d.name == "unmatched_segments" and d.status == "warning" for d in r.diagnostics)
    assert r.contribution("rate", "new")["estimate"] == 0.0
    assert r.total("mix") + r.total("rate") == pytest.approx(r.total("change"), abs=1e-9)


def test_other_bad_input() -> None:
    f = _frame(np.random.default_rng(3))
    with pytest.raises(DataError, match="no rows labelled"):
        Decomposition("y", ("seg",), after="later").fit(f)
    with pytest.raises(DataError, match="other than before/after"):
        Decomposition("y", ("seg",)).fit(pd.concat([f, f.head(3).assign(period="x")]))
    g = f.copy()
    g.loc[0, "y"] = np.nan
    with pytest.raises(DataError, match="outcome y: 1 NULL"):
        Decomposition("y", ("seg",)).fit(g)
    g = f.copy()
    g.loc[0, "seg"] = None
    with pytest.raises(DataError, match="NULL values"):
        Decomposition("y", ("seg",)).fit(g)
    with pytest.raises(DataError, match="not in the data"):
        Decomposition("y", ("queue",)).fit(f)
    with pytest.raises(DataError, match="boolean exposure"):
        Decomposition("y", ("seg",), launches=("y",)).fit(f)
    with pytest.raises(DataError, match="do not vary inside"):
        Decomposition("y", ("seg",), launches=("l",), n_boot=50).fit(f.assign(l=f.period == "after"))
    with pytest.raises(DesignError, match="method"):
        Decomposition("y", ("seg",), method="fourfold").fit(f)
    with pytest.raises(DesignError, match="n_boot"):
        Decomposition("y", ("seg",), n_boot=5).fit(f)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean fit emits no warning
        Decomposition("y", ("seg",), n_boot=50).fit(f, rng=0)
