"""Cluster-randomised and switchback designs.

When agents, queues, sites or time slices are randomised, the effective sample size is the
number of clusters, not of contacts. The analysis here regresses the outcome on the arm (and
optional covariates) at the row level and reports

- the CR2 (Bell–McCaffrey) cluster-robust standard error with Satterthwaite degrees of freedom
  (Imbens–Kolesár), which keeps coverage close to nominal with a handful of clusters;
- the CR1 (Stata) standard error, for comparison;
- a wild cluster bootstrap-t p-value (null imposed, Rademacher or Webb weights);
- a randomisation-inference p-value (re-randomising whole clusters).

A switchback design is a cluster design whose clusters are (queue, time slice); contacts in
the burn-in window after a switch are dropped to limit carryover.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from causal.experiments._data import Source, quote_ident
from causal.results import EffectEstimate
from servicelab.errors import DataError, DesignError
from servicelab.random import RNGLike, resolve_rng
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable

__all__ = [
    "ClusterExperiment",
    "ClusterResult",
    "SwitchbackDesign",
    "cluster_robust_ols",
    "cluster_sums_inference",
]


def _cluster_index(cl: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    codes, uniq = pd.factorize(cl, sort=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniq) + 1))
    groups = [order[bounds[g]: bounds[g + 1]] for g in range(len(uniq))]
    return codes, groups


def cluster_robust_ols(
    y: np.ndarray, X: np.ndarray, clusters: np.ndarray, coef: int = 1
) -> dict[str, float]:
    """OLS with CR1 and CR2 cluster-robust variances and Bell–McCaffrey df for one coefficient.

    Returns ``beta``, ``se_cr1``, ``se_cr2``, ``df_bm`` (Satterthwaite df of the CR2 t
    statistic) and ``n_clusters``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(10), 5); d = (g % 2).astype(float)
    >>> y = 1 + 0.5 * d + rng.normal(size=50)
    >>> out = cluster_robust_ols(y, np.column_stack([np.ones(50), d]), g)
    >>> out["df_bm"] < 9
    True
    """
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    n, p = X.shape
    _, groups = _cluster_index(np.asarray(clusters))
    G = len(groups)
    M = np.linalg.inv(X.T @ X)
    beta = M @ (X.T @ y)
    e = y - X @ beta
    c = np.zeros(p)
    c[coef] = 1.0
    Mc = M @ c
    meat1 = np.zeros((p, p))
    meat2 = np.zeros((p, p))
    wnorm = np.zeros(G)
    P = np.zeros((p, G))
    for g, idx in enumerate(groups):
        Xg, eg = X[idx], e[idx]
        ug = Xg.T @ eg
        meat1 += np.outer(ug, ug)
        # A_g = (I - H_gg)^(-1/2) through the rank-p structure of H_gg
        U, S, Vt = np.linalg.svd(Xg, full_matrices=False)
        keep = 1e-12 * S.max() < S if S.size else S.astype(bool)
        U, S, Vt = U[:, keep], S[keep], Vt[keep]
        B = (S[:, None] * (Vt @ M @ Vt.T)) * S[None, :]
        lam, Q = np.linalg.eigh(B)
        lam = np.clip(lam, 0.0, 1 - 1e-12)
        UQ = U @ Q
        dd = 1 / np.sqrt(1 - lam) - 1
        AX = Xg + UQ @ (dd[:, None] * (UQ.T @ Xg))
        u2 = AX.T @ eg  # X_g' A_g e_g == (A_g X_g)' e_g since A_g is symmetric
        meat2 += np.outer(u2, u2)
        w = AX @ Mc
        wnorm[g] = w @ w
        P[:, g] = Xg.T @ w
    adj = G / (G - 1) * (n - 1) / (n - p) if G > 1 else math.nan
    V1 = adj * (M @ meat1 @ M)
    V2 = M @ meat2 @ M
    # Satterthwaite df = tr(G'G)^2 / ||G'G||_F^2 with G'G = diag(|w_g|^2) - P' M P (G x G),
    # computed through p x p matrices so that thousands of clusters stay cheap
    MPP = M @ (P @ P.T)
    diag_pmp = np.einsum("ig,ij,jg->g", P, M, P)
    tr = wnorm.sum() - np.trace(MPP)
    fro2 = np.sum(wnorm**2) - 2 * np.sum(wnorm * diag_pmp) + np.trace(MPP @ MPP)
    df = float(tr**2 / fro2) if fro2 > 0 else math.nan
    return {
        "beta": float(beta[coef]),
        "se_cr1": float(math.sqrt(V1[coef, coef])),
        "se_cr2": float(math.sqrt(V2[coef, coef])),
        "df_bm": df,
        "n_clusters": G,
        "residual_sd": float(e.std(ddof=p)),
    }


def _wild_bootstrap_p(y, X, groups, coef, n_boot, gen, weights):
    """Wild cluster bootstrap-t (restricted, CR1 t statistic) from row-level data."""
    n, p = X.shape
    keep = [j for j in range(p) if j != coef]
    Xr = X[:, keep]
    br = np.linalg.lstsq(Xr, y, rcond=None)[0]
    yt = Xr @ br
    et = y - yt
    S = np.stack([X[idx].T @ et[idx] for idx in groups], axis=1)  # p x G
    XgY = np.stack([X[idx].T @ yt[idx] for idx in groups], axis=1)  # p x G
    XgX = np.stack([X[idx].T @ X[idx] for idx in groups])  # G x p x p
    return _wild_core(S, XgY, XgX, n, coef, n_boot, gen, weights)


def _wild_core(S, XgY, XgX, n, coef, n_boot, gen, weights):
    """Vectorised wild cluster bootstrap from per-cluster scores of the restricted fit:
    ``S[:, g] = X_g' e~_g``, ``XgY[:, g] = X_g' y~_g`` and ``XgX[g] = X_g' X_g``.
    """
    p, G = S.shape
    XtX = XgX.sum(axis=0)
    M = np.linalg.inv(XtX)
    XtY = XgY.sum(axis=1)
    adj = G / (G - 1) * (n - 1) / (n - p)

    def tstats(V):  # V: G x B weights
        b = M @ (XtY[:, None] + S @ V)  # p x B
        # per-cluster scores u_g = X_g'y*_g - X_g'X_g b
        u = XgY[:, :, None] + S[:, :, None] * V[None, :, :] - np.einsum("gij,jb->igb", XgX, b)
        meat = np.einsum("igb,kgb->ikb", u, u)
        var = adj * np.einsum("i,ikb,k->b", M[coef], meat, M[coef])
        return b[coef] / np.sqrt(var)

    t_obs = float(tstats(np.ones((G, 1)))[0])  # weights of 1 give back the data
    draws = []
    for start in range(0, n_boot, 500):
        B = min(500, n_boot - start)
        if weights == "webb":
            vals = np.array([-math.sqrt(1.5), -1, -math.sqrt(0.5), math.sqrt(0.5), 1,
                             math.sqrt(1.5)])
            V = gen.choice(vals, size=(G, B))
        else:
            V = gen.choice(np.array([-1.0, 1.0]), size=(G, B))
        draws.append(tstats(V))
    tb = np.concatenate(draws)
    return float(np.mean(np.abs(tb) >= abs(t_obs))), t_obs


def cluster_sums_inference(
    n_g: np.ndarray, sum_y: np.ndarray, treated: np.ndarray, *, n_resamples: int = 0,
    rng: RNGLike = None, weights: str = "rademacher",
) -> dict[str, float]:
    """Cluster-randomised difference in means from per-cluster sufficient statistics.

    With no covariates every quantity of :func:`cluster_robust_ols` (CR1, CR2 with
    Bell–McCaffrey df), the wild cluster bootstrap and randomisation inference depends on the
    data only through each cluster's row count ``n_g``, outcome sum ``sum_y`` and arm
    (``treated`` 0/1), which a warehouse computes with one ``GROUP BY``. The results equal the
    row-level ones exactly.

    Examples
    --------
    >>> out = cluster_sums_inference(np.array([5, 5, 5, 5.]), np.array([5, 6, 9, 11.]),
    ...                              np.array([0, 0, 1, 1]))
    >>> round(out["beta"], 3)
    0.9
    """
    ng = np.asarray(n_g, dtype=float)
    sy = np.asarray(sum_y, dtype=float)
    d = np.asarray(treated, dtype=float)
    G = ng.size
    n = ng.sum()
    N1, N0 = ng[d == 1].sum(), ng[d == 0].sum()
    m1, m0 = sy[d == 1].sum() / N1, sy[d == 0].sum() / N0
    beta = m1 - m0
    X = np.column_stack([np.ones(G), d])  # the (identical) row of X in each cluster
    XtX = np.array([[n, N1], [N1, N1]])
    M = np.linalg.inv(XtX)
    esum = sy - ng * np.where(d == 1, m1, m0)  # 1' e_g
    U = X * esum[:, None]  # G x 2 scores X_g' e_g
    adj = G / (G - 1) * (n - 1) / (n - 2)
    V1 = adj * (M @ (U.T @ U) @ M)
    # CR2: H_gg = J / N_arm, so A_g 1 = s_g 1 with s_g = (1 - n_g / N_arm)^(-1/2)
    n_arm = np.where(d == 1, N1, N0)
    sg = 1 / np.sqrt(np.clip(1 - ng / n_arm, 1e-12, None))
    U2 = U * sg[:, None]
    V2 = M @ (U2.T @ U2) @ M
    k = X @ M[:, 1]
    wnorm = ng * (sg * k) ** 2
    P = (X * (ng * sg * k)[:, None]).T  # 2 x G
    MPP = M @ (P @ P.T)
    diag_pmp = np.einsum("ig,ij,jg->g", P, M, P)
    tr = wnorm.sum() - np.trace(MPP)
    fro2 = np.sum(wnorm**2) - 2 * np.sum(wnorm * diag_pmp) + np.trace(MPP @ MPP)
    out = {
        "beta": float(beta), "se_cr1": float(math.sqrt(V1[1, 1])),
        "se_cr2": float(math.sqrt(V2[1, 1])), "df_bm": float(tr**2 / fro2),
        "n_clusters": G, "pvalue_wild": None, "pvalue_ri": None,
    }
    if n_resamples:
        gen = resolve_rng(rng)
        ybar = sy.sum() / n
        S = (X * (sy - ng * ybar)[:, None]).T
        XgY = (X * (ng * ybar)[:, None]).T
        XgX = ng[:, None, None] * np.einsum("gi,gj->gij", X, X)
        out["pvalue_wild"], _ = _wild_core(S, XgY, XgX, n, 1, n_resamples, gen, weights)
        k1 = int(d.sum())
        perm = np.argsort(gen.random((n_resamples, G)), axis=1)[:, :k1]
        D = np.zeros((n_resamples, G))
        np.put_along_axis(D, perm, 1.0, axis=1)
        b = (D @ sy) / (D @ ng) - ((1 - D) @ sy) / ((1 - D) @ ng)
        out["pvalue_ri"] = float((1 + np.sum(np.abs(b) >= abs(beta) - 1e-12)) / (n_resamples + 1))
    return out


def _ri_p(y, X, groups, treat_g, coef, n_perm, gen):
    """Randomisation inference: re-randomise whole clusters (same number treated)."""
    G = len(groups)
    Z = np.delete(X, coef, axis=1)
    # cluster-level sufficient statistics
    ng = np.array([len(i) for i in groups], dtype=float)
    sz = np.stack([Z[i].sum(axis=0) for i in groups])
    szz = np.stack([Z[i].T @ Z[i] for i in groups])
    sy = np.array([y[i].sum() for i in groups])
    szy = np.stack([Z[i].T @ y[i] for i in groups])
    ZZ, Zy = szz.sum(axis=0), szy.sum(axis=0)

    def coef_of(d):  # d: G-vector 0/1 -> OLS coefficient on D with covariates Z
        dd = d.astype(float)
        xtx_dd = float(dd @ ng)
        xtx_dz = dd @ sz
        xty_d = float(dd @ sy)
        q = Z.shape[1]
        A = np.empty((q + 1, q + 1))
        A[0, 0] = xtx_dd
        A[0, 1:] = A[1:, 0] = xtx_dz
        A[1:, 1:] = ZZ
        rhs = np.concatenate([[xty_d], Zy])
        return np.linalg.solve(A, rhs)[0]

    obs = coef_of(treat_g)
    k = int(treat_g.sum())
    stats_ = np.empty(n_perm)
    for b in range(n_perm):
        d = np.zeros(G)
        d[gen.choice(G, size=k, replace=False)] = 1
        stats_[b] = coef_of(d)
    return float((1 + np.sum(np.abs(stats_) >= abs(obs) - 1e-12)) / (n_perm + 1)), float(obs)


@dataclass(frozen=True)
class ClusterResult(ResultMixin):
    """Result of a cluster-randomised (or switchback) analysis."""

    effect: float
    se_cr2: float
    df: float
    ci_low: float
    ci_high: float
    pvalue_cr2: float
    se_cr1: float
    pvalue_cr1: float
    pvalue_wild: float | None
    pvalue_ri: float | None
    n: int
    clusters_control: int
    clusters_treatment: int
    mean_control: float
    diagnostics: tuple[Diagnostic, ...]
    info: dict[str, Any] = field(default_factory=dict)
    ci_level: float = 0.95

    def estimate(self) -> EffectEstimate:
        """The effect as an :class:`~causal.EffectEstimate` (CR2 SE, Bell-McCaffrey df interval)."""
        return EffectEstimate(
            "ATE", self.info.get("population", "clusters"), "OLS, CR2 + Bell-McCaffrey df",
            self.effect, self.se_cr2, self.ci_low, self.ci_high, self.ci_level,
            self.pvalue_cr2, self.n,
        )

    def summary(self) -> Summary:
        """The result as a :class:`~servicelab.Summary` (table, key facts, diagnostics)."""
        tab = pd.DataFrame([
            {"method": "CR2 + Satterthwaite (BM) df", "effect": self.effect, "se": self.se_cr2,
             "df": self.df, "ci_low": self.ci_low, "ci_high": self.ci_high,
             "pvalue": self.pvalue_cr2},
            {"method": "CR1 (normal)", "effect": self.effect, "se": self.se_cr1, "df": math.inf,
             "ci_low": math.nan, "ci_high": math.nan, "pvalue": self.pvalue_cr1},
            {"method": "wild cluster bootstrap-t", "effect": self.effect, "se": math.nan,
             "df": math.nan, "ci_low": math.nan, "ci_high": math.nan,
             "pvalue": self.pvalue_wild if self.pvalue_wild is not None else math.nan},
            {"method": "randomisation inference", "effect": self.effect, "se": math.nan,
             "df": math.nan, "ci_low": math.nan, "ci_high": math.nan,
             "pvalue": self.pvalue_ri if self.pvalue_ri is not None else math.nan},
        ])
        return Summary("Cluster-randomised analysis", tab, info=dict(self.info),
                       diagnostics=self.diagnostics)

    def plot(self, ax=None):
        """Draw the result on ``ax`` (a new figure when None) and return the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 1.8))
        ax.errorbar(self.effect, 0, xerr=[[self.effect - self.ci_low],
                                          [self.ci_high - self.effect]], fmt="o", capsize=3)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks([0], [self.info.get("outcome", "effect")])
        ax.set_xlabel(f"effect with {self.ci_level:.0%} CI (CR2, BM df)")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable data (for ``results.json`` and ``glue``)."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "diagnostics"}
        d["diagnostics"] = [x.to_dict() for x in self.diagnostics]
        return jsonable(d)


@dataclass(frozen=True)
class ClusterExperiment:
    """Cluster-randomised experiment: the arm is constant within each cluster.

    Parameters
    ----------
    outcome : str
        Row-level outcome (e.g. ``handle_s`` per contact).
    cluster : str
        Randomisation unit column (agent, queue, site, time slice).
    variant, control : str
        Arm column and control label (exactly two arms).
    covariates : tuple of str
        Row-level covariates (pre-period values) for precision.
    n_resamples : int
        Wild-bootstrap draws and randomisation-inference permutations (0 to skip both).
    weights : {"auto", "rademacher", "webb"}
        Wild-bootstrap weights; ``auto`` uses Webb's six-point weights below 12 clusters.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> site = np.repeat(np.arange(12), 30)
    >>> arm = np.where(site % 2 == 0, "control", "treatment")
    >>> y = rng.normal(size=360) + np.repeat(rng.normal(size=12), 30)
    >>> df = pd.DataFrame({"site": site, "variant": arm, "y": y})
    >>> r = ClusterExperiment("y", "site", n_resamples=199).analyze(df, rng=2)
    >>> r.clusters_control
    6
    """

    outcome: str
    cluster: str
    variant: str = "variant"
    control: Any = "control"
    covariates: tuple[str, ...] = ()
    n_resamples: int = 999
    weights: Literal["auto", "rademacher", "webb"] = "auto"
    ci_level: float = 0.95

    def analyze(self, data: Any, *, rng: RNGLike = None) -> ClusterResult:
        """Analyse row-level data (DataFrame, DuckDB relation or (connection, table)).

        Without covariates only per-cluster counts and sums are needed; on a warehouse input
        they are computed in SQL (one ``GROUP BY``) and the rows never leave the database.
        """
        src = Source(data)
        cols = [self.outcome, self.cluster, self.variant, *self.covariates]
        src.require(cols, "cluster experiment")
        if not self.covariates:
            return self._analyze_table(self._cluster_table(src), rng, extra_info={})
        return self._analyze_frame(src.fetch(cols), rng, extra_info={})

    def _cluster_table(self, src: Source | pd.DataFrame) -> pd.DataFrame:
        """Rows, outcome sum and missing count per (cluster, arm)."""
        if isinstance(src, pd.DataFrame) or src.frame is not None:
            f = src if isinstance(src, pd.DataFrame) else src.frame
            y = f[self.outcome].astype("float64")
            g = pd.DataFrame({
                "cluster": f[self.cluster].to_numpy(), "variant": f[self.variant].to_numpy(),
                "y": y.fillna(0.0).to_numpy(), "miss": y.isna().to_numpy(dtype=int),
            }).groupby(["cluster", "variant"], sort=True, dropna=False)
            return g.agg(n=("y", "size"), sy=("y", "sum"), miss=("miss", "sum")).reset_index()
        yq = f"CAST({quote_ident(self.outcome)} AS DOUBLE)"
        bad = f"({yq} IS NULL OR isnan({yq}))"
        sql = (
            f"SELECT {quote_ident(self.cluster)} AS cluster, {quote_ident(self.variant)} AS "
            f"variant, count(*) AS n, coalesce(sum({yq}) FILTER (WHERE NOT {bad}), 0) AS sy, "
            f"count(*) FILTER (WHERE {bad}) AS miss FROM src GROUP BY ALL ORDER BY 1, 2"
        )
        return src.query(sql)

    def _check_table(self, tab: pd.DataFrame) -> tuple[np.ndarray, int, int]:
        """Validate arms and clusters; return the treated indicator per cluster row."""
        if tab["miss"].sum():
            raise DataError(
                f"{int(tab['miss'].sum())} rows have a missing {self.outcome!r}; drop or impute "
                "them before a cluster analysis"
            )
        labels = list(dict.fromkeys(tab["variant"].tolist()))
        if self.control not in labels:
            raise DataError(f"control {self.control!r} not in {self.variant!r} (found {labels})")
        if len(labels) != 2:
            raise DesignError(
                f"cluster analysis needs exactly 2 arms, found {labels} in {self.variant!r}"
            )
        dup = tab["cluster"].duplicated(keep=False)
        if dup.any():
            bad = tab.loc[dup, "cluster"].unique()[:5].tolist()
            raise DesignError(
                f"clusters {bad} contain both arms: the arm must be constant within "
                f"{self.cluster!r} in a cluster-randomised design"
            )
        d = (tab["variant"] != self.control).to_numpy(dtype=float)
        g_t, g_c = int(d.sum()), int((1 - d).sum())
        if min(g_t, g_c) < 2:
            raise DesignError(
                f"fewer than 2 clusters per arm (control {g_c}, treatment {g_t}): no "
                "cluster-robust inference is possible; randomise more clusters"
            )
        return d, g_c, g_t

    def _weights(self, G: int) -> str:
        return self.weights if self.weights != "auto" else ("webb" if G < 12 else "rademacher")

    def _analyze_table(self, tab: pd.DataFrame, rng, extra_info) -> ClusterResult:
        d, g_c, g_t = self._check_table(tab)
        ng, sy = tab["n"].to_numpy(dtype=float), tab["sy"].to_numpy(dtype=float)
        out = cluster_sums_inference(
            ng, sy, d, n_resamples=self.n_resamples, rng=rng, weights=self._weights(g_c + g_t)
        )
        mean_c = float(sy[d == 0].sum() / ng[d == 0].sum())
        return self._finish(out, out["pvalue_wild"], out["pvalue_ri"], int(ng.sum()), g_c, g_t,
                            mean_c, extra_info)

    def _analyze_frame(self, df: pd.DataFrame, rng, extra_info) -> ClusterResult:
        gen = resolve_rng(rng)
        num = [self.outcome, *self.covariates]
        if df[num].isna().any().any():
            bad = df[num].columns[df[num].isna().any()].tolist()
            raise DataError(f"missing values in {bad}; drop or impute before a cluster analysis")
        _, g_c, g_t = self._check_table(self._cluster_table(df))
        d = (df[self.variant] != self.control).to_numpy(dtype=float)
        cl = df[self.cluster].to_numpy()
        y = df[self.outcome].to_numpy(dtype=float)
        Z = df[list(self.covariates)].to_numpy(dtype=float)
        Z = Z - Z.mean(axis=0) if Z.size else Z.reshape(len(y), 0)
        X = np.column_stack([np.ones(len(y)), d, Z])
        out = cluster_robust_ols(y, X, cl, coef=1)
        pw = pri = None
        if self.n_resamples:
            _, groups = _cluster_index(cl)
            pw, _ = _wild_bootstrap_p(y, X, groups, 1, self.n_resamples, gen,
                                      self._weights(g_c + g_t))
            treat_g = np.array([d[idx[0]] for idx in groups])
            pri, _ = _ri_p(y, X, groups, treat_g, 1, self.n_resamples, gen)
        return self._finish(out, pw, pri, len(y), g_c, g_t, float(y[d == 0].mean()), extra_info)

    def _finish(self, out, pw, pri, n, g_c, g_t, mean_c, extra_info) -> ClusterResult:
        df_bm = out["df_bm"]
        q = stats.t.ppf((1 + self.ci_level) / 2, df_bm)
        p2 = float(2 * stats.t.sf(abs(out["beta"] / out["se_cr2"]), df_bm))
        p1 = float(2 * stats.norm.sf(abs(out["beta"] / out["se_cr1"])))
        G = g_t + g_c
        if min(g_t, g_c) < 20:
            diag = Diagnostic(
                "few_clusters", "warning",
                f"only {g_c} control and {g_t} treatment clusters: CR1/normal intervals are too "
                "narrow here; read the CR2 interval (BM df = "
                f"{df_bm:.1f}), the wild bootstrap and the randomisation p-values",
                float(min(g_t, g_c)),
            )
        else:
            diag = Diagnostic("few_clusters", "ok", f"{g_c} control / {g_t} treatment clusters",
                              float(G))
        info = {
            "outcome": self.outcome, "cluster": self.cluster, "rows": n,
            "clusters": f"control {g_c}, treatment {g_t}",
            "covariates": ", ".join(self.covariates) or "none",
            "estimand": "ATE per row (difference in means), clusters randomised",
            "population": f"rows in the experiment, randomised by {self.cluster}",
            **extra_info,
        }
        return ClusterResult(
            effect=out["beta"], se_cr2=out["se_cr2"], df=df_bm,
            ci_low=out["beta"] - q * out["se_cr2"], ci_high=out["beta"] + q * out["se_cr2"],
            pvalue_cr2=p2, se_cr1=out["se_cr1"], pvalue_cr1=p1, pvalue_wild=pw,
            pvalue_ri=pri, n=n, clusters_control=g_c, clusters_treatment=g_t,
            mean_control=mean_c, diagnostics=(diag,), info=info, ci_level=self.ci_level,
        )


@dataclass(frozen=True)
class SwitchbackDesign:
    """Switchback experiment: each queue alternates arms over fixed time slices.

    Parameters
    ----------
    outcome : str
        Row-level outcome (e.g. ``wait_s`` per contact).
    time : str
        Timestamp column (datetime) or seconds since a common origin.
    queue : str
        The unit that switches (queue, site).
    slice_s : float
        Slice length in seconds.
    burn_in_s : float
        Rows in the first ``burn_in_s`` seconds of a slice whose arm differs from the previous
        slice of the same queue are dropped (carryover of the backlog across the switch).
    variant, control : str
        Arm column (constant within a queue × slice) and control label.
    origin : float or timestamp, optional
        Start of slice 0: 0 for numeric times, midnight of the first day for timestamps.
    fixed_effects : bool
        Add queue and time-of-day (slice within the day) fixed effects to the regression
        (default). Queues differ persistently and load follows the clock, so with few slices
        per queue the arms are rarely balanced on either; the fixed effects remove that noise
        (and any chance imbalance) from the estimate. Inference stays clustered by queue x slice.

    Examples
    --------
    >>> sb = SwitchbackDesign("wait_s", "t", "queue", slice_s=3600, burn_in_s=600)
    >>> sb.slice_s
    3600
    """

    outcome: str
    time: str
    queue: str
    slice_s: float
    burn_in_s: float = 0.0
    variant: str = "variant"
    control: Any = "control"
    covariates: tuple[str, ...] = ()
    n_resamples: int = 999
    ci_level: float = 0.95
    origin: Any = None
    fixed_effects: bool = True

    def __post_init__(self) -> None:
        if self.slice_s <= 0:
            raise DesignError(f"slice_s must be positive, got {self.slice_s}")
        if not 0 <= self.burn_in_s < self.slice_s:
            raise DesignError(
                f"burn_in_s must be in [0, slice_s), got {self.burn_in_s} (slice {self.slice_s})"
            )

    def analyze(self, data: Any, *, rng: RNGLike = None, plan: Any = None,
                schedule: Any = None) -> ClusterResult:
        """Drop burn-in rows after switches, then analyse with (queue, slice) clusters.

        With ``plan`` (the :class:`~causal.experiments.switchback.SwitchbackPlan` the experiment
        was drawn from), the randomisation-inference p-value re-draws whole schedules from that
        plan (:func:`~causal.experiments.switchback.switchback_randomization_test`), so it
        respects the design's balance; ``schedule`` is the schedule run (read from the data's
        arms when omitted). Without ``plan`` it permutes the unit x slice cells freely, and a
        diagnostic says so.
        """
        if plan is not None and (plan.slice_s != self.slice_s or plan.burn_in_s != self.burn_in_s):
            raise DesignError(
                f"the plan runs slices of {plan.slice_s:g} s with burn-in {plan.burn_in_s:g} s, "
                f"the analysis {self.slice_s:g} s / {self.burn_in_s:g} s; they must agree"
            )
        src = Source(data)
        cols = [self.outcome, self.time, self.queue, self.variant, *self.covariates]
        src.require(cols, "switchback")
        df = src.fetch(cols).copy()
        t = df[self.time]
        if np.issubdtype(t.dtype, np.datetime64):
            origin = t.min().floor("D") if self.origin is None else pd.Timestamp(self.origin)
            secs = (t - origin).dt.total_seconds().to_numpy()
        else:
            secs = t.to_numpy(dtype=float) - float(self.origin or 0.0)
        sl = np.floor(secs / self.slice_s).astype(np.int64)
        df["__slice"] = sl
        df["__within"] = secs - sl * self.slice_s
        arm_by = df.groupby([self.queue, "__slice"])[self.variant].agg(["nunique", "first"])
        if (arm_by["nunique"] > 1).any():
            raise DesignError(
                f"the arm changes within a {self.queue} x slice: slice_s={self.slice_s} does not "
                "match the switching schedule"
            )
        arm = arm_by["first"].reset_index()
        arm["prev"] = arm.groupby(self.queue)["first"].shift()
        switched = arm.assign(sw=arm["prev"].notna() & (arm["prev"] != arm["first"]))
        df = df.merge(switched[[self.queue, "__slice", "sw"]], on=[self.queue, "__slice"])
        drop = df["sw"] & (df["__within"] < self.burn_in_s)
        n_drop = int(drop.sum())
        df = df.loc[~drop]
        df["__cluster"] = df[self.queue].astype(str) + "|" + df["__slice"].astype(str)
        covariates = list(self.covariates)
        if self.fixed_effects:
            per_day = max(1, round(86400 / self.slice_s))
            fe = pd.get_dummies(
                pd.DataFrame({"q": df[self.queue].astype(str),
                              "tod": (df["__slice"] % per_day).astype(str)}),
                prefix=["__fe_queue", "__fe_tod"], drop_first=True, dtype=float,
            )
            fe = fe.loc[:, fe.std() > 0]
            df = pd.concat([df, fe], axis=1)
            covariates += list(fe.columns)
        spec = ClusterExperiment(
            self.outcome, "__cluster", self.variant, self.control, tuple(covariates),
            self.n_resamples, "auto", self.ci_level,
        )
        analyze = spec._analyze_table if not covariates else spec._analyze_frame
        res = analyze(
            spec._cluster_table(df) if not covariates else df, rng,
            extra_info={"design": f"switchback, slices of {self.slice_s:g} s per {self.queue}",
                        "burn-in dropped rows": n_drop,
                        "fixed effects": "queue + time of day" if self.fixed_effects else "none"},
        )
        diag = Diagnostic(
            "carryover", "ok" if self.burn_in_s > 0 else "warning",
            f"dropped {n_drop} rows in the first {self.burn_in_s:g} s after a switch"
            if self.burn_in_s > 0 else
            "no burn-in: rows right after a switch carry the previous arm's backlog",
            float(n_drop),
        )
        extra: dict[str, Any] = {}
        if self.n_resamples and plan is not None:
            from causal.experiments.switchback import _ri_pvalue_from_design

            ri = _ri_pvalue_from_design(self, src.fetch(cols), plan, schedule, rng)
            extra["pvalue_ri"] = ri["pvalue"]
            ri_diag = Diagnostic(
                "randomisation_inference", "ok",
                f"randomisation p = {ri['pvalue']:.3g} from {ri['n_permutations']} schedules "
                f"re-drawn from the plan (balance={plan.balance!r}); design-based SD of the "
                f"estimate {ri['null_sd']:.4g}", ri["pvalue"])
        elif self.n_resamples:
            ri_diag = Diagnostic(
                "randomisation_inference", "warning",
                "the randomisation p-value permutes unit x slice cells freely, not the schedule's "
                "design; pass plan= (the SwitchbackPlan used) to re-draw schedules within it")
        else:
            ri_diag = None
        diags = (*res.diagnostics, diag) + ((ri_diag,) if ri_diag is not None else ())
        return ClusterResult(**{**{k: getattr(res, k) for k in res.__dataclass_fields__},
                                **extra, "diagnostics": diags})
