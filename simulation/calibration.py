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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from servicelab.errors import DataError
from servicelab.results import Diagnostic, Summary, jsonable

__all__ = [
    "Calibration",
    "HandleTimeFit",
    "KaplanMeier",
    "PatienceFit",
    "arrival_rates",
    "calibrate",
    "fit_handle_times",
    "fit_patience",
    "kaplan_meier",
]

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
@dataclass(frozen=True)
class KaplanMeier:
    """Kaplan–Meier survival estimate with Greenwood standard errors.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per distinct event time: ``time, at_risk, events, survival, se, ci_low, ci_high``
        (log-log intervals at ``level``).
    n, n_events : int
        Observations and observed events.
    """

    table: pd.DataFrame
    n: int
    n_events: int
    level: float

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
            {"n": self.n, "n_events": self.n_events, "level": self.level, "table": self.table.to_dict(orient="list")}
        )


def kaplan_meier(durations: Any, observed: Any, *, level: float = 0.95) -> KaplanMeier:
    """Kaplan–Meier estimate of the survival function of right-censored durations.

    Ties: at a time with both events and censorings, the censored units count as at risk
    for the events (the usual convention).

    Parameters
    ----------
    durations : array-like
        Observed times (event or censoring), non-negative.
    observed : array-like of bool
        True where the event was observed, False where censored.
    level : float
        Confidence level of the log-log pointwise intervals.

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
    if not 0 < level < 1:
        raise DataError(f"level must lie in (0, 1), got {level!r}")
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
    return KaplanMeier(table=table, n=int(t.size), n_events=int(e.sum()), level=float(level))


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


def fit_patience(contacts: pd.DataFrame, *, by_queue: bool = False, level: float = 0.95) -> dict[str, PatienceFit]:
    """Patience from waits: abandoners observe it, answered contacts censor it at their wait.

    Returns one :class:`PatienceFit` per queue, or ``{"all": ...}`` pooled.

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
        km = kaplan_meier(g["w"].to_numpy(), g["ab"].to_numpy(), level=level)
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
@dataclass(frozen=True)
class Calibration:
    """Simulator inputs estimated from contacts."""

    arrivals: pd.DataFrame
    handle_times: dict[str, HandleTimeFit]
    patience: dict[str, PatienceFit]
    interval_minutes: int
    observed: pd.DataFrame
    diagnostics: tuple[Diagnostic, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return jsonable(
            {
                "interval_minutes": self.interval_minutes,
                "arrivals": self.arrivals.to_dict(orient="records"),
                "handle_times": {k: v.to_dict() for k, v in self.handle_times.items()},
                "patience": {k: v.to_dict() for k, v in self.patience.items()},
                "observed": self.observed.to_dict(orient="records"),
                "diagnostics": [d.to_dict() for d in self.diagnostics],
            }
        )

    def forecast(self, queue: str) -> Any:
        """The observed arrivals of ``queue`` as a :class:`simulation.arrivals.IntervalForecast`
        (time 0 = the first interval), ready for the simulator."""
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
            info={"interval_minutes": self.interval_minutes, "contacts": int(self.observed["n"].sum())},
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
    sl_threshold_s: float = 20.0,
) -> Calibration:
    """Estimate arrival rates, handle times and patience from a contacts frame.

    Also records what was observed per queue (contacts, abandonment, ASA, service level
    answered within ``sl_threshold_s`` over all arrivals) so a calibrated simulation can be
    checked against it.
    """
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
    observed = (
        pd.DataFrame({"queue": contacts["queue"].astype(str), "ab": ab, "w": w, "met": (~ab) & (w <= sl_threshold_s)})
        .groupby("queue")
        .agg(n=("ab", "size"), p_abandon=("ab", "mean"), service_level=("met", "mean"))
        .reset_index()
    )
    asa = (
        pd.DataFrame({"queue": contacts["queue"].astype(str), "w": w})[~ab.to_numpy()]
        .groupby("queue")["w"]
        .mean()
        .rename("asa_answered_s")
        .reset_index()
    )
    observed = observed.merge(asa, on="queue", how="left")
    return Calibration(arrivals, handle, patience, int(interval_minutes), observed, tuple(diags))
