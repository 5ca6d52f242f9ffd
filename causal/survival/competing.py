"""Competing risks: cumulative incidence (Aalen-Johansen) by group, with intervals.

A ticket ends resolved, escalated or abandoned (or is still open: censored). One minus a
Kaplan-Meier curve that treats the other endings as censoring overstates each ending's
probability; the Aalen-Johansen estimator does not. Intervals: Greenwood-type delta-method
variance with the log(-log) transform (Collett 2003; the formula lifelines uses), and
``cluster=`` gives a cluster bootstrap of the differences between groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from causal.results import EffectEstimate
from causal.survival._core import aalen_johansen, check_survival_frame, step_at
from servicelab.errors import DataError, DesignError
from servicelab.random import RNGLike, resolve_rng
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable
from servicelab.validation import require_columns

__all__ = ["CumulativeIncidence", "CumulativeIncidenceResult"]


def _loglog(F: np.ndarray, var: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        tr = np.log(-np.log(F))
        se = np.sqrt(var) / (F * np.abs(np.log(F)))
        lo = np.exp(-np.exp(tr + z * se))
        hi = np.exp(-np.exp(tr - z * se))
    lo = np.where(F <= 0, 0.0, lo)
    hi = np.where(F <= 0, 0.0, hi)
    return lo, hi


@dataclass(frozen=True, eq=False, repr=False)
class CumulativeIncidenceResult(ResultMixin):
    """Cumulative incidence curves (long ``table``: group, cause, time, cif, ci, se)."""

    duration: str
    cause_col: str
    group: str | None
    causes: tuple[Any, ...]
    table: pd.DataFrame
    ci_level: float
    n: int
    boot: dict[str, np.ndarray] | None = None
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)

    def at(self, t: float) -> pd.DataFrame:
        """CIF of every cause and group at time ``t``, with intervals."""
        rows = []
        for (g, c), sub in self.table.groupby(["group", "cause"], dropna=False, sort=False):
            tt = sub["time"].to_numpy()
            rows.append({"group": g, "cause": c, "time": t,
                         **{k: float(step_at(tt, sub[k].to_numpy(), t, start=0.0))
                            for k in ("cif", "se", "ci_low", "ci_high")}})
        return pd.DataFrame(rows)

    def difference(self, t: float, cause: Any, treatment: Any, control: Any, *,
                   population: str = "units compared") -> EffectEstimate:
        """CIF(treatment) - CIF(control) of ``cause`` at ``t`` (independent-groups SE, or the
        cluster bootstrap when the result was fitted with ``cluster=``).
        """
        a = self.at(t)
        sel = a[a["cause"] == cause].set_index("group")
        if treatment not in sel.index or control not in sel.index:
            raise DataError(f"groups {treatment!r}/{control!r} not in {list(sel.index)}")
        diff = float(sel.loc[treatment, "cif"] - sel.loc[control, "cif"])
        key = f"{cause}@{t}"
        if self.boot is not None and key in self.boot:
            v = self.boot[key]
            se = float(np.nanstd(v, ddof=1))
            method = "Aalen-Johansen, cluster bootstrap"
        else:
            se = float(np.hypot(sel.loc[treatment, "se"], sel.loc[control, "se"]))
            method = "Aalen-Johansen, Greenwood-type SE"
        return EffectEstimate.from_se(f"difference in P({cause} by {t:g})", population, method,
                                      diff, se, ci_level=self.ci_level, n=self.n,
                                      diagnostics=self.diagnostics)

    def summary(self) -> Summary:
        """Final cumulative incidence of each cause per group."""
        last = self.table.groupby(["group", "cause"], dropna=False, sort=False).tail(1)
        return Summary(f"Cumulative incidence of {list(self.causes)}", last.reset_index(drop=True),
                       info={"n": self.n, "ci_level": self.ci_level}, diagnostics=self.diagnostics,
                       notes=[("Aalen-Johansen: the other endings are competing events, not "
                              "censoring; the cumulative incidences and the still-open share sum "
                              "to one.")])

    def plot(self, ax: Any = None):
        """Cumulative incidence curves, one colour per cause, one line style per group."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(6, 3.5))[1]
        styles = ["-", "--", ":", "-."]
        for ci_, c in enumerate(self.causes):
            for gi, (g, sub) in enumerate(self.table[self.table["cause"] == c].groupby("group", dropna=False)):
                t = np.concatenate([[0.0], sub["time"].to_numpy()])
                f = np.concatenate([[0.0], sub["cif"].to_numpy()])
                ax.step(t, f, where="post", color=f"C{ci_}", ls=styles[gi % 4],
                        label=f"{c}" + ("" if g is None or (isinstance(g, float) and np.isnan(g))
                                        else f" ({g})"))
        ax.set_xlabel(self.duration)
        ax.set_ylabel("cumulative incidence")
        ax.legend(fontsize=8)
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (final values per group and cause)."""
        last = self.table.groupby(["group", "cause"], dropna=False, sort=False).tail(1)
        return jsonable({"duration": self.duration, "causes": list(self.causes), "n": self.n,
                         "ci_level": self.ci_level, "final": last.to_dict(orient="records"),
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})


@dataclass(frozen=True)
class CumulativeIncidence:
    """Aalen-Johansen cumulative incidence of several event types, optionally by group.

    Parameters
    ----------
    duration : str
        Time to the ending (or to censoring), >= 0; ties allowed.
    cause : str
        The ending: one of ``causes``, or ``censored``.
    causes : sequence, optional
        Event types to report (default: every value but ``censored``).
    censored : object
        The value of ``cause`` that means "still open" (default ``"censored"``; 0 also works
        when causes are coded 1, 2, ...).
    group : str, optional
        One set of curves per value (the experiment arm).
    cluster : str, optional
        With ``group`` and ``at``: cluster bootstrap of the between-group differences.
    at : sequence of float, optional
        Times at which the bootstrap records differences (needed with ``cluster``).
    n_boot : int
    ci_level : float

    Examples
    --------
    >>> df = pd.DataFrame({"t": [1, 2, 2, 3, 4, 5], "end": ["resolved", "escalated", "resolved",
    ...                    "censored", "resolved", "abandoned"]})
    >>> r = CumulativeIncidence("t", "end").fit(df)
    >>> round(float(r.at(2.0).set_index("cause").loc["resolved", "cif"]), 4)
    0.3333
    """

    duration: str
    cause: str
    causes: Sequence[Any] | None = None
    censored: Any = "censored"
    group: str | None = None
    cluster: str | None = None
    at: Sequence[float] | None = None
    n_boot: int = 200
    ci_level: float = 0.95

    def fit(self, data: pd.DataFrame, rng: RNGLike = None) -> CumulativeIncidenceResult:
        """Estimate the curves (and the bootstrap of differences when ``cluster`` is set)."""
        extra = [c for c in (self.group, self.cluster) if c]
        require_columns(data, [self.duration, self.cause, *extra], role="competing-risk columns",
                        allow_empty=False)
        check_survival_frame(data, self.duration, self.cause, extra, binary=False)
        values = [v for v in pd.unique(data[self.cause]) if v != self.censored]
        causes = list(self.causes) if self.causes is not None else sorted(values, key=str)
        unknown = sorted(set(values) - set(causes), key=str)
        if unknown:
            raise DataError(f"{self.cause!r} has endings {unknown} that are neither in causes "
                            f"{causes} nor the censoring value {self.censored!r}")
        if not causes:
            raise DataError(f"{self.cause!r} has no events (only {self.censored!r})")
        if self.cluster and (not self.group or not self.at):
            raise DesignError("cluster= needs group= and at= (the differences to bootstrap)")
        code = {c: i + 1 for i, c in enumerate(causes)}
        t = data[self.duration].to_numpy(float)
        k = data[self.cause].map(lambda v: code.get(v, 0)).to_numpy(np.int64)
        z = float(stats.norm.ppf(0.5 + self.ci_level / 2))
        groups = [(None, np.ones(len(t), bool))] if self.group is None else [
            (g, (data[self.group] == g).to_numpy()) for g in sorted(pd.unique(data[self.group]), key=str)]
        parts = []
        for g, m in groups:
            for c in causes:
                aj = aalen_johansen(t[m], k[m], code[c])
                lo, hi = _loglog(aj["cif"], aj["variance"], z)
                parts.append(pd.DataFrame({"group": g, "cause": c, "time": aj["time"], "cif": aj["cif"],
                                           "se": np.sqrt(aj["variance"]), "ci_low": lo, "ci_high": hi,
                                           "at_risk": aj["at_risk"]}))
        boot = None
        diags: list[Diagnostic] = []
        if self.cluster:
            boot = self._bootstrap(data, t, k, code, causes, groups, resolve_rng(rng))
            diags.append(Diagnostic("inference", "ok", f"differences between groups use a cluster "
                                    f"bootstrap by {self.cluster} ({self.n_boot} replicates)"))
        return CumulativeIncidenceResult(self.duration, self.cause, self.group, tuple(causes),
                                         pd.concat(parts, ignore_index=True), self.ci_level,
                                         len(data), boot, tuple(diags))

    def _bootstrap(self, data, t, k, code, causes, groups, gen) -> dict[str, np.ndarray]:
        if len(groups) != 2:
            raise DesignError("the cluster bootstrap of differences needs exactly two groups")
        (g0, _), (g1, _) = groups
        codes, _ = pd.factorize(data[self.cluster])
        order = np.argsort(codes, kind="stable")
        G = codes.max() + 1
        starts = np.searchsorted(codes[order], np.arange(G + 1))
        gv = data[self.group].to_numpy()
        out = {f"{c}@{a}": np.full(self.n_boot, np.nan) for c in causes for a in self.at}
        for b in range(self.n_boot):
            rows = np.concatenate([order[starts[g]:starts[g + 1]] for g in gen.integers(0, G, G)])
            tb, kb, gb = t[rows], k[rows], gv[rows]
            if not ((gb == g0).any() and (gb == g1).any()):
                continue
            for c in causes:
                f = []
                for g in (g1, g0):
                    m = gb == g
                    aj = aalen_johansen(tb[m], kb[m], code[c])
                    f.append(step_at(aj["time"], aj["cif"], np.asarray(self.at, float), start=0.0))
                for j, a in enumerate(self.at):
                    out[f"{c}@{a}"][b] = f[0][j] - f[1][j]
        return out
