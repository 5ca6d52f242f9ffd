"""The scenario knobs do what they say (checked on large draws, with bands that hold for any seed)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from causal.scorecard import SCENARIOS, Scenario, generate
from causal.scorecard.scenarios import censoring_horizon, skewed_noise
from servicelab.errors import DesignError


def test_extreme_overlap_reaches_propensities_of_1e3() -> None:
    sc = SCENARIOS["obs-limited-overlap"]
    w = generate(sc, rng=3)
    assert 5e-4 < w.info["min_propensity"] < 3e-3
    assert 1 - 3e-3 < w.info["max_propensity"] < 1 - 5e-4
    # a sizeable share of units is outside [0.01, 0.99]: overlap is truly limited
    assert w.info["share_extreme"] > 0.1
    base = generate(SCENARIOS["obs-baseline"], rng=3)
    assert 0.04 < base.info["min_propensity"] < 0.08
    assert base.info["share_extreme"] == 0.0


@pytest.mark.parametrize(("name", "share"), [("cens-light", 0.2), ("cens-heavy", 0.7)])
def test_censoring_share_matches_the_knob(name: str, share: float) -> None:
    sc = SCENARIOS[name].with_(n=20_000)
    w = generate(sc, rng=5)
    sd = np.sqrt(share * (1 - share) / sc.n)
    assert abs(w.info["censored_share"] - share) < 4 * sd + 0.005  # + MC error of the solved cut
    assert w.info["horizon"] == censoring_horizon(sc)


def test_no_censoring_means_every_event_observed() -> None:
    w = generate(SCENARIOS["cens-light"].with_(censoring=0.0), rng=1)
    assert w.frame["event"].all()


def test_confounding_knob_scales_the_naive_bias() -> None:
    def naive_bias(conf: float) -> float:
        w = generate(SCENARIOS["obs-baseline"].with_(n=100_000, confounding=conf), rng=8)
        f = w.frame
        return f.loc[f.t == 1, "y"].mean() - f.loc[f.t == 0, "y"].mean() - w.truth["ATE"]

    b1, b3 = naive_bias(1.0), naive_bias(3.0)
    assert b1 > 0.3
    assert b3 / b1 == pytest.approx(3.0, rel=0.1)


def test_heterogeneity_separates_att_from_ate() -> None:
    het = SCENARIOS["obs-att-heterogeneous"]
    w = generate(het.with_(n=200_000), rng=2)
    assert w.truth["ATE"] == het.effect
    assert w.truth["ATT"] > het.effect + 0.2
    # the population ATT against the treated units' mean unit effect in a big sample
    f = w.frame
    tau_treated = het.effect + het.heterogeneity * f.loc[f.t == 1, "x1"].mean()
    assert w.truth["ATT"] == pytest.approx(tau_treated, abs=0.01)
    flat = generate(SCENARIOS["obs-baseline"], rng=2)
    assert flat.truth["ATT"] == pytest.approx(flat.truth["ATE"])


def test_unobserved_confounder_enters_treatment_and_outcome() -> None:
    hid = generate(SCENARIOS["obs-unobserved"].with_(n=50_000), rng=4).frame
    none = generate(SCENARIOS["obs-baseline"].with_(n=50_000), rng=4).frame
    band = 4 / np.sqrt(50_000)
    assert np.corrcoef(hid["_u"], hid["t"])[0, 1] > 0.1
    assert abs(np.corrcoef(none["_u"], none["t"])[0, 1]) < band
    assert abs(np.corrcoef(none["_u"], none["y"])[0, 1]) < band


def test_skew_knob_gives_standardised_heavy_tails() -> None:
    z = skewed_noise(np.random.default_rng(1), 400_000, 1.5)
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.1
    assert stats.skew(z) > 5
    normal = skewed_noise(np.random.default_rng(1), 400_000, 0.0)
    assert abs(stats.skew(normal)) < 0.05


@pytest.mark.parametrize(("name", "key", "value"), [("cl-few", "cluster", 8), ("cl-many", "cluster", 40),
                                            ("did-common", "unit", 40)])
def test_cluster_knob_sets_the_number_of_clusters(name: str, key: str, value: int) -> None:
    assert generate(SCENARIOS[name], rng=0).frame[key].nunique() == value


def test_instrument_strength_sets_the_first_stage() -> None:
    from causal.observational import first_stage_f

    def mean_f(name: str) -> float:  # mean over 5 draws: expected about 100 (strong), 4 (weak)
        fs = []
        for seed in range(5):
            fr = generate(SCENARIOS[name], rng=seed).frame
            fs.append(first_stage_f(fr["d"].to_numpy(), fr[["z"]].to_numpy(),
                                    fr[["w"]].to_numpy()))
        return float(np.mean(fs))

    assert mean_f("iv-strong") > 50
    assert mean_f("iv-weak") < 12


def test_did_truth_is_the_mean_effect_of_the_treated_cells() -> None:
    sc = SCENARIOS["did-staggered-dynamic"]
    w = generate(sc, rng=0)
    f = w.frame
    treated = f[f.d == 1]
    expected = (sc.effect + sc.heterogeneity * (treated["time"] - treated["adopt"])).mean()
    assert w.truth["ATT"] == pytest.approx(expected)
    assert f.loc[f.adopt.isna(), "d"].eq(0).all()


def test_same_seed_same_world_and_different_seed_different_world() -> None:
    sc = SCENARIOS["exp-baseline"]
    a, b, c = generate(sc, rng=1), generate(sc, rng=1), generate(sc, rng=2)
    assert a.frame.equals(b.frame)
    assert not a.frame.equals(c.frame)


@pytest.mark.parametrize("kw", [{"min_propensity": 0.0}, {"min_propensity": 0.6},
                                {"censoring": 0.99}, {"n": 5}, {"family": "nope"},
                                {"estimand": "CATE"}, {"skew": -1.0}])
def test_bad_knobs_are_refused(kw: dict) -> None:
    with pytest.raises(DesignError):
        Scenario(**({"name": "x", "family": "observational"} | kw))


def test_every_scenario_generates() -> None:
    for sc in SCENARIOS.values():
        w = generate(sc.with_(n=max(60, sc.n // 10)) if sc.family != "synth" else sc, rng=0)
        assert len(w.frame) > 0 and w.truth
        assert all(np.isfinite(v) for v in w.truth.values())
