"""CR2 with Bell-McCaffrey degrees of freedom against the matrix definitions (issue 10).

pyfixest (CRV1, CRV3) and statsmodels (CR1) have no CR2, so the reference is written here
directly from the published definitions, with dense ``n x n`` matrices and none of the engine's
shortcuts (the engine works through the rank-p structure of ``H_gg`` and ``p x p`` products):

- Bell & McCaffrey (2002), Pustejovsky & Tipton (2018, clubSandwich's ``CR2``):
  ``V = M (sum_g X_g' A_g e_g e_g' A_g X_g) M`` with ``M = (X'X)^-1`` and
  ``A_g = (I - H_gg)^(-1/2)``, the symmetric inverse square root;
- Bell-McCaffrey / Imbens & Kolesar (2016) Satterthwaite df for ``c' beta`` under the working
  model ``Var(e) = I``: with ``G_g = (I - H)_{g.}' A_g X_g M c`` (an ``n``-vector per cluster),
  ``df = (tr G'G)^2 / tr((G'G)^2)``.

Data: unbalanced clusters (sizes 1 to 40), a treatment that varies within and between clusters,
a continuous covariate and a categorical one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causal.experiments.cluster import cluster_robust_ols
from causal.regression import Regression


def _inv_sqrt(a: np.ndarray) -> np.ndarray:
    lam, q = np.linalg.eigh(a)
    return q @ np.diag(1 / np.sqrt(lam)) @ q.T


def cr2_reference(y: np.ndarray, X: np.ndarray, g: np.ndarray, coef: int) -> tuple[float, float]:
    """CR2 SE and Bell-McCaffrey df of ``beta[coef]`` from the dense matrix definitions."""
    n = len(y)
    M = np.linalg.inv(X.T @ X)
    H = X @ M @ X.T
    IH = np.eye(n) - H
    e = IH @ y
    c = np.zeros(X.shape[1])
    c[coef] = 1.0
    meat = np.zeros((X.shape[1], X.shape[1]))
    cols = []
    for label in np.unique(g):
        idx = np.flatnonzero(g == label)
        A = _inv_sqrt(IH[np.ix_(idx, idx)])
        s = X[idx].T @ A @ e[idx]
        meat += np.outer(s, s)
        cols.append(IH[idx].T @ A @ X[idx] @ M @ c)
    V = M @ meat @ M
    GG = np.column_stack(cols).T @ np.column_stack(cols)
    return float(np.sqrt(V[coef, coef])), float(np.trace(GG) ** 2 / np.trace(GG @ GG))


@pytest.fixture(scope="module")
def unbalanced() -> pd.DataFrame:
    rng = np.random.default_rng(20)
    sizes = np.concatenate([[1, 2, 3], rng.integers(1, 41, 21)])  # 24 clusters, 1 to 40 rows
    g = np.repeat(np.arange(len(sizes)), sizes)
    n = len(g)
    arm = (rng.random(len(sizes)) < 0.4).astype(float)[g]  # cluster-level treatment
    x = rng.normal(size=n) + 0.5 * arm
    cat = rng.choice(["a", "b", "c"], n)
    y = 1 + 0.7 * arm + 0.4 * x + (cat == "b") + rng.normal(size=len(sizes))[g] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "arm": arm, "x": x, "cat": cat, "g": g})


def test_cr2_and_bm_df_match_the_matrix_definition(unbalanced):
    df = unbalanced
    X = np.column_stack([np.ones(len(df)), df.arm, df.x, df.cat == "b", df.cat == "c"]).astype(float)
    y, g = df.y.to_numpy(), df.g.to_numpy()
    for j in range(X.shape[1]):
        out = cluster_robust_ols(y, X, g, coef=j)
        se, dfbm = cr2_reference(y, X, g, j)
        assert out["se_cr2"] == pytest.approx(se, rel=1e-9), j
        assert out["df_bm"] == pytest.approx(dfbm, rel=1e-9), j
    # the df are far below G - 1 = 23 for the cluster-level treatment: the point of BM
    assert cluster_robust_ols(y, X, g, coef=1)["df_bm"] < 20


def test_regression_cr2_matches_the_matrix_definition(unbalanced):
    r = Regression("y ~ arm + x + C(cat)", se="CR2", cluster="g").fit(unbalanced)
    tab = r.to_frame()
    X = np.column_stack([np.ones(len(unbalanced)), unbalanced.cat == "b", unbalanced.cat == "c",
                         unbalanced.arm, unbalanced.x]).astype(float)
    names = list(tab.index)
    for term, j in (("arm", 3), ("x", 4)):
        assert term in names
        se, dfbm = cr2_reference(unbalanced.y.to_numpy(), X, unbalanced.g.to_numpy(), j)
        assert tab.loc[term, "se"] == pytest.approx(se, rel=1e-9)
        assert tab.loc[term, "df"] == pytest.approx(dfbm, rel=1e-9)
