"""Probabilistic arrival forecasts per series (queue) and interval, with sample paths.

The forecast is the classic top-down contact-centre forecast, made probabilistic:

1. **Daily volume** per series (and their total) by a statsforecast model with weekly seasonality
   (``season_length=7``): ``"seasonal_naive"`` (same weekday last week), ``"ets"`` (AutoETS) or
   ``"arima"`` (AutoARIMA); ``"auto"`` picks per series the model with the lowest MAE over a
   rolling-origin backtest (statsforecast ``cross_validation``). Holidays named in ``holidays``
   are divided out of the history by a factor estimated from the history's holidays (the day
   against the same weekday a week before and after) and multiplied back into the forecast.
2. **Hierarchical reconciliation.** The series' and the total's daily forecasts (point and every
   sample path) are reconciled by OLS projection onto the coherent subspace (Hyndman et al.
   2011), so queue forecasts sum to the total; ``reconcile="bottom_up"`` sums the series instead.
3. **Intraday profile.** Each day is split over its intervals by the series' share per weekday
   and interval over the last ``profile_weeks`` weeks (holidays left out).
4. **Sample paths.** statsforecast's ``simulate`` draws daily paths; times the profile they are
   paths of the arrival *intensity* per interval (what :class:`simulation.PlanSimulator` takes as
   volumes). Interval forecasts of *counts* add the Poisson noise of arrivals given the intensity.

:func:`counts_frame` checks a history (long frame: time, series, count; or :func:`read_counts_csv`)
for gaps, negative counts and partial days. :func:`backtest_forecast` runs rolling origins and reports MASE
against the weekly seasonal-naive baseline (statsforecast ``SeasonalNaive`` on the intervals),
interval coverage at 80% and 95%, accuracy by horizon day, and, when the true intensity is known
(the world's ``truth_arrivals``), the error against it.

Examples
--------
>>> idx = pd.date_range("2026-01-05", periods=42 * 48, freq="30min")
>>> lam = 20 + 10 * np.sin(np.arange(idx.size) / 48 * 2 * np.pi) ** 2
>>> y = np.random.default_rng(0).poisson(lam)
>>> hist = pd.DataFrame({"interval_start": idx, "queue": "q", "arrivals": y})
>>> fc = ArrivalForecaster(model="seasonal_naive", n_paths=50).fit(hist, horizon_days=7, rng=1)
>>> fc.paths.shape, fc.series
((50, 336, 2), ('q', 'total'))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from servicelab.errors import DataError, DesignError
from servicelab.random import RNGLike, resolve_rng, seed_int
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable
from servicelab.validation import require_columns

__all__ = [
    "FORECAST_MODELS",
    "ArrivalForecast",
    "ArrivalForecaster",
    "ForecastBacktest",
    "backtest_forecast",
    "counts_frame",
    "read_counts_csv",
]

FORECAST_MODELS = ("seasonal_naive", "ets", "arima")
TOTAL = "total"
MIN_HISTORY_DAYS = 21


# -- history -----------------------------------------------------------------------------------
def counts_frame(
    data: pd.DataFrame,
    *,
    time_col: str = "interval_start",
    series_col: str | None = "queue",
    count_col: str = "arrivals",
    interval_minutes: int = 30,
) -> pd.DataFrame:
    """A checked history of interval counts: one row per interval, one column per series.

    Parameters
    ----------
    data : pandas.DataFrame
        Long frame: interval start, series (queue; ``series_col=None`` for one series) and count.
    interval_minutes : int
        Interval length; must divide a day.

    Raises
    ------
    DataError
        Missing columns, NULL or negative or fractional counts, intervals off the grid, duplicate
        intervals, gaps (missing intervals of a series) or a history that does not cover whole days.

    Examples
    --------
    >>> idx = pd.date_range("2026-01-05", periods=96, freq="30min")
    >>> counts_frame(pd.DataFrame({"interval_start": idx, "queue": "a", "arrivals": 1})).shape
    (96, 1)
    """
    if not (isinstance(interval_minutes, int | np.integer) and interval_minutes > 0 and 1440 % interval_minutes == 0):
        raise DesignError(f"interval_minutes must be a positive divisor of 1440, got {interval_minutes!r}")
    cols = [time_col, count_col] + ([series_col] if series_col else [])
    require_columns(data, cols, role="history column", allow_empty=False)
    f = data[cols].copy()
    if series_col is None:
        series_col = "_series"
        f[series_col] = "arrivals"
    y = pd.to_numeric(f[count_col], errors="coerce")
    if y.isna().any() or not np.isfinite(y).all():
        raise DataError(f"column {count_col!r} has {int((y.isna() | ~np.isfinite(y.fillna(0))).sum())} NULL or "
                        "non-numeric or infinite counts; fill them (0 if nothing arrived) or drop the days")
    if (y < 0).any():
        raise DataError(f"column {count_col!r} has {int((y < 0).sum())} negative counts (first at "
                        f"{f.loc[y < 0, time_col].iloc[0]}); arrival counts cannot be negative: fix the source")
    if (y != np.round(y)).any():
        raise DataError(f"column {count_col!r} must hold whole contact counts; found fractional values")
    ts = pd.to_datetime(f[time_col], errors="coerce")
    if ts.isna().any():
        raise DataError(f"column {time_col!r} has {int(ts.isna().sum())} values that are not timestamps")
    step = pd.Timedelta(minutes=int(interval_minutes))
    off = (ts - ts.dt.floor("D")) % step
    if (off != pd.Timedelta(0)).any():
        raise DataError(f"{int((off != pd.Timedelta(0)).sum())} intervals of {time_col!r} are not on the "
                        f"{interval_minutes}-minute grid; aggregate the counts to {interval_minutes}-minute intervals")
    f = f.assign(**{time_col: ts, count_col: y})
    if f.duplicated([time_col, series_col]).any():
        raise DataError(f"duplicate ({time_col}, {series_col}) rows; aggregate them first")
    wide = f.pivot(index=time_col, columns=series_col, values=count_col).sort_index()
    start, end = wide.index.min(), wide.index.max()
    if start != start.floor("D") or (end + step) != (end + step).floor("D"):
        raise DataError(f"the history must cover whole days (from 00:00 to the last interval of a day); it runs "
                        f"from {start} to {end}; trim it to whole days")
    full = pd.date_range(start, end, freq=step)
    gaps = wide.reindex(full).isna()
    if gaps.to_numpy().any():
        n = int(gaps.to_numpy().sum())
        first = gaps.any(axis=1).idxmax()
        raise DataError(f"the history has {n} missing (series, interval) counts (the first at {first}); a gap is "
                        "not a zero: fill intervals with no contacts with 0 explicitly, or start the history after "
                        "the gap")
    wide = wide.reindex(full)
    wide.index.name = "interval_start"
    wide.columns = [str(c) for c in wide.columns]
    if TOTAL in wide.columns:
        raise DataError(f"a series may not be called {TOTAL!r} (the name of the reconciled total)")
    return wide.astype(float)


def read_counts_csv(path: str | Path, **kwargs: Any) -> pd.DataFrame:
    """Read a user's CSV of interval counts and check it with :func:`counts_frame` (same keywords)."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"counts CSV {file} does not exist")
    return counts_frame(pd.read_csv(file), **kwargs)


# -- statsforecast -----------------------------------------------------------------------------
def _model(name: str) -> Any:
    from statsforecast.models import AutoARIMA, AutoETS, SeasonalNaive

    return {"seasonal_naive": lambda: SeasonalNaive(season_length=7),
            "ets": lambda: AutoETS(season_length=7),
            "arima": lambda: AutoARIMA(season_length=7)}[name]()


def _sf_frame(daily: pd.DataFrame) -> pd.DataFrame:
    return daily.rename_axis("ds").reset_index().melt(id_vars="ds", var_name="unique_id", value_name="y")


def _statsforecast(name: str, freq: str = "D") -> Any:
    from statsforecast import StatsForecast

    return StatsForecast(models=[_model(name)], freq=freq, n_jobs=1)


def _model_col(frame: pd.DataFrame) -> str:
    return next(c for c in frame.columns if c not in ("unique_id", "ds", "cutoff", "y", "sample_id"))


# -- the spec ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ArrivalForecaster:
    """How to forecast arrivals (parameters only; :meth:`fit` does the work).

    Parameters
    ----------
    model : {"auto", "seasonal_naive", "ets", "arima"}
        The daily-volume model; ``"auto"`` selects per series by rolling-origin backtest.
    interval_minutes : int
        Interval length of the history and the forecast.
    ci_levels : tuple of float
        Levels of the count prediction intervals.
    n_paths : int
        Sample paths drawn.
    profile_weeks : int
        Weeks of history behind the intraday profile.
    reconcile : {"ols", "bottom_up"}
        How the series and the total are made coherent.
    selection_windows : int
        Rolling origins (a week apart) of the ``"auto"`` selection.
    candidates : tuple of str
        The models ``"auto"`` chooses from; ``"arima"`` is left out by default because AutoARIMA's
        order search takes about ten times as long as AutoETS here for a similar error.
    """

    model: Literal["auto", "seasonal_naive", "ets", "arima"] = "auto"
    interval_minutes: int = 30
    ci_levels: tuple[float, ...] = (0.8, 0.95)
    n_paths: int = 200
    profile_weeks: int = 4
    reconcile: Literal["ols", "bottom_up"] = "ols"
    selection_windows: int = 2
    candidates: tuple[str, ...] = ("seasonal_naive", "ets")

    def _check(self) -> None:
        if self.model not in ("auto", *FORECAST_MODELS):
            raise DesignError(f"model must be 'auto' or one of {FORECAST_MODELS}, got {self.model!r}")
        if not self.candidates or any(c not in FORECAST_MODELS for c in self.candidates):
            raise DesignError(f"candidates must be a non-empty subset of {FORECAST_MODELS}, got {self.candidates!r}")
        if self.reconcile not in ("ols", "bottom_up"):
            raise DesignError(f"reconcile must be 'ols' or 'bottom_up', got {self.reconcile!r}")
        if any(not 0 < c < 1 for c in self.ci_levels):
            raise DesignError(f"ci_levels must lie in (0, 1), got {self.ci_levels!r}")
        if int(self.n_paths) != self.n_paths or self.n_paths < 20:
            raise DesignError(f"n_paths must be an integer >= 20 (interval quantiles need paths), got {self.n_paths!r}")
        if self.profile_weeks < 1 or self.selection_windows < 1:
            raise DesignError("profile_weeks and selection_windows must be >= 1")

    def min_history_days(self, horizon_days: int) -> int:
        """Days of history a ``horizon_days`` forecast needs (the auto selection needs more)."""
        need = max(MIN_HISTORY_DAYS, 2 * int(horizon_days), 7 * self.profile_weeks)
        if self.model == "auto":
            need = max(need, MIN_HISTORY_DAYS + int(horizon_days) + 7 * (self.selection_windows - 1))
        return need

    def fit(self, history: pd.DataFrame, horizon_days: int, rng: RNGLike = None,
            holidays: Sequence[Any] = ()) -> ArrivalForecast:
        """Forecast the ``horizon_days`` days after the history.

        Parameters
        ----------
        history : pandas.DataFrame
            A :func:`counts_frame` (wide) or a long frame it accepts (``interval_start, queue,
            arrivals``).
        horizon_days : int
            Whole days to forecast.
        rng : RNGLike
            Seeds the sample paths and the Poisson count draws.
        holidays : sequence of dates
            Holidays in the history and in the horizon.
        """
        self._check()
        wide = history if _is_wide(history) else counts_frame(history, interval_minutes=self.interval_minutes)
        slots = 1440 // self.interval_minutes
        if wide.shape[0] % slots:
            raise DataError("the history must hold whole days of intervals")
        if isinstance(horizon_days, bool) or int(horizon_days) != horizon_days or horizon_days < 1:
            raise DesignError(f"horizon_days must be a positive integer, got {horizon_days!r}")
        h = int(horizon_days)
        n_days = wide.shape[0] // slots
        need = self.min_history_days(h)
        if n_days < need:
            raise DataError(
                f"a {h}-day forecast{' with auto selection' if self.model == 'auto' else ''} needs at least {need} "
                f"days of history; the history has {n_days}: shorten the horizon, give more history"
                + (", or choose a model instead of 'auto'" if self.model == "auto" else ""))
        gen = resolve_rng(rng)
        return _fit(self, wide, h, gen, holidays)


def _is_wide(frame: pd.DataFrame) -> bool:
    return isinstance(frame, pd.DataFrame) and isinstance(frame.index, pd.DatetimeIndex)


def _holiday_days(holidays: Sequence[Any]) -> set[pd.Timestamp]:
    try:
        return {pd.Timestamp(d).floor("D") for d in holidays}
    except (TypeError, ValueError) as exc:
        raise DataError(f"holidays must be dates, got {list(holidays)[:3]!r}") from exc


def _holiday_factor(daily: pd.DataFrame, hol: set[pd.Timestamp]) -> tuple[pd.Series, int]:
    """Per series: median of holiday / mean(same weekday a week before and after), and the holidays used.

    Over the history's holidays with both neighbours.
    """
    ratios = []
    for d in sorted(hol):
        a, b = d - pd.Timedelta(days=7), d + pd.Timedelta(days=7)
        if d in daily.index and a in daily.index and b in daily.index and a not in hol and b not in hol:
            base = 0.5 * (daily.loc[a] + daily.loc[b])
            ratios.append(daily.loc[d] / base.where(base > 0))
    if not ratios:
        return pd.Series(1.0, index=daily.columns), 0
    return pd.concat(ratios, axis=1).median(axis=1).fillna(1.0), len(ratios)


def _profile(wide: pd.DataFrame, weeks: int, slots: int, hol: set[pd.Timestamp]) -> np.ndarray:
    """Share per (series, weekday, slot) of the day's volume over the last ``weeks`` weeks."""
    recent = wide.iloc[-weeks * 7 * slots :]
    day = recent.index.floor("D")
    keep = ~day.isin(list(hol))
    recent = recent[keep]
    dow = recent.index.dayofweek.to_numpy()
    slot = ((recent.index.hour * 60 + recent.index.minute) // (1440 // slots)).to_numpy()
    out = np.zeros((wide.shape[1], 7, slots))
    for k in range(7):
        m = dow == k
        if not m.any():
            raise DataError(f"no non-holiday {('Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun')[k]} in the last "
                            f"{weeks} weeks: raise profile_weeks")
        v = recent.to_numpy()[m]
        tot = np.zeros((v.shape[1], slots))
        np.add.at(tot.T, slot[m], v)
        s = tot.sum(axis=1, keepdims=True)
        out[:, k, :] = np.where(s > 0, tot / np.maximum(s, 1e-12), 1.0 / slots)
    return out


def _reconcile(x: np.ndarray, how: str) -> np.ndarray:
    """Reconcile the last axis (series..., total): OLS projection or bottom-up."""
    n = x.shape[-1] - 1
    if how == "bottom_up":
        out = x.copy()
        out[..., -1] = x[..., :n].sum(axis=-1)
        return out
    s = np.vstack([np.eye(n), np.ones((1, n))])  # rows: series..., total
    p = s @ np.linalg.solve(s.T @ s, s.T)
    return x @ p.T


def _select(daily: pd.DataFrame, h: int, windows: int, candidates: Sequence[str]) -> pd.DataFrame:
    """Rolling-origin MAE per (series, model) of the daily models (statsforecast cross_validation)."""
    df = _sf_frame(daily)
    rows = []
    for name in candidates:
        cv = _statsforecast(name).cross_validation(h=h, df=df, n_windows=windows, step_size=7)
        col = _model_col(cv)
        err = (cv[col] - cv["y"]).abs().groupby(cv["unique_id"]).mean()
        rows += [{"series": s, "model": name, "mae": float(e)} for s, e in err.items()]
    return pd.DataFrame(rows)


def _fit(spec: ArrivalForecaster, wide: pd.DataFrame, h: int, gen: np.random.Generator,
         holidays: Sequence[Any]) -> ArrivalForecast:
    slots = 1440 // spec.interval_minutes
    hol = _holiday_days(holidays)
    names = [*wide.columns, TOTAL]
    wide_t = wide.assign(**{TOTAL: wide.sum(axis=1)})
    daily = wide_t.resample("D").sum()
    factor, n_hol = _holiday_factor(daily, hol)
    future = pd.date_range(daily.index[-1] + pd.Timedelta(days=1), periods=h, freq="D")
    fut_hol = np.array([d in hol for d in future])
    diags: list[Diagnostic] = []
    if fut_hol.any() and n_hol == 0:
        diags.append(Diagnostic("holiday_factor", "warning",
                                f"{int(fut_hol.sum())} holiday(s) in the horizon but none in the history with a "
                                "weekday a week before and after: their volume is forecast as a normal day", 0.0))
    adj = daily.copy()
    hist_hol = adj.index.isin(list(hol))
    if n_hol:
        adj.loc[hist_hol] = adj.loc[hist_hol] / factor.where(factor > 0, 1.0)
    selection = None
    if spec.model == "auto":
        selection = _select(adj, h, spec.selection_windows, spec.candidates)
        chosen = selection.loc[selection.groupby("series")["mae"].idxmin()].set_index("series")["model"].to_dict()
    else:
        chosen = dict.fromkeys(names, spec.model)
    point = np.zeros((h, len(names)))
    paths = np.zeros((spec.n_paths, h, len(names)))
    df = _sf_frame(adj)
    for name in set(chosen.values()):
        ids = [s for s in names if chosen[s] == name]
        sub = df[df["unique_id"].isin(ids)]
        sf = _statsforecast(name)
        fc = sf.forecast(h=h, df=sub)
        col = _model_col(fc)
        sim = sf.simulate(h=h, df=sub, n_paths=spec.n_paths, seed=seed_int(gen))
        scol = _model_col(sim)
        for s in ids:
            k = names.index(s)
            point[:, k] = fc.loc[fc["unique_id"] == s, col].to_numpy()
            ps = sim[sim["unique_id"] == s].sort_values(["sample_id", "ds"])
            paths[:, :, k] = ps[scol].to_numpy().reshape(spec.n_paths, h)
    mult = np.where(fut_hol[:, None], factor.reindex(names).to_numpy()[None, :], 1.0)
    point = _reconcile(point, spec.reconcile) * mult
    paths = _reconcile(paths, spec.reconcile) * mult[None]
    n_neg = int((paths < 0).sum())
    if n_neg:
        diags.append(Diagnostic("negative_paths", "warning" if n_neg > 0.01 * paths.size else "ok",
                                f"{n_neg} of {paths.size} daily path values were negative and are set to 0", n_neg))
    point, paths = np.maximum(point, 0.0), np.maximum(paths, 0.0)
    prof = _profile(wide, spec.profile_weeks, slots, hol)  # series (not total)
    dow = future.dayofweek.to_numpy()
    share = prof[:, dow, :]  # series x h x slots
    series_paths = paths[:, :, :-1, None] * np.transpose(share, (1, 0, 2))[None]  # p x h x s x slots
    series_paths = np.transpose(series_paths, (0, 1, 3, 2)).reshape(spec.n_paths, h * slots, -1)
    series_point = (point[:, :-1, None] * np.transpose(share, (1, 0, 2))).transpose(0, 2, 1).reshape(h * slots, -1)
    ipaths = np.concatenate([series_paths, series_paths.sum(axis=2, keepdims=True)], axis=2)
    ipoint = np.concatenate([series_point, series_point.sum(axis=1, keepdims=True)], axis=1)
    index = pd.date_range(future[0], periods=h * slots, freq=pd.Timedelta(minutes=spec.interval_minutes))
    counts = gen.poisson(ipaths)
    qs = {}
    for lvl in spec.ci_levels:
        a = (1 - lvl) / 2
        lo, hi = np.quantile(counts, [a, 1 - a], axis=0)
        qs[float(lvl)] = (lo, hi)
    daily_point = pd.DataFrame(point, index=future, columns=names)
    return ArrivalForecast(
        spec=spec, series=tuple(names), index=index, mean=ipoint, paths=ipaths, intervals=qs,
        models=chosen, selection=selection, daily=daily_point, holiday_factor=factor.to_dict(),
        history_end=wide.index[-1], diagnostics=tuple(diags),
    )


# -- the result --------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False, repr=False)
class ArrivalForecast(ResultMixin):
    """A probabilistic arrival forecast (from :meth:`ArrivalForecaster.fit`).

    Attributes
    ----------
    series : tuple of str
        The series (queues) and, last, ``"total"`` (their reconciled sum).
    index : pandas.DatetimeIndex
        Interval starts of the horizon.
    mean : ndarray, shape (n_intervals, n_series)
        Point forecast of the intensity (expected contacts per interval).
    paths : ndarray, shape (n_paths, n_intervals, n_series)
        Sample paths of the intensity (each coherent: series sum to the total).
    intervals : dict
        ``level -> (low, high)`` count prediction intervals (Poisson noise added).
    models : dict
        The daily model behind each series.
    selection : pandas.DataFrame or None
        Rolling-origin MAE per series and model (``model="auto"``).
    """

    spec: ArrivalForecaster
    series: tuple[str, ...]
    index: pd.DatetimeIndex
    mean: np.ndarray
    paths: np.ndarray
    intervals: dict[float, tuple[np.ndarray, np.ndarray]]
    models: dict[str, str]
    selection: pd.DataFrame | None
    daily: pd.DataFrame
    holiday_factor: dict[str, float]
    history_end: pd.Timestamp
    diagnostics: tuple[Diagnostic, ...] = field(default=())

    def column(self, series: str) -> int:
        """Position of ``series`` on the last axis."""
        if series not in self.series:
            raise DesignError(f"unknown series {series!r}; the forecast has {list(self.series)}")
        return self.series.index(series)

    def to_frame(self) -> pd.DataFrame:
        """Long frame: ``interval_start, series, mean`` and ``low_<level>``/``high_<level>``."""
        n, k = self.mean.shape
        out = pd.DataFrame({"interval_start": np.repeat(self.index.to_numpy(), k),
                            "series": np.tile(np.array(self.series, dtype=object), n),
                            "mean": self.mean.ravel()})
        for lvl, (lo, hi) in self.intervals.items():
            out[f"low_{lvl:g}"] = lo.ravel()
            out[f"high_{lvl:g}"] = hi.ravel()
        return out

    def path_volumes(self, series: str) -> np.ndarray:
        """The sample paths of one series, ``(n_paths, n_intervals)`` (simulator volumes)."""
        return self.paths[:, :, self.column(series)]

    def summary(self) -> Summary:
        """Daily totals per series with the models chosen."""
        tab = self.daily.copy()
        tab.index = tab.index.strftime("%Y-%m-%d")
        info = {"horizon days": len(self.daily), "interval minutes": self.spec.interval_minutes,
                "models": self.models, "reconcile": self.spec.reconcile, "paths": self.paths.shape[0]}
        return Summary("Arrival forecast (expected contacts per day)", tab.reset_index(names="day"), info=info,
                       diagnostics=self.diagnostics,
                       notes=["intervals are of counts (Poisson noise of arrivals added to the intensity paths)"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: daily forecast, models, selection, holiday factors, diagnostics."""
        return jsonable({
            "series": list(self.series), "models": self.models, "history_end": str(self.history_end),
            "daily": {s: self.daily[s].round(3).tolist() for s in self.series},
            "days": [str(d.date()) for d in self.daily.index],
            "selection": None if self.selection is None else self.selection.to_dict(orient="records"),
            "holiday_factor": self.holiday_factor,
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        })

    def plot(self, ax: Any = None, series: str = TOTAL, truth: Any = None) -> Any:
        """Point forecast, the widest count interval and a few paths of one series (truth if given)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(9, 3))
        k = self.column(series)
        lvl = max(self.intervals)
        lo, hi = self.intervals[lvl]
        x = self.index
        ax.fill_between(x, lo[:, k], hi[:, k], color="C0", alpha=0.2, label=f"{lvl:.0%} interval (counts)")
        for p in range(min(3, self.paths.shape[0])):
            ax.plot(x, self.paths[p, :, k], color="C0", lw=0.4, alpha=0.6)
        ax.plot(x, self.mean[:, k], color="C0", label="forecast (mean)")
        if truth is not None:
            ax.plot(x, np.asarray(truth, dtype=float), color="k", lw=0.8, ls="--", label="truth (intensity)")
        ax.set(xlabel="interval start", ylabel=f"contacts per {self.spec.interval_minutes} min", title=series)
        ax.legend(fontsize=8)
        return ax


# -- backtest ----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False, repr=False)
class ForecastBacktest(ResultMixin):
    """Rolling-origin backtest of an :class:`ArrivalForecaster` (from :func:`backtest_forecast`).

    ``table``: one row per origin, series and method (the forecaster and the weekly seasonal-naive
    baseline): ``mae``, ``mase`` (MAE over the in-sample MAE of the weekly seasonal naive on the
    intervals), ``coverage_<level>`` of the realised counts and, with a truth, ``mae_truth``.
    ``by_horizon``: the same by horizon day.
    """

    table: pd.DataFrame
    by_horizon: pd.DataFrame
    levels: tuple[float, ...]
    horizon_days: int
    n_windows: int
    seconds: float
    diagnostics: tuple[Diagnostic, ...] = ()

    def overall(self) -> pd.DataFrame:
        """Mean over origins and series, per method."""
        cols = [c for c in self.table.columns if c not in ("origin", "series", "method", "n")]
        return self.table.groupby("method", sort=False)[cols].mean().reset_index()

    def summary(self) -> Summary:
        """The backtest's mean errors by method, with the horizon, the origins and the time it took."""
        return Summary("Forecast backtest (rolling origins)", self.overall(),
                       info={"horizon days": self.horizon_days, "origins": self.n_windows,
                             "seconds": round(self.seconds, 2)}, diagnostics=self.diagnostics)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable data (for ``results.json`` and ``glue``)."""
        return jsonable({"overall": self.overall().to_dict(orient="records"),
                         "table": self.table.to_dict(orient="records"),
                         "by_horizon": self.by_horizon.to_dict(orient="records"),
                         "horizon_days": self.horizon_days, "n_windows": self.n_windows, "seconds": self.seconds,
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})

    def plot(self, ax: Any = None) -> Any:
        """MASE by horizon day, forecaster against the seasonal-naive baseline."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3))
        for m, g in self.by_horizon.groupby("method", sort=False):
            ax.plot(g["horizon_day"], g["mase"], marker="o", label=m)
        ax.axhline(1.0, color="k", lw=0.6, ls=":")
        ax.set(xlabel="horizon day", ylabel="MASE (vs in-sample weekly seasonal naive)")
        ax.legend(fontsize=8)
        return ax


def _coverage(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    return float(np.mean((y >= lo) & (y <= hi)))


def backtest_forecast(
    forecaster: ArrivalForecaster,
    history: pd.DataFrame,
    *,
    horizon_days: int = 7,
    n_windows: int = 3,
    step_days: int = 7,
    truth: pd.DataFrame | None = None,
    holidays: Sequence[Any] = (),
    rng: RNGLike = None,
) -> ForecastBacktest:
    """Rolling-origin backtest: fit on the history before each origin, score the next days.

    Parameters
    ----------
    forecaster : ArrivalForecaster
    history : pandas.DataFrame
        Wide :func:`counts_frame` or a long frame it accepts.
    horizon_days, n_windows, step_days : int
        Each origin forecasts ``horizon_days``; origins are ``step_days`` apart, the last one
        ``horizon_days`` before the end.
    truth : pandas.DataFrame, optional
        The true intensity, wide like the history (same columns), e.g. the world's
        ``truth_arrivals`` summed per interval and queue.

    Returns
    -------
    ForecastBacktest
    """
    import time

    from statsforecast import StatsForecast
    from statsforecast.models import SeasonalNaive

    t0 = time.perf_counter()
    wide = history if _is_wide(history) else counts_frame(history, interval_minutes=forecaster.interval_minutes)
    slots = 1440 // forecaster.interval_minutes
    n_days = wide.shape[0] // slots
    if n_windows < 1 or step_days < 1:
        raise DesignError("n_windows and step_days must be >= 1")
    first_origin = n_days - horizon_days - (n_windows - 1) * step_days
    need = forecaster.min_history_days(horizon_days)
    if first_origin < need:
        raise DataError(f"{n_windows} origins {step_days} days apart with a {horizon_days}-day horizon need "
                        f"{need + horizon_days + (n_windows - 1) * step_days} days of history; it has {n_days}: "
                        "use fewer windows or a shorter horizon")
    if truth is not None:
        truth = truth.reindex(index=wide.index, columns=wide.columns)
        if truth.isna().to_numpy().any():
            raise DataError("truth must cover every interval and series of the history")
    gen = resolve_rng(rng)
    season = 7 * slots
    rows, hrows = [], []
    for w in range(n_windows):
        origin = first_origin + w * step_days
        train = wide.iloc[: origin * slots]
        test = wide.iloc[origin * slots : (origin + horizon_days) * slots]
        fc = forecaster.fit(train, horizon_days, rng=gen, holidays=holidays)
        tr = train.to_numpy()
        scale = np.mean(np.abs(tr[season:] - tr[:-season]), axis=0)
        # the baseline: statsforecast's seasonal naive on the intervals (same weekday and time last week)
        sdf = train.rename_axis("ds").reset_index().melt(id_vars="ds", var_name="unique_id", value_name="y")
        lv = [round(100 * c) for c in forecaster.ci_levels]
        sn = StatsForecast(models=[SeasonalNaive(season_length=season)],
                           freq=f"{forecaster.interval_minutes}min", n_jobs=1)
        base = sn.forecast(h=horizon_days * slots, df=sdf, level=lv)
        for k, s in enumerate(wide.columns):
            y = test[s].to_numpy()
            b = base[base["unique_id"] == s].sort_values("ds")
            methods = {
                "forecast": (fc.mean[:, k], {c: (fc.intervals[c][0][:, k], fc.intervals[c][1][:, k])
                                              for c in forecaster.ci_levels}),
                "seasonal_naive": (b["SeasonalNaive"].to_numpy(),
                                   {c: (b[f"SeasonalNaive-lo-{round(100 * c)}"].to_numpy(),
                                        b[f"SeasonalNaive-hi-{round(100 * c)}"].to_numpy())
                                    for c in forecaster.ci_levels}),
            }
            for m, (pred, ints) in methods.items():
                err = np.abs(pred - y)
                row = {"origin": str(test.index[0].date()), "series": s, "method": m, "n": y.size,
                       "mae": float(err.mean()), "mase": float(err.mean() / max(scale[k], 1e-12))}
                for c, (lo, hi) in ints.items():
                    row[f"coverage_{c:g}"] = _coverage(y, lo, hi)
                if truth is not None:
                    tt = truth[s].to_numpy()[origin * slots : (origin + horizon_days) * slots]
                    row["mae_truth"] = float(np.abs(pred - tt).mean())
                rows.append(row)
                for d in range(horizon_days):
                    sl = slice(d * slots, (d + 1) * slots)
                    hr = {"horizon_day": d + 1, "method": m, "series": s,
                          "mase": float(err[sl].mean() / max(scale[k], 1e-12))}
                    for c, (lo, hi) in ints.items():
                        hr[f"coverage_{c:g}"] = _coverage(y[sl], lo[sl], hi[sl])
                    hrows.append(hr)
    table = pd.DataFrame(rows)
    hz = pd.DataFrame(hrows).groupby(["method", "horizon_day"], sort=False).mean(numeric_only=True).reset_index()
    secs = time.perf_counter() - t0
    ov = table.groupby("method")["mase"].mean()
    better = ov["forecast"] < ov["seasonal_naive"]
    diag = Diagnostic("beats_baseline", "ok" if better else "warning",
                      f"MASE {ov['forecast']:.3f} against {ov['seasonal_naive']:.3f} for the weekly seasonal naive"
                      + ("" if better else ": the forecaster does not beat the baseline"), float(ov["forecast"]))
    return ForecastBacktest(table, hz, tuple(forecaster.ci_levels), int(horizon_days), int(n_windows), secs, (diag,))
