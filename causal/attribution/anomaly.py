"""Anomalies in daily and interval KPI series, seasonality removed by STL (statsmodels).

Each series (one per segment) is decomposed into trend + seasonal + residual with
:class:`statsmodels.tsa.seasonal.STL` or :class:`~statsmodels.tsa.seasonal.MSTL` for several
seasonal periods (half-hour intervals: a daily 48 and a weekly 336). A point is flagged when its
residual is more than ``threshold`` robust standard deviations from the residuals' median; points
beyond 3.5 are replaced by their fitted value and the decomposition refitted, so that an anomaly
bends neither the trend nor the season (see :meth:`AnomalyDetector._decompose`).
Counts are best analysed on the log scale (``transform="log1p"``): a spike of
x3 is then the same size on a quiet Sunday and a busy Monday.

The result flags the time and the segment, and counts for each flagged time how many segments are
flagged with it: one segment alone is a local incident, most segments at once a global event
(a volume spike, an outage of the whole service).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from statsmodels.tsa.seasonal import MSTL, STL

from servicelab.errors import DataError, DesignError
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable
from servicelab.validation import require_columns, require_finite

__all__ = ["AnomalyDetector", "AnomalyResult"]

_MAD = 1.4826
# points beyond this z are replaced by their fitted value before refitting (a lower bar than the
# flag threshold: near the ends of a series a spike pulls the trend toward itself and its own z
# drops; measured: 3 of 150 triple-volume incidents in a small segment were missed at 5, none at 3.5)
_REFIT_Z = 3.5


@dataclass(frozen=True)
class AnomalyDetector:
    """Robust STL-residual anomaly detection per segment.

    Parameters
    ----------
    value : str
        Column of the series value (a count, a mean handle time...).
    time : str
        Column of the time stamp (regular steps: days or intervals, no gaps).
    segment : str, optional
        Column naming the series; one series when omitted.
    periods : tuple of int
        Seasonal period(s) in steps: ``(7,)`` for daily data with a weekly cycle, ``(48, 336)`` for
        half-hour intervals. Each series must span at least two cycles of the longest.
    transform : {"log1p", "log", "none"}
        Scale on which the decomposition is done.
    threshold : float
        Robust z above which a point is flagged (two-sided).
    seasonal : int
        Length (odd, >= 7) of the seasonal LOESS smoother, in cycles. The statsmodels default of 7
        lets the seasonal component follow the noise and leaves residuals too small: with it, 90
        days of Poisson counts gave about 19 false alarms at |z| > 5; with 13, none.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> d = pd.date_range("2026-01-05", periods=56, freq="D")
    >>> y = 100 * (1 + 0.3 * (d.dayofweek < 5)) * np.exp(rng.normal(0, 0.03, 56))
    >>> y[30] *= 2.5
    >>> r = AnomalyDetector("y", "day").fit(pd.DataFrame({"day": d, "y": y}))
    >>> [str(t.date()) for t in r.flags["day"]]
    ['2026-02-04']
    """

    value: str
    time: str
    segment: str | None = None
    periods: tuple[int, ...] = (7,)
    transform: Literal["log1p", "log", "none"] = "log1p"
    threshold: float = 5.0
    seasonal: int = 13

    def fit(self, data: pd.DataFrame) -> AnomalyResult:
        """Decompose every series and flag its anomalies.

        Raises
        ------
        DataError
            Missing columns, NULL/inf values, negative values on a log scale, duplicate or
            irregular time steps, or a series shorter than two seasonal cycles.
        """
        if not self.periods or any(int(p) < 2 for p in self.periods):
            raise DesignError(f"periods must be seasonal periods >= 2 steps, got {self.periods!r}")
        if self.transform not in ("log1p", "log", "none"):
            raise DesignError(f"transform must be 'log1p', 'log' or 'none', got {self.transform!r}")
        if self.seasonal < 7 or self.seasonal % 2 == 0:
            raise DesignError(f"seasonal must be an odd integer >= 7, got {self.seasonal}")
        if not self.threshold > 0:
            raise DesignError(f"threshold must be > 0, got {self.threshold}")
        cols = [self.value, self.time] + ([self.segment] if self.segment else [])
        require_columns(data, cols, role="series columns", allow_empty=False)
        require_finite(data, [self.value], role="series value",
                       fix="fill the missing steps (0 for counts) or drop the series")  # fmt: skip
        frames = []
        diags: list[Diagnostic] = []
        groups = data.groupby(self.segment, sort=True) if self.segment else [("all", data)]
        need = 2 * max(int(p) for p in self.periods)
        for seg, g in groups:
            g = g.sort_values(self.time)
            t = pd.to_datetime(g[self.time]) if not np.issubdtype(g[self.time].dtype, np.number) else g[self.time]
            steps = np.diff(t.to_numpy())
            if len(g) >= 2 and (steps != steps[0]).any():
                raise DataError(f"series {seg!r}: time steps are not regular (duplicates or gaps in "
                                f"{self.time!r}); fill the missing steps (0 for counts) first")  # fmt: skip
            if len(g) < need:
                raise DataError(f"series {seg!r} has {len(g)} points; STL with period {max(self.periods)} "
                                f"needs at least two cycles ({need} points): use a longer window or a shorter "
                                "period")
            y = g[self.value].to_numpy(dtype=float)
            if (self.transform != "none" and (y < 0).any()) or (self.transform == "log" and (y <= 0).any()):
                raise DataError(f"series {seg!r} has values <= 0, not allowed with transform={self.transform!r}; "
                                "use transform='none' or 'log1p' for counts")  # fmt: skip
            z_y = {"log1p": np.log1p, "log": np.log, "none": lambda v: v}[self.transform](y)
            fitted, resid, z = self._decompose(z_y, seg)
            back = {"log1p": np.expm1, "log": np.exp, "none": lambda v: v}[self.transform](fitted)
            frames.append(pd.DataFrame({"segment": seg, self.time: g[self.time].to_numpy(), "value": y,
                                        "expected": back, "resid": resid, "z": z,
                                        "flagged": np.abs(z) > self.threshold}))  # fmt: skip
        table = pd.concat(frames, ignore_index=True)
        n_at = table.groupby(self.time)["flagged"].transform("sum").astype(int)
        table["segments_flagged_at_time"] = n_at
        n_series = table["segment"].nunique()
        table["scope"] = np.where(~table["flagged"], "", np.where(n_at * 2 > n_series, "global", "local"))
        flagged = int(table["flagged"].sum())
        diags.append(Diagnostic("flag_rate", "ok" if flagged <= max(1, 0.02 * len(table)) else "warning",
                                f"{flagged} of {len(table)} points flagged at |z| > {self.threshold:g}"
                                + ("" if flagged <= max(1, 0.02 * len(table)) else
                                   "; more than 2%: the threshold may be low or the series not seasonal as assumed"),
                                float(flagged)))  # fmt: skip
        return AnomalyResult(self, table, tuple(diags))

    def _fit_once(self, y: np.ndarray) -> np.ndarray:
        """Trend + seasonal of ``y`` (one STL, or MSTL for several periods)."""
        if len(self.periods) == 1:
            res = STL(y, period=int(self.periods[0]), seasonal=self.seasonal).fit()
            return np.asarray(res.trend) + np.asarray(res.seasonal)
        res = MSTL(y, periods=tuple(int(p) for p in self.periods), windows=[self.seasonal] * len(self.periods)).fit()
        return np.asarray(res.trend) + np.asarray(res.seasonal).reshape(len(y), -1).sum(axis=1)

    def _decompose(self, y: np.ndarray, seg: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fitted values, residuals and robust z, with flagged points replaced and the fit redone.

        STL's own robustness weights leave heavy-tailed residuals (measured: 20% of clean 90-day
        series had a point beyond |z| = 5) and are not used. Instead, points beyond
        ``min(threshold, 3.5)`` are replaced by their fitted value and the plain decomposition is
        refitted (up to three times), so that an anomaly bends neither the trend nor the season;
        the flags use ``threshold``. The scale is the standard deviation of all residuals within 4
        robust sd of the median (sigma clipping, started from 1.4826 MAD). Measured on 150 world-like
        90-day x 6-segment panels with a x3 incident: every incident found, 0.22 false alarms per
        90 days.
        """
        work = y.copy()
        out = np.zeros(y.size, dtype=bool)
        for _ in range(4):
            fitted = self._fit_once(work)
            resid = y - fitted
            clean = resid  # all points: sigma clipping drops the anomalies, excluding candidates would truncate
            med = float(np.median(clean))
            scale = _MAD * float(np.median(np.abs(clean - med)))
            for _ in range(3):
                keep = np.abs(clean - med) < 4 * scale
                if keep.sum() > 2:
                    scale = float(np.std(clean[keep], ddof=1))
            if not scale > 1e-9 * max(1.0, float(np.abs(y).max())):
                raise DataError(f"series {seg!r} has no residual variation (constant after removing trend and "
                                "season); nothing to compare an anomaly against")  # fmt: skip
            z = (resid - med) / scale
            new = np.abs(z) > min(self.threshold, _REFIT_Z)
            if not (new & ~out).any():
                break
            out |= new
            work = np.where(out, fitted, y)
        return fitted, resid, z


@dataclass(frozen=True, eq=False, repr=False)
class AnomalyResult(ResultMixin):
    """Every point with its expected value and robust z; :attr:`flags` are the anomalies."""

    spec: AnomalyDetector
    table: pd.DataFrame
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)

    @property
    def flags(self) -> pd.DataFrame:
        """Flagged points, largest |z| first."""
        f = self.table[self.table["flagged"]]
        return f.reindex(f["z"].abs().sort_values(ascending=False).index).reset_index(drop=True)

    def summary(self) -> Summary:
        """The flagged points."""
        cols = ["segment", self.spec.time, "value", "expected", "z", "scope", "segments_flagged_at_time"]
        return Summary("Anomalies (robust STL residuals)", self.flags[cols],
                       info={"series": int(self.table["segment"].nunique()), "points": len(self.table),
                             "periods": ", ".join(map(str, self.spec.periods)), "scale": self.spec.transform,
                             "threshold": f"|z| > {self.spec.threshold:g} (z = residual / 1.4826 MAD)"},
                       diagnostics=self.diagnostics)  # fmt: skip

    def plot(self, ax: Any = None, segment: Any = None, mark: Any = None):
        """Observed and expected series of one segment (default: the most anomalous), flags in red.

        ``mark`` (a time) draws a vertical line, e.g. the injected incident's day.
        """
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(8, 3.5))[1]
        if segment is None:
            segment = self.table.loc[self.table["z"].abs().idxmax(), "segment"]
        g = self.table[self.table["segment"] == segment]
        ax.plot(g[self.spec.time], g["value"], color="black", lw=0.9, label=f"{segment}: observed")
        ax.plot(g[self.spec.time], g["expected"], color="C0", lw=0.9, ls="--", label="trend + season")
        f = g[g["flagged"]]
        ax.scatter(f[self.spec.time], f["value"], color="red", zorder=3, label="flagged")
        if mark is not None:
            ax.axvline(mark, color="grey", ls=":", label="injected")
        ax.legend(fontsize=8)
        ax.set_ylabel(self.spec.value)
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (the flagged points)."""
        return jsonable({"flags": self.flags.to_dict(orient="records"),
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})  # fmt: skip
