"""The ``Experiment`` spec and its immutable ``ExperimentResult``.

Declare, then analyse::

    exp = Experiment(
        aht=RatioOfMeans("handle_s_sum", "answered", covariate="pre_handle_s",
                         higher_is_better=False),
        csat=RatioOfMeans("csat_sum", "csat_n", higher_is_better=True, margin=0.02),
        variant="variant", control="control", guardrails=("csat",), segment="tier",
    )
    result = exp.analyze(frame)            # pandas
    result = exp.analyze((con, "routing_ab_customers"))   # DuckDB: statistics computed in SQL
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from causal.experiments._data import ALL, MomentRequest, Moments, Source
from causal.experiments.inference import (
    SRMResult,
    ZeroVarianceError,
    _dist,
    adjust_pvalues,
    srm_test,
    welch_anova,
)
from causal.experiments.metrics import (
    MannWhitney,
    Metric,
    Proportion,
    Quantile,
    RatioOfMeans,
    direction_label,
)
from causal.experiments.quantile import RowData
from causal.experiments.sequential import always_valid
from causal.results import EffectEstimate
from servicelab.errors import DataError, DesignError
from servicelab.random import RNGLike, resolve_rng
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable

__all__ = ["VERDICTS", "Experiment", "ExperimentResult"]

VERDICTS = ("SHIP CANDIDATE", "HOLD", "DO NOT SHIP", "INCONCLUSIVE", "NO DECISION")
"""The verdicts :meth:`ExperimentResult.decision` can reach (the first word(s) of its sentence)."""

Correction = Literal["holm", "bonferroni", "bh", "by", "none"]
NanPolicy = Literal["raise", "drop"]


class Experiment:
    """An A/B (or A/B/n) experiment spec: metrics, arms, design checks. Holds parameters only.

    Parameters
    ----------
    metrics : mapping of name -> Metric, optional
        Metrics to analyse; they can also be given as keyword arguments (tea-tasting style).
    variant : str
        Column holding the arm label of each randomisation unit.
    control : hashable
        Label of the control arm.
    arms : sequence, optional
        All labels the design allows. Labels in the data outside this list raise
        :class:`~servicelab.errors.DataError` (a typo or a leaked test arm).
    expected_split : sequence of float, optional
        Designed allocation, in the order of ``arms`` (or control first, then the other labels
        sorted). Equal split by default. Used by the SRM check.
    segment : str, optional
        Column to slice by; segment-level p-values are corrected within each metric and arm.
    guardrails : sequence of str
        Metric names treated as guardrails (non-inferiority / no-harm), outside the primary
        multiple-testing family.
    balance : sequence of str
        Pre-period columns checked for balance (metric covariates are always checked).
    correction, segment_correction : {"holm", "bonferroni", "bh", "by", "none"}
        Multiple-testing correction over the primary family (metrics × arms) and over segments.
    ci_level : float
        Two-sided interval level (default 0.95).
    nan_policy : {"raise", "drop"}
        Missing values in metric or covariate columns: raise :class:`DataError`, or drop the
        incomplete units for that metric and report how many were dropped in the diagnostics.
    srm_threshold : float
        p-value below which the SRM check fails (default 0.001).
    name, unit : str
        Experiment name and randomisation unit (named in the results).
    cluster : str, optional
        Column identifying the randomisation unit when the data hold several rows per unit (one
        row per contact, ``cluster="customer_id"``). The SRM check then counts units; ``Mean``,
        ``Proportion`` and ``RatioOfMeans`` of row columns are analysed as ratios of unit-level
        sums (delta method); ``Quantile`` and ``ServiceLevelMetric`` intervals are clustered by
        unit. Covariates and balance columns are unit-level (their unit mean is used). The arm
        (and segment) must be constant within a unit. Rows are aggregated in pandas (warehouse
        inputs fetch only the needed columns).
    msprt_tau : float or mapping of metric -> float, optional
        Mixing standard deviation (in effect units) of the always-valid mSPRT intervals the
        result carries for every metric with a standard error (columns ``av_ci_low``,
        ``av_ci_high``, ``av_pvalue``). Default: 5% of the control mean of each metric (a
        relative effect of about 5% is where the mixture is tuned to detect fastest).

    Examples
    --------
    >>> import pandas as pd
    >>> from causal.experiments import Mean
    >>> df = pd.DataFrame({"variant": ["control", "treatment"] * 50,
    ...                    "y": [float(i % 7) for i in range(100)]})
    >>> res = Experiment(y=Mean("y")).analyze(df)
    >>> res.table.loc[0, "metric"]
    'y'
    """

    def __init__(
        self,
        metrics: Mapping[str, Metric] | None = None,
        /,
        *,
        variant: str = "variant",
        control: Hashable = "control",
        arms: Sequence[Hashable] | None = None,
        expected_split: Sequence[float] | None = None,
        segment: str | None = None,
        guardrails: Sequence[str] = (),
        balance: Sequence[str] = (),
        correction: Correction = "holm",
        segment_correction: Correction = "holm",
        ci_level: float = 0.95,
        nan_policy: NanPolicy = "raise",
        srm_threshold: float = 0.001,
        name: str = "experiment",
        unit: str = "customer",
        cluster: str | None = None,
        msprt_tau: float | Mapping[str, float] | None = None,
        **named_metrics: Metric,
    ) -> None:
        self.metrics = dict(metrics or {}) | dict(named_metrics)
        self.variant = variant
        self.control = control
        self.arms = tuple(arms) if arms is not None else None
        self.expected_split = tuple(expected_split) if expected_split is not None else None
        self.segment = segment
        self.guardrails = tuple(guardrails)
        self.balance = tuple(balance)
        self.correction = correction
        self.segment_correction = segment_correction
        self.ci_level = ci_level
        self.nan_policy = nan_policy
        self.srm_threshold = srm_threshold
        self.name = name
        self.unit = unit
        self.cluster = cluster
        self.msprt_tau = msprt_tau

    def __repr__(self) -> str:
        ms = ", ".join(f"{k}={v!r}" for k, v in self.metrics.items())
        return f"Experiment({ms}, variant={self.variant!r}, control={self.control!r})"

    # -- validation -----------------------------------------------------------------------
    def _validate_spec(self) -> None:
        if not self.metrics:
            raise DesignError("Experiment needs at least one metric, e.g. y=Mean('y')")
        for k, m in self.metrics.items():
            if not isinstance(m, Metric):
                raise DesignError(f"metric {k!r} is a {type(m).__name__}, not a Metric")
        unknown = [g for g in self.guardrails if g not in self.metrics]
        if unknown:
            raise DesignError(f"guardrails {unknown} are not metric names {list(self.metrics)}")
        if self.nan_policy not in ("raise", "drop"):
            raise DesignError(f"nan_policy must be 'raise' or 'drop', got {self.nan_policy!r}")
        if not 0 < self.ci_level < 1:
            raise DesignError(f"ci_level must be in (0, 1), got {self.ci_level}")
        if self.arms is not None and self.control not in self.arms:
            raise DesignError(f"control {self.control!r} is not among arms {list(self.arms)}")
        undirected = [g for g in self.guardrails
                      if getattr(self.metrics[g], "higher_is_better", None) is None]
        if undirected:
            raise DesignError(
                f"guardrail(s) {undirected} have no declared direction, so harm is undefined; "
                "pass higher_is_better=True or False to the metric"
            )
        if self.cluster is not None:
            ranks = [k for k, m in self.metrics.items() if isinstance(m, MannWhitney)]
            if ranks:
                raise DesignError(
                    f"metric(s) {ranks}: a rank test of rows ignores cluster={self.cluster!r}; "
                    "aggregate to units first (one row per unit) or use Quantile / Mean"
                )

    def _arms(self, counts: pd.DataFrame) -> list[Hashable]:
        labels = counts[self.variant]
        if labels.isna().any():
            n_na = int(counts.loc[labels.isna(), "n"].sum())
            raise DataError(
                f"{n_na} units have a missing {self.variant!r}; assign or drop them first"
            )
        seen = list(dict.fromkeys(labels.tolist()))
        if self.control not in seen:
            raise DataError(
                f"control label {self.control!r} not found in column {self.variant!r} "
                f"(labels present: {seen}); pass control=<label>"
            )
        if self.arms is not None:
            unknown = [x for x in seen if x not in self.arms]
            if unknown:
                raise DataError(
                    f"unknown variant label(s) {unknown} in {self.variant!r}; the design allows "
                    f"{list(self.arms)}. Fix the assignment data or declare the arm."
                )
            missing = [a for a in self.arms if a not in seen]
            if missing:
                raise DataError(f"arm(s) {missing} declared in arms= have no units in the data")
            ordered = list(self.arms)
        else:
            others = sorted((x for x in seen if x != self.control), key=str)
            ordered = [self.control, *others]
        if len(ordered) < 2:
            raise DesignError(
                f"only one arm ({ordered[0]!r}) in {self.variant!r}: an experiment needs a "
                "control and at least one treatment"
            )
        return ordered

    # -- analysis -------------------------------------------------------------------------
    def analyze(self, data: Any, *, rng: RNGLike = None) -> ExperimentResult:
        """Analyse ``data``: a pandas DataFrame (one row per randomisation unit), a DuckDB
        relation, or ``(duckdb_connection, table_or_select)``; for the warehouse inputs the
        sufficient statistics are computed in SQL and only a few rows reach Python.

        ``rng`` seeds the bootstrap of ``Quantile`` metrics.
        """
        self._validate_spec()
        src = Source(data)
        seg = self.segment
        src.require([self.variant] + ([seg] if seg else []) + (
            [self.cluster] if self.cluster else []), "variant/segment/cluster")
        for key, m in self.metrics.items():
            src.require(m.source_columns(), f"metric {key!r}")
        src.require(self.balance, "balance columns")
        gen = resolve_rng(rng)
        # infinite values are not missing data (no nan_policy applies): they would turn every
        # sum into inf and every effect into NaN, so they are an error naming column and count
        value_cols = list(dict.fromkeys(
            [c for m in self.metrics.values()
             for c in getattr(m, "finite_columns", m.source_columns)()] + list(self.balance)))
        invalid = {c.column: c for c in src.invalid_counts(value_cols)}
        metrics = self.metrics
        rows_frame: pd.DataFrame | None = None
        n_rows = None
        if self.cluster is not None or any(m.derived for m in metrics.values()):
            src, metrics, rows_frame, n_rows = self._units_from_rows(src)
        infinite = [c for c in invalid.values() if c.inf]
        if infinite:
            raise DataError(
                "infinite values in "
                + "; ".join(f"{c.column!r}: {c.inf:,} of {c.n:,} units are +-inf"
                            for c in infinite)
                + ". They are not missing values: repair them upstream (a division by zero, a "
                "sentinel), or set them to NULL and pass nan_policy='drop' to drop those units "
                "(reported)."
            )

        counts = src.arm_counts(self.variant, seg)
        arms = self._arms(counts)
        control, treatments = arms[0], arms[1:]
        diags: list[Diagnostic] = []

        # SRM on all units (before any NaN handling)
        by_arm = counts.groupby(self.variant)["n"].sum()
        arm_n = [int(by_arm.get(a, 0)) for a in arms]
        srm = srm_test(arm_n, self.expected_split, threshold=self.srm_threshold)
        diags.append(_srm_diagnostic(srm, arms))

        # sufficient statistics
        reqs: list[MomentRequest] = []
        for key, m in metrics.items():
            if not m.raw:
                reqs += m.requests(key)
        bal_cols = list(
            dict.fromkeys(
                [c for m in metrics.values() for c in _covariates(m)] + list(self.balance)
            )
        )
        reqs += [MomentRequest(f"__bal__{c}", (c,)) for c in bal_cols]
        moments = src.moments(self.variant, seg, reqs) if reqs else {}
        raw_cols = [c for m in metrics.values() if m.raw for c in m.raw_columns()]
        raw = (
            (rows_frame if rows_frame is not None else src.fetch(
                [self.variant] + ([seg] if seg else []) + raw_cols))
            if raw_cols else None
        )

        # NaN policy
        for key, m in metrics.items():
            miss = (
                _raw_missing(raw, m)
                if m.raw
                else sum(mm.missing for mm in moments[key].values())
            )
            if miss:
                cols = m.all_columns()
                if self.nan_policy == "raise":
                    per_col = ", ".join(f"{c!r}: {invalid[c].null:,}" for c in cols
                                        if c in invalid and invalid[c].null)
                    raise DataError(
                        f"metric {key!r}: {miss} units have missing values in {list(cols)}"
                        + (f" ({per_col} of {next(iter(invalid.values())).n:,})" if per_col
                           else "")
                        + "; fill them, or pass nan_policy='drop' to drop those units (reported)"
                    )
                diags.append(
                    Diagnostic(
                        f"missing:{key}", "warning",
                        f"dropped {miss} units with missing values in {list(cols)} "
                        "(nan_policy='drop'); check the data are missing at random",
                        float(miss),
                    )
                )
        for c in bal_cols:
            miss = sum(mm.missing for mm in moments[f"__bal__{c}"].values())
            if not miss:
                continue
            what = "balance column" if c in self.balance else "covariate"
            if self.nan_policy == "raise":
                raise DataError(
                    f"{what} {c!r} has {miss} missing values; impute them (e.g. 0 plus an "
                    "indicator) or pass nan_policy='drop'"
                )
            diags.append(Diagnostic(
                f"missing:balance:{c}", "warning",
                f"{what} {c!r}: {miss} units with missing values left out of its balance check "
                "(nan_policy='drop')", float(miss),
            ))

        # 7a: units with a missing segment are in the 'all' rows but in no segment row
        if seg:
            n_seg_na = int(counts.loc[counts[seg].isna(), "n"].sum())
            if n_seg_na:
                diags.append(Diagnostic(
                    f"segment_missing:{seg}", "warning",
                    f"{n_seg_na} units have a missing {seg!r}: they count in the 'all' rows but "
                    "appear in no segment row; fill the segment (e.g. 'unknown') to see them",
                    float(n_seg_na),
                ))

        segments: list[Hashable] = [ALL]
        if seg:
            segments += sorted(counts[seg].dropna().unique().tolist(), key=str)

        rows: list[dict[str, Any]] = []
        omnibus: list[dict[str, Any]] = []
        for key, m in metrics.items():
            role = "guardrail" if key in self.guardrails else "primary"
            for s in segments:
                try:
                    if m.raw:
                        new = self._raw_rows(key, m, raw, arms, s, gen)
                    else:
                        mm = _segment_moments(moments[key], arms, s)
                        new = self._moment_rows(key, m, mm, arms, diags, s)
                        if s == ALL and len(arms) > 2:
                            omnibus.append(_omnibus(key, m, mm, arms, diags))
                except DataError as err:
                    if s == ALL:
                        raise
                    # a small segment must not sink the whole analysis: skip it, loudly
                    diags.append(Diagnostic(
                        f"segment_skipped:{key}:{s}", "warning",
                        f"segment {s!r} of metric {key!r} skipped: {err}",
                    ))
                    continue
                for r in new:
                    r.update(metric=key, segment=s, role=role, kind=m.kind)
                    _noninferiority(r, m, self.ci_level)
                rows += new
        table = pd.DataFrame(rows)
        table = self._adjust(table)
        table = self._always_valid(table, metrics)
        diags += self._guardrail_diagnostics(table)
        diags += _relative_diagnostics(table, metrics)
        balance = _balance(moments, bal_cols, arms)
        diags += _balance_diagnostics(balance)

        front = ["metric", "arm", "segment", "role", "kind", "mean_control", "mean_treatment",
                 "effect", "ci_low", "ci_high", "rel_effect", "rel_ci_low", "rel_ci_high",
                 "pvalue", "pvalue_adj", "significant"]
        table = table[front + [c for c in table.columns if c not in front]]
        info = {
            "experiment": self.name,
            "unit": self.unit,
            "arms": ", ".join(map(str, arms)),
            "control": str(control),
            "units per arm": ", ".join(f"{a}={n}" for a, n in zip(arms, arm_n, strict=True)),
            "estimand": f"ATE (difference in means per {self.unit}; ratio metrics per their "
                        "denominator, delta method)",
            "population": f"{self.unit}s randomised in {self.name}",
            "ci level": self.ci_level,
            "correction": f"{self.correction} over metrics x arms; {self.segment_correction} "
                          "over segments",
            "backend": "duckdb (SQL sufficient statistics)" if src.is_sql else "pandas",
            "direction": "; ".join(f"{k}: {m.direction}" for k, m in metrics.items()),
            "always-valid intervals": (
                "mSPRT normal mixture (Johari et al. 2017), tau = "
                + ("5% of the control mean" if self.msprt_tau is None else
                   f"{self.msprt_tau}")
                + "; valid under continuous monitoring"),
        }
        if self.cluster is not None:
            info["cluster"] = (f"{n_rows:,} rows aggregated to {int(sum(arm_n)):,} units "
                               f"({self.cluster!r}); intervals clustered by unit")
        directions = {k: getattr(m, "higher_is_better", None) for k, m in metrics.items()}
        return ExperimentResult(
            name=self.name,
            table=table,
            srm=srm,
            balance=balance,
            omnibus=pd.DataFrame(omnibus),
            diagnostics=tuple(diags),
            info=info,
            directions=directions,
            ci_level=self.ci_level,
            arms=tuple(arms),
            treatments=tuple(treatments),
        )

    def _moment_rows(self, key, m: RatioOfMeans, mm: dict, arms, diags, seg) -> list[dict]:
        pooled = _sum_moments([mm[a] for a in arms])
        out = []
        for t in arms[1:]:
            try:
                row = m.compare(mm[arms[0]], mm[t], pooled, ci_level=self.ci_level)
            except ZeroVarianceError:
                row = _nan_row(mm[arms[0]].n, mm[t].n)
                if not any(d.name == f"zero_variance:{key}" for d in diags):
                    diags.append(
                        Diagnostic(
                            f"zero_variance:{key}", "fail",
                            f"metric {key!r} is constant in both arms (segment {seg}); no test "
                            "is possible. Check the column is the intended one.",
                        )
                    )
            row["arm"] = t
            out.append(row)
        return out

    def _raw_rows(self, key, m, raw: pd.DataFrame, arms, s, gen) -> list[dict]:  # noqa: ARG002 (the rows builders share one signature)
        col = m.raw_columns()[0]
        frame = raw if s == ALL else raw[raw[self.segment] == s]
        if isinstance(m, Quantile):
            frame = frame.dropna(subset=list(m.raw_columns()))
            by = {a: frame[frame[self.variant] == a] for a in arms}
            data = {a: RowData.from_arrays(
                f[col], f[self.cluster] if self.cluster else None,
                f[m.covariate] if m.covariate else None) for a, f in by.items()}
            out = []
            for t in arms[1:]:
                row = m.compare_units(data[arms[0]], data[t], [data[a] for a in arms],
                                      ci_level=self.ci_level, rng=gen)
                row["arm"] = t
                out.append(row)
            return out
        vals = {a: frame.loc[frame[self.variant] == a, col].to_numpy(dtype=float) for a in arms}
        vals = {a: v[~np.isnan(v)] for a, v in vals.items()}
        out = []
        for t in arms[1:]:
            row = m.compare_raw(vals[arms[0]], vals[t], ci_level=self.ci_level, rng=gen)
            row["arm"] = t
            out.append(row)
        return out

    def _units_from_rows(self, src: Source):
        """Row-level data (contacts) -> one row per unit, and the metrics rewritten for it.

        Returns the unit-level source, the metrics to analyse on it, the row frame (for raw
        metrics such as quantiles) and the number of rows.
        """
        seg, cl = self.segment, self.cluster
        keys = [self.variant] + ([seg] if seg else []) + ([cl] if cl else [])
        cols = list(dict.fromkeys(
            keys + [c for m in self.metrics.values() for c in m.source_columns()]
            + list(self.balance)))
        rows = src.fetch(cols).copy()
        for m in self.metrics.values():
            if m.derived:
                rows = rows.assign(**m.derive(rows))
        if cl is None:
            metrics = dict(self.metrics)
            return Source(rows), metrics, rows, len(rows)
        if rows[cl].isna().any():
            raise DataError(f"{int(rows[cl].isna().sum())} rows have a missing {cl!r}; every row "
                            "needs its randomisation unit")
        g = rows.groupby(cl, sort=False)
        for col in [self.variant] + ([seg] if seg else []):
            mixed = g[col].nunique(dropna=False) > 1
            if mixed.any():
                bad = mixed[mixed].index[:5].tolist()
                raise DesignError(
                    f"{col!r} is not constant within units {bad} of {cl!r}: with cluster= the "
                    "arm (and segment) belong to the randomisation unit"
                )
        sums, means = [], list(self.balance)
        metrics: dict[str, Metric] = {}
        for key, m in self.metrics.items():
            if isinstance(m, RatioOfMeans):
                sums += [m.numerator] + ([m.denominator] if m.denominator else [])
                means += [c for c in (m.covariate, m.covariate_denominator) if c]
                if m.denominator is None:  # Mean / Proportion of rows: a ratio of unit sums
                    m = RatioOfMeans(
                        m.numerator, "__rows", covariate=m.covariate,
                        covariate_denominator=m.covariate_denominator, use_t=m.use_t,
                        relative=m.relative, alternative=m.alternative,
                        higher_is_better=m.higher_is_better, margin=m.margin,
                        relative_margin=m.relative_margin,
                    )
            metrics[key] = m
        sums, means = list(dict.fromkeys(sums)), list(dict.fromkeys(means))
        clash = sorted(set(sums) & set(means))
        if clash:
            raise DesignError(f"column(s) {clash} are both a metric column (summed per unit) and "
                              "a covariate/balance column (a unit-level value); use separate "
                              "columns")
        first = g[[self.variant] + ([seg] if seg else [])].first()
        parts = [first, g.size().rename("__rows")]
        if sums:
            tot = g[sums].sum()
            tot[g[sums].apply(lambda f: f.isna().any())] = np.nan  # a NaN row -> a NaN unit
            parts.append(tot)
        if means:
            parts.append(g[means].mean())
        units = pd.concat(parts, axis=1).reset_index()
        return Source(units), metrics, rows, len(rows)

    def _always_valid(self, table: pd.DataFrame, metrics: Mapping[str, Metric]) -> pd.DataFrame:
        """Always-valid (mSPRT) p-values and confidence sequences for every metric with an SE."""
        table = table.copy()
        for c in ("msprt_tau", "av_pvalue", "av_ci_low", "av_ci_high"):
            table[c] = np.nan
        alpha = 1 - self.ci_level
        for i, r in table.iterrows():
            m = metrics[r["metric"]]
            if not m.always_valid or not (r["se"] > 0):
                continue
            tau = (self.msprt_tau.get(r["metric"]) if isinstance(self.msprt_tau, Mapping)
                   else self.msprt_tau)
            if tau is None:
                tau = 0.05 * abs(float(r["mean_control"]))
            if not tau > 0:
                continue
            p, lo, hi = always_valid(float(r["effect"]), float(r["se"]), alpha=alpha,
                                     tau=float(tau))
            table.loc[i, ["msprt_tau", "av_pvalue", "av_ci_low", "av_ci_high"]] = (
                float(tau), float(p), float(lo), float(hi))
        return table

    def _adjust(self, table: pd.DataFrame) -> pd.DataFrame:
        table = table.copy()
        table["pvalue_adj"] = np.nan
        prim = (table["segment"] == ALL) & (table["role"] == "primary")
        table.loc[prim, "pvalue_adj"] = adjust_pvalues(table.loc[prim, "pvalue"], self.correction)
        guard = (table["segment"] == ALL) & (table["role"] == "guardrail")
        table.loc[guard, "pvalue_adj"] = table.loc[guard, "pvalue"]
        segs = table["segment"] != ALL
        for idx in table[segs].groupby(["metric", "arm"]).groups.values():
            table.loc[idx, "pvalue_adj"] = adjust_pvalues(
                table.loc[idx, "pvalue"], self.segment_correction
            )
        table["significant"] = table["pvalue_adj"] < (1 - self.ci_level)
        return table

    def _guardrail_diagnostics(self, table: pd.DataFrame) -> list[Diagnostic]:
        out = []
        g = table[(table["role"] == "guardrail") & (table["segment"] == ALL)]
        for r in g.itertuples(index=False):
            status = r.guardrail_status
            msg = r.guardrail_message
            out.append(Diagnostic(f"guardrail:{r.metric}:{r.arm}", status, msg, r.pvalue))
        return out


# -- helpers ---------------------------------------------------------------------------------
def _colour(r: Mapping[str, Any]) -> str:
    if r.get("guardrail_status") == "fail":
        return "#b00020"
    return "#1f77b4" if r["significant"] else "0.4"


def _covariates(m: Metric) -> list[str]:
    if isinstance(m, RatioOfMeans) and m.covariate:
        return [m.covariate]
    return []


def _raw_missing(raw, m) -> int:
    if raw is None:
        return 0
    return int(raw[list(m.raw_columns())].isna().any(axis=1).sum())


def _sum_moments(ms: Sequence[Moments]) -> Moments:
    out = ms[0]
    for x in ms[1:]:
        out = out + x
    return out


def _segment_moments(d: dict, arms, s) -> dict:
    out = {}
    for a in arms:
        parts = [m for (arm, _), m in d.items() if arm == a] if s == ALL else (
            [d[(a, s)]] if (a, s) in d else []
        )
        if not parts:
            raise DataError(
                f"arm {a!r} has no units in segment {s!r}; merge small segments or drop it"
            )
        out[a] = _sum_moments(parts)
    return out


def _nan_row(nc, nt) -> dict[str, Any]:
    keys = ["mean_control", "mean_treatment", "effect", "se", "df", "ci_low", "ci_high",
            "pvalue", "rel_effect", "rel_ci_low", "rel_ci_high", "rel_pvalue", "theta",
            "variance_reduction"]
    row: dict[str, Any] = dict.fromkeys(keys, math.nan)
    row.update(n_control=int(nc), n_treatment=int(nt), test="none (zero variance)")
    return row


def _omnibus(key, m: RatioOfMeans, mm, arms, diags: list[Diagnostic]) -> dict[str, Any]:
    pooled = _sum_moments([mm[a] for a in arms])
    th = m.theta(pooled)
    xc = pooled.mean(m.covariate) / pooled.mean(m.covariate_denominator) if th else 0.0
    st = [m.arm_stats(mm[a], th, xc) for a in arms]
    if isinstance(m, Proportion) and not m.has_covariate:
        succ = np.array([mm[a].sums[0] for a in arms])
        n = np.array([mm[a].n for a in arms])
        table = np.vstack([succ, n - succ])
        if (table.sum(axis=1) == 0).any():
            return _omnibus_failed(key, "chi-square homogeneity", diags,
                                   f"{key!r} is 0 (or 1) for every unit of every arm")
        chi2, p, dof, _ = stats.chi2_contingency(table, correction=False)
        return {"metric": key, "test": "chi-square homogeneity", "statistic": chi2,
                "df1": dof, "df2": math.nan, "pvalue": p}
    try:
        F, d1, d2, p = welch_anova([s[0] for s in st], [s[1] for s in st], [s[2] for s in st])
    except ZeroVarianceError:
        zero = [str(a) for a, s in zip(arms, st, strict=True) if not s[1] > 0]
        return _omnibus_failed(key, "Welch ANOVA", diags,
                               f"{key!r} has zero variance in arm(s) {zero}")
    return {"metric": key, "test": "Welch ANOVA", "statistic": F, "df1": d1, "df2": d2,
            "pvalue": p}


def _omnibus_failed(key, test: str, diags: list[Diagnostic], why: str) -> dict[str, Any]:
    diags.append(Diagnostic(
        f"omnibus:{key}", "warning",
        f"omnibus {test} for {key!r} not computable: {why}. No arm can be declared a winner on "
        "this metric until the omnibus test is possible; check the metric column per arm.",
    ))
    return {"metric": key, "test": f"{test} (not computable)", "statistic": math.nan,
            "df1": math.nan, "df2": math.nan, "pvalue": math.nan}


def _relative_diagnostics(table: pd.DataFrame, metrics: Mapping[str, Metric]) -> list[Diagnostic]:
    """A relative CI that is NaN although the relative effect exists (log method, arm means of
    different sign) must not pass silently.
    """
    if table.empty or "relative_method" not in table.columns:
        return []
    bad = table[(table["relative_method"] == "log") & table["rel_ci_low"].isna()
                & table["mean_control"].notna() & (table["mean_control"] != 0)
                & table["mean_treatment"].notna()]
    out = []
    for key, rows in bad.groupby("metric", sort=False):
        where = ", ".join(f"{r.arm}/{r.segment}" for r in rows.itertuples())
        out.append(Diagnostic(
            f"relative_ci:{key}", "warning",
            f"metric {key!r}: no relative interval for {where}: the arm means have different "
            "signs (or one is 0), so the log method is undefined. Use "
            f"relative='delta' or relative='fieller' on {type(metrics[key]).__name__}({key!r}).",
            float(len(rows)),
        ))
    return out


def _noninferiority(row: dict, m: Metric, ci_level: float) -> None:
    margin = getattr(m, "margin", None)
    hib = getattr(m, "higher_is_better", None)
    if hib is None:  # guardrails and margins require a direction (checked in the spec)
        row.update(ni_margin_abs=math.nan, ni_pvalue=math.nan, noninferior=None,
                   guardrail_status="n/a",
                   guardrail_message="direction not declared: harm is not assessed")
        return
    eff, se = row.get("effect", math.nan), row.get("se", math.nan)
    df = row.get("df", math.inf)
    alpha1 = (1 - ci_level) / 2
    row["ni_margin_abs"] = math.nan
    row["ni_pvalue"] = math.nan
    row["noninferior"] = None
    sign = 1 if hib else -1
    bad_bound = row.get("ci_low") if hib else row.get("ci_high")
    harm = (hib and row.get("ci_high", math.nan) < 0) or (
        not hib and row.get("ci_low", math.nan) > 0
    )
    if margin is not None and se and not math.isnan(se):
        mabs = margin * abs(row["mean_control"]) if getattr(m, "relative_margin", True) else margin
        z = (sign * eff + mabs) / se
        dist = _dist(df is not None and math.isfinite(df), df if df is not None else math.inf)
        p = float(dist.sf(z))
        row.update(ni_margin_abs=mabs, ni_pvalue=p, noninferior=bool(p < alpha1))
        if p < alpha1:
            status, msg = "ok", (
                f"non-inferior: the {'lower' if hib else 'upper'} {ci_level:.0%} bound "
                f"{bad_bound:.4g} is within the margin {-sign * mabs:+.4g} (p={p:.3g})"
            )
        elif (hib and row["ci_high"] < -mabs) or (not hib and row["ci_low"] > mabs):
            status, msg = "fail", (
                f"harm beyond the margin: the whole interval is past {-sign * mabs:+.4g}"
            )
        else:
            status, msg = "warning", (
                f"non-inferiority not shown (p={p:.3g} against margin {-sign * mabs:+.4g}); "
                "harm cannot be excluded"
            )
    elif harm:
        status, msg = "fail", f"significant harm: effect {eff:.4g} with CI excluding 0"
    else:
        status, msg = "ok", f"no significant harm (effect {eff:.4g})"
    row["guardrail_status"] = status
    row["guardrail_message"] = msg


def _srm_diagnostic(srm: SRMResult, arms) -> Diagnostic:
    share = ", ".join(
        f"{a}={c} ({s:.1%} expected)"
        for a, c, s in zip(arms, srm.counts, srm.expected_shares, strict=True)
    )
    ps = f"chi-square p={srm.pvalue_chi_square:.3g}"
    if srm.pvalue_exact is not None:
        ps += f", exact binomial p={srm.pvalue_exact:.3g}"
    if srm.mismatch:
        return Diagnostic(
            "srm", "fail",
            f"SAMPLE RATIO MISMATCH: {share}; {ps}. Assignment or logging is broken; do not "
            "trust the effects until the cause is found.",
            min(srm.pvalue_chi_square, srm.pvalue_exact or 1.0),
        )
    return Diagnostic("srm", "ok", f"arm counts match the design: {share}; {ps}",
                      srm.pvalue_chi_square)


def _balance(moments, cols, arms) -> pd.DataFrame:
    rows = []
    for c in cols:
        mm = _segment_moments(moments[f"__bal__{c}"], arms, ALL)
        mc, vc, nc = mm[arms[0]].mean(c), mm[arms[0]].var(c), mm[arms[0]].n
        for t in arms[1:]:
            mt, vt, nt = mm[t].mean(c), mm[t].var(c), mm[t].n
            sd = math.sqrt((vc + vt) / 2)
            se = math.sqrt(vc / nc + vt / nt) if nc > 1 and nt > 1 else math.nan
            z = (mt - mc) / se if se and se > 0 else math.nan
            rows.append({
                "covariate": c, "arm": t, "mean_control": mc, "mean_treatment": mt,
                "smd": (mt - mc) / sd if sd > 0 else 0.0,
                "pvalue": float(2 * stats.norm.sf(abs(z))) if not math.isnan(z) else math.nan,
            })
    return pd.DataFrame(rows, columns=["covariate", "arm", "mean_control", "mean_treatment",
                                       "smd", "pvalue"])


def _balance_diagnostics(balance: pd.DataFrame) -> list[Diagnostic]:
    if balance.empty:
        return [Diagnostic(
            "balance", "warning",
            "pre-period balance NOT CHECKED: no metric has a pre-period covariate and no "
            "balance column was given. Pass balance=['pre_...'] (pre-period columns) to "
            "Experiment, or give a metric a covariate, to check that randomisation worked.",
        )]
    bad = balance[(balance["smd"].abs() > 0.1) | (balance["pvalue"] < 0.001)]
    if bad.empty:
        worst = balance["smd"].abs().max()
        return [Diagnostic("balance", "ok",
                           f"pre-period covariates balanced (max |SMD| = {worst:.3f})", worst)]
    items = "; ".join(
        f"{r.covariate} ({r.arm}): SMD={r.smd:+.3f}, p={r.pvalue:.2g}" for r in bad.itertuples()
    )
    return [Diagnostic(
        "balance", "warning",
        f"PRE-PERIOD IMBALANCE: {items}. Randomisation may be broken or the covariate "
        "post-treatment; CUPED adjusts for it, but investigate.",
        float(bad["smd"].abs().max()),
    )]


# -- the result ------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False, repr=False)
class ExperimentResult(ResultMixin):
    """Immutable result of :meth:`Experiment.analyze`.

    Attributes
    ----------
    table : DataFrame
        One row per metric × treatment arm × segment (``segment == "all"`` for the whole
        population): arm means, absolute and relative effects with intervals, p-values (raw and
        adjusted), CUPED θ and variance reduction, non-inferiority and guardrail status.
    srm : SRMResult
        Sample-ratio-mismatch check.
    balance : DataFrame
        Pre-period covariate balance (standardised mean differences).
    omnibus : DataFrame
        With more than two arms: the omnibus test per metric (Welch ANOVA or chi-square).
    diagnostics : tuple of Diagnostic
        SRM, balance, missing data, zero variance, guardrails.
    """

    name: str
    table: pd.DataFrame
    srm: SRMResult
    balance: pd.DataFrame
    omnibus: pd.DataFrame
    diagnostics: tuple[Diagnostic, ...]
    info: dict[str, Any] = field(default_factory=dict)
    directions: dict[str, bool | None] = field(default_factory=dict)
    ci_level: float = 0.95
    arms: tuple = ()
    treatments: tuple = ()

    def row(self, metric: str, arm: Hashable | None = None, segment: Hashable = ALL) -> pd.Series:
        """The table row of one metric (first treatment arm unless ``arm``)."""
        arm = self.treatments[0] if arm is None else arm
        t = self.table
        sel = t[(t["metric"] == metric) & (t["arm"] == arm) & (t["segment"] == segment)]
        if sel.empty:
            raise KeyError(f"no row for metric={metric!r}, arm={arm!r}, segment={segment!r}")
        return sel.iloc[0]

    def effect(
        self, metric: str, arm: Hashable | None = None, segment: Hashable = ALL
    ) -> EffectEstimate:
        """One effect as the shared :class:`causal.results.EffectEstimate`."""
        r = self.row(metric, arm, segment)
        pop = self.info.get("population", "randomised units")
        if segment != ALL:
            pop += f", segment {segment}"
        return EffectEstimate(
            estimand="ATE", population=pop, method=str(r["test"]), estimate=float(r["effect"]),
            se=float(r["se"]), ci_low=float(r["ci_low"]), ci_high=float(r["ci_high"]),
            ci_level=self.ci_level, pvalue=float(r["pvalue"]),
            n=int(r["n_control"] + r["n_treatment"]),
        )

    def decision(self, primary: str, arm: Hashable | None = None,
                 higher_is_better: bool | None = None) -> str:
        """A plain-language recommendation from the primary metric, guardrails and checks.

        Failed design checks (SRM, zero variance) block any decision. With more than two arms the
        omnibus test comes first: if it is not significant (or not computable) no arm gets a
        ship decision. A significant primary effect in the good direction is a ship candidate
        only if no guardrail warns or fails.
        ``higher_is_better`` defaults to the metric's own ``higher_is_better``.
        """
        r = self.row(primary, arm)
        fails = [d for d in self.diagnostics if d.status == "fail"
                 and not d.name.startswith("guardrail:")]
        if fails:
            names = ", ".join(d.name for d in fails)
            return (f"NO DECISION: failed checks ({names}). Fix the experiment before reading "
                    "the effects.")
        hib = self._direction(primary) if higher_is_better is None else higher_is_better
        lvl = f"{self.ci_level:.0%}"
        eff = (f"{primary}: {r['effect']:+.4g} ({lvl} CI {r['ci_low']:.4g} to {r['ci_high']:.4g};"
               f" {100 * r['rel_effect']:+.1f}%, adjusted p = {r['pvalue_adj']:.3g})")
        omni = self._omnibus_text(primary)
        if omni is not None:
            text, passed = omni
            if not passed:
                return (f"INCONCLUSIVE: {text}, so no arm is compared for a ship decision "
                        f"(the per-arm {eff} is not read on its own).")
            eff = f"{text}; {eff}"
        guards = [d for d in self.diagnostics if d.name.startswith("guardrail:") and d.loud]
        if not r["significant"]:
            return f"INCONCLUSIVE: {eff}; the interval includes no effect."
        if hib is None:
            return (f"NO DECISION: {eff} is significant, but the direction of {primary!r} is not "
                    "declared; pass higher_is_better=True or False to the metric (or to "
                    "decision()) to read it as an improvement or a harm.")
        good = (r["effect"] > 0) == hib
        if not good:
            return f"DO NOT SHIP: {eff} is a significant change in the wrong direction."
        if guards:
            g = "; ".join(f"{d.name.split(':')[1]} ({d.status}): {d.message}" for d in guards)
            return f"HOLD: {eff} improves, but guardrails object: {g}."
        return f"SHIP CANDIDATE: {eff} improves and all guardrails hold."

    def _omnibus_text(self, metric: str) -> tuple[str, bool] | None:
        """With more than two arms: the omnibus test's sentence and whether it rejects."""
        if len(self.treatments) < 2:
            return None
        alpha = 1 - self.ci_level
        om = self.omnibus
        sel = om[om["metric"] == metric] if not om.empty else om
        if sel.empty:
            text = (f"no omnibus test for {metric!r} across the {len(self.arms)} arms (not "
                    "available for this metric type); per-arm comparisons are corrected")
            return text, True
        o = sel.iloc[0]
        if not o["pvalue"] < alpha:
            p = "not computable" if math.isnan(o["pvalue"]) else f"p = {o['pvalue']:.3g}"
            text = (f"the omnibus {o['test']} across the {len(self.arms)} arms is not "
                    f"significant ({p}; alpha {alpha:.3g})")
            return text, False
        return f"omnibus {o['test']} across the {len(self.arms)} arms p = {o['pvalue']:.3g}", True

    def _direction(self, metric: str) -> bool | None:
        return self.directions.get(metric)

    def direction_label(self, metric: str) -> str:
        """``"higher is better"``, ``"lower is better"`` or ``"direction not declared"``."""
        return direction_label(self._direction(metric))

    def decision_record(self, primary: str, arm: Hashable | None = None,
                        higher_is_better: bool | None = None) -> dict[str, Any]:
        """:meth:`decision` as data, for ``results.json`` and ``glue``.

        Returns a dict with ``verdict`` (one of :data:`VERDICTS`), ``text`` (the sentence of
        :meth:`decision`), the primary metric, its direction, arm, effect and interval, and whether
        it is significant.

        Examples
        --------
        >>> import pandas as pd
        >>> from causal.experiments import Mean
        >>> df = pd.DataFrame({"variant": ["control", "treatment"] * 50,
        ...                    "y": [float(i % 7) for i in range(100)]})
        >>> Experiment(y=Mean("y")).analyze(df).decision_record("y")["verdict"]
        'INCONCLUSIVE'
        """
        text = self.decision(primary, arm, higher_is_better)
        verdict = next((v for v in VERDICTS if text.startswith(v + ":")), None)
        if verdict is None:  # pragma: no cover - decision() always starts with a verdict
            raise RuntimeError(f"decision text without a known verdict: {text!r}")
        r = self.row(primary, arm)
        hib = self._direction(primary) if higher_is_better is None else higher_is_better
        return jsonable({
            "verdict": verdict, "text": text, "metric": primary, "arm": r["arm"],
            "direction": direction_label(hib),
            "effect": r["effect"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
            "ci_level": self.ci_level, "rel_effect": r["rel_effect"],
            "pvalue_adj": r["pvalue_adj"], "significant": bool(r["significant"]),
        })

    def summary(self) -> Summary:
        """A :class:`servicelab.Summary` (str, HTML, to_frame, to_markdown)."""
        cols = ["metric", "arm", "segment", "role", "mean_control", "mean_treatment", "effect",
                "ci_low", "ci_high", "rel_effect", "rel_ci_low", "rel_ci_high", "pvalue",
                "pvalue_adj", "av_ci_low", "av_ci_high", "variance_reduction",
                "guardrail_status"]
        tab = self.table[[c for c in cols if c in self.table.columns]].copy()
        tab.insert(1, "direction", tab["metric"].map(self.direction_label))
        notes = [
            "effect = treatment - control; rel_effect = treatment / control - 1.",
            "variance_reduction = 1 - Var(CUPED estimate) / Var(unadjusted estimate).",
            "av_ci_low/av_ci_high: always-valid (mSPRT) confidence sequence, valid at any look.",
            "direction: " + "; ".join(f"{k} {self.direction_label(k)}" for k in self.directions),
        ]
        if not self.omnibus.empty:
            notes.append(
                "omnibus: " + "; ".join(
                    f"{r.metric}: {r.test} p={r.pvalue:.3g}" for r in self.omnibus.itertuples()
                )
            )
        return Summary(
            title=f"Experiment: {self.name}", table=tab, info=dict(self.info),
            diagnostics=self.diagnostics, notes=notes,
        )

    def plot(self, ax=None, *, relative: bool = True):
        """Effects with CIs, one row per metric (and arm), segment ``all``, on one axis.

        ``relative=True`` plots percent changes so that metrics in different units share an
        axis; rows without a relative interval fall back to the absolute effect. Each label names
        the metric's direction. For the effects in their own units next to a known truth, use
        :meth:`forest_plot`.
        """
        import matplotlib.pyplot as plt

        t = self.table[self.table["segment"] == ALL].reset_index(drop=True)
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.6 * len(t) + 1.2))
        labels = []
        for i, r in t.iterrows():
            use_rel = relative and not math.isnan(r["rel_ci_low"])
            est, lo, hi = (
                (100 * r["rel_effect"], 100 * r["rel_ci_low"], 100 * r["rel_ci_high"])
                if use_rel else (r["effect"], r["ci_low"], r["ci_high"])
            )
            ax.errorbar(est, i, xerr=[[est - lo], [hi - est]], fmt="o", color=_colour(r),
                        capsize=3)
            arm = f" [{r['arm']}]" if len(self.treatments) > 1 else ""
            labels.append(f"{r['metric']}{arm}" + ("" if use_rel or not relative else " (abs)")
                          + f"\n({self.direction_label(r['metric'])})")
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(range(len(t)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("relative effect, treatment / control - 1 (%)" if relative
                      else "effect (treatment - control)")
        title = f"{self.name}: effects with {self.ci_level:.0%} CI"
        if any(d.status == "fail" for d in self.diagnostics):
            title += "  [FAILED CHECKS]"
        ax.set_title(title)
        return ax

    def forest_plot(self, truth: Mapping[str, float | None] | None = None,
                    units: Mapping[str, str] | None = None, *, labels: Mapping[str, str] | None
                    = None):
        """Forest plot of every metric's effect (segment ``all``) with its CI, in its own units.

        One row per metric and arm, each with its own x axis (metrics differ in units), a line at
        no effect, the metric's direction, and the true effect where it is known.

        Parameters
        ----------
        truth : mapping of metric -> float, optional
            True effects (same units as the effect), drawn as a distinct marker; ``None`` or
            missing entries are skipped.
        units : mapping of metric -> str, optional
            Unit of each metric's effect, for its x axis (e.g. ``{"handle_s": "s"}``).
        labels : mapping of metric -> str, optional
            Longer names for the rows.

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> import pandas as pd
        >>> from causal.experiments import Mean
        >>> df = pd.DataFrame({"variant": ["control", "treatment"] * 50,
        ...                    "y": [float(i % 7) for i in range(100)]})
        >>> fig = Experiment(y=Mean("y")).analyze(df).forest_plot({"y": 0.0}, {"y": "items"})
        >>> len(fig.axes)
        1
        """
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D

        t = self.table[self.table["segment"] == ALL].reset_index(drop=True)
        truth, units, labels = dict(truth or {}), dict(units or {}), dict(labels or {})
        fig, axes = plt.subplots(len(t), 1, figsize=(8, 0.95 * len(t) + 1.3), squeeze=False)
        for ax, (_, r) in zip(axes[:, 0], t.iterrows(), strict=True):
            key = r["metric"]
            est, lo, hi = float(r["effect"]), float(r["ci_low"]), float(r["ci_high"])
            if math.isfinite(est) and math.isfinite(lo) and math.isfinite(hi):
                ax.errorbar(est, 0, xerr=[[est - lo], [hi - est]], fmt="o", color=_colour(r),
                            capsize=4, ms=6)
            else:
                ax.text(0.5, 0.5, "no estimate", transform=ax.transAxes, ha="center",
                        va="center", color="#b00020")
            tv = truth.get(key)
            if tv is not None and math.isfinite(float(tv)):
                ax.plot(float(tv), 0, marker="D", ls="none", mfc="none", mec="#d62728", ms=9,
                        mew=1.6)
            ax.axvline(0, color="black", lw=0.8)
            ax.set_yticks([0], [f"{labels.get(key, key)}"
                                + (f" [{r['arm']}]" if len(self.treatments) > 1 else "")
                                + f"\n{self.direction_label(key)}"], fontsize=8)
            ax.set_ylim(-1, 1)
            ax.tick_params(axis="x", labelsize=8)
            ax.set_xlabel(f"effect, treatment - control ({units.get(key, 'metric units')})",
                          fontsize=8, labelpad=1)
            ax.margins(x=0.25)
        handles = [
            Line2D([], [], marker="o", color="#1f77b4", ls="-", label=f"estimate, {self.ci_level:.0%}"
                   " CI (significant)"),
            Line2D([], [], marker="o", color="0.4", ls="-", label="estimate (not significant)"),
        ]
        if any(v is not None for v in truth.values()):
            handles.append(Line2D([], [], marker="D", mfc="none", mec="#d62728", ls="none",
                                  mew=1.6, label="true effect (synthetic world)"))
        title = f"{self.name}: effects with {self.ci_level:.0%} CI (segment: all)"
        if any(d.status == "fail" for d in self.diagnostics):
            title += "  [FAILED CHECKS]"
        fig.suptitle(title, fontsize=10)
        fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=8,
                   bbox_to_anchor=(0.5, 1 - 0.3 / fig.get_figheight()), frameon=False)
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.6 / fig.get_figheight()), h_pad=0.6)
        return fig

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (for run folders and ``glue``)."""
        return jsonable({
            "name": self.name,
            "info": self.info,
            "table": self.table.to_dict(orient="records"),
            "srm": self.srm.to_dict(),
            "balance": self.balance.to_dict(orient="records"),
            "omnibus": self.omnibus.to_dict(orient="records"),
            "diagnostics": [d.to_dict() for d in self.diagnostics],
            "directions": {k: self.direction_label(k) for k in self.directions},
        })
