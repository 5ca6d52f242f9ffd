"""Calibrate simulator inputs from observed contacts.

Works on a contacts frame with the warehouse's columns
``created_at, queue, wait_s, abandoned, handle_s`` and estimates

- interval arrival rates (:func:`arrival_rates`, per 30 minutes by default, zero-filled);
- handle-time distributions by queue (:func:`fit_handle_times`: log-normal MLE and the
  empirical distribution);
- the patience distribution (:func:`fit_patience`): abandoned contacts *observe* their
  patience (it ended at ``wait_s``), answered contacts *censor* it (their patience was at
  least ``wait_s``). Ignoring the censoring - averaging the abandoners' waits - biases patience
  down badly when most contacts are answered quickly, so we use the Kaplan–Meier estimator
  (:func:`kaplan_meier`, a careful numpy implementation with Greenwood variance and
  log-log intervals) plus the censored exponential MLE (events / exposure).

Fitted distributions follow the simulator's duck-typed protocol: a ``mean`` attribute and
``sample(rng, n)``, so they can be passed to the simulator as they are.

:func:`validate_calibration` then checks the calibrated simulator against the data it came from:
the window's arrivals are replayed with the observed staffing, and the simulated abandonment and
service level (under the *target's own* :class:`~simulation.service_level.ServiceLevel`) are set
against the observed ones; the result is a :class:`CalibrationValidation` whose diagnostic is
``ok`` only when every judged row agrees. ("Calibration" here means fitting simulator inputs to
data, not the simulation-based calibration (SBC) of Bayesian models.)
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from servicelab.errors import DataError, DesignError
from servicelab.random import RNGLike, child_seeds
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable

from .service_level import ServiceLevel

__all__ = [
    "Calibration",
    "CalibrationValidation",
    "HandleTimeFit",
    "KaplanMeier",
    "PatienceFit",
    "arrival_rates",
    "calibrate",
    "fit_handle_times",
    "fit_patience",
    "kaplan_meier",
    "validate_calibration",
]


def _level(ci_level: float, level: float | None, where: str) -> float:
    if level is not None:
        warnings.warn(f"{where}(level=...) is deprecated: use ci_level=", DeprecationWarning, stacklevel=3)
        ci_level = level
    if not 0 < ci_level < 1:
        raise DataError(f"ci_level must lie in (0, 1), got {ci_level!r}")
    return float(ci_level)

CONTACT_COLUMNS = ("created_at", "queue", "wait_s", "abandoned", "handle_s")


def _require(contacts: pd.DataFrame, cols: tuple[str, ...]) -> None:
    if not isinstance(contacts, pd.DataFrame):
        raise DataError("contacts must be a pandas DataFrame")
    missing = [c for c in cols if c not in contacts.columns]
    if missing:
        raise DataError(
            f"contacts is missing column(s) {missing}; expected the warehouse columns {list(CONTACT_COLUMNS)}"
        )
    if contacts.empty:
        raise DataError("contacts is empty: nothing to calibrate from")


# -- arrivals ----------------------------------------------------------------------------------
def arrival_rates(
    contacts: pd.DataFrame,
    *,
    interval_minutes: int = 30,
    by_queue: bool = True,
    start: Any = None,
    end: Any = None,
) -> pd.DataFrame:
    """Arrivals per interval, zero-filled over the whole window.

    Parameters
    ----------
    contacts : pandas.DataFrame
        Needs ``created_at`` (and ``queue`` when ``by_queue``).
    interval_minutes : int
        Interval length (30 by default).
    by_queue : bool
        One series per queue.
    start, end : timestamp-like, optional
        Window; default: the floor of the first and the ceiling of the last arrival.

    Returns
    -------
    pandas.DataFrame
        ``interval_start, [queue,] arrivals, arrivals_per_hour`` (long format).

    Examples
    --------
    >>> c = pd.DataFrame({"created_at": pd.to_datetime(["2026-01-05 00:10", "2026-01-05 01:05"])})
    >>> arrival_rates(c, by_queue=False)["arrivals"].tolist()
    [1, 0, 1]
    """
    _require(contacts, ("created_at", "queue") if by_queue else ("created_at",))
    if not (isinstance(interval_minutes, int | np.integer) and interval_minutes > 0):
        raise DataError(f"interval_minutes must be a positive integer, got {interval_minutes!r}")
    ts = pd.to_datetime(contacts["created_at"], errors="coerce")
    if ts.isna().any():
        raise DataError(f"column 'created_at' has {int(ts.isna().sum())} missing/unparseable values")
    freq = f"{int(interval_minutes)}min"
    lo = pd.Timestamp(start) if start is not None else ts.min().floor(freq)
    hi = pd.Timestamp(end) if end is not None else ts.max().floor(freq) + pd.Timedelta(freq)
    grid = pd.date_range(lo, hi, freq=freq, inclusive="left")
    inside = (ts >= lo) & (ts < hi)
    slot = ts[inside].dt.floor(freq)
    if by_queue:
        queues = sorted(contacts["queue"].dropna().astype(str).unique())
        counts = (
            pd.DataFrame({"interval_start": slot, "queue": contacts.loc[inside, "queue"].astype(str)})
            .groupby(["interval_start", "queue"])
            .size()
        )
        idx = pd.MultiIndex.from_product([grid, queues], names=["interval_start", "queue"])
        out = counts.reindex(idx, fill_value=0).rename("arrivals").reset_index()
    else:
        counts = slot.value_counts()
        out = pd.DataFrame({"interval_start": grid, "arrivals": counts.reindex(grid, fill_value=0).to_numpy()})
    out["arrivals"] = out["arrivals"].astype(int)
    out["arrivals_per_hour"] = out["arrivals"] * 60.0 / interval_minutes
    return out


# -- handle times ------------------------------------------------------------------------------
@dataclass(frozen=True)
class HandleTimeFit:
    """Handle-time distribution of one queue: log-normal MLE and the empirical sample.

    ``sample(rng, n)`` draws from the log-normal (``method="lognormal"``) or resamples the
    observed handle times (``method="empirical"``); ``mean`` follows the same choice.
    """

    queue: str
    n: int
    mean_s: float
    median_s: float
    cv: float
    lognormal_mu: float
    lognormal_sigma: float
    ks_statistic: float
    method: str = "lognormal"
    _values: np.ndarray = field(repr=False, compare=False, default_factory=lambda: np.zeros(0))

    @property
    def lognormal_mean_s(self) -> float:
        """Mean of the fitted log-normal, ``exp(mu + sigma^2 / 2)``."""
        return float(math.exp(self.lognormal_mu + self.lognormal_sigma**2 / 2))

    @property
    def mean(self) -> float:
        """Mean of the distribution ``sample`` draws from (seconds)."""
        return self.lognormal_mean_s if self.method == "lognormal" else self.mean_s

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` handle times in seconds."""
        if self.method == "empirical":
            return rng.choice(self._values, size=n, replace=True)
        return rng.lognormal(self.lognormal_mu, self.lognormal_sigma, size=n)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary (without the raw sample)."""
        d = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        d["lognormal_mean_s"] = self.lognormal_mean_s
        return jsonable(d)


def _fit_handle(queue: str, x: np.ndarray) -> HandleTimeFit:
    if x.size < 2:
        raise DataError(f"queue {queue!r} has {x.size} answered contacts; need at least 2")
    logx = np.log(x)
    mu, sigma = float(logx.mean()), float(logx.std(ddof=0))
    ks = float(stats.kstest(logx, "norm", args=(mu, max(sigma, 1e-12))).statistic)
    return HandleTimeFit(
        queue=queue,
        n=int(x.size),
        mean_s=float(x.mean()),
        median_s=float(np.median(x)),
        cv=float(x.std(ddof=1) / x.mean()),
        lognormal_mu=mu,
        lognormal_sigma=sigma,
        ks_statistic=ks,
        _values=np.sort(x),
    )


def fit_handle_times(contacts: pd.DataFrame, *, by_queue: bool = True) -> dict[str, HandleTimeFit]:
    """Fit handle-time distributions of answered contacts, per queue (or pooled as ``"all"``).

    Abandoned contacts (``abandoned`` true, ``handle_s`` NULL) are excluded.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> c = pd.DataFrame({"queue": "q", "abandoned": False, "handle_s": rng.lognormal(5, .5, 2000)})
    >>> round(fit_handle_times(c)["q"].lognormal_sigma, 1)
    0.5
    """
    _require(contacts, ("queue", "abandoned", "handle_s") if by_queue else ("abandoned", "handle_s"))
    answered = contacts[~contacts["abandoned"].astype(bool)]
    h = pd.to_numeric(answered["handle_s"], errors="coerce")
    if h.isna().any():
        raise DataError(f"column 'handle_s' has {int(h.isna().sum())} missing values among answered contacts")
    if (h <= 0).any():
        raise DataError("column 'handle_s' must be positive for answered contacts (log-normal fit)")
    if not by_queue:
        return {"all": _fit_handle("all", h.to_numpy(dtype=float))}
    groups = h.groupby(answered["queue"].astype(str))
    return {q: _fit_handle(q, g.to_numpy(dtype=float)) for q, g in groups}


# -- Kaplan-Meier ------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False, repr=False)
class KaplanMeier(ResultMixin):
    """Kaplan–Meier survival estimate with Greenwood standard errors.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per distinct event time: ``time, at_risk, events, survival, se, ci_low, ci_high``
        (log-log intervals at ``ci_level``).
    n, n_events : int
        Observations and observed events.
    """

    table: pd.DataFrame
    n: int
    n_events: int
    ci_level: float

    @property
    def level(self) -> float:
        """Deprecated: use :attr:`ci_level`."""
        warnings.warn("KaplanMeier.level is deprecated: use ci_level", DeprecationWarning, stacklevel=2)
        return self.ci_level

    def survival_at(self, t: Any) -> np.ndarray:
        """Right-continuous step function S(t)."""
        t = np.asarray(t, dtype=float)
        times = self.table["time"].to_numpy()
        surv = np.concatenate([[1.0], self.table["survival"].to_numpy()])
        return surv[np.searchsorted(times, t, side="right")]

    def ci_at(self, t: Any) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise confidence interval for S(t)."""
        t = np.asarray(t, dtype=float)
        times = self.table["time"].to_numpy()
        k = np.searchsorted(times, t, side="right")
        lo = np.concatenate([[1.0], self.table["ci_low"].to_numpy()])[k]
        hi = np.concatenate([[1.0], self.table["ci_high"].to_numpy()])[k]
        return lo, hi

    @property
    def median(self) -> float:
        """Smallest time with S(t) <= 0.5 (``nan`` if the curve never gets there)."""
        below = self.table.loc[self.table["survival"] <= 0.5, "time"]
        return float(below.iloc[0]) if len(below) else float("nan")

    def restricted_mean(self, tau: float) -> float:
        """Restricted mean ``int_0^tau S(t) dt``."""
        times = self.table["time"].to_numpy()
        times = times[times < tau]
        edges = np.concatenate([[0.0], times, [tau]])
        surv = np.concatenate([[1.0], self.table["survival"].to_numpy()[: times.size]])
        return float(np.sum(surv * np.diff(edges)))

    def plot(self, ax: Any = None) -> Any:
        """Survival curve with its pointwise interval."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        t = np.concatenate([[0.0], self.table["time"].to_numpy()])
        ax.step(t, np.concatenate([[1.0], self.table["survival"]]), where="post", label="Kaplan-Meier")
        ax.fill_between(
            t,
            np.concatenate([[1.0], self.table["ci_low"]]),
            np.concatenate([[1.0], self.table["ci_high"]]),
            step="post",
            alpha=0.25,
        )
        ax.set_xlabel("time (s)")
        ax.set_ylabel("survival")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return jsonable(
            {"n": self.n, "n_events": self.n_events, "ci_level": self.ci_level,
             "table": self.table.to_dict(orient="list")}
        )

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """A warning when fewer than 10 events were observed (the curve is then very uncertain)."""
        if self.n_events >= 10:
            return ()
        return (Diagnostic("events", "warning", f"only {self.n_events} observed events: the curve and "
                           "its intervals rest on very few points; pool queues or use a longer window",
                           float(self.n_events)),)

    def summary(self) -> Summary:
        """The survival table, with the median and the counts.

        Examples
        --------
        >>> kaplan_meier([1, 2, 2, 3, 4], [1, 1, 0, 1, 0]).summary().info["median"]
        3.0
        """
        return Summary("Kaplan-Meier survival", self.table,
                       info={"n": self.n, "events": self.n_events, "median": self.median,
                             "ci_level": self.ci_level},
                       diagnostics=self.diagnostics,
                       notes=("log-log pointwise intervals (Greenwood variance)",))


def kaplan_meier(durations: Any, observed: Any, *, ci_level: float = 0.95, level: float | None = None) -> KaplanMeier:
    """Kaplan–Meier estimate of the survival function of right-censored durations.

    Ties: at a time with both events and censorings, the censored units count as at risk
    for the events (the usual convention).

    Parameters
    ----------
    durations : array-like
        Observed times (event or censoring), non-negative.
    observed : array-like of bool
        True where the event was observed, False where censored.
    ci_level : float
        Confidence level of the log-log pointwise intervals (``level`` is its deprecated name).

    Examples
    --------
    >>> km = kaplan_meier([1, 2, 2, 3, 4], [1, 1, 0, 1, 0])
    >>> km.survival_at([0.5, 1, 3]).round(3).tolist()
    [1.0, 0.8, 0.3]
    """
    t = np.asarray(durations, dtype=float)
    e = np.asarray(observed).astype(bool)
    if t.ndim != 1 or t.shape != e.shape:
        raise DataError("durations and observed must be 1-d arrays of the same length")
    if t.size == 0:
        raise DataError("kaplan_meier needs at least one observation")
    if np.any(~np.isfinite(t)) or np.any(t < 0):
        raise DataError("durations must be finite and non-negative")
    level = _level(ci_level, level, "kaplan_meier")
    order = np.argsort(t, kind="stable")
    t, e = t[order], e[order]
    uniq, first = np.unique(t, return_index=True)
    events = np.add.reduceat(e.astype(int), first)
    at_risk = t.size - first  # units with time >= uniq
    keep = events > 0
    uniq, events, at_risk = uniq[keep], events[keep], at_risk[keep]
    surv = np.cumprod(1.0 - events / at_risk)
    with np.errstate(divide="ignore", invalid="ignore"):
        gw = np.cumsum(events / (at_risk * (at_risk - events)))  # Greenwood sum
        se = surv * np.sqrt(gw)
        z = stats.norm.ppf(0.5 + level / 2)
        log_s = np.log(surv)
        half = z * np.sqrt(gw) / np.abs(log_s)
        lo = np.exp(-np.exp(np.log(-log_s) + half))
        hi = np.exp(-np.exp(np.log(-log_s) - half))
    # degenerate ends: S = 1 (no information) or S = 0 (everyone failed)
    lo = np.where(surv >= 1.0, 1.0, np.where(surv <= 0.0, 0.0, lo))
    hi = np.where(surv >= 1.0, 1.0, np.where(surv <= 0.0, 0.0, hi))
    table = pd.DataFrame(
        {"time": uniq, "at_risk": at_risk, "events": events, "survival": surv, "se": se, "ci_low": lo, "ci_high": hi}
    )
    return KaplanMeier(table=table, n=int(t.size), n_events=int(e.sum()), ci_level=level)


# -- patience ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PatienceFit:
    """Patience distribution from waits: Kaplan–Meier plus the censored exponential MLE.

    ``sample(rng, n)`` draws by inverting the Kaplan–Meier curve, with an exponential tail
    (rate ``exponential_rate``) beyond the last observed event time where the curve stops
    above zero; ``mean`` is the mean of that distribution.
    """

    queue: str
    n: int
    n_abandoned: int
    exposure_s: float
    exponential_rate: float
    exponential_mean_s: float
    exponential_mean_ci: tuple[float, float]
    km_median_s: float
    naive_mean_abandoner_wait_s: float
    km: KaplanMeier = field(repr=False)

    @property
    def mean(self) -> float:
        """Mean patience (seconds) of the KM-with-exponential-tail distribution."""
        tab = self.km.table
        if tab.empty:
            return self.exponential_mean_s
        t_last = float(tab["time"].iloc[-1])
        s_last = float(tab["survival"].iloc[-1])
        return self.km.restricted_mean(t_last) + s_last * self.exponential_mean_s

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` patience times in seconds."""
        tab = self.km.table
        u = rng.random(n)
        if tab.empty:
            return rng.exponential(self.exponential_mean_s, n)
        times = tab["time"].to_numpy()
        surv = tab["survival"].to_numpy()
        # T = first time with S(t) <= u  (inverse of the step survival function)
        k = np.searchsorted(-surv, -u, side="left")
        out = np.empty(n)
        inside = k < times.size
        out[inside] = times[k[inside]]
        tail = ~inside
        s_last = surv[-1]
        # beyond the last event: exponential tail starting at t_last scaled to S(t_last)
        out[tail] = times[-1] + np.log(s_last / u[tail]) / self.exponential_rate
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary (the KM table summarised by its median)."""
        d = {k: v for k, v in self.__dict__.items() if k != "km"}
        d["mean_s"] = self.mean
        return jsonable(d)


def fit_patience(
    contacts: pd.DataFrame, *, by_queue: bool = False, ci_level: float = 0.95, level: float | None = None
) -> dict[str, PatienceFit]:
    """Patience from waits: abandoners observe it, answered contacts censor it at their wait.

    Returns one :class:`PatienceFit` per queue, or ``{"all": ...}`` pooled; ``ci_level`` is the
    level of the intervals (``level`` its deprecated name).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> pat, offered = rng.exponential(120, 4000), rng.exponential(60, 4000)
    >>> c = pd.DataFrame({"queue": "q", "wait_s": np.minimum(pat, offered),
    ...                   "abandoned": pat < offered})
    >>> 105 < fit_patience(c)["all"].exponential_mean_s < 135
    True
    """
    cols = ("queue", "wait_s", "abandoned") if by_queue else ("wait_s", "abandoned")
    _require(contacts, cols)
    level = _level(ci_level, level, "fit_patience")
    w = pd.to_numeric(contacts["wait_s"], errors="coerce")
    if w.isna().any():
        raise DataError(f"column 'wait_s' has {int(w.isna().sum())} missing values")
    if (w < 0).any():
        raise DataError("column 'wait_s' must be non-negative")
    ab = contacts["abandoned"]
    if ab.isna().any():
        raise DataError("column 'abandoned' has missing values")
    ab = ab.astype(bool)
    frame = pd.DataFrame({"w": w.to_numpy(float), "ab": ab.to_numpy(bool)})
    if by_queue:
        frame["queue"] = contacts["queue"].astype(str).to_numpy()
        groups = dict(tuple(frame.groupby("queue")))
    else:
        groups = {"all": frame}
    z = stats.norm.ppf(0.5 + level / 2)
    out: dict[str, PatienceFit] = {}
    for q, g in groups.items():
        d = int(g["ab"].sum())
        exposure = float(g["w"].sum())
        if d == 0 or exposure <= 0:
            raise DataError(
                f"queue {q!r}: no abandonments (or no waiting) observed, so patience is not "
                "identified; pool queues (by_queue=False) or use a longer window"
            )
        rate = d / exposure
        # CI for the mean on the log scale (se of log rate = 1/sqrt(d))
        ci = (math.exp(-math.log(rate) - z / math.sqrt(d)), math.exp(-math.log(rate) + z / math.sqrt(d)))
        km = kaplan_meier(g["w"].to_numpy(), g["ab"].to_numpy(), ci_level=level)
        out[str(q)] = PatienceFit(
            queue=str(q),
            n=len(g),
            n_abandoned=d,
            exposure_s=exposure,
            exponential_rate=rate,
            exponential_mean_s=1.0 / rate,
            exponential_mean_ci=ci,
            km_median_s=km.median,
            naive_mean_abandoner_wait_s=float(g.loc[g["ab"], "w"].mean()),
            km=km,
        )
    return out


# -- all together ------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False, repr=False)
class Calibration(ResultMixin):
    """Simulator inputs estimated from contacts."""

    arrivals: pd.DataFrame
    handle_times: dict[str, HandleTimeFit]
    patience: dict[str, PatienceFit]
    interval_minutes: int
    observed: pd.DataFrame
    diagnostics: tuple[Diagnostic, ...] = ()
    service_level: ServiceLevel = field(default_factory=lambda: ServiceLevel(20.0))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return jsonable(
            {
                "interval_minutes": self.interval_minutes,
                "arrivals": self.arrivals.to_dict(orient="records"),
                "handle_times": {k: v.to_dict() for k, v in self.handle_times.items()},
                "patience": {k: v.to_dict() for k, v in self.patience.items()},
                "observed": self.observed.to_dict(orient="records"),
                "service_level": self.service_level.to_dict(),
                "diagnostics": [d.to_dict() for d in self.diagnostics],
            }
        )

    def forecast(self, queue: str) -> Any:
        """The observed arrivals of ``queue`` as a :class:`simulation.arrivals.IntervalForecast`
        (time 0 = the first interval), ready for the simulator.
        """
        from simulation.arrivals import IntervalForecast

        sel = self.arrivals[self.arrivals["queue"] == queue]
        if sel.empty:
            raise DataError(f"no arrivals for queue {queue!r}; known: {sorted(self.handle_times)}")
        return IntervalForecast(tuple(sel["arrivals"].astype(float)), interval_s=60.0 * self.interval_minutes)

    def summary(self) -> Summary:
        """Per-queue table: volume, handle-time fit, patience fit and observed outcomes."""
        rows = []
        for q, h in self.handle_times.items():
            p = self.patience.get(q) or self.patience.get("all")
            rows.append(
                {
                    "queue": q,
                    "aht_s": h.mean_s,
                    "lognormal_sigma": h.lognormal_sigma,
                    "patience_mean_s": p.exponential_mean_s if p else float("nan"),
                    "patience_km_median_s": p.km_median_s if p else float("nan"),
                }
            )
        table = pd.DataFrame(rows).merge(self.observed, on="queue", how="left")
        return Summary(
            "Calibration from contacts",
            table,
            info={"interval_minutes": self.interval_minutes, "contacts": int(self.observed["n"].sum()),
                  "service level": self.service_level.describe()},
            diagnostics=self.diagnostics,
            notes=["patience: abandoners observe it, answered contacts censor it at their wait"],
        )

    def plot(self, ax: Any = None) -> Any:
        """Kaplan–Meier patience curves by queue."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        for q, p in self.patience.items():
            t = np.concatenate([[0.0], p.km.table["time"].to_numpy()])
            s = np.concatenate([[1.0], p.km.table["survival"].to_numpy()])
            ax.step(t, s, where="post", label=q)
        ax.set_xlabel("wait (s)")
        ax.set_ylabel("P(patience > t)")
        ax.legend()
        return ax


def calibrate(
    contacts: pd.DataFrame,
    *,
    interval_minutes: int = 30,
    patience_by_queue: bool = True,
    service_level: ServiceLevel | float | None = None,
    sl_threshold_s: float | None = None,
) -> Calibration:
    """Estimate arrival rates, handle times and patience from a contacts frame.

    Also records what was observed per queue (contacts, abandonment, ASA, and the service level
    under ``service_level``, a :class:`ServiceLevel` or a threshold in seconds of the default
    definition; ``sl_threshold_s`` is deprecated) so a calibrated simulation can be checked
    against it.
    """
    if sl_threshold_s is not None:
        warnings.warn("calibrate(sl_threshold_s=...) is deprecated: use service_level=", DeprecationWarning,
                      stacklevel=2)
        service_level = sl_threshold_s
    sl = service_level if isinstance(service_level, ServiceLevel) else ServiceLevel(
        20.0 if service_level is None else float(service_level))
    _require(contacts, CONTACT_COLUMNS)
    arrivals = arrival_rates(contacts, interval_minutes=interval_minutes, by_queue=True)
    handle = fit_handle_times(contacts, by_queue=True)
    diags: list[Diagnostic] = []
    try:
        patience = fit_patience(contacts, by_queue=patience_by_queue)
    except DataError as exc:
        if not patience_by_queue:
            raise
        patience = fit_patience(contacts, by_queue=False)
        diags.append(Diagnostic("patience_pooled", "warning", f"{exc}; patience pooled across queues"))
    for q, h in handle.items():
        if h.ks_statistic > 0.05:
            diags.append(
                Diagnostic(
                    f"lognormal_fit_{q}",
                    "warning",
                    f"queue {q!r}: log-normal fits handle times loosely (KS {h.ks_statistic:.3f}); "
                    "consider method='empirical'",
                    h.ks_statistic,
                )
            )
    ab = contacts["abandoned"].astype(bool)
    w = contacts["wait_s"].astype(float)
    good, den = sl.counts(~ab.to_numpy(), ab.to_numpy(), w.to_numpy())
    observed = (
        pd.DataFrame({"queue": contacts["queue"].astype(str), "ab": ab, "good": good, "den": den})
        .groupby("queue")
        .agg(n=("ab", "size"), p_abandon=("ab", "mean"), good=("good", "sum"), den=("den", "sum"))
        .reset_index()
    )
    observed["service_level"] = observed["good"] / observed["den"]
    observed = observed.drop(columns=["good", "den"])
    asa = (
        pd.DataFrame({"queue": contacts["queue"].astype(str), "w": w})[~ab.to_numpy()]
        .groupby("queue")["w"]
        .mean()
        .rename("asa_answered_s")
        .reset_index()
    )
    observed = observed.merge(asa, on="queue", how="left")
    return Calibration(arrivals, handle, patience, int(interval_minutes), observed, tuple(diags), sl)


# -- does the calibrated simulator reproduce the data? ----------------------------------------------
@dataclass(frozen=True, eq=False, repr=False)
class CalibrationValidation(ResultMixin):
    """The calibrated simulator set against the observed contacts it was calibrated on.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per queue (and ``all``) and measure (``abandon_rate``, the service level's key
        and any extra thresholds' keys): ``observed``, ``sim_mean``, ``ci_low``, ``ci_high``
        (Student-t over the replications at ``ci_level``, clipped to [0, 1]), ``diff`` (simulated
        minus observed), ``agrees`` (observed inside the interval widened by ``tolerance``) and
        ``judged`` (whether the row counts for the diagnostic: abandonment and the target's own
        service level; extra thresholds are shown, not judged).
    service_level_definition : ServiceLevel
        The target's definition, at which the check is judged.
    """

    table: pd.DataFrame
    service_level_definition: ServiceLevel
    n_reps: int
    ci_level: float
    tolerance: float
    window: tuple[str, str]
    warmup_s: float

    @property
    def judged(self) -> pd.DataFrame:
        """The rows the diagnostic is judged on."""
        return self.table[self.table["judged"]]

    @property
    def passed(self) -> bool:
        """Whether every judged row agrees."""
        return bool(self.judged["agrees"].all())

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """Checks on the result, as :class:`~servicelab.Diagnostic` values."""
        j = self.judged
        key = self.service_level_definition.key
        ab, sl = j[j["measure"] == "abandon_rate"], j[j["measure"] == key]
        parts = (f"abandonment agrees in {int(ab['agrees'].sum())} of {len(ab)} rows and the service level "
                 f"({self.service_level_definition.describe()}) in {int(sl['agrees'].sum())} of {len(sl)} "
                 f"rows (queues and all; observed inside the {self.n_reps}-replication "
                 f"{self.ci_level:.0%} interval widened by {self.tolerance:g})")
        overall = sl[sl["queue"] == "all"]
        value = float(overall["diff"].iloc[0]) if len(overall) else None
        if self.passed:
            return (Diagnostic("calibration", "ok", f"the calibrated simulator reproduces the data: {parts}",
                               value),)
        return (Diagnostic(
            "calibration", "warning",
            f"the calibrated simulator does not reproduce the data: {parts}; treat simulated service "
            "levels with care", value),)

    def summary(self) -> Summary:
        """The result as a :class:`~servicelab.Summary` (table, key facts, diagnostics)."""
        return Summary(
            "Calibrated simulator against the observed contacts",
            self.table,
            info={"window": f"{self.window[0]} to {self.window[1]}", "replications": self.n_reps,
                  "ci_level": self.ci_level, "tolerance": self.tolerance,
                  "service level": self.service_level_definition.describe()},
            diagnostics=self.diagnostics,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable data (for ``results.json`` and ``glue``)."""
        return jsonable({
            "window": list(self.window), "n_reps": self.n_reps, "ci_level": self.ci_level,
            "tolerance": self.tolerance, "warmup_s": self.warmup_s, "passed": self.passed,
            "service_level_definition": self.service_level_definition.to_dict(),
            "table": self.table.to_dict(orient="records"),
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        })

    def plot(self, ax: Any = None) -> Any:
        """Simulated minus observed per queue and measure, with the simulation's interval.

        Zero is the observed value; the shaded band is ``± tolerance``, within which a judged
        measure agrees even if the interval misses it.
        """
        import matplotlib.pyplot as plt

        t = self.table
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.45 * len(t) + 1.5))
        y = np.arange(len(t))
        lo = (t["ci_low"] - t["observed"]).to_numpy(float)
        hi = (t["ci_high"] - t["observed"]).to_numpy(float)
        mid = (t["sim_mean"] - t["observed"]).to_numpy(float)
        ax.axvspan(-self.tolerance, self.tolerance, color="tab:green", alpha=0.12, label="± tolerance")
        ax.errorbar(mid, y, xerr=[mid - lo, hi - mid], fmt="o", color="C1", capsize=3,
                    label=f"simulated - observed ({self.ci_level:.0%} CI)")
        ax.axvline(0.0, color="k", lw=1, label="observed")
        ax.set_yticks(y, [f"{q} · {m}" + (" (judged)" if j else "")
                          for q, m, j in zip(t["queue"], t["measure"], t["judged"], strict=True)])
        ax.invert_yaxis()
        ax.set_xlabel("simulated - observed (measure units)")
        ax.set_title("Calibration check: " + ("passed" if self.passed else "FAILED"))
        ax.legend(fontsize=7)
        return ax


def validate_calibration(
    contacts: pd.DataFrame,
    staffing: pd.DataFrame,
    start: Any,
    *,
    service_level: ServiceLevel | float | None = None,
    extra_thresholds_s: tuple[float, ...] = (),
    warmup_days: float = 1.0,
    n_reps: int = 5,
    tolerance: float = 0.02,
    ci_level: float = 0.95,
    interval_minutes: int = 30,
    rng: RNGLike = None,
) -> CalibrationValidation:
    """Does the calibrated simulator reproduce the observed abandonment and service level?

    The window's arrivals are replayed (:class:`~simulation.arrivals.Trace`) per queue, agents
    follow the ``staffing`` table (agents on duty per interval and queue), and handle times and
    patience come from :func:`calibrate` on the same contacts. The first ``warmup_days`` are
    simulated but left out of both the observed and the simulated measures. Observed and
    simulated service levels use the same definition (:meth:`ServiceLevel.counts`).

    Parameters
    ----------
    contacts : pandas.DataFrame
        The warehouse columns ``created_at, queue, wait_s, abandoned, handle_s``.
    staffing : pandas.DataFrame
        ``interval_start, queue, agents``.
    start : timestamp-like
        Start of the window (time 0 of the simulation).
    service_level : ServiceLevel or float
        The target's definition (a number: its threshold in seconds); the check is judged on it
        and on abandonment. Default ``ServiceLevel(20)``.
    extra_thresholds_s : tuple of float
        More thresholds of the same definition to show (not judged).
    n_reps : int
        Replications (>= 2); replication ``i`` is child ``i`` of ``rng`` (not advanced).
    tolerance : float
        Absolute slack added to each side of the replication interval.

    Examples
    --------
    >>> import pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> t = pd.Timestamp("2026-01-05") + pd.to_timedelta(np.sort(rng.uniform(0, 2 * 86400, 2000)), unit="s")
    >>> c = pd.DataFrame({"created_at": t, "queue": "q", "wait_s": rng.exponential(10, 2000),
    ...                   "abandoned": rng.random(2000) < 0.05, "handle_s": rng.lognormal(5.5, 0.5, 2000)})
    >>> st = pd.DataFrame({"interval_start": pd.date_range("2026-01-05", periods=96, freq="30min"),
    ...                    "queue": "q", "agents": 4})
    >>> v = validate_calibration(c, st, "2026-01-05", n_reps=2, rng=1)
    >>> v.service_level_definition.key, sorted(set(v.table["measure"]))
    ('sl_20s', ['abandon_rate', 'sl_20s'])
    """
    from .agents import AgentGroup
    from .arrivals import Trace
    from .engine import ContactCentre, Queue
    from .records import ABANDONED, SERVED, WAITING
    from .replicate import t_interval
    from .routing import LongestIdleAgent

    if isinstance(n_reps, bool) or int(n_reps) != n_reps or n_reps < 2:
        raise DesignError(f"n_reps must be an integer >= 2 for a replication interval, got {n_reps!r}")
    if not tolerance >= 0:
        raise DesignError(f"tolerance must be >= 0, got {tolerance!r}")
    sl = service_level if isinstance(service_level, ServiceLevel) else ServiceLevel(
        20.0 if service_level is None else float(service_level))
    levels = [sl, *(sl.with_threshold(float(t)) for t in extra_thresholds_s if float(t) != sl.threshold_s)]
    _require(contacts, CONTACT_COLUMNS)
    for col in ("interval_start", "queue", "agents"):
        if col not in staffing:
            raise DataError(f"staffing is missing column {col!r}; expected interval_start, queue, agents")
    start = pd.Timestamp(start)
    interval_s = 60.0 * interval_minutes
    cal = calibrate(contacts, interval_minutes=interval_minutes, service_level=sl)
    t_rel = (pd.to_datetime(contacts["created_at"]) - start).dt.total_seconds().to_numpy()
    if np.any(t_rel < 0):
        raise DataError("contacts before start: pass the window's start (time 0 of the replay)")
    n_slots = math.ceil(t_rel.max() / interval_s) if t_rel.size else 0
    grid = start + pd.to_timedelta(np.arange(n_slots) * interval_s, unit="s")
    st = staffing.assign(interval_start=pd.to_datetime(staffing["interval_start"]))
    queues, groups = [], []
    for q in sorted(cal.handle_times):
        times = np.sort(t_rel[(contacts["queue"] == q).to_numpy()])
        prof = (st[st["queue"] == q].set_index("interval_start")["agents"]
                .reindex(grid, fill_value=0).to_numpy(dtype=int))
        if prof.size == 0 or prof.max() <= 0:
            raise DataError(f"the staffing table has no agents for queue {q!r} in the window")
        pat = cal.patience.get(q) or cal.patience["all"]
        queues.append(Queue(q, Trace(times), cal.handle_times[q], pat))
        groups.append(AgentGroup(q, (q,), int(prof.max()), profile=tuple(int(v) for v in prof),
                                 profile_interval_s=interval_s))
    warm = 86400.0 * float(warmup_days)
    if t_rel.size and warm >= t_rel.max():
        raise DesignError(f"warmup_days={warmup_days} covers the whole window: nothing left to compare")
    model = ContactCentre(queues, groups, routing=LongestIdleAgent(), warmup_s=warm)
    qnames = [q.name for q in queues]

    def rates(qv: np.ndarray, ans: np.ndarray, ab: np.ndarray, w: np.ndarray) -> dict[tuple[str, str], float]:
        out = {}
        for q in [*qnames, "all"]:
            m = np.ones(qv.shape, bool) if q == "all" else qv == q
            out[(q, "abandon_rate")] = float(ab[m].mean()) if m.any() else float("nan")
            for lv in levels:
                good, den = lv.counts(ans[m], ab[m], w[m])
                out[(q, lv.key)] = float(good.sum() / den.sum()) if den.sum() else float("nan")
        return out

    measured = t_rel >= warm
    obs_ab = contacts["abandoned"].astype(bool).to_numpy()[measured]
    observed = rates(contacts["queue"].astype(str).to_numpy()[measured], ~obs_ab, obs_ab,
                     contacts["wait_s"].astype(float).to_numpy()[measured])
    sims: dict[tuple[str, str], list[float]] = {k: [] for k in observed}
    for s in child_seeds(rng, int(n_reps)):
        r = model.run(rng=s).records_arrays
        keep = r["arrival_s"] >= warm
        status = r["status"][keep]
        wait = np.where(status == WAITING, np.inf, r["wait_s"][keep])
        qv = np.asarray(qnames, dtype=object)[r["queue"][keep].astype(int)]
        for k, v in rates(qv, status == SERVED, status == ABANDONED, wait).items():
            sims[k].append(v)
    rows = []
    judged_keys = {"abandon_rate", sl.key}
    for (q, measure), obs in observed.items():
        m, lo, hi = t_interval(sims[(q, measure)], ci_level, bounds=(0.0, 1.0))
        rows.append({"queue": q, "measure": measure, "observed": obs, "sim_mean": m, "ci_low": lo,
                     "ci_high": hi, "diff": m - obs,
                     "agrees": bool(lo - tolerance <= obs <= hi + tolerance),
                     "judged": measure in judged_keys})
    end = start + pd.Timedelta(seconds=float(t_rel.max()) if t_rel.size else 0.0)
    return CalibrationValidation(pd.DataFrame(rows), sl, int(n_reps), float(ci_level), float(tolerance),
                                 (str(start), str(end)), warm)
