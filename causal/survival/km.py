"""Kaplan-Meier survival curves by group, with log-log (exponential Greenwood) intervals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from causal.survival._core import check_survival_frame, km_table, median_time, rmst, step_at
from servicelab.errors import DataError
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable

__all__ = ["KaplanMeier", "KaplanMeierResult"]


def loglog_ci(s: np.ndarray, gw: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Exponential-Greenwood interval for S (bounded in [0, 1]; the lifelines default)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.log(-np.log(s))
        se = np.sqrt(gw) / np.abs(np.log(s))
        lo = np.exp(-np.exp(v + z * se))
        hi = np.exp(-np.exp(v - z * se))
    lo = np.where(s >= 1, 1.0, np.where(s <= 0, 0.0, lo))
    hi = np.where(s >= 1, 1.0, np.where(s <= 0, 0.0, hi))
    return lo, hi


@dataclass(frozen=True, eq=False, repr=False)
class KaplanMeierResult(ResultMixin):
    """Kaplan-Meier curves: ``table`` is long (group, time, at_risk, events, survival, ci)."""

    duration: str
    event: str
    group: str | None
    table: pd.DataFrame
    ci_level: float
    n: int
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)

    def _tab(self, g: Any) -> dict[str, np.ndarray]:
        sub = self.table if self.group is None else self.table[self.table["group"] == g]
        if sub.empty:
            raise DataError(f"group {g!r} not in the result; groups: {self.groups}")
        return {c: sub[c].to_numpy() for c in ("time", "at_risk", "events", "survival", "greenwood")}

    @property
    def groups(self) -> list[Any]:
        """Group labels (``[None]`` without a group)."""
        return [None] if self.group is None else list(pd.unique(self.table["group"]))

    def survival_at(self, t: float) -> pd.DataFrame:
        """S(t) and P(event by t) = 1 - S(t) per group, with intervals and Greenwood SE."""
        z = float(stats.norm.ppf(0.5 + self.ci_level / 2))
        rows = []
        for g in self.groups:
            tab = self._tab(g)
            s = float(step_at(tab["time"], tab["survival"], t))
            gw = float(step_at(tab["time"], tab["greenwood"], t, start=0.0))
            lo, hi = loglog_ci(np.array([s]), np.array([gw]), z)
            rows.append({"group": g, "time": t, "survival": s, "se": s * np.sqrt(gw),
                         "ci_low": float(lo[0]), "ci_high": float(hi[0]), "p_event": 1 - s,
                         "at_risk": float(step_at(tab["time"], tab["at_risk"], t,
                                                  start=float(tab["at_risk"][0])))})
        return pd.DataFrame(rows)

    def rmst(self, horizon: float) -> pd.DataFrame:
        """Restricted mean survival time up to ``horizon`` per group, with Greenwood-type SE."""
        rows = []
        for g in self.groups:
            m, v = rmst(self._tab(g), horizon)
            rows.append({"group": g, "horizon": horizon, "rmst": m, "se": float(np.sqrt(v))})
        return pd.DataFrame(rows)

    def median(self) -> pd.DataFrame:
        """Median time per group with the interval from inverting the S(t) interval (NaN bounds
        when not reached).
        """
        rows = []
        for g in self.groups:
            sub = self.table if self.group is None else self.table[self.table["group"] == g]
            tab = self._tab(g)
            lo_hit = sub["time"][sub["ci_low"].to_numpy() <= 0.5]
            hi_hit = sub["time"][sub["ci_high"].to_numpy() <= 0.5]
            rows.append({"group": g, "median": median_time(tab),
                         "ci_low": float(lo_hit.iloc[0]) if len(lo_hit) else np.nan,
                         "ci_high": float(hi_hit.iloc[0]) if len(hi_hit) else np.nan})
        return pd.DataFrame(rows)

    def summary(self) -> Summary:
        """Median and n per group."""
        med = self.median()
        counts = (self.table.groupby("group", dropna=False)["events"].sum() if self.group
                  else pd.Series([self.table["events"].sum()], index=[None]))
        med["events"] = med["group"].map(lambda g: float(counts.get(g, np.nan))) if self.group \
            else float(counts.iloc[0])
        return Summary(f"Kaplan-Meier: {self.duration}" + (f" by {self.group}" if self.group else ""),
                       med, info={"n": self.n, "ci_level": self.ci_level},
                       diagnostics=self.diagnostics,
                       notes=[("Censored rows count as at risk until their censoring time; ties are "
                              "handled exactly. Intervals: log-log (exponential Greenwood).")])

    def plot(self, ax: Any = None):
        """Step curves with interval bands."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(6, 3.5))[1]
        for g in self.groups:
            sub = self.table if self.group is None else self.table[self.table["group"] == g]
            t = np.concatenate([[0.0], sub["time"].to_numpy()])
            s = np.concatenate([[1.0], sub["survival"].to_numpy()])
            line = ax.step(t, s, where="post", label=str(g) if g is not None else None)[0]
            lo = np.concatenate([[1.0], sub["ci_low"].to_numpy()])
            hi = np.concatenate([[1.0], sub["ci_high"].to_numpy()])
            ax.fill_between(t, lo, hi, step="post", alpha=0.2, color=line.get_color())
        ax.set_xlabel(self.duration)
        ax.set_ylabel("survival (not yet resolved)")
        if self.group:
            ax.legend(title=self.group)
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (medians and n; the curve via ``table``)."""
        return jsonable({"duration": self.duration, "event": self.event, "group": self.group,
                         "n": self.n, "ci_level": self.ci_level,
                         "median": self.median().to_dict(orient="records"),
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})


@dataclass(frozen=True)
class KaplanMeier:
    """Kaplan-Meier estimator, optionally by group and with case weights.

    Parameters
    ----------
    duration : str
        Time from origin to event or censoring (>= 0; ties allowed).
    event : str
        1 = event observed, 0 = censored.
    group : str, optional
        One curve per value (e.g. the experiment arm).
    weights : str, optional
        Case weights (e.g. inverse-probability weights); with weights the Greenwood
        intervals are not valid, use :class:`SurvivalEffect`'s bootstrap.
    ci_level : float

    Examples
    --------
    >>> df = pd.DataFrame({"t": [1, 2, 2, 3, 4, 5], "e": [1, 1, 0, 1, 0, 1]})
    >>> r = KaplanMeier("t", "e").fit(df)
    >>> round(float(r.survival_at(2.5)["survival"].iloc[0]), 4)
    0.6667
    """

    duration: str
    event: str
    group: str | None = None
    weights: str | None = None
    ci_level: float = 0.95

    def fit(self, data: pd.DataFrame) -> KaplanMeierResult:
        """Estimate the curves."""
        extra = [c for c in (self.group, self.weights) if c]
        check_survival_frame(data, self.duration, self.event, extra)
        if self.weights is not None and (data[self.weights] < 0).any():
            raise DataError(f"weights {self.weights!r} must be >= 0")
        z = float(stats.norm.ppf(0.5 + self.ci_level / 2))
        parts = []
        diags: list[Diagnostic] = []
        groups = [(None, data)] if self.group is None else list(data.groupby(self.group, sort=True))
        for g, sub in groups:
            w = sub[self.weights].to_numpy(float) if self.weights else None
            tab = km_table(sub[self.duration].to_numpy(float), sub[self.event].to_numpy(float), w)
            lo, hi = loglog_ci(tab["survival"], tab["greenwood"], z)
            frame = pd.DataFrame({k: tab[k] for k in ("time", "at_risk", "events", "survival",
                                                       "greenwood")})
            frame["ci_low"], frame["ci_high"] = lo, hi
            frame.insert(0, "group", g)
            parts.append(frame)
            if tab["events"].sum() == 0:
                diags.append(Diagnostic("no_events", "warning", f"group {g!r} has no events: its "
                                        "curve stays at 1"))
        if self.weights:
            diags.append(Diagnostic("weighted", "ok", "weighted curves: the Greenwood intervals "
                                    "ignore the weights' estimation; use a bootstrap for inference"))
        return KaplanMeierResult(self.duration, self.event, self.group,
                                 pd.concat(parts, ignore_index=True), self.ci_level, len(data),
                                 tuple(diags))
