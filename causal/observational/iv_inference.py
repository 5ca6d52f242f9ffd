"""Linear IV inference: 2SLS, OLS, first stage, over-identification and Anderson-Rubin sets.

One endogenous regressor ``d``, excluded instruments ``Z`` (``n x k``) and exogenous controls
``W`` (with the constant). Every quantity is computed on the variables with ``W`` partialled out
(Frisch-Waugh-Lovell holds for the coefficient, its residuals and its sandwich variances); degrees
of freedom count the controls. Three covariance types:

- ``"conventional"``: homoskedastic, ``s^2 = u'u / (n - K)``;
- ``"robust"``: HC1, ``n / (n - K)`` times the sandwich;
- ``"cluster"``: CR1, ``G/(G-1) (n-1)/(n-K)`` times the cluster sandwich (Stata's, and
  linearmodels' ``debiased=True``); intervals use Student-t with ``G - 1`` df.

These match ``linearmodels.iv.IV2SLS(...).fit(cov_type=..., debiased=True)`` (tests check it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from servicelab.errors import DataError, DesignError
from servicelab.results import jsonable

SE_TYPES: tuple[str, ...] = ("conventional", "robust", "cluster")

__all__ = [
    "SE_TYPES",
    "ARConfidenceSet",
    "IVDesign",
    "OverIdTest",
    "anderson_rubin_set",
    "anderson_rubin_stat",
    "first_stage_table",
    "hansen_j",
    "ols_fit",
    "quadratic_set",
    "sargan",
    "tsls_fit",
]


def _check_se(se: str) -> None:
    if se not in SE_TYPES:
        raise DesignError(f"se={se!r} is not an IV standard-error type; choose one of {SE_TYPES}")


@dataclass(frozen=True, eq=False)
class IVDesign:
    """Arrays of one IV problem with the controls partialled out.

    Parameters
    ----------
    y, d : ndarray
        Outcome and endogenous treatment (length ``n``).
    z : ndarray
        Excluded instruments, ``n x k``.
    w : ndarray
        Exogenous controls, ``n x p`` (without the constant; it is added here).
    clusters : ndarray, optional
        Cluster labels for ``se="cluster"``.

    Examples
    --------
    >>> rng = np.random.default_rng(0); z = rng.normal(size=(200, 1)); d = z[:, 0] + rng.normal(size=200)
    >>> des = IVDesign.build(2 * d + rng.normal(size=200), d, z)
    >>> abs(tsls_fit(des, "robust")[0] - 2.0) < 0.2
    True
    """

    y: np.ndarray
    d: np.ndarray
    z: np.ndarray
    n_controls: int
    codes: np.ndarray | None

    @classmethod
    def build(cls, y: np.ndarray, d: np.ndarray, z: np.ndarray, w: np.ndarray | None = None,
              clusters: np.ndarray | None = None) -> IVDesign:
        """Partial the constant and ``w`` out of ``y``, ``d`` and ``z``; check the rank."""
        y = np.asarray(y, float)
        d = np.asarray(d, float)
        z = np.asarray(z, float).reshape(len(y), -1)
        n = len(y)
        w = np.empty((n, 0)) if w is None else np.asarray(w, float).reshape(n, -1)
        wc = np.column_stack([np.ones(n), w])
        if np.linalg.matrix_rank(wc) < wc.shape[1]:
            raise DataError("the controls are perfectly collinear (with each other or the "
                            "constant); drop the redundant ones")
        q, _ = np.linalg.qr(wc)

        def resid(a: np.ndarray) -> np.ndarray:
            return a - q @ (q.T @ a)

        yt, dt, zt = resid(y), resid(d), resid(z)
        if np.linalg.matrix_rank(zt, tol=1e-10 * max(1.0, float(np.abs(zt).max()))) < zt.shape[1]:
            raise DataError("the instruments are collinear given the controls (an instrument is "
                            "constant, duplicated, or explained by the controls); drop it")
        codes = None if clusters is None else pd.factorize(np.asarray(clusters))[0]
        if codes is not None and codes.max() < 1:
            raise DataError("se='cluster' needs at least 2 clusters; got 1")
        return cls(yt, dt, zt, wc.shape[1], codes)

    @property
    def n(self) -> int:
        """Rows."""
        return len(self.y)

    @property
    def k(self) -> int:
        """Excluded instruments."""
        return self.z.shape[1]

    @property
    def n_clusters(self) -> int | None:
        """Clusters (``None`` without cluster labels)."""
        return None if self.codes is None else int(self.codes.max() + 1)

    def df_resid(self, se: str, n_regressors: int) -> float:
        """Denominator df for F tests: ``n - K`` (``G - 1`` under clustering)."""
        return float(self.n_clusters - 1) if se == "cluster" else float(self.n - n_regressors)


def sandwich(x: np.ndarray, u: np.ndarray, se: str, des: IVDesign, dof_k: int,
             u2: np.ndarray | None = None) -> np.ndarray:
    """Covariance of an OLS-type coefficient on (partialled) regressors ``x`` with residuals ``u``.

    ``u2`` gives the cross-covariance of two residual vectors (``u`` and ``u2``), which the
    Anderson-Rubin statistic needs. ``dof_k`` counts every regressor, controls included.
    """
    _check_se(se)
    x = x.reshape(len(u), -1)
    u2 = u if u2 is None else u2
    n = len(u)
    bread = np.linalg.inv(x.T @ x)
    if se == "conventional":
        return bread * float(u @ u2) / (n - dof_k)
    if se == "robust":
        meat = (x * (u * u2)[:, None]).T @ x
        adj = n / (n - dof_k)
    else:
        if des.codes is None:
            raise DesignError("se='cluster' needs a cluster column")
        g = des.n_clusters
        s1 = np.zeros((g, x.shape[1]))
        s2 = np.zeros((g, x.shape[1]))
        np.add.at(s1, des.codes, x * u[:, None])
        np.add.at(s2, des.codes, x * u2[:, None])
        meat = s1.T @ s2
        adj = g / (g - 1) * (n - 1) / (n - dof_k)
    return adj * bread @ meat @ bread


def tsls_fit(des: IVDesign, se: str) -> tuple[float, float, np.ndarray]:
    """2SLS coefficient on ``d``, its standard error and the structural residuals."""
    pi = np.linalg.lstsq(des.z, des.d, rcond=None)[0]
    dhat = des.z @ pi
    denom = float(dhat @ des.d)
    if abs(denom) < 1e-12 * max(1.0, float(des.d @ des.d)):
        raise DataError("the instruments do not move the treatment at all (first stage is zero)")
    beta = float(dhat @ des.y) / denom
    u = des.y - beta * des.d
    cov = sandwich(dhat, u, se, des, dof_k=1 + des.n_controls)
    return beta, float(math.sqrt(cov[0, 0])), u


def ols_fit(des: IVDesign, se: str) -> tuple[float, float]:
    """OLS coefficient on ``d`` (treating it as exogenous) and its standard error."""
    b = float(des.d @ des.y / (des.d @ des.d))
    e = des.y - b * des.d
    return b, float(math.sqrt(sandwich(des.d, e, se, des, dof_k=1 + des.n_controls)[0, 0]))


def _wald(coef: np.ndarray, cov: np.ndarray) -> float:
    return float(coef @ np.linalg.solve(cov, coef))


def first_stage_table(des: IVDesign, se: str, names: list[str]) -> tuple[pd.DataFrame, dict[str, float]]:
    """First-stage coefficients of the instruments, partial R-squared and F statistics.

    Returns a frame with one row per instrument (coefficient, SE, p-value, its own partial R^2
    given the controls and the other instruments, F = t^2) plus a row ``"joint"``, and a dict with
    the joint ``partial_r2``, ``f`` (Wald/k with the chosen covariance: the Kleibergen-Paap Wald F
    for one endogenous regressor under robust/cluster SEs), ``f_conventional`` (the Cragg-Donald
    F for one endogenous regressor) and ``f_pvalue``.
    """
    k, dof_k = des.k, des.k + des.n_controls
    pi = np.linalg.lstsq(des.z, des.d, rcond=None)[0]
    v = des.d - des.z @ pi
    cov = sandwich(des.z, v, se, des, dof_k)
    cov_conv = sandwich(des.z, v, "conventional", des, dof_k)
    rss, tss = float(v @ v), float(des.d @ des.d)
    df2 = des.df_resid(se, dof_k)
    f = _wald(pi, cov) / k
    rows = []
    for j, name in enumerate(names):
        others = np.delete(des.z, j, axis=1)
        r = des.d - others @ np.linalg.lstsq(others, des.d, rcond=None)[0] if k > 1 else des.d
        fj = pi[j] ** 2 / cov[j, j]
        rows.append({"instrument": name, "coef": float(pi[j]), "se": float(math.sqrt(cov[j, j])),
                     "pvalue": float(stats.f.sf(fj, 1, df2)), "partial_r2": 1 - rss / float(r @ r),
                     "F": float(fj)})
    stats_ = {"partial_r2": 1 - rss / tss, "f": f, "f_conventional": _wald(pi, cov_conv) / k,
              "f_pvalue": float(stats.f.sf(f, k, df2)), "df_num": float(k), "df_den": df2}
    rows.append({"instrument": "joint", "coef": math.nan, "se": math.nan,
                 "pvalue": stats_["f_pvalue"], "partial_r2": stats_["partial_r2"], "F": f})
    return pd.DataFrame(rows), stats_


@dataclass(frozen=True)
class OverIdTest:
    """A test of the over-identifying restrictions (H0: every instrument is valid)."""

    name: str
    statistic: float
    df: int
    pvalue: float
    assumes: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return jsonable(self.__dict__)


def sargan(des: IVDesign, u: np.ndarray) -> OverIdTest:
    """Sargan's ``n R^2`` of the 2SLS residuals on every instrument (homoskedastic errors)."""
    fitted = des.z @ np.linalg.lstsq(des.z, u, rcond=None)[0]
    stat = des.n * float(fitted @ fitted) / float(u @ u)
    df = des.k - 1
    return OverIdTest("Sargan", stat, df, float(stats.chi2.sf(stat, df)), "homoskedastic errors")


def hansen_j(y: np.ndarray, x: np.ndarray, zf: np.ndarray, u: np.ndarray, se: str,
             codes: np.ndarray | None) -> OverIdTest:
    """Hansen's J of two-step efficient GMM, the weight estimated from the 2SLS residuals ``u``.

    ``x`` holds every regressor and ``zf`` every instrument (controls and constant included);
    ``se`` is ``"robust"`` or ``"cluster"`` (the form of the moment covariance).
    """
    n = len(y)
    if se == "cluster":
        s = np.zeros((int(codes.max()) + 1, zf.shape[1]))
        np.add.at(s, codes, zf * u[:, None])
        omega = s.T @ s / n
    else:
        omega = (zf * (u**2)[:, None]).T @ zf / n
    wmat = np.linalg.pinv(omega)
    zx, zy = zf.T @ x / n, zf.T @ y / n
    beta = np.linalg.solve(zx.T @ wmat @ zx, zx.T @ wmat @ zy)
    gbar = zf.T @ (y - x @ beta) / n
    stat = float(n * gbar @ wmat @ gbar)
    df = zf.shape[1] - x.shape[1]
    kind = "cluster-robust" if se == "cluster" else "heteroskedasticity-robust"
    return OverIdTest("Hansen J", stat, df, float(stats.chi2.sf(stat, df)), kind)


def quadratic_set(a: float, b: float, c: float) -> tuple[tuple[float, float], ...]:
    """The set ``{x : a x^2 + b x + c <= 0}`` as closed intervals (``inf`` where unbounded).

    Examples
    --------
    >>> quadratic_set(1.0, 0.0, -4.0)
    ((-2.0, 2.0),)
    >>> quadratic_set(-1.0, 0.0, 4.0)
    ((-inf, -2.0), (2.0, inf))
    """
    inf = math.inf
    scale = max(abs(a), abs(b), abs(c), 1e-300)
    if abs(a) <= 1e-14 * scale:
        if abs(b) <= 1e-14 * scale:
            return ((-inf, inf),) if c <= 0 else ()
        root = -c / b
        return ((-inf, root),) if b > 0 else ((root, inf),)
    disc = b * b - 4 * a * c
    if disc < 0:
        return () if a > 0 else ((-inf, inf),)
    sq = math.sqrt(disc)
    r1, r2 = sorted(((-b - sq) / (2 * a), (-b + sq) / (2 * a)))
    return ((r1, r2),) if a > 0 else ((-inf, r1), (r2, inf))


@dataclass(frozen=True)
class ARConfidenceSet:
    """Anderson-Rubin confidence set for the effect of ``d``: valid however weak the instruments.

    ``intervals`` are closed intervals whose union is the set; an endpoint of ``inf`` means the
    set is unbounded, which happens exactly when the first stage is not significant at the set's
    level (the data cannot rule out any large effect). An empty set means every value is rejected:
    the over-identifying restrictions fail.
    """

    intervals: tuple[tuple[float, float], ...]
    level: float
    se_type: str
    critical_value: float
    method: str

    @property
    def bounded(self) -> bool:
        """Whether the set is a bounded set (no infinite endpoint)."""
        return all(math.isfinite(lo) and math.isfinite(hi) for lo, hi in self.intervals)

    @property
    def empty(self) -> bool:
        """Whether the set is empty."""
        return not self.intervals

    def contains(self, value: float) -> bool:
        """Whether ``value`` is in the set."""
        return any(lo <= value <= hi for lo, hi in self.intervals)

    def describe(self) -> str:
        """The set in words, e.g. ``[0.81, 2.1]`` or ``(-inf, -3.2] U [0.5, inf) (unbounded)``."""
        if self.empty:
            return "empty (every effect is rejected: the over-identifying restrictions fail)"
        if self.intervals == ((-math.inf, math.inf),):
            return "the whole real line (unbounded: the instruments are too weak to bound the effect)"

        def one(lo: float, hi: float) -> str:
            left = "(-inf" if lo == -math.inf else f"[{lo:.4g}"
            right = "inf)" if hi == math.inf else f"{hi:.4g}]"
            return f"{left}, {right}"

        text = " U ".join(one(lo, hi) for lo, hi in self.intervals)
        return text if self.bounded else text + " (unbounded)"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (infinite endpoints become strings ``"inf"``/``"-inf"``)."""
        def end(x: float) -> float | str:
            return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")

        return jsonable({"intervals": [[end(lo), end(hi)] for lo, hi in self.intervals],
                         "level": self.level, "se_type": self.se_type, "bounded": self.bounded,
                         "critical_value": self.critical_value, "method": self.method,
                         "text": self.describe()})


def _ar_parts(des: IVDesign, se: str):
    dof_k = des.k + des.n_controls
    a = np.linalg.lstsq(des.z, des.y, rcond=None)[0]
    c = np.linalg.lstsq(des.z, des.d, rcond=None)[0]
    ey, ed = des.y - des.z @ a, des.d - des.z @ c
    vyy = sandwich(des.z, ey, se, des, dof_k)
    vyd = sandwich(des.z, ey, se, des, dof_k, u2=ed)
    vdd = sandwich(des.z, ed, se, des, dof_k)
    vyd = (vyd + vyd.T) / 2
    return a, c, vyy, vyd, vdd


def anderson_rubin_stat(des: IVDesign, se: str, b0: float) -> float:
    """AR statistic (Wald/k) for H0: effect = ``b0``: the instruments in ``y - b0 d`` on Z, W."""
    a, c, vyy, vyd, vdd = _ar_parts(des, se)
    g = a - b0 * c
    return _wald(g, vyy - 2 * b0 * vyd + b0**2 * vdd) / des.k


def _invert(f: Callable[[float], float], center: float, scale: float,
            tail_inside: bool, n_grid: int = 4001,
            f_grid: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[tuple[float, float], ...]:
    """``{b : f(b) <= 0}`` from a grid in ``b = center + scale tan(theta)`` and root refinement.

    ``f_grid`` evaluates ``f`` on the whole grid at once (vectorised), when given.
    """
    theta = np.linspace(-math.pi / 2, math.pi / 2, n_grid + 2)[1:-1]
    grid = center + scale * np.tan(theta)
    vals = f_grid(grid) if f_grid is not None else np.array([f(b) for b in grid])
    inside = vals <= 0
    pts = [float(optimize.brentq(f, grid[i], grid[i + 1], xtol=1e-12 * max(1.0, abs(grid[i]))))
           for i in np.flatnonzero(inside[1:] != inside[:-1])]
    out: list[tuple[float, float]] = []
    start = -math.inf if tail_inside else None
    state = tail_inside
    for p in pts:
        if state:
            out.append((start, p))
        else:
            start = p
        state = not state
    if state:
        out.append((start, math.inf))
    return tuple(out)


def anderson_rubin_set(des: IVDesign, se: str, level: float = 0.95,
                       center: float = 0.0, scale: float = 1.0) -> ARConfidenceSet:
    """Invert the AR test: every ``b0`` whose AR statistic is below the ``F(k, df)`` quantile.

    Exact (a quadratic inequality) with one instrument, or with conventional SEs; otherwise
    numerical on a grid of 4001 points spread over the real line around ``center`` (the 2SLS
    estimate) at ``scale`` (its SE), each crossing refined by Brent's method.
    """
    _check_se(se)
    k, dof_k = des.k, des.k + des.n_controls
    crit = float(stats.f.ppf(level, k, des.df_resid(se, dof_k)))
    q = crit * k
    a, c, vyy, vyd, vdd = _ar_parts(des, se)
    if k == 1:
        ivals = quadratic_set(c[0] ** 2 - q * vdd[0, 0], -2 * (a[0] * c[0] - q * vyd[0, 0]),
                              a[0] ** 2 - q * vyy[0, 0])
        method = "exact (quadratic inequality, one instrument)"
    elif se == "conventional":
        qz = des.z.T @ des.z
        base = np.linalg.inv(qz)  # V_ab = base * s_ab for conventional SEs
        s = vyy[0, 0] / base[0, 0], vyd[0, 0] / base[0, 0], vdd[0, 0] / base[0, 0]
        ivals = quadratic_set(float(c @ qz @ c) - q * s[2], -2 * (float(a @ qz @ c) - q * s[1]),
                              float(a @ qz @ a) - q * s[0])
        method = "exact (quadratic inequality, conventional SEs)"
    else:
        def f(b: float) -> float:
            g = a - b * c
            return _wald(g, vyy - 2 * b * vyd + b * b * vdd) / k - crit

        def f_grid(bs: np.ndarray) -> np.ndarray:
            g = a[None, :] - bs[:, None] * c[None, :]
            v = vyy[None] - 2 * bs[:, None, None] * vyd[None] + (bs**2)[:, None, None] * vdd[None]
            return np.einsum("mi,mi->m", g, np.linalg.solve(v, g[..., None])[..., 0]) / k - crit

        f_first = _wald(c, vdd) / k
        ivals = _invert(f, center, max(scale, 1e-12), tail_inside=f_first < crit, f_grid=f_grid)
        method = "numerical inversion (grid of 4001 points + Brent refinement)"
    return ARConfidenceSet(tuple((float(lo), float(hi)) for lo, hi in ivals), level, se, crit, method)
