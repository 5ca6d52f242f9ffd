"""Regression discontinuity: local polynomial estimation with robust bias-corrected inference.

Engine: ``rdrobust`` (Calonico, Cattaneo & Titiunik 2014; the authors' Python package) for the
estimate, the MSE-optimal bandwidth and the robust bias-corrected interval; ``rddensity``
(Cattaneo, Jansson & Ma 2020) for the manipulation test. servicelab adds the input checks, the
result protocol and the diagnostics of what the estimator used:

- a density (manipulation) test of the running variable at the cutoff;
- covariate balance at the cutoff (each covariate as an outcome, same bandwidth and kernel);
- for fuzzy designs, the first-stage jump in take-up (weak first stage flagged);
- a bandwidth-sensitivity table and plot, placebo cutoffs, and the binned scatter plot with the
  local polynomial fits.

The reported :class:`~causal.results.EffectEstimate` has the **conventional** local-polynomial
point estimate and the **robust bias-corrected** interval and p-value (CCT). That interval is
centred on the bias-corrected estimate, not on the point estimate, so it is taken from rdrobust
as it is and not rebuilt as a Wald interval; ``se`` is the robust standard error.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from causal.results import EffectEstimate
from servicelab.errors import DataError, DesignError
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable
from servicelab.validation import require_columns, require_finite

__all__ = ["RDResult", "RegressionDiscontinuity", "plot_sensitivity"]

_KERNELS = {"triangular": "tri", "epanechnikov": "epa", "uniform": "uni"}


def _kernel_w(u: np.ndarray, kernel: str) -> np.ndarray:
    a = np.abs(u)
    if kernel == "triangular":
        return np.clip(1 - a, 0, None)
    if kernel == "epanechnikov":
        return np.clip(0.75 * (1 - a**2), 0, None)
    return (a <= 1).astype(float)


def _rdrobust(**kw: Any):
    """Rdrobust with its warnings and printed messages (e.g. mass points) kept as notes."""
    import contextlib
    import io

    from rdrobust import rdrobust

    buf = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(buf):
        warnings.simplefilter("always")
        out = rdrobust(**kw)
    notes = [str(w.message) for w in caught] + [ln for ln in buf.getvalue().splitlines() if ln.strip()]
    return out, notes


@dataclass(frozen=True, eq=False, repr=False)
class RDResult(ResultMixin):
    """A regression discontinuity fit.

    Attributes
    ----------
    estimate : EffectEstimate
        Conventional point estimate, robust bias-corrected interval and p-value.
    conventional, bias_corrected : EffectEstimate
        The other two rows of rdrobust's table (conventional SE and interval; bias-corrected
        point with conventional SE).
    bandwidth, bias_bandwidth : tuple of float
        ``h`` and ``b`` (left, right) actually used.
    n_left, n_right : int
        Observations inside ``h`` on each side.
    balance : DataFrame
        Covariate jumps at the cutoff (robust p-values).
    density : dict
        The manipulation test (``t``, ``p``, bandwidths).
    first_stage : EffectEstimate or None
        Jump in take-up at the cutoff (fuzzy designs).
    """

    estimate: EffectEstimate
    conventional: EffectEstimate
    bias_corrected: EffectEstimate
    spec: RegressionDiscontinuity
    bandwidth: tuple[float, float]
    bias_bandwidth: tuple[float, float]
    n_left: int
    n_right: int
    n: int
    balance: pd.DataFrame
    density: dict[str, float]
    first_stage: EffectEstimate | None
    bins: pd.DataFrame
    fits: pd.DataFrame
    engine_notes: tuple[str, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)

    @property
    def ci_level(self) -> float:
        """Interval level."""
        return self.estimate.ci_level

    def summary(self) -> Summary:
        """Estimates (conventional, bias-corrected, robust), bandwidths and diagnostics."""
        rows = [dict(self.conventional.to_row(), row="conventional"),
                dict(self.bias_corrected.to_row(), row="bias-corrected"),
                dict(self.estimate.to_row(), row="reported (conventional estimate, robust CI)")]
        if self.first_stage is not None:
            rows.append(dict(self.first_stage.to_row(), row="first stage (take-up jump)"))
        s = self.spec
        return Summary(f"Regression discontinuity: {s.outcome} at {s.running} = {s.cutoff:g}",
                       pd.DataFrame(rows),
                       info={"design": "fuzzy" if s.treatment else "sharp", "order": s.order,
                             "kernel": s.kernel,
                             "h (left, right)": f"{self.bandwidth[0]:.4g}, {self.bandwidth[1]:.4g}",
                             "b (left, right)": f"{self.bias_bandwidth[0]:.4g}, {self.bias_bandwidth[1]:.4g}",
                             "n within h": f"{self.n_left:,} / {self.n_right:,}",
                             "bandwidth": "MSE-optimal (rdrobust mserd)" if s.bandwidth is None
                             else "fixed by the analyst"},
                       diagnostics=self.diagnostics,
                       notes=[("Estimand: the average effect for units at the cutoff (local). The "
                              "interval is robust bias-corrected (Calonico, Cattaneo & Titiunik 2014) "
                              "and is not centred on the conventional point estimate.")])

    def plot(self, ax: Any = None):
        """Binned means of the outcome with the local polynomial fits on each side."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(6, 3.5))[1]
        s = self.spec
        ax.scatter(self.bins["x"], self.bins["y"], s=12, color="grey", label="binned means")
        for side, sub in self.fits.groupby("side"):
            ax.plot(sub["x"], sub["fit"], color="C0" if side == "left" else "C3", lw=2,
                    label=f"local poly (p={s.order}), {side}")
        ax.axvline(s.cutoff, color="black", ls="--", lw=0.8)
        lo, hi = s.cutoff - self.bandwidth[0], s.cutoff + self.bandwidth[1]
        ax.axvspan(lo, hi, color="C0", alpha=0.06, label="bandwidth")
        ax.set_xlabel(s.running)
        ax.set_ylabel(s.outcome)
        ax.legend(fontsize=8)
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return jsonable({"estimate": self.estimate.to_dict(), "conventional": self.conventional.to_dict(),
                         "bias_corrected": self.bias_corrected.to_dict(),
                         "first_stage": None if self.first_stage is None else self.first_stage.to_dict(),
                         "bandwidth": list(self.bandwidth), "bias_bandwidth": list(self.bias_bandwidth),
                         "n_left": self.n_left, "n_right": self.n_right, "n": self.n,
                         "cutoff": self.spec.cutoff, "order": self.spec.order, "kernel": self.spec.kernel,
                         "balance": self.balance.to_dict(orient="records"), "density": self.density,
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})


@dataclass(frozen=True)
class RegressionDiscontinuity:
    """Sharp or fuzzy regression discontinuity at a known cutoff.

    Parameters
    ----------
    outcome : str
    running : str
        The score that assigns treatment (e.g. the priority score).
    cutoff : float
        Units with ``running >= cutoff`` are assigned (rdrobust's convention).
    bandwidth : float, optional
        ``None`` selects the MSE-optimal bandwidth (rdrobust ``mserd``); a number fixes ``h``
        (and ``b = h``).
    kernel : {"triangular", "epanechnikov", "uniform"}
    order : {1, 2}
        Local polynomial order (the bias correction uses ``order + 1``).
    treatment : str, optional
        Take-up column for a fuzzy design (0/1); the estimate is then the local Wald ratio
        (the effect on compliers at the cutoff).
    covariates : sequence of str, optional
        Adjust for these (rdrobust ``covs``) and test their balance at the cutoff.
    balance : sequence of str, optional
        Pre-determined covariates to test for a jump at the cutoff without adjusting for them.
    cluster : str, optional
        Cluster-robust variance (rdrobust ``cr1``).
    vce : str
        Variance estimator without clusters: ``"hc1"`` (default, fast), ``"nn"`` (rdrobust's
        default nearest-neighbour estimator), ``"hc0"``, ``"hc2"``, ``"hc3"``.
    min_points : int
        Minimum observations inside the bandwidth on each side.
    density_test : bool
        Run the rddensity manipulation test.
    ci_level : float
    population : str

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(-1, 1, 2000)
    >>> df = pd.DataFrame({"x": x, "y": 0.5 * x + 0.3 * (x >= 0) + rng.normal(0, 0.2, 2000)})
    >>> r = RegressionDiscontinuity("y", "x", density_test=False).fit(df)
    >>> bool(r.estimate.ci_low > 0)  # a jump of 0.3 is detected
    True
    """

    outcome: str
    running: str
    cutoff: float = 0.0
    bandwidth: float | None = None
    kernel: str = "triangular"
    order: int = 1
    treatment: str | None = None
    covariates: Sequence[str] | None = None
    balance: Sequence[str] | None = None
    cluster: str | None = None
    vce: str = "hc1"
    min_points: int = 20
    density_test: bool = True
    ci_level: float = 0.95
    population: str = "units at the cutoff"

    # -- checks ---------------------------------------------------------------------------
    def _check(self, data: pd.DataFrame) -> None:
        if self.order not in (1, 2):
            raise DesignError(f"order must be 1 or 2 (local linear or quadratic); got {self.order!r}")
        if self.kernel not in _KERNELS:
            raise DesignError(f"kernel must be one of {list(_KERNELS)}; got {self.kernel!r}")
        if self.vce not in ("nn", "hc0", "hc1", "hc2", "hc3"):
            raise DesignError(f"vce must be nn or hc0-hc3; got {self.vce!r}")
        if self.bandwidth is not None and not (np.isfinite(self.bandwidth) and self.bandwidth > 0):
            raise DesignError(f"bandwidth must be a positive number or None; got {self.bandwidth!r}")
        if not 0 < self.ci_level < 1:
            raise DesignError(f"ci_level must be in (0, 1); got {self.ci_level!r}")
        cols = [self.outcome, self.running, *([self.treatment] if self.treatment else []),
                *(self.covariates or []), *(self.balance or []), *([self.cluster] if self.cluster else [])]
        require_columns(data, cols, role="RD columns", allow_empty=False)
        require_finite(data, cols, role="RD columns")
        x = data[self.running].to_numpy(float)
        left, right = int((x < self.cutoff).sum()), int((x >= self.cutoff).sum())
        if left == 0 or right == 0:
            side = "below" if left == 0 else "at or above"
            raise DataError(f"running variable {self.running!r} has no observations {side} the cutoff "
                            f"{self.cutoff:g} (range {x.min():g} to {x.max():g}): there is no "
                            "discontinuity to estimate; check the cutoff and the filters")
        if self.treatment:
            vals = set(pd.unique(data[self.treatment].astype(float)).tolist())
            if not vals <= {0.0, 1.0}:
                raise DataError(f"treatment {self.treatment!r} must be 0/1 take-up; found {sorted(vals)[:6]}")
        if self.cluster and data[self.cluster].nunique() < 2:
            raise DataError(f"cluster variable {self.cluster!r} has a single cluster")
        if self.bandwidth is not None:
            nl = int(((x < self.cutoff) & (x >= self.cutoff - self.bandwidth)).sum())
            nr = int(((x >= self.cutoff) & (x <= self.cutoff + self.bandwidth)).sum())
            if min(nl, nr) < self.min_points:
                raise DataError(f"bandwidth {self.bandwidth:g} leaves {nl} observations below and {nr} "
                                f"at or above the cutoff; at least {self.min_points} per side are needed "
                                "(widen the bandwidth or use bandwidth=None)")

    def _kw(self, data: pd.DataFrame, y: np.ndarray | None = None, *, covs: bool = True,
            fuzzy: bool = True, h: float | None = None, cutoff: float | None = None) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "y": data[self.outcome].to_numpy(float) if y is None else y,
            "x": data[self.running].to_numpy(float),
            "c": self.cutoff if cutoff is None else cutoff, "p": self.order,
            "kernel": _KERNELS[self.kernel], "level": 100 * self.ci_level,
        }
        bw = h if h is not None else self.bandwidth
        if bw is not None:
            kw["h"] = bw
        if self.treatment and fuzzy:
            kw["fuzzy"] = data[self.treatment].to_numpy(float)
        if self.covariates and covs:
            kw["covs"] = data[list(self.covariates)].to_numpy(float)
        if self.cluster:
            kw["cluster"] = pd.factorize(data[self.cluster])[0]
            kw["vce"] = "cr1"
        else:
            kw["vce"] = self.vce
        return kw

    def _rows(self, out: Any, n: int) -> tuple[EffectEstimate, EffectEstimate, EffectEstimate]:
        coef = out.coef.iloc[:, 0].to_numpy(float)
        se = out.se.iloc[:, 0].to_numpy(float)
        ci = out.ci.to_numpy(float)
        pv = out.pv.iloc[:, 0].to_numpy(float)
        design = "fuzzy RD (local Wald)" if self.treatment else "sharp RD"
        estimand = "LATE at the cutoff" if self.treatment else "ATE at the cutoff"
        m = f"{design}, local poly p={self.order}, {self.kernel} kernel"
        conv = EffectEstimate.from_se(estimand, self.population, m + ", conventional", coef[0], se[0],
                                      ci_level=self.ci_level, n=n)
        bc = EffectEstimate.from_se(estimand, self.population, m + ", bias-corrected", coef[1], se[1],
                                    ci_level=self.ci_level, n=n)
        # robust bias-corrected interval, as rdrobust reports it (centred on the bias-corrected
        # estimate with the robust SE): kept as is, not rebuilt around the conventional estimate
        rob = EffectEstimate(estimand, self.population, m + ", robust bias-corrected CI (CCT)",
                             float(coef[0]), float(se[2]), float(ci[2, 0]), float(ci[2, 1]),
                             self.ci_level, float(pv[2]), n)
        return conv, bc, rob

    # -- fit ------------------------------------------------------------------------------
    def fit(self, data: pd.DataFrame) -> RDResult:
        """Estimate the jump and run the diagnostics."""
        self._check(data)
        out, notes = _rdrobust(**self._kw(data))
        h = (float(out.bws.iloc[0, 0]), float(out.bws.iloc[0, 1]))
        b = (float(out.bws.iloc[1, 0]), float(out.bws.iloc[1, 1]))
        n_l, n_r = int(out.N_h[0]), int(out.N_h[1])
        diags: list[Diagnostic] = []
        if min(n_l, n_r) < self.min_points:
            raise DataError(f"the selected bandwidth ({h[0]:.4g}, {h[1]:.4g}) holds {n_l} / {n_r} "
                            f"observations per side, fewer than min_points={self.min_points}; the data "
                            "near the cutoff are too thin for a local estimate")
        conv, bc, rob = self._rows(out, n_l + n_r)
        first = None
        if self.treatment:
            fs, _ = _rdrobust(**{**self._kw(data, data[self.treatment].to_numpy(float), fuzzy=False),
                                 "h": list(h), "b": list(b)})
            c, _, r = self._rows(fs, n_l + n_r)
            first = EffectEstimate("take-up jump at the cutoff", self.population, "first stage, robust CI",
                                   c.estimate, r.se, r.ci_low, r.ci_high, self.ci_level, r.pvalue, n_l + n_r)
            z = abs(c.estimate) / c.se if c.se else 0.0
            diags.append(Diagnostic("first_stage", "ok" if z > 4 else "fail" if z < 2 else "warning",
                                    f"take-up jumps by {c.estimate:.3f} at the cutoff (z = {z:.1f})"
                                    + ("" if z > 4 else ": weak first stage, the fuzzy ratio is unreliable"),
                                    float(c.estimate)))
        balance = self._balance(data, h, b)
        for _, row in balance.iterrows():
            if row["pvalue"] < 0.05 / max(len(balance), 1):
                diags.append(Diagnostic("balance", "warning",
                                        f"{row['covariate']} jumps by {row['jump']:.4g} at the cutoff "
                                        f"(robust p = {row['pvalue']:.4f}): units on both sides differ; "
                                        "the design may be compromised", float(row["pvalue"])))
        if len(balance) and not any(d.name == "balance" for d in diags):
            diags.append(Diagnostic("balance", "ok", f"no covariate jumps at the cutoff "
                                    f"(min robust p = {balance['pvalue'].min():.3f}, Bonferroni over "
                                    f"{len(balance)})", float(balance["pvalue"].min())))
        density = self._density(data) if self.density_test else {}
        if density:
            p = density["p"]
            diags.append(Diagnostic("density", "ok" if p > 0.05 else "warning",
                                    f"manipulation test (Cattaneo-Jansson-Ma): T = {density['t']:.2f}, "
                                    f"p = {p:.3f}" + ("" if p > 0.05 else ": the running variable bunches "
                                                      "at the cutoff; units may sort around it"), p))
        if any("mass points" in n_.lower() for n_ in notes):
            diags.append(Diagnostic("mass_points", "warning", "the running variable has repeated values "
                                    "(mass points): rdrobust adjusted for them; with a discrete score the "
                                    "local polynomial extrapolates between mass points"))
        if (out.bws.iloc[0] > 0.5 * (data[self.running].max() - data[self.running].min())).any():
            diags.append(Diagnostic("bandwidth", "warning", "the bandwidth spans more than half the "
                                    "range of the running variable: the estimate is not local"))
        bins, fits = self._plot_data(data, h)
        return RDResult(rob, conv, bc, self, h, b, n_l, n_r, len(data), balance, density, first,
                        bins, fits, tuple(notes), tuple(diags))

    def _balance(self, data: pd.DataFrame, h, b) -> pd.DataFrame:
        rows = []
        for c in [*(self.covariates or []), *(self.balance or [])]:
            y = data[c].astype(float).to_numpy()
            if np.unique(y).size < 2:
                continue
            out, _ = _rdrobust(**{**self._kw(data, y, covs=False, fuzzy=False), "h": list(h), "b": list(b)})
            rows.append({"covariate": c, "jump": float(out.coef.iloc[0, 0]),
                         "ci_low": float(out.ci.iloc[2, 0]), "ci_high": float(out.ci.iloc[2, 1]),
                         "pvalue": float(out.pv.iloc[2, 0])})
        return pd.DataFrame(rows, columns=["covariate", "jump", "ci_low", "ci_high", "pvalue"])

    def _density(self, data: pd.DataFrame) -> dict[str, float]:
        from rddensity import rddensity

        x = data[self.running].to_numpy(float)
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            d = rddensity(X=x, c=self.cutoff)
        return {"t": float(d.test["t_jk"]), "p": float(d.test["p_jk"]),
                "h_left": float(d.h["left"]), "h_right": float(d.h["right"]),
                "density_left": float(d.hat["left"]), "density_right": float(d.hat["right"])}

    def _plot_data(self, data: pd.DataFrame, h) -> tuple[pd.DataFrame, pd.DataFrame]:
        x = data[self.running].to_numpy(float)
        y = data[self.outcome].to_numpy(float)
        c = self.cutoff
        lo, hi = c - 2 * h[0], c + 2 * h[1]
        m = (x >= lo) & (x <= hi)
        bins = []
        for side, sel in (("left", m & (x < c)), ("right", m & (x >= c))):
            if sel.sum() < 2:
                continue
            edges = np.unique(np.quantile(x[sel], np.linspace(0, 1, 21)))
            idx = np.clip(np.searchsorted(edges, x[sel], side="right") - 1, 0, len(edges) - 2)
            g = pd.DataFrame({"b": idx, "x": x[sel], "y": y[sel]}).groupby("b").agg(
                x=("x", "mean"), y=("y", "mean"), n=("y", "size"))
            bins.append(g.assign(side=side))
        fits = []
        for side, hh, sel in (("left", h[0], (x < c) & (x >= c - h[0])),
                              ("right", h[1], (x >= c) & (x <= c + h[1]))):
            if sel.sum() <= self.order:
                continue
            u = x[sel] - c
            w = _kernel_w(u / hh, self.kernel)
            coef = np.polyfit(u, y[sel], self.order, w=np.sqrt(w))
            grid = np.linspace(u.min(), u.max(), 50) if side == "left" else np.linspace(0, u.max(), 50)
            if side == "left":
                grid = np.linspace(-hh, 0, 50)
            fits.append(pd.DataFrame({"side": side, "x": grid + c, "fit": np.polyval(coef, grid)}))
        return (pd.concat(bins, ignore_index=True) if bins else pd.DataFrame(columns=["x", "y", "n", "side"]),
                pd.concat(fits, ignore_index=True) if fits else pd.DataFrame(columns=["side", "x", "fit"]))

    # -- sensitivity ----------------------------------------------------------------------
    def bandwidth_sensitivity(self, data: pd.DataFrame, factors: Sequence[float] = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0),
                              base: float | None = None) -> pd.DataFrame:
        """Estimates at multiples of the (MSE-optimal or given) bandwidth.

        Returns one row per bandwidth with the conventional estimate and robust interval;
        plot it with :func:`plot_sensitivity`. With ``h`` fixed, rdrobust sets the bias
        bandwidth ``b = h``, so the factor-1 row's interval differs a little from the main fit,
        whose ``b`` is selected separately.
        """
        self._check(data)
        if base is None:
            out, _ = _rdrobust(**self._kw(data))
            base = float(out.bws.iloc[0, 0])
        rows = []
        x = data[self.running].to_numpy(float)
        for f in factors:
            hh = base * f
            nl = int(((x < self.cutoff) & (x >= self.cutoff - hh)).sum())
            nr = int(((x >= self.cutoff) & (x <= self.cutoff + hh)).sum())
            if min(nl, nr) < self.min_points:
                continue
            out, _ = _rdrobust(**self._kw(data, h=hh))
            _, _, rob = self._rows(out, nl + nr)
            rows.append({"factor": f, "bandwidth": hh, "estimate": rob.estimate, "ci_low": rob.ci_low,
                         "ci_high": rob.ci_high, "pvalue": rob.pvalue, "n_left": nl, "n_right": nr})
        return pd.DataFrame(rows)

    def placebo_cutoffs(self, data: pd.DataFrame, cutoffs: Sequence[float]) -> pd.DataFrame:
        """Estimates at fake cutoffs, each using only the data on its own side of the real one
        (so the real jump cannot leak in). Under the design they are all near zero.
        """
        self._check(data)
        rows = []
        x = data[self.running].to_numpy(float)
        for cp in cutoffs:
            if cp == self.cutoff:
                continue
            side = data[x < self.cutoff] if cp < self.cutoff else data[x >= self.cutoff]
            xs = side[self.running].to_numpy(float)
            if (xs < cp).sum() < self.min_points or (xs >= cp).sum() < self.min_points:
                continue
            spec = RegressionDiscontinuity(self.outcome, self.running, cp, None, self.kernel, self.order,
                                           None, self.covariates, None, self.cluster, self.vce,
                                           self.min_points, False, self.ci_level)
            try:
                r = spec.fit(side)
            except DataError:
                continue
            rows.append({"cutoff": cp, "estimate": r.estimate.estimate, "ci_low": r.estimate.ci_low,
                         "ci_high": r.estimate.ci_high, "pvalue": r.estimate.pvalue,
                         "bandwidth": r.bandwidth[0]})
        return pd.DataFrame(rows)


def plot_sensitivity(table: pd.DataFrame, ax: Any = None, truth: float | None = None):
    """Plot :meth:`RegressionDiscontinuity.bandwidth_sensitivity` (or placebo) estimates."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(5, 3))[1]
    xcol = "bandwidth" if "factor" in table.columns else "cutoff"
    est = table["estimate"].to_numpy(float)
    ax.errorbar(table[xcol], est, yerr=np.vstack([est - table["ci_low"].to_numpy(float),
                                                  table["ci_high"].to_numpy(float) - est]),
                fmt="o", capsize=3)
    ax.axhline(0, color="grey", lw=0.8)
    if truth is not None:
        ax.axhline(truth, color="C2", ls="--", label="truth")
        ax.legend()
    ax.set_xlabel(xcol)
    ax.set_ylabel("estimate (robust CI)")
    return ax
