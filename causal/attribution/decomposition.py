"""Mix against rate decomposition of a KPI change between two periods (Oaxaca–Blinder, Shapley).

A KPI that is a mean over units (AHT = mean handle time over answered contacts) is a weighted sum
over segments ``K = sum_c w_c m_c`` (``w_c`` the segment's share, ``m_c`` its mean). Its change
between a *before* period (0) and an *after* period (1) splits exactly into

- **shapley** (the default, symmetric): ``mix_c = dw_c (m̄_c - M̄)``, ``rate_c = w̄_c dm_c``, with
  ``m̄, w̄`` the two periods' averages and ``M̄ = (K_0 + K_1) / 2``; this is the Shapley value of the
  two-player game {shares, means}, so mix + rate = change with no residual;
- **twofold** (Oaxaca–Blinder, before as reference): ``mix_c = dw_c (m0_c - K_0)``,
  ``rate_c = w1_c dm_c``;
- **threefold**: ``mix_c = dw_c (m0_c - K_0)``, ``rate_c = w0_c dm_c``, ``interaction_c = dw_c dm_c``.

Centring the mix term (``- M̄``) changes no total (``sum_c dw_c = 0``) but makes each segment's mix
term readable: a shift toward a segment slower than average raises the KPI.

**Known interventions.** With ``launches`` (boolean exposure columns, e.g. routing v2's treated
flag, assist live at the agent's site), each segment's rate term is split further: the exposure
effect ``tau`` is the within-(period x segment) regression coefficient of the outcome on the
exposures, pooled over segments and periods, and ``launch_k = sum_c w_c de_ck tau_k`` (``de`` the
change of the exposed share); what is left is the rate change *other than the launches*. This is
the launch's effect only if exposure is as good as random within a segment and period (true for a
randomised experiment; for a rollout it rests on the sites' comparability): the result says so.

**Shapley over dimensions.** With several segment columns the mix term is also split among the
dimensions by the Shapley value of the game ``v(S) = sum_c (q_S(c) - w0_c) m̄_c`` where ``q_S``
moves the joint distribution of the dimensions in ``S`` to the after period and keeps the
conditional distribution of the others (DiNardo–Fortin–Lemieux reweighting); ``v(all)`` is the mix
total, so the dimension shares add up to it.

**Intervals.** Bootstrap standard errors (resampling clusters, e.g. customers, across both periods
when ``cluster`` is given, else rows within each period) and normal intervals from
:meth:`causal.EffectEstimate.from_se`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from causal.results import EffectEstimate
from servicelab.errors import DataError, DesignError
from servicelab.random import RNGLike, resolve_rng
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable
from servicelab.validation import require_columns, require_finite

__all__ = ["Decomposition", "DecompositionResult"]

Method = Literal["shapley", "twofold", "threefold"]
_SMALL_CELL = 30


@dataclass(frozen=True)
class _Stats:
    """Per (period, cell) sufficient statistics; arrays of shape (2, C) (and k for launches)."""

    n: np.ndarray
    s: np.ndarray
    e: np.ndarray  # (2, C, k) exposure sums
    ee: np.ndarray  # (2, C, k, k)
    ey: np.ndarray  # (2, C, k)


def _cell_stats(w: np.ndarray, key: np.ndarray, y: np.ndarray, e: np.ndarray, n_cells: int) -> _Stats:
    size = 2 * n_cells
    n = np.bincount(key, weights=w, minlength=size).reshape(2, n_cells)
    s = np.bincount(key, weights=w * y, minlength=size).reshape(2, n_cells)
    k = e.shape[1]
    es = np.zeros((size, k))
    ees = np.zeros((size, k, k))
    eys = np.zeros((size, k))
    for a in range(k):
        es[:, a] = np.bincount(key, weights=w * e[:, a], minlength=size)
        eys[:, a] = np.bincount(key, weights=w * e[:, a] * y, minlength=size)
        for b in range(a, k):
            ees[:, a, b] = ees[:, b, a] = np.bincount(key, weights=w * e[:, a] * e[:, b], minlength=size)
    return _Stats(n, s, es.reshape(2, n_cells, k), ees.reshape(2, n_cells, k, k), eys.reshape(2, n_cells, k))


def _components(st: _Stats, method: str, codes: np.ndarray | None) -> dict[str, Any]:
    """Cell-level components, launch effects and dimension Shapley values from the statistics."""
    n, s = st.n, st.s
    tot = n.sum(axis=1)
    w = n / tot[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(n > 0, s / np.where(n > 0, n, 1.0), np.nan)
    kpi = (w * np.nan_to_num(m)).sum(axis=1)
    both = (n > 0).all(axis=0)
    dw = w[1] - w[0]
    dm = np.where(both, m[1] - m[0], 0.0)
    only = np.where(n[1] > 0, m[1], m[0])  # the one available mean of an unmatched cell
    if method == "shapley":
        m_ref = np.where(both, (m[0] + m[1]) / 2, only)
        center = kpi.mean()
        rate_w = (w[0] + w[1]) / 2
    else:
        m_ref = np.where(both, m[0], only)
        center = kpi[0]
        rate_w = w[1] if method == "twofold" else w[0]
    mix = dw * (m_ref - center)
    rate = np.where(both, rate_w * dm, 0.0)
    inter = np.where(both, dw * dm, 0.0) if method == "threefold" else np.zeros_like(mix)
    out: dict[str, Any] = {"kpi": kpi, "w": w, "m": m, "mix": mix, "rate": rate, "interaction": inter}
    k = st.e.shape[2]
    if k:
        # within-(period, cell) regression of y on the exposures, pooled
        with np.errstate(invalid="ignore", divide="ignore"):
            nn = np.where(n > 0, n, 1.0)
            ebar = st.e / nn[..., None]
            ybar = s / nn
        sxx = (st.ee - n[..., None, None] * ebar[..., :, None] * ebar[..., None, :]).sum(axis=(0, 1))
        sxy = (st.ey - n[..., None] * ebar * ybar[..., None]).sum(axis=(0, 1))
        tau = np.linalg.solve(sxx, sxy) if np.linalg.matrix_rank(sxx) == k else np.full(k, np.nan)
        de = np.where(both[:, None], ebar[1] - ebar[0], 0.0)
        launch = rate_w[:, None] * de * tau[None, :]
        out["tau"] = tau
        out["launch"] = launch
        out["rate"] = rate - launch.sum(axis=1)
        out["exposed"] = ebar
    if codes is not None:
        out["dimensions"] = _dimension_shapley(w, m_ref, codes)
    return out


def _dimension_shapley(w: np.ndarray, m_ref: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Shapley value of each dimension in the mix game (DFL reweighting of the before shares)."""
    d = codes.shape[1]
    value: dict[tuple[int, ...], float] = {}
    for r in range(d + 1):
        for sub in itertools.combinations(range(d), r):
            if not sub:
                value[sub] = 0.0
                continue
            key = np.ravel_multi_index(codes[:, list(sub)].T, codes[:, list(sub)].max(axis=0) + 1)
            p0 = np.bincount(key, weights=w[0])
            p1 = np.bincount(key, weights=w[1])
            with np.errstate(invalid="ignore", divide="ignore"):
                q = np.where(p0[key] > 0, w[0] * p1[key] / p0[key], np.nan)
            value[sub] = float(np.nansum((q - w[0]) * m_ref)) if np.isfinite(q).all() else np.nan
    phi = np.zeros(d)
    for j in range(d):
        others = [i for i in range(d) if i != j]
        for r in range(d):
            for sub in itertools.combinations(others, r):
                wt = math.factorial(r) * math.factorial(d - r - 1) / math.factorial(d)
                with_j = tuple(sorted((*sub, j)))
                phi[j] += wt * (value[with_j] - value[sub])
    return phi


@dataclass(frozen=True)
class Decomposition:
    """Mix against rate decomposition of the change of a mean KPI between two periods.

    Parameters
    ----------
    outcome : str
        Column whose mean is the KPI (e.g. ``handle_s`` over answered contacts: filter first).
    segments : tuple of str
        Segment columns; the cells are their combinations (e.g. ``("queue", "reason")``).
    period : str
        Column holding the period label of each row.
    before, after : any
        The two labels of ``period``; other labels are an error.
    method : {"shapley", "twofold", "threefold"}
        See the module docstring.
    launches : tuple of str
        Boolean exposure columns of known interventions (see the module docstring).
    cluster : str, optional
        Resampling unit of the bootstrap (e.g. ``customer_id``); rows when omitted.
    n_boot : int
        Bootstrap replications (>= 50).
    ci_level : float
        Level of the normal intervals.
    unmatched : {"error", "mix"}
        A segment present in only one period has no rate change: ``"error"`` (default) refuses,
        ``"mix"`` books its whole contribution as mix and says so in a warning diagnostic.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> f = pd.DataFrame({"period": np.repeat(["a", "b"], 400), "seg": rng.choice(["x", "y"], 800),
    ...                   "y": rng.normal(10, 1, 800)})
    >>> r = Decomposition("y", ("seg",), before="a", after="b", n_boot=50).fit(f, rng=1)
    >>> bool(abs(r.total("mix") + r.total("rate") - r.total("change")) < 1e-9)
    True
    """

    outcome: str
    segments: tuple[str, ...]
    period: str = "period"
    before: Any = "before"
    after: Any = "after"
    method: Method = "shapley"
    launches: tuple[str, ...] = ()
    cluster: str | None = None
    n_boot: int = 200
    ci_level: float = 0.95
    unmatched: Literal["error", "mix"] = "error"

    def _check(self) -> None:
        if self.method not in ("shapley", "twofold", "threefold"):
            raise DesignError(f"method must be 'shapley', 'twofold' or 'threefold', got {self.method!r}")
        if isinstance(self.segments, str) or not self.segments:
            raise DesignError(f"segments must be a non-empty tuple of column names, got {self.segments!r}")
        if self.unmatched not in ("error", "mix"):
            raise DesignError(f"unmatched must be 'error' or 'mix', got {self.unmatched!r}")
        if self.n_boot < 50:
            raise DesignError(f"n_boot must be >= 50 for a usable standard error, got {self.n_boot}")
        if not 0 < self.ci_level < 1:
            raise DesignError(f"ci_level must be in (0, 1), got {self.ci_level}")
        if self.before == self.after:
            raise DesignError("before and after must be different period labels")

    def fit(self, data: pd.DataFrame, rng: RNGLike = None) -> DecompositionResult:
        """Decompose the change of ``mean(outcome)`` from ``before`` to ``after``.

        Raises
        ------
        DataError
            Missing columns, NULL/inf outcomes, NULL segment values, a period without rows,
            periods sharing no segment, a segment present in one period only (unless
            ``unmatched="mix"``), a launch without variation inside any segment.
        """
        self._check()
        segs = list(self.segments)
        cols = [self.outcome, self.period, *segs, *self.launches] + ([self.cluster] if self.cluster else [])
        require_columns(data, cols, role="decomposition columns", allow_empty=False)
        labels = set(pd.unique(data[self.period]))
        missing = [p for p in (self.before, self.after) if p not in labels]
        if missing:
            raise DataError(f"period column {self.period!r} has no rows labelled {missing} (labels: "
                            f"{sorted(map(str, labels))[:10]}); pass the two labels as before/after")  # fmt: skip
        extra = labels - {self.before, self.after}
        if extra:
            raise DataError(f"period column {self.period!r} holds labels other than before/after: "
                            f"{sorted(map(str, extra))[:10]}; filter the frame to the two periods")  # fmt: skip
        require_finite(data, [self.outcome], role="outcome",
                       fix="filter to the rows the KPI is defined on (e.g. answered contacts)")  # fmt: skip
        nulls = [c for c in segs + ([self.cluster] if self.cluster else []) if data[c].isna().any()]
        if nulls:
            raise DataError(f"segment/cluster columns {nulls} hold NULL values; label them (e.g. "
                            "fillna('unknown')) or filter those rows")  # fmt: skip
        for c in self.launches:
            vals = set(pd.unique(data[c]))
            if not vals <= {True, False}:
                raise DataError(f"launch column {c!r} must be boolean exposure (0/1), got values "
                                f"{sorted(map(str, vals))[:5]}")
        y = data[self.outcome].to_numpy(dtype=float)
        p = (data[self.period] == self.after).to_numpy().astype(np.int64)
        cell = data.groupby(segs, sort=True, observed=True).ngroup().to_numpy()
        keys = data[segs].drop_duplicates().sort_values(segs).reset_index(drop=True)
        n_cells = len(keys)
        e = data[list(self.launches)].to_numpy(dtype=float) if self.launches else np.zeros((len(data), 0))
        key = p * n_cells + cell
        st = _cell_stats(np.ones(len(data)), key, y, e, n_cells)
        present = st.n > 0
        diags: list[Diagnostic] = []
        if not (present[0] & present[1]).any():
            raise DataError(f"the two periods share no segment of {segs}: nothing to compare the rates of; "
                            "use coarser segments or check the period filters")  # fmt: skip
        one = present[0] ^ present[1]
        if one.any():
            lab = keys[one].astype(str).agg("/".join, axis=1).tolist()
            where = ["before" if present[0, i] else "after" for i in np.flatnonzero(one)]
            desc = ", ".join(f"{a} (only {b})" for a, b in zip(lab[:5], where[:5], strict=True))
            if self.unmatched == "error":
                raise DataError(f"{int(one.sum())} segments are present in one period only: {desc}; they "
                                "have no rate change. Coarsen the segments, filter them, or pass "
                                "unmatched='mix' to book their contribution as mix")  # fmt: skip
            diags.append(Diagnostic("unmatched_segments", "warning",
                                    f"{int(one.sum())} segments in one period only ({desc}): their whole "
                                    "contribution is booked as mix", float(one.sum())))  # fmt: skip
        small = (st.n < _SMALL_CELL) & present
        if small.any():
            diags.append(Diagnostic("small_segments", "warning",
                                    f"{int(small.any(axis=0).sum())} segments have fewer than {_SMALL_CELL} rows "
                                    "in a period; their rates are noisy (see the intervals)",
                                    float(small.any(axis=0).sum())))  # fmt: skip
        codes = None
        if len(segs) > 1 and not one.any():
            codes = np.column_stack([pd.factorize(keys[c], sort=True)[0] for c in segs])
        point = _components(st, self.method, codes)
        if self.launches:
            if not np.isfinite(point["tau"]).all():
                raise DataError(f"launches {list(self.launches)} do not vary inside any (period, segment) "
                                "cell (or are collinear): their effect cannot be separated from the rate "
                                "change; drop them or use finer periods")  # fmt: skip
            diags.append(Diagnostic("launch_identification", "ok",
                                    "launch effects are within-(period, segment) differences between exposed and "
                                    "unexposed rows; they are causal only if exposure is as good as random "
                                    "there (a randomised experiment; for a rollout, comparable sites)"))  # fmt: skip
        # ---- bootstrap
        gen = resolve_rng(rng)
        if self.cluster:
            cl, _ = pd.factorize(data[self.cluster])
            n_cl = int(cl.max()) + 1
        boots: list[dict[str, Any]] = []
        idx_p = [np.flatnonzero(p == 0), np.flatnonzero(p == 1)]
        for _ in range(self.n_boot):
            if self.cluster:
                wcl = np.bincount(gen.integers(0, n_cl, n_cl), minlength=n_cl).astype(float)
                wb = wcl[cl]
            else:
                wb = np.zeros(len(data))
                for ix in idx_p:
                    wb[ix] = np.bincount(gen.integers(0, ix.size, ix.size), minlength=ix.size)
            sb = _cell_stats(wb, key, y, e, n_cells)
            if (sb.n.sum(axis=1) == 0).any():
                continue
            boots.append(_components(sb, self.method, codes))
        return DecompositionResult._build(self, keys, st, point, boots, tuple(diags))


def _se(values: np.ndarray) -> np.ndarray:
    return np.nanstd(values, axis=0, ddof=1)


@dataclass(frozen=True, eq=False, repr=False)
class DecompositionResult(ResultMixin):
    """Components of a KPI change: totals, per segment, per launch and per dimension.

    Attributes
    ----------
    totals : DataFrame
        One row per component (``change``, ``mix``, ``rate``, ``interaction``, ``launch:<name>``)
        with estimate, se and interval.
    contributions : DataFrame
        One row per (component, segment): ``component``, ``segment`` (cell label ``a/b``),
        the segment columns, estimate, se, ci_low, ci_high.
    cells : DataFrame
        Per segment: rows, shares and means in both periods.
    dimensions : DataFrame
        Shapley mix share of each segment dimension (empty with one dimension).
    launches : DataFrame
        Per launch: the pooled exposure effect ``tau`` and the exposed share in both periods.
    """

    spec: Decomposition
    totals: pd.DataFrame
    contributions: pd.DataFrame
    cells: pd.DataFrame
    dimensions: pd.DataFrame
    launches: pd.DataFrame
    kpi_before: float
    kpi_after: float
    n_boot: int
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)
    draws: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # component -> (boot x cell)

    # ---------------------------------------------------------------- construction
    @classmethod
    def _build(cls, spec: Decomposition, keys: pd.DataFrame, st: _Stats, point: dict[str, Any],
               boots: list[dict[str, Any]], diags: tuple[Diagnostic, ...]) -> DecompositionResult:  # fmt: skip
        lvl = spec.ci_level
        label = keys.astype(str).agg("/".join, axis=1).to_numpy()
        pop = f"mean {spec.outcome}, {spec.period} {spec.before} -> {spec.after}"
        method = f"{spec.method} decomposition, bootstrap SE ({len(boots)} replicates)"

        def est(name: str, value: float, draws: np.ndarray) -> dict[str, Any]:
            se = float(np.nanstd(draws, ddof=1)) if draws.size > 1 else None
            row = EffectEstimate.from_se(name, pop, method, float(value), se, ci_level=lvl,
                                         n=int(st.n.sum())).to_row()  # fmt: skip
            return {"component": name, **{k: row[k] for k in ("estimate", "se", "ci_low", "ci_high", "pvalue")}}

        comps = ["mix", "rate"] + (["interaction"] if spec.method == "threefold" else [])
        rows = [est("change", point["kpi"][1] - point["kpi"][0], np.array([b["kpi"][1] - b["kpi"][0] for b in boots]))]
        rows.extend(est(c, point[c].sum(), np.array([b[c].sum() for b in boots])) for c in comps)
        contrib = []
        key_dicts = keys.to_dict(orient="records")
        all_draws: dict[str, np.ndarray] = {"_point_" + c: np.asarray(point[c]) for c in comps}
        for c in comps:
            draws = np.array([b[c] for b in boots])
            all_draws[c] = draws
            se = _se(draws)
            for i in range(len(keys)):
                r = est(c, point[c][i], draws[:, i]) if np.isfinite(se[i]) else {
                    "component": c, "estimate": float(point[c][i]), "se": None, "ci_low": np.nan,
                    "ci_high": np.nan, "pvalue": None}  # fmt: skip
                contrib.append({**r, "segment": label[i], **key_dicts[i]})
        launches = pd.DataFrame(columns=["launch", "tau", "tau_se", "exposed_before", "exposed_after"])
        if spec.launches:
            lrows = []
            for j, name in enumerate(spec.launches):
                draws = np.array([b["launch"][:, j].sum() for b in boots])
                rows.append(est(f"launch:{name}", point["launch"][:, j].sum(), draws))
                ld = np.array([b["launch"][:, j] for b in boots])
                all_draws[f"launch:{name}"] = ld
                all_draws[f"_point_launch:{name}"] = np.asarray(point["launch"][:, j])
                contrib.extend({**est(f"launch:{name}", point["launch"][i, j], ld[:, i]), "segment": label[i],
                                **key_dicts[i]} for i in range(len(keys)))
                share = (st.e[:, :, j].sum(axis=1) / st.n.sum(axis=1))
                lrows.append({"launch": name, "tau": float(point["tau"][j]),
                              "tau_se": float(np.nanstd([b["tau"][j] for b in boots], ddof=1)),
                              "exposed_before": float(share[0]), "exposed_after": float(share[1])})  # fmt: skip
            launches = pd.DataFrame(lrows)
        dims = pd.DataFrame(columns=["dimension", "estimate", "se", "ci_low", "ci_high"])
        if "dimensions" in point:
            dd = np.array([b["dimensions"] for b in boots])
            drows = []
            for j, name in enumerate(spec.segments):
                r = est(f"mix:{name}", point["dimensions"][j], dd[:, j])
                drows.append({"dimension": name, **{k: r[k] for k in ("estimate", "se", "ci_low", "ci_high")}})
            dims = pd.DataFrame(drows)
        w, m = point["w"], point["m"]
        cells = keys.copy()
        cells.insert(0, "segment", label)
        cells["n_before"] = st.n[0].astype(np.int64)
        cells["n_after"] = st.n[1].astype(np.int64)
        cells["share_before"], cells["share_after"] = w[0], w[1]
        cells["mean_before"], cells["mean_after"] = m[0], m[1]
        if len(boots) < spec.n_boot:
            diags = (*diags, Diagnostic("bootstrap", "warning",
                                        f"{spec.n_boot - len(boots)} bootstrap replicates lost a whole period "
                                        "and were dropped", float(len(boots))))  # fmt: skip
        return cls(spec, pd.DataFrame(rows), pd.DataFrame(contrib), cells, dims, launches,
                   float(point["kpi"][0]), float(point["kpi"][1]), len(boots), diags, all_draws)

    # ---------------------------------------------------------------- access
    def total(self, component: str) -> float:
        """Point estimate of one total (``change``, ``mix``, ``rate``, ``interaction``, ``launch:<name>``)."""
        t = self.totals.set_index("component")
        if component not in t.index:
            raise KeyError(f"no component {component!r}; have {list(t.index)}")
        return float(t.loc[component, "estimate"])

    def contribution(self, component: str, segment: str) -> pd.Series:
        """The row of one segment's contribution (``segment`` is the cell label ``a/b``)."""
        c = self.contributions
        m = (c["component"] == component) & (c["segment"] == segment)
        if m.sum() != 1:
            raise KeyError(f"no contribution {component!r} for segment {segment!r}")
        return c[m].iloc[0]

    def aggregate(self, dimension: str, component: str) -> pd.DataFrame:
        """Sum of one component over the segments sharing each value of ``dimension``, with intervals.

        E.g. ``aggregate("reason", "mix")`` with segments ``("queue", "reason")``: the mix
        contribution of each reason, summed over queues, its bootstrap SE from the same replicates.
        """
        if dimension not in self.spec.segments:
            raise KeyError(f"{dimension!r} is not a segment column ({list(self.spec.segments)})")
        if component not in self.draws:
            raise KeyError(f"no component {component!r}; have {[k for k in self.draws if not k.startswith('_')]}")
        values = self.cells[dimension].to_numpy()
        point, draws = self.draws["_point_" + component], self.draws[component]
        pop = f"mean {self.spec.outcome}, {self.spec.period} {self.spec.before} -> {self.spec.after}"
        rows = []
        for v in pd.unique(values):
            m = values == v
            se = float(np.nanstd(draws[:, m].sum(axis=1), ddof=1))
            e = EffectEstimate.from_se(f"{component} {dimension}={v}", pop, f"{self.spec.method} decomposition",
                                       float(point[m].sum()), se, ci_level=self.spec.ci_level)  # fmt: skip
            rows.append({"component": component, dimension: v, "estimate": e.estimate, "se": e.se,
                         "ci_low": e.ci_low, "ci_high": e.ci_high})  # fmt: skip
        return pd.DataFrame(rows)

    def top(self, k: int = 3) -> pd.DataFrame:
        """The ``k`` largest segment contributions by absolute size, and the rest as ``other``."""
        c = self.contributions[["component", "segment", "estimate", "ci_low", "ci_high"]].copy()
        c = c.reindex(c["estimate"].abs().sort_values(ascending=False).index)
        head = c.head(k)
        rest = pd.DataFrame([{"component": "other", "segment": "all other", "estimate": c["estimate"].iloc[k:].sum(),
                              "ci_low": np.nan, "ci_high": np.nan}])  # fmt: skip
        return pd.concat([head, rest], ignore_index=True)

    def narrative(self, k: int = 2, unit: str = "") -> str:
        """One sentence: "of the +42 s change, +30 s is the mix shift toward X, ... other"."""
        t = self.top(k)
        words = {"mix": "the shift of the mix toward", "rate": "the rate change of",
                 "interaction": "the interaction in"}
        parts = []
        for r in t.itertuples():
            if r.component == "other":
                parts.append(f"{r.estimate:+.1f}{unit} is everything else")
            elif r.component.startswith("launch:"):
                parts.append(f"{r.estimate:+.1f}{unit} is the launch {r.component[7:]} in {r.segment}")
            else:
                parts.append(f"{r.estimate:+.1f}{unit} is {words[r.component]} {r.segment}")
        return f"of the {self.total('change'):+.1f}{unit} change, " + ", ".join(parts)

    # ---------------------------------------------------------------- protocol
    def summary(self) -> Summary:
        """Totals with intervals; segment detail is in :attr:`contributions`."""
        s = self.spec
        return Summary(f"KPI change decomposition ({s.method}): mean {s.outcome}", self.totals,
                       info={"before": f"{s.before}: {self.kpi_before:.4g}",
                             "after": f"{s.after}: {self.kpi_after:.4g}",
                             "segments": ", ".join(s.segments), "launches": ", ".join(s.launches) or "none",
                             "bootstrap": f"{self.n_boot} replicates, resampling {s.cluster or 'rows within period'}"},
                       diagnostics=self.diagnostics,
                       notes=[("mix + rate (+ interaction + launches) = change exactly; a segment's mix term "
                               "is its share change times its mean's distance from the overall mean")])

    def plot(self, ax: Any = None, k: int = 6, truth: dict[tuple[str, str], float] | None = None):
        """Waterfall of the largest contributions (bars with intervals), optional truth markers.

        ``truth`` maps ``(component, segment)`` to a true contribution, drawn as a diamond.
        """
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(8, 4))[1]
        t = self.top(k)
        start = 0.0
        for i, r in enumerate(t.itertuples()):
            color = {"mix": "C0", "rate": "C1", "interaction": "C2", "other": "grey"}.get(r.component, "C3")
            ax.bar(i, r.estimate, bottom=start, color=color, alpha=0.8)
            if np.isfinite(r.ci_low):
                ax.errorbar(i, start + r.estimate, yerr=[[r.estimate - r.ci_low], [r.ci_high - r.estimate]],
                            color="black", capsize=3, lw=1)  # fmt: skip
            if truth and (r.component, r.segment) in truth:
                first = "truth" not in ax.get_legend_handles_labels()[1]
                ax.plot(i, start + truth[(r.component, r.segment)], "D", color="red", ms=6,
                        label="truth" if first else None)
            start += r.estimate
        ax.bar(len(t), self.total("change"), color="black", alpha=0.6)
        ax.set_xticks(range(len(t) + 1))
        ax.set_xticklabels([f"{r.component}\n{r.segment}" for r in t.itertuples()] + ["change"], fontsize=7)
        ax.axhline(0, color="black", lw=0.5)
        ax.set_ylabel(f"contribution to the change of mean {self.spec.outcome}")
        if truth:
            ax.legend()
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return jsonable({"kpi_before": self.kpi_before, "kpi_after": self.kpi_after, "method": self.spec.method,
                         "totals": self.totals.to_dict(orient="records"),
                         "contributions": self.contributions.to_dict(orient="records"),
                         "dimensions": self.dimensions.to_dict(orient="records"),
                         "launches": self.launches.to_dict(orient="records"),
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})  # fmt: skip
