"""DoWhy-GCM mechanism attribution: the changed mechanism gets the change, determinism, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causal.attribution import MechanismAttribution
from servicelab.errors import DataError, DesignError

EDGES = (("complexity", "specialist"), ("complexity", "handle"), ("specialist", "handle"))


def _draw(rng: np.random.Generator, n: int, shift_root: float = 0.0, shift_handle: float = 0.0) -> pd.DataFrame:
    k = rng.normal(shift_root, 1.0, n)
    spec = (rng.random(n) < 1 / (1 + np.exp(1.5 - k))).astype(float)
    h = 6.0 + 0.4 * k + 0.3 * spec + shift_handle + 0.5 * rng.standard_normal(n)
    return pd.DataFrame({"complexity": k, "specialist": spec, "handle": h})


def test_changed_mechanism_gets_the_change() -> None:
    rng = np.random.default_rng()
    before = _draw(rng, 3000)
    # only the handle-time mechanism changes: +0.2 on the log scale
    r = MechanismAttribution(EDGES, "handle").fit(before, _draw(rng, 3000, shift_handle=0.2), rng=rng)
    assert r.contribution("handle") == pytest.approx(0.2, abs=0.06)
    assert abs(r.contribution("complexity")) < 0.06 and abs(r.contribution("specialist")) < 0.06
    # only the root (the mix of complexity) shifts by 0.5: total effect 0.4*0.5 + 0.3*d P(specialist)
    after = _draw(rng, 3000, shift_root=0.5)
    r2 = MechanismAttribution(EDGES, "handle").fit(before, after, rng=rng)
    assert r2.contribution("complexity") == pytest.approx(r2.observed_change, abs=0.06)
    assert abs(r2.contribution("handle")) < 0.06
    assert r2.summary().to_markdown().startswith("### Mechanism attribution")


def test_same_seed_same_numbers_whatever_the_global_state() -> None:
    """DoWhy draws from NumPy's global state during the fit; the result must not depend on it."""
    rng = np.random.default_rng(1)
    a, b = _draw(rng, 800), _draw(rng, 800, shift_handle=0.3)
    np.random.set_state(np.random.RandomState(1).get_state())  # noqa: NPY002 - two different global states
    r1 = MechanismAttribution(EDGES, "handle").fit(a, b, rng=5)
    np.random.set_state(np.random.RandomState(2).get_state())  # noqa: NPY002
    r2 = MechanismAttribution(EDGES, "handle").fit(a, b, rng=5)
    pd.testing.assert_frame_equal(r1.contributions, r2.contributions)


def test_bad_input() -> None:
    a = _draw(np.random.default_rng(2), 100)
    with pytest.raises(DesignError, match="acyclic"):
        MechanismAttribution((("a", "b"), ("b", "a")), "a").fit(a, a)
    with pytest.raises(DesignError, match="target"):
        MechanismAttribution(EDGES, "csat").fit(a, a)
    with pytest.raises(DataError, match="not numeric"):
        MechanismAttribution(EDGES, "handle").fit(a.assign(specialist="yes"), a.assign(specialist="no"))
    b = a.copy()
    b.loc[0, "handle"] = np.nan
    with pytest.raises(DataError, match="NULL"):
        MechanismAttribution(EDGES, "handle").fit(a, b)
