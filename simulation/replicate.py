"""Independent replications with t-intervals, in a process pool or on Dask.

Replication ``i`` is seeded by child ``i`` of the root seed (what
``SeedSequence(rng).spawn(n)[i]`` gives for an int), so the numbers do not depend on
the backend, the number of workers or the order in which replications finish: the
process pool, Dask and the serial loop give identical results. The children are
derived without advancing ``rng`` (:func:`simulation._seeds.child_seeds`), so passing
the same int, SeedSequence or Generator *object* to two models gives *paired*
replications under common random numbers (same contacts in replication ``i``).
"""

from __future__ import annotations

import os
import sys
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
from servicelab.random import RNGLike
from servicelab.results import Diagnostic, Summary, jsonable

from ._seeds import child_seeds
from .engine import ContactCentre
from .metrics import ServiceLevel

__all__ = ["ReplicationResult", "replicate", "t_interval"]

Backend = Literal["process", "dask", "serial"]


def t_interval(x: Any, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided Student-t interval ``(mean, low, high)`` of replication values.

    Examples
    --------
    >>> m, lo, hi = t_interval([1.0, 2.0, 3.0])
    >>> m, round(lo, 3), round(hi, 3)
    (2.0, -0.484, 4.484)
    """
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(x.mean())
    if n < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * x.std(ddof=1) / np.sqrt(n))
    return m, m - half, m + half


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


@dataclass(frozen=True)
class ReplicationResult:
    """Replicated measures with t-intervals.

    Attributes
    ----------
    replications : DataFrame
        One row per replication (column ``rep``) and one column per measure.
    table : DataFrame
        ``measure, mean, sd, n, ci_low, ci_high`` (Student-t, level ``confidence``).
    interval_metrics : DataFrame or None
        Per-interval metrics of every replication (column ``rep``), if requested.
    unresolved : tuple of int
        Contacts still waiting when each replication's run ended. They count as offered and
        not answered within the threshold (see :class:`~simulation.metrics.ServiceLevel`); any
        of them makes the ``unresolved`` diagnostic a warning.
    """

    replications: pd.DataFrame
    confidence: float
    backend: str
    service_levels: tuple[ServiceLevel, ...]
    interval_metrics: pd.DataFrame | None = field(default=None, repr=False)
    unresolved: tuple[int, ...] = ()

    @property
    def table(self) -> pd.DataFrame:
        rows = []
        for col in self.replications.columns.drop("rep"):
            x = self.replications[col].to_numpy(float)
            m, lo, hi = t_interval(x, self.confidence)
            rows.append(
                {"measure": col, "mean": m, "sd": float(np.nanstd(x, ddof=1)) if x.size > 1
                 else float("nan"), "n": int(np.isfinite(x).sum()), "ci_low": lo, "ci_high": hi}
            )
        return pd.DataFrame(rows)

    def interval(self, measure: str) -> tuple[float, float, float]:
        """``(mean, low, high)`` of one measure."""
        if measure not in self.replications:
            raise DesignError(
                f"unknown measure {measure!r}; known: {list(self.replications.columns[1:])}"
            )
        return t_interval(self.replications[measure], self.confidence)

    def paired_difference(self, other: ReplicationResult) -> pd.DataFrame:
        """Replication-by-replication differences ``self - other`` with t-intervals.

        Meaningful as a *paired* comparison when both were run with the same ``rng``
        (common random numbers); otherwise it is an unpaired difference of means.
        """
        if len(other.replications) != len(self.replications):
            raise DesignError("paired_difference needs the same number of replications")
        rows = []
        for col in self.replications.columns.drop("rep"):
            if col not in other.replications:
                continue
            d = self.replications[col].to_numpy(float) - other.replications[col].to_numpy(float)
            m, lo, hi = t_interval(d, self.confidence)
            rows.append({"measure": col, "mean_diff": m, "ci_low": lo, "ci_high": hi,
                         "sd_diff": float(np.nanstd(d, ddof=1))})
        return pd.DataFrame(rows)

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
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
        return Summary(
            "Simulation replications",
            self.table,
            info={"replications": len(self.replications), "confidence": self.confidence,
                  "backend": self.backend,
                  "service level": "; ".join(f"{s.key}: {s.name}" for s in self.service_levels)},
            diagnostics=self.diagnostics,
            notes=("Intervals are Student-t over independent replications (SeedSequence.spawn).",),
        )

    def plot(self, ax: Any = None, measures: Sequence[str] | None = None) -> Any:
        """Means with t-intervals of probability-scale measures."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        t = self.table
        if measures is None:
            measures = [m for m in t["measure"] if m.startswith(("p_", "sl_")) or m == "occupancy"]
        t = t.set_index("measure").loc[list(measures)]
        y = np.arange(len(t))
        ax.errorbar(t["mean"], y, xerr=[t["mean"] - t["ci_low"], t["ci_high"] - t["mean"]],
                    fmt="o", capsize=3)
        ax.set_yticks(y, t.index)
        ax.set_xlabel(f"mean with {self.confidence:.0%} t-interval")
        return ax

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "confidence": self.confidence,
            "backend": self.backend,
            "service_levels": {s.key: s.name for s in self.service_levels},
            "table": self.table.to_dict(orient="records"),
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        })


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
    confidence: float = 0.95,
    progress: bool = True,
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
    confidence : float
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
    if not 0 < confidence < 1:
        raise DesignError(f"confidence must be in (0, 1), got {confidence}")
    sls = tuple(service_levels)
    if not sls:
        raise DesignError("give at least one ServiceLevel")
    seeds = child_seeds(rng, int(n_reps))  # never advances rng: same object, same seeds (CRN)
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
    return ReplicationResult(reps, confidence, backend, sls, frames,
                             unresolved=tuple(int(r[2]) for r in results))
