"""Independent replications with t-intervals, in a process pool or on Dask, and paired comparisons.

Replication ``i`` is seeded by child ``i`` of the root seed (what
``SeedSequence(rng).spawn(n)[i]`` gives for an int), so the numbers do not depend on
the backend, the number of workers or the order in which replications finish: the
process pool, Dask and the serial loop give identical results. The children are
derived without advancing ``rng`` (:func:`servicelab.random.child_seeds`), so passing
the same int, SeedSequence or Generator *object* to two models gives *paired*
replications under common random numbers (same contacts in replication ``i``);
:func:`paired_comparison` checks that two results were paired before it pairs them.

Intervals are Student-t over replications at ``ci_level``; for shares (``p_*``, ``sl_*``,
``occupancy``) the interval is clipped to [0, 1]. The true value lies in [0, 1], so clipping never
lowers the coverage, and an interval never claims a service level of 1.35.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats
from tqdm import tqdm

from servicelab.errors import DesignError
from servicelab.random import RNGLike, child_seeds, root_seed_sequence
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable

from .engine import ContactCentre
from .service_level import ServiceLevel

__all__ = [
    "PairedComparison",
    "ReplicationResult",
    "is_share",
    "paired_comparison",
    "replicate",
    "t_interval",
]

Backend = Literal["process", "dask", "serial"]


def _ci_level(ci_level: float, confidence: float | None, where: str) -> float:
    if confidence is not None:
        warnings.warn(f"{where}(confidence=...) is deprecated: use ci_level=", DeprecationWarning, stacklevel=3)
        ci_level = confidence
    if not 0 < ci_level < 1:
        raise DesignError(f"ci_level must be in (0, 1), got {ci_level}")
    return float(ci_level)


def is_share(measure: str) -> bool:
    """Whether a replication measure is a share in [0, 1] (``p_*``, ``sl_*``, ``occupancy``)."""
    return measure.startswith(("p_", "sl_")) or measure in ("occupancy", "service_level", "abandon_rate")


def t_interval(
    x: Any,
    ci_level: float = 0.95,
    *,
    bounds: tuple[float, float] | None = None,
    confidence: float | None = None,
) -> tuple[float, float, float]:
    """Mean and two-sided Student-t interval ``(mean, low, high)`` of replication values.

    Non-finite values are left out. ``bounds`` clips the interval to the range the quantity can
    take (e.g. ``(0, 1)`` for a share; clipping never lowers the coverage). ``confidence`` is the
    deprecated name of ``ci_level``.

    Examples
    --------
    >>> m, lo, hi = t_interval([1.0, 2.0, 3.0])
    >>> m, round(lo, 3), round(hi, 3)
    (2.0, -0.484, 4.484)
    >>> t_interval([0.7, 0.9, 1.0], bounds=(0, 1))[2]
    1.0
    """
    level = _ci_level(ci_level, confidence, "t_interval")
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(x.mean())
    if n < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / np.sqrt(n))
    lo, hi = m - half, m + half
    if bounds is not None:
        lo, hi = max(lo, float(bounds[0])), min(hi, float(bounds[1]))
    return m, lo, hi


def _one(
    model: ContactCentre,
    seed: np.random.SeedSequence,
    service_levels: tuple[ServiceLevel, ...],
    interval_s: float | None,
) -> tuple[dict[str, float], pd.DataFrame | None, int]:
    run = model.run(rng=seed)
    frame = None if interval_s is None else run.interval_metrics(interval_s, service_levels[0])
    unresolved = sum(int(d.value or 0) for d in run.diagnostics if d.name == "unresolved")
    return run.measures(service_levels), frame, unresolved


@dataclass(frozen=True, eq=False, repr=False)
class ReplicationResult(ResultMixin):
    """Replicated measures with t-intervals.

    Attributes
    ----------
    replications : DataFrame
        One row per replication (column ``rep``) and one column per measure.
    table : DataFrame
        ``measure, mean, sd, n, ci_low, ci_high`` (Student-t at ``ci_level``; shares clipped to
        [0, 1]).
    interval_metrics : DataFrame or None
        Per-interval metrics of every replication (column ``rep``), if requested.
    unresolved : tuple of int
        Contacts still waiting when each replication's run ended. They count as offered and
        not answered within the threshold (see :class:`~simulation.service_level.ServiceLevel`);
        any of them makes the ``unresolved`` diagnostic a warning.
    seed_key : tuple
        The root seed's identity (entropy and spawn key): two results with the same key were
        replicated from the same seeds, i.e. they are paired.
    """

    replications: pd.DataFrame
    ci_level: float
    backend: str
    service_levels: tuple[ServiceLevel, ...]
    interval_metrics: pd.DataFrame | None = field(default=None, repr=False)
    unresolved: tuple[int, ...] = ()
    seed_key: tuple[Any, ...] | None = None

    @property
    def confidence(self) -> float:
        """Deprecated: use :attr:`ci_level`."""
        warnings.warn("ReplicationResult.confidence is deprecated: use ci_level", DeprecationWarning, stacklevel=2)
        return self.ci_level

    @property
    def n_reps(self) -> int:
        """Number of replications."""
        return len(self.replications)

    @property
    def measures(self) -> list[str]:
        """The measure columns."""
        return [str(c) for c in self.replications.columns if c != "rep"]

    @property
    def table(self) -> pd.DataFrame:
        """One row per replication with every measure."""
        rows = []
        for col in self.measures:
            x = self.replications[col].to_numpy(float)
            m, lo, hi = t_interval(x, self.ci_level, bounds=(0.0, 1.0) if is_share(col) else None)
            rows.append(
                {"measure": col, "mean": m, "sd": float(np.nanstd(x, ddof=1)) if x.size > 1
                 else float("nan"), "n": int(np.isfinite(x).sum()), "ci_low": lo, "ci_high": hi}
            )
        return pd.DataFrame(rows)

    def interval(self, measure: str) -> tuple[float, float, float]:
        """``(mean, low, high)`` of one measure."""
        if measure not in self.replications:
            raise DesignError(f"unknown measure {measure!r}; known: {self.measures}")
        return t_interval(self.replications[measure], self.ci_level,
                          bounds=(0.0, 1.0) if is_share(measure) else None)

    def paired_difference(self, other: ReplicationResult) -> pd.DataFrame:
        """Replication-by-replication differences ``self - other`` with t-intervals.

        The table of :func:`paired_comparison` (``measure, mean_a, mean_b, mean_diff, ci_low,
        ci_high, sd_diff, sd_unpaired, variance_ratio``); raises when the two results were not
        replicated from the same seeds.
        """
        return paired_comparison(self, other).table

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """Checks on the result, as :class:`~servicelab.Diagnostic` values."""
        n = len(self.replications)
        out = [
            Diagnostic(
                "replications",
                "ok" if n >= 5 else "warning",
                f"{n} independent replications"
                + ("" if n >= 5 else "; t-intervals from fewer than 5 are unreliable: add more"),
                float(n),
            )
        ]
        total = int(sum(self.unresolved))
        if total:
            reps = sum(1 for u in self.unresolved if u)
            out.append(Diagnostic(
                "unresolved",
                "warning",
                f"{total} contacts in {reps} of {n} replications were still waiting when the run ended "
                "(no agents on duty for their queue, or drain_s too short); they count as offered and "
                "not answered within the threshold: staff those queues or lengthen drain_s",
                float(total),
            ))
        else:
            out.append(Diagnostic("unresolved", "ok", "every contact was answered or abandoned", 0.0))
        return tuple(out)

    def summary(self) -> Summary:
        """The result as a :class:`~servicelab.Summary` (table, key facts, diagnostics)."""
        return Summary(
            "Simulation replications",
            self.table,
            info={"replications": len(self.replications), "ci_level": self.ci_level,
                  "backend": self.backend,
                  "service level": "; ".join(f"{s.key}: {s.describe()}" for s in self.service_levels)},
            diagnostics=self.diagnostics,
            notes=(("Intervals are Student-t over independent replications (SeedSequence.spawn); "
                    "shares are clipped to [0, 1]."),),
        )

    def plot(self, ax: Any = None, measures: Sequence[str] | None = None) -> Any:
        """Means with t-intervals of probability-scale measures."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        t = self.table
        if measures is None:
            measures = [m for m in t["measure"] if is_share(m)]
        t = t.set_index("measure").loc[list(measures)]
        y = np.arange(len(t))
        ax.errorbar(t["mean"], y, xerr=[t["mean"] - t["ci_low"], t["ci_high"] - t["mean"]],
                    fmt="o", capsize=3)
        ax.set_yticks(y, t.index)
        ax.set_xlabel(f"mean with {self.ci_level:.0%} t-interval")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable data (for ``results.json`` and ``glue``)."""
        return jsonable({
            "ci_level": self.ci_level,
            "n_reps": self.n_reps,
            "backend": self.backend,
            "service_levels": {s.key: s.to_dict() for s in self.service_levels},
            "table": self.table.to_dict(orient="records"),
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        })


# -- paired comparison ------------------------------------------------------------------------------
def variance_ratio_sentence(ratio: float) -> str:
    """Plain words for a variance ratio (independent over paired variance of a difference).

    Examples
    --------
    >>> variance_ratio_sentence(2.5)[:58]
    'common random numbers cut the variance of the difference 2'
    >>> variance_ratio_sentence(0.8)[:60]
    'common random numbers did not reduce the variance of the dif'
    """
    if not np.isfinite(ratio):
        return ("the paired differences do not vary at all (variance ratio infinite): the two "
                "scenarios give the same value in every replication")
    if ratio >= 1:
        return (f"common random numbers cut the variance of the difference {ratio:.1f}-fold "
                f"(variance ratio, independent over paired, {ratio:.1f})")
    return ("common random numbers did not reduce the variance of the difference: it is "
            f"{1 / ratio:.2f} times what independent runs would give (variance ratio, independent "
            f"over paired, {ratio:.2f})")


@dataclass(frozen=True, eq=False, repr=False)
class PairedComparison(ResultMixin):
    """Scenario A against scenario B, replication by replication (common random numbers).

    Attributes
    ----------
    table : DataFrame
        ``measure, mean_a, mean_b, mean_diff, ci_low, ci_high, sd_diff, sd_unpaired,
        variance_ratio``: ``mean_diff = a - b`` with a paired Student-t interval at ``ci_level``;
        ``sd_unpaired = sqrt(var_a + var_b)`` estimates what the sd of the difference would be
        with independent runs, and ``variance_ratio = sd_unpaired**2 / sd_diff**2`` is the
        variance reduction from pairing (above 1: pairing helped; below 1: it did not).
    """

    table: pd.DataFrame
    label_a: str
    label_b: str
    n_reps: int
    ci_level: float
    service_levels: tuple[ServiceLevel, ...] = ()

    def row(self, measure: str) -> pd.Series:
        """One measure's row."""
        t = self.table.set_index("measure")
        if measure not in t.index:
            raise DesignError(f"unknown measure {measure!r}; known: {list(t.index)}")
        return t.loc[measure]

    def variance_sentence(self, measure: str) -> str:
        """The variance ratio of ``measure`` in plain words, with its direction."""
        return variance_ratio_sentence(float(self.row(measure)["variance_ratio"]))

    def difference_sentence(self, measure: str) -> str:
        """``a - b`` with its interval, and which scenario is higher if the interval excludes 0."""
        r = self.row(measure)
        lvl = f"{self.ci_level:.0%} paired t-interval [{r['ci_low']:+.3g}, {r['ci_high']:+.3g}]"
        diff = f"{self.label_a} minus {self.label_b} = {r['mean_diff']:+.3g} ({lvl})"
        if r["ci_low"] > 0 or r["ci_high"] < 0:
            higher = self.label_a if r["mean_diff"] > 0 else self.label_b
            return f"{higher} gives the higher {measure}: {diff}"
        return f"the two cannot be told apart on {measure}: {diff}"

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """Checks on the result, as :class:`~servicelab.Diagnostic` values."""
        ok = self.n_reps >= 5
        return (
            Diagnostic("pairing", "ok", f"{self.n_reps} paired replications (same seeds, same contacts)",
                       float(self.n_reps)),
            Diagnostic("replications", "ok" if ok else "warning",
                       f"{self.n_reps} paired replications" + ("" if ok else
                       "; t-intervals from fewer than 5 are unreliable: add more"), float(self.n_reps)),
        )

    def summary(self) -> Summary:
        """The result as a :class:`~servicelab.Summary` (table, key facts, diagnostics)."""
        return Summary(
            f"Paired comparison: {self.label_a} - {self.label_b}",
            self.table,
            info={"replications": self.n_reps, "ci_level": self.ci_level,
                  "service level": "; ".join(s.describe() for s in self.service_levels)},
            diagnostics=self.diagnostics,
            notes=(("variance_ratio = independent over paired variance of the difference; "
                    "above 1, common random numbers helped."),),
        )

    def plot(self, ax: Any = None) -> Any:
        """Paired difference ``A - B`` per measure relative to ``B``, with its t-interval."""
        import matplotlib.pyplot as plt

        t = self.table[self.table["mean_b"].abs() > 0]
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.4 * len(t) + 1.5))
        base = t["mean_b"].abs().to_numpy(float)
        mid = t["mean_diff"].to_numpy(float) / base
        lo, hi = t["ci_low"].to_numpy(float) / base, t["ci_high"].to_numpy(float) / base
        y = np.arange(len(t))
        ax.errorbar(mid, y, xerr=[mid - lo, hi - mid], fmt="o", capsize=3,
                    label=f"{self.ci_level:.0%} paired t-interval")
        ax.axvline(0.0, color="0.5", lw=1, ls="--", label="no difference")
        ax.set_yticks(y, t["measure"])
        ax.invert_yaxis()
        ax.xaxis.set_major_formatter(plt.matplotlib.ticker.PercentFormatter(1.0))
        ax.set_xlabel(f"{self.label_a} - {self.label_b}, relative to {self.label_b}")
        ax.set_title(f"Paired comparison over {self.n_reps} replications")
        ax.legend(fontsize=7)
        return ax

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable data (for ``results.json`` and ``glue``)."""
        return jsonable({
            "label_a": self.label_a, "label_b": self.label_b, "n_reps": self.n_reps,
            "ci_level": self.ci_level,
            "service_levels": {s.key: s.to_dict() for s in self.service_levels},
            "table": self.table.to_dict(orient="records"),
        })


def paired_comparison(
    a: ReplicationResult,
    b: ReplicationResult,
    *,
    measures: Sequence[str] | None = None,
    labels: tuple[str, str] = ("a", "b"),
    ci_level: float | None = None,
) -> PairedComparison:
    """Compare two replication results replication by replication (a paired comparison).

    Both must come from :func:`replicate` with the same ``rng`` (the same replication seeds, so
    replication ``i`` of each saw the same contacts); otherwise the differences are not paired
    and this raises :class:`~servicelab.errors.DesignError`.

    Examples
    --------
    >>> from simulation import AgentGroup, ContactCentre, Poisson, Queue, replicate
    >>> m = ContactCentre([Queue("q", Poisson(2 / 60, 3600), 300.0, 120.0)], [AgentGroup("a", ("q",), 12)])
    >>> ra = replicate(m, 4, rng=1, backend="serial", progress=False)
    >>> rb = replicate(m.with_agents([AgentGroup("a", ("q",), 14)]), 4, rng=1, backend="serial", progress=False)
    >>> bool(paired_comparison(ra, rb).row("p_wait")["mean_diff"] > 0)
    True
    """
    if a.n_reps != b.n_reps:
        raise DesignError(f"a paired comparison needs the same number of replications, got {a.n_reps} and {b.n_reps}")
    if a.seed_key is None or a.seed_key != b.seed_key:
        raise DesignError(
            "the two replication results were not run from the same seeds, so replication i of one "
            "did not see the contacts of replication i of the other: run both with the same rng "
            "(an int or SeedSequence) for a paired comparison"
        )
    level = a.ci_level if ci_level is None else _ci_level(ci_level, None, "paired_comparison")
    cols = [m for m in (measures or a.measures) if m in b.replications]
    missing = [m for m in (measures or ()) if m not in a.replications or m not in b.replications]
    if missing:
        raise DesignError(f"measures {missing} are not in both results; known: {a.measures}")
    rows = []
    for col in cols:
        xa = a.replications[col].to_numpy(float)
        xb = b.replications[col].to_numpy(float)
        d = xa - xb
        m, lo, hi = t_interval(d, level)
        sd_diff = float(np.nanstd(d, ddof=1)) if d.size > 1 else float("nan")
        sd_unpaired = float(np.sqrt(np.nanvar(xa, ddof=1) + np.nanvar(xb, ddof=1))) if d.size > 1 else float("nan")
        ratio = sd_unpaired**2 / sd_diff**2 if sd_diff > 0 else float("inf")
        rows.append({"measure": col, "mean_a": float(np.nanmean(xa)), "mean_b": float(np.nanmean(xb)),
                     "mean_diff": m, "ci_low": lo, "ci_high": hi, "sd_diff": sd_diff,
                     "sd_unpaired": sd_unpaired, "variance_ratio": ratio})
    sls = tuple(dict.fromkeys((*a.service_levels, *b.service_levels)))
    return PairedComparison(pd.DataFrame(rows), labels[0], labels[1], a.n_reps, level, sls)


def _dask_client(scheduler: Any, n_workers: int | None) -> tuple[Any, list[Any]]:
    from distributed import Client, LocalCluster

    owned: list[Any] = []
    if isinstance(scheduler, Client):
        return scheduler, owned
    if scheduler is None or scheduler == "local":
        cluster = LocalCluster(n_workers=n_workers or 2, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        owned.append(cluster)
        scheduler = cluster
    client = Client(scheduler)
    owned.insert(0, client)
    return client, owned


def replicate(
    model: ContactCentre,
    n_reps: int,
    rng: RNGLike = None,
    *,
    backend: Backend = "process",
    n_workers: int | None = None,
    scheduler: Any = None,
    service_levels: Sequence[ServiceLevel] = (ServiceLevel(20.0),),
    interval_s: float | None = None,
    ci_level: float = 0.95,
    progress: bool = True,
    confidence: float | None = None,
) -> ReplicationResult:
    """Run ``n_reps`` independent replications of ``model`` and summarise with t-intervals.

    Parameters
    ----------
    model : ContactCentre
    n_reps : int
        Number of replications (>= 2 for an interval).
    rng : int, Generator, SeedSequence or None
        Root seed; replication ``i`` uses child ``i`` of it, ``SeedSequence(root.entropy,
        spawn_key=root.spawn_key + (i,))`` (for an int, ``SeedSequence(rng).spawn(n_reps)[i]``).
        ``rng`` is not advanced: a SeedSequence is not spawned from and a Generator is not drawn
        from (its ``bit_generator.seed_seq`` is used), so the same object passed again, e.g. to
        another model, gives the same replications (common random numbers).
    backend : {"process", "dask", "serial"}
        ``"process"``: a local process pool (default); ``"dask"``: a ``dask.distributed``
        cluster; ``"serial"``: in this process. Results are identical across backends.
    n_workers : int, optional
        Pool size (default: CPU count) or LocalCluster size (default 2).
    scheduler : str, Client, LocalCluster or None
        For ``backend="dask"``: a scheduler address, an existing client or cluster, or
        ``None``/``"local"`` to start a ``LocalCluster``.
    service_levels : sequence of ServiceLevel
        Service-level definitions to report (the first one is used in interval metrics).
    interval_s : float, optional
        Also keep per-interval metrics of every replication.
    ci_level : float
        Level of the t-intervals (``confidence`` is its deprecated name).
    progress : bool
        Show a tqdm progress bar.

    Examples
    --------
    >>> from simulation import AgentGroup, ContactCentre, Poisson, Queue
    >>> m = ContactCentre([Queue("q", Poisson(2 / 60, 7200), 300.0, 120.0)],
    ...                   [AgentGroup("a", ("q",), 12)], warmup_s=1800)
    >>> r = replicate(m, 4, rng=1, backend="serial", progress=False)
    >>> list(r.table.columns)
    ['measure', 'mean', 'sd', 'n', 'ci_low', 'ci_high']
    """
    if int(n_reps) != n_reps or n_reps < 1:
        raise DesignError(f"n_reps must be a positive integer, got {n_reps!r}")
    if backend not in ("process", "dask", "serial"):
        raise DesignError(f"backend must be 'process', 'dask' or 'serial', got {backend!r}")
    level = _ci_level(ci_level, confidence, "replicate")
    sls = tuple(service_levels)
    if not sls:
        raise DesignError("give at least one ServiceLevel")
    root = root_seed_sequence(rng)  # never advances rng: same object, same seeds (CRN)
    seeds = child_seeds(root, int(n_reps))
    results: list[Any] = [None] * n_reps
    bar = tqdm(total=n_reps, disable=not progress, desc=f"replications ({backend})")
    try:
        if backend == "serial" or (backend == "process" and (n_workers or 2) == 1):
            for i, s in enumerate(seeds):
                results[i] = _one(model, s, sls, interval_s)
                bar.update()
        elif backend == "process":
            method = "fork" if sys.platform.startswith("linux") else "spawn"
            workers = n_workers or os.cpu_count() or 1
            with ProcessPoolExecutor(workers, mp_context=get_context(method)) as pool:
                futs = {pool.submit(_one, model, s, sls, interval_s): i
                        for i, s in enumerate(seeds)}
                for f in as_completed(futs):
                    results[futs[f]] = f.result()
                    bar.update()
        else:
            from distributed import as_completed as dask_completed

            client, owned = _dask_client(scheduler, n_workers)
            try:
                futs = client.map(_one, [model] * n_reps, seeds, [sls] * n_reps,
                                  [interval_s] * n_reps, pure=False)
                index = {f.key: i for i, f in enumerate(futs)}
                for f in dask_completed(futs):
                    results[index[f.key]] = f.result()
                    bar.update()
            finally:
                for o in owned:
                    o.close()
    finally:
        bar.close()
    reps = pd.DataFrame([r[0] for r in results])
    reps.insert(0, "rep", np.arange(n_reps))
    frames = None
    if interval_s is not None:
        frames = pd.concat([r[1].assign(rep=i) for i, r in enumerate(results)], ignore_index=True)
    return ReplicationResult(reps, level, backend, sls, frames,
                             unresolved=tuple(int(r[2]) for r in results),
                             seed_key=(repr(root.entropy), tuple(root.spawn_key)))
