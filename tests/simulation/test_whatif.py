"""Measured effects carried into staffing (simulation.propagate_effects)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from servicelab.errors import DataError, DesignError
from simulation import Effect, interval_requirements, propagate_effects

VOL = np.array([40.0, 120.0, 300.0, 180.0, 0.0, 60.0])


def _req(vol, aht, patience=180.0):
    return interval_requirements(pd.DataFrame({"arrivals": vol}), aht_s=aht, patience_s=patience).required


def test_a_point_effect_is_the_requirement_at_the_changed_handle_time():
    r = propagate_effects(VOL, [Effect("handle_time", -0.1)], aht_s=600, patience_s=180, n_draws=20, rng=1)
    assert np.array_equal(r.table["required_now"], _req(VOL, 600))
    for col in ("required_mid", "required_low", "required_high"):
        assert np.array_equal(r.table[col], _req(VOL, 540))
    assert np.array_equal(r.table["change_mid"], _req(VOL, 540) - _req(VOL, 600))


def test_volume_and_fcr_levers_scale_the_volume():
    deflect = propagate_effects(VOL, [Effect("volume", -0.2)], aht_s=600, n_draws=20, rng=1)
    assert np.array_equal(deflect.table["required_mid"], _req(VOL * 0.8, 600, None))
    fcr = propagate_effects(VOL, [Effect("fcr", 0.25)], aht_s=600, n_draws=20, rng=1)
    assert np.array_equal(fcr.table["required_mid"], _req(VOL / 1.25, 600, None))  # contacts per issue 1/FCR
    assert any("1 / FCR" in n for n in fcr.notes)


def test_bands_are_the_requirement_at_the_effect_quantiles():
    # the requirement is monotone in the handle-time multiplier, so its band over the draws is the
    # requirement at the draws' quantiles (inverted-cdf quantiles commute with monotone maps)
    e = Effect("handle_time", -0.088, -0.12, -0.05, ci_level=0.95)
    r = propagate_effects(VOL, [e], aht_s=600, patience_s=180, n_draws=400, ci_level=0.9, rng=3)
    d = r.draws["handle_time_0"].to_numpy()
    for col, p in (("required_low", 0.05), ("required_mid", 0.5), ("required_high", 0.95)):
        m = np.quantile(d, p, method="inverted_cdf")
        assert np.array_equal(r.table[col], _req(VOL, 600 * (1 + m))), col
    # the draws follow the interval: log(1 + r) has the interval's SE
    assert np.std(np.log1p(d)) == pytest.approx(e.log_se, rel=0.2)
    assert (r.table["required_low"] <= r.table["required_mid"]).all()
    assert (r.table["required_mid"] <= r.table["required_high"]).all()


def test_service_level_at_todays_roster_rises_when_handle_time_falls():
    r = propagate_effects(VOL, [Effect("handle_time", -0.1, -0.12, -0.08)], aht_s=600, patience_s=180,
                          n_draws=50, rng=2)
    busy = r.table["volume"] > 0
    assert (r.table.loc[busy, "sl_mid"] > r.table.loc[busy, "sl_now"]).all()
    assert (r.table.loc[busy, "sl_now"] >= 0.8).all()  # today's roster is today's requirement
    assert "fewer agents" in r.headline()
    json.dumps(r.to_dict())


def test_posterior_draws_are_used_and_results_reproduce():
    draws = np.random.default_rng(0).normal(-0.05, 0.01, 500)
    e = Effect("handle_time", -0.05, draws=draws, source="resolution-time posterior")
    a = propagate_effects(VOL, [e], aht_s=600, n_draws=100, rng=7)
    b = propagate_effects(VOL, [e], aht_s=600, n_draws=100, rng=7)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert set(a.draws["handle_time_0"]) <= set(draws)
    assert "500 draws" in e.describe()


def test_bad_input():
    with pytest.raises(DesignError, match="lever"):
        Effect("morale", 0.1)
    with pytest.raises(DataError, match="above -100%"):
        Effect("volume", -1.2)
    with pytest.raises(DataError, match="does not contain"):
        Effect("handle_time", -0.1, -0.05, -0.01)
    with pytest.raises(DataError, match="draws"):
        Effect("handle_time", -0.1, draws=[0.1, np.inf])
    with pytest.raises(DesignError, match="at least one Effect"):
        propagate_effects(VOL, [], aht_s=600)
    with pytest.raises(DesignError, match="n_draws"):
        propagate_effects(VOL, [Effect("volume", -0.1)], aht_s=600, n_draws=5)
    with pytest.raises(DataError, match="roster"):
        propagate_effects(VOL, [Effect("volume", -0.1)], aht_s=600, roster=[1, 2])
    with pytest.raises(DesignError, match="shrinkage"):
        propagate_effects(VOL, [Effect("volume", -0.1)], aht_s=600, shrinkage=1.0)
    with pytest.raises(DataError, match="volumes"):
        propagate_effects([-1.0], [Effect("volume", -0.1)], aht_s=600)


def test_headline_says_when_the_band_straddles_zero():
    # a small, uncertain effect: the band of the peak's change crosses zero and the words say so
    e = Effect("handle_time", -0.005, -0.06, 0.05)
    r = propagate_effects([300.0], [e], aht_s=600, patience_s=180, n_draws=200, ci_level=0.9, rng=4)
    t = r.table.iloc[0]
    assert t["change_low"] < 0 < t["change_high"]
    assert f"between {-int(t['change_low'])} fewer and {int(t['change_high'])} more agents" in r.headline()
