"""The sweep: every requested estimator on every scenario of its family, over seeded replications.

Seeds. One root seed gives each scenario its own :class:`~numpy.random.SeedSequence` (keyed by
a stable hash of the scenario's name, so adding or dropping a scenario never changes another's
numbers) and replication ``i`` its ``i``-th child, split into a data stream and an estimator
stream. Cheap, expensive and Bayesian estimators share the same worlds (the expensive ones see
the first ``reps_expensive`` of them). The table depends only on the seed and the settings, not
on ``n_jobs`` or on the order in which the process pool finishes.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from causal.scorecard.families import ESTIMATORS, estimators_for, run_family
from causal.scorecard.scenarios import SCENARIOS, Scenario, generate
from causal.scorecard.scoring import score_records
from servicelab.errors import DesignError
from servicelab.random import RNGLike, child_seeds, root_seed_sequence
from servicelab.results import Summary, jsonable

__all__ = ["GROUPS", "QUICK_PLAN", "Scorecard", "ScorecardResult", "scenario_seed"]

#: Headline families (the ``--families`` of the command line) and their estimators.
GROUPS: dict[str, tuple[str, ...]] = {}
for _e in ESTIMATORS.values():
    GROUPS.setdefault(_e.group, ())
    GROUPS[_e.group] = (*GROUPS[_e.group], _e.name)

#: The ``--quick`` plan: scenario -> estimators.
QUICK_PLAN: dict[str, tuple[str, ...]] = {
    "exp-baseline": ("mean", "cuped", "ratio"),
    "cl-few": ("cr2", "iid_ignoring_clusters"),
    "obs-baseline": ("regression", "ipw", "aipw"),
    "obs-limited-overlap": ("regression", "ipw", "aipw", "matching", "dr_learner"),
    "obs-att-heterogeneous": ("linear_dml", "dr_learner"),
    "iv-strong": ("2sls",),
    "iv-weak": ("2sls",),
    "cens-heavy": ("rmst", "p_event"),
}

Progress = Callable[[Iterable[Any], int], Iterable[Any]]


def scenario_seed(rng: RNGLike, name: str) -> np.random.SeedSequence:
    """The seed sequence of scenario ``name`` under the root ``rng`` (non-consuming).

    Examples
    --------
    >>> a = scenario_seed(3, "obs-baseline").generate_state(1)[0]
    >>> bool(a == scenario_seed(3, "obs-baseline").generate_state(1)[0])
    True
    """
    root = root_seed_sequence(rng)
    return np.random.SeedSequence(root.entropy,
                                  spawn_key=(*root.spawn_key, zlib.crc32(name.encode())),
                                  pool_size=root.pool_size)


def _run_chunk(scenario: Scenario, plan: Sequence[tuple[int, tuple[str, ...]]],
               seeds: Sequence[np.random.SeedSequence]) -> list[dict[str, Any]]:
    """Worker: replications ``plan`` = [(rep, estimators)] of one scenario."""
    out: list[dict[str, Any]] = []
    for (rep, names), seed in zip(plan, seeds, strict=True):
        data_seed, est_seed = seed.spawn(2)
        world = generate(scenario, np.random.default_rng(data_seed))
        out.extend({"scenario": scenario.name, "rep": rep, **r}
                   for r in run_family(world, names, np.random.default_rng(est_seed)))
    return out


@dataclass(frozen=True)
class Scorecard:
    """Declare a scorecard run (parameters only); :meth:`run` does the sweep.

    Parameters
    ----------
    scenarios : sequence of str
        Names from :data:`causal.scorecard.scenarios.SCENARIOS` (default: all), or
        :class:`Scenario` objects.
    estimators : sequence of str, optional
        Names from :data:`causal.scorecard.families.ESTIMATORS` (default: all of the scenarios'
        families).
    reps, reps_expensive, reps_bayes : int
        Replications per scenario for cheap, expensive (EconML, bootstrap) and PyMC estimators.
    n_jobs : int
        Worker processes (1: in this process).
    chunk : int
        Replications per pool task.
    wide : float
        A wide miss is ``|estimate - truth| > wide * se``. Coverage is scored against the level
        the estimators' intervals report (``EffectEstimate.ci_level``, 95% for all of them); a run
        whose intervals have mixed levels is refused.
    overrides : dict of scenario name -> dict of knobs
        Change a named scenario's knobs (e.g. ``{"obs-baseline": {"n": 300}}``).
    per_scenario : dict of scenario name -> tuple of estimator names
        Run only these estimators on that scenario (e.g. the expensive ones only where needed).

    Examples
    --------
    >>> sc = Scorecard(scenarios=("iv-strong",), estimators=("2sls",), reps=20)
    >>> res = sc.run(rng=1)
    >>> int(res.table.loc[0, "reps"])
    20
    """

    scenarios: Sequence[str | Scenario] = tuple(SCENARIOS)
    estimators: Sequence[str] | None = None
    reps: int = 200
    reps_expensive: int = 100
    reps_bayes: int = 20
    n_jobs: int = 1
    chunk: int = 10
    wide: float = 3.0
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    per_scenario: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def quick(cls, **changes: Any) -> Scorecard:
        """The ``--quick`` subset: cheap estimators on eight worlds, the EconML learners only
        where they are known to fail, 100 replications (20 for EconML), no PyMC. About a
        minute on two cores; the CI gate (``tests/causal/scorecard/test_quick_gate.py``).
        """
        kw: dict[str, Any] = {"scenarios": tuple(QUICK_PLAN), "per_scenario": dict(QUICK_PLAN),
                              "reps": 100, "reps_expensive": 20, "reps_bayes": 0}
        return cls(**(kw | changes))

    def resolved_scenarios(self) -> list[Scenario]:
        """The scenarios as objects (unknown names raise :class:`DesignError`)."""
        out = []
        for s in self.scenarios:
            if isinstance(s, Scenario):
                out.append(s)
            elif s in SCENARIOS:
                out.append(SCENARIOS[s].with_(**self.overrides.get(s, {})))
            else:
                raise DesignError(f"unknown scenario {s!r}; choose from {sorted(SCENARIOS)}")
        return out

    def plan(self) -> list[tuple[Scenario, list[tuple[int, tuple[str, ...]]]]]:
        """For each scenario, the estimators of each replication."""
        if min(self.reps, self.reps_expensive, self.reps_bayes) < 0:
            raise DesignError("reps, reps_expensive and reps_bayes must be >= 0")
        if self.estimators is not None:
            bad = [e for e in self.estimators if e not in ESTIMATORS]
            if bad:
                raise DesignError(f"unknown estimators {bad}; choose from {sorted(ESTIMATORS)}")
        limit = {"cheap": self.reps, "expensive": self.reps_expensive, "bayes": self.reps_bayes}
        out = []
        for sc in self.resolved_scenarios():
            names = [n for n in estimators_for(sc.family)
                     if (self.estimators is None or n in self.estimators)
                     and (sc.name not in self.per_scenario or n in self.per_scenario[sc.name])]
            if "sensitivity" in names and sc.unobserved == 0:
                names.remove("sensitivity")  # scored only where a hidden confounder exists
            if not names:
                continue
            n_rep = max(limit[ESTIMATORS[n].cost] for n in names)
            reps = [(i, tuple(n for n in names if i < limit[ESTIMATORS[n].cost]))
                    for i in range(n_rep)]
            out.append((sc, reps))
        if not out:
            raise DesignError("no estimator runs on the chosen scenarios; check --families / "
                              "estimators against the scenarios' families")
        return out

    def run(self, rng: RNGLike = 0, progress: Progress | None = None) -> ScorecardResult:
        """Run the sweep and score it.

        Parameters
        ----------
        rng : int, SeedSequence or Generator
            Root seed (same seed, same table).
        progress : callable(iterable, total) -> iterable, optional
            Wraps the stream of finished chunks (e.g. ``ctx.progress``) to show a bar and ETA.
        """
        tasks = []
        for sc, reps in self.plan():
            seeds = child_seeds(scenario_seed(rng, sc.name), len(reps))
            tasks.extend((sc, reps[k:k + self.chunk], seeds[k:k + self.chunk])
                         for k in range(0, len(reps), max(self.chunk, 1)))
        wrap = progress or (lambda it, total: it)  # noqa: ARG005 (the progress signature)
        records: list[dict[str, Any]] = []
        if self.n_jobs <= 1:
            for chunk in wrap((_run_chunk(*t) for t in tasks), len(tasks)):
                records += chunk
        else:
            records = self._pool(tasks, wrap)
        frame = pd.DataFrame(records).sort_values(["scenario", "rep", "estimator"],
                                                  kind="stable").reset_index(drop=True)
        scenarios = {sc.name: sc for sc, _ in self.plan()}
        return ScorecardResult(self, frame, _table(frame, scenarios, self.wide), seed_entropy(rng))

    def _pool(self, tasks: list[Any], wrap: Progress) -> list[dict[str, Any]]:
        import multiprocessing as mp

        # one BLAS / OpenMP thread per worker: the pool is the parallelism
        saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                "MKL_NUM_THREADS")}
        for k in saved:
            os.environ.setdefault(k, "1")
        try:
            with ProcessPoolExecutor(self.n_jobs, mp_context=mp.get_context("spawn")) as pool:
                futs: list[Future[list[dict[str, Any]]]] = [pool.submit(_run_chunk, *t)
                                                            for t in tasks]
                out: list[dict[str, Any]] = []
                for f in wrap(_completed(futs), len(futs)):
                    out += f.result()
                return out
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def _completed(futs: list[Future[Any]]) -> Iterator[Future[Any]]:
    yield from as_completed(futs)


def seed_entropy(rng: RNGLike) -> Any:
    """The root seed's entropy (JSON-safe), for provenance."""
    e = root_seed_sequence(rng).entropy
    return int(e) if isinstance(e, int | np.integer) else [int(v) for v in np.ravel(e)]


def interval_level(records: pd.DataFrame) -> float:
    """The one level of the records' intervals (nominal coverage); mixed levels are refused."""
    levels = sorted(set(records["ci_level"].dropna().round(12))) if "ci_level" in records else []
    if len(levels) > 1:
        raise DesignError(f"the replications' intervals have mixed levels {levels}: coverage has "
                          "no single nominal value; score each level separately")
    return float(levels[0]) if levels else 0.95


def _table(records: pd.DataFrame, scenarios: dict[str, Scenario], wide: float) -> pd.DataFrame:
    tab = score_records(records, level=interval_level(records), wide=wide)
    meta = pd.DataFrame([{"estimator": e.name, "label": e.label, "group": e.group,
                          "cost": e.cost} for e in ESTIMATORS.values()])
    tab = tab.merge(meta, on="estimator", how="left")
    tab["description"] = tab["scenario"].map({k: v.description for k, v in scenarios.items()})
    order_s = {k: i for i, k in enumerate(scenarios)}
    order_e = {k: i for i, k in enumerate(ESTIMATORS)}
    tab = tab.sort_values(["scenario", "estimator"],
                          key=lambda c: c.map(order_s if c.name == "scenario" else order_e))
    first = ["group", "scenario", "estimator", "label", "description"]
    return tab[first + [c for c in tab.columns if c not in first]].reset_index(drop=True)


def headline(table: pd.DataFrame) -> pd.DataFrame:
    """Per headline family: cells, mean and lowest coverage, mean |bias| / RMSE, the pooled
    diagnostic hit rate over all its wide misses and the worst silent wide-miss share.

    Examples
    --------
    >>> t = pd.DataFrame({"group": ["a", "a"], "coverage": [0.9, 1.0], "bias": [0.1, -0.3],
    ...                   "rmse": [1.0, 1.0], "wide_misses": [2, 0], "hit_rate": [0.5, np.nan],
    ...                   "silent_wide_miss": [0.01, 0.0], "valid": [100, 100]})
    >>> float(headline(t).loc[0, "hit_rate"])
    0.5
    """
    rows = []
    for g, sub in table.groupby("group", sort=False):
        wm = sub["wide_misses"].to_numpy(float)
        hits = np.nansum(sub["hit_rate"].to_numpy(float) * wm)
        rows.append({"family": g, "cells": len(sub),
                     "coverage_mean": float(sub["coverage"].mean()),
                     "coverage_min": float(sub["coverage"].min()),
                     "abs_bias_over_rmse": float(np.nanmean(np.abs(sub["bias"]) / sub["rmse"])),
                     "wide_misses": int(wm.sum()),
                     "hit_rate": float(hits / wm.sum()) if wm.sum() else math.nan,
                     "silent_wide_miss_max": float(sub["silent_wide_miss"].max())})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class ScorecardResult:
    """The replication records, the scored table and the settings that produced them."""

    spec: Scorecard
    records: pd.DataFrame = field(repr=False)
    table: pd.DataFrame = field(repr=False)
    seed: Any = None

    @property
    def level(self) -> float:
        """The level of the scored intervals (the nominal coverage)."""
        return interval_level(self.records)

    @property
    def headline(self) -> pd.DataFrame:
        """Per-family summary (see :func:`headline`)."""
        return headline(self.table)

    def cell(self, scenario: str, estimator: str) -> pd.Series:
        """The scored row of one estimator in one scenario."""
        sel = self.table[(self.table["scenario"] == scenario)
                         & (self.table["estimator"] == estimator)]
        if sel.empty:
            raise KeyError(f"no cell ({scenario!r}, {estimator!r})")
        return sel.iloc[0]

    def summary(self) -> Summary:
        """The scored table with the settings."""
        cols = ["group", "scenario", "estimator", "valid", "bias", "rmse", "ci_width",
                "coverage", "coverage_mcse", "in_band", "flagged", "wide_misses", "hit_rate",
                "silent_wide_miss"]
        s = self.spec
        return Summary("Estimator scorecard", self.table[cols],
                       info={"seed": self.seed, "reps (cheap / expensive / Bayes)":
                             f"{s.reps} / {s.reps_expensive} / {s.reps_bayes}",
                             "interval level": self.level, "wide miss": f"> {s.wide:g} SE"},
                       notes=[("hit_rate: share of wide misses whose diagnostics said warning or "
                               "fail; silent_wide_miss: share of replications missing widely "
                               "with every diagnostic ok")])

    def plot(self, ax: Any = None) -> Any:
        """Heat map of coverage, estimator x scenario (see :func:`plots.coverage_heatmap`)."""
        from causal.scorecard.plots import coverage_heatmap

        return coverage_heatmap(self.table, ax=ax, level=self.level)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: settings, seed, the scored table and the per-family headline."""
        s = self.spec
        return jsonable({
            "settings": {"scenarios": [sc.name for sc, _ in s.plan()],
                         "estimators": sorted(self.table["estimator"].unique()),
                         "reps": s.reps, "reps_expensive": s.reps_expensive,
                         "reps_bayes": s.reps_bayes, "level": self.level, "wide": s.wide},
            "seed": self.seed,
            "table": self.table.to_dict(orient="records"),
            "headline": self.headline.to_dict(orient="records"),
        })
